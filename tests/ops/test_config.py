"""The TOML configuration: every serve flag has a key, the file round-trips, bad files
are refused with a message naming the key."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest

from resolver.cli import build_parser
from resolver.cli.serve import settings_from_args
from resolver.config import ConfigError, Settings
from resolver.configfile import FLAG_KEYS, apply, dump, load

ROOT = Path(__file__).parent.parent.parent


def _serve_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve: argparse.ArgumentParser = sub.choices["serve"]
    return serve


def test_every_serve_flag_has_a_config_key() -> None:
    # -v/-q (every command has them) set the level the log-level key sets in a file
    dests = {a.dest for a in _serve_parser()._actions
             if a.dest not in ("help", "config", "verbose_after", "quiet_after")}
    assert dests == set(FLAG_KEYS), dests ^ set(FLAG_KEYS)
    samples = {"listen": ["127.0.0.1:5353"], "api": "off", "metrics": "127.0.0.1:9153",
               "query-log": True, "root-hints": "/x/named.root", "trust-anchors": ["/x/a"],
               "validate": False, "allow-loopback-upstream": True, "upstream-port": 5300,
               "nodefault": ["test."], "qname-minimisation": False, "ipv6-upstream": False,
               "cache-size-mb": 8, "auto-trust-anchor-file": "/x/state.json",
               "metrics-counting": False, "trust-anchor-signaling": False,
               "control-socket": "/run/resolver/control.sock",
               "listen-tls": ["127.0.0.1:853"], "tls-cert": "/x/cert.pem",
               "tls-key": "/x/key.pem", "ratelimit-per-client": 50,
               "ratelimit-action": "drop", "ratelimit": 100,
               "serve-stale": False, "prefetch": True, "workers": 2,
               "milter": "127.0.0.1:8891",
               "tls-policy": "127.0.0.1:8461", "mta-sts-ca-file": "/x/ca.pem",
               "mta-sts-port": 8443,
               "cachedb": "redis://127.0.0.1:6379/0"}
    assert set(samples) == set(FLAG_KEYS.values())
    documented = (ROOT / "contrib" / "resolver.toml").read_text()
    for key, value in samples.items():
        apply(Settings(), {key: value})      # accepted
        assert key in documented, f"contrib/resolver.toml does not document {key}"


def test_round_trip() -> None:
    settings = Settings()
    settings.listen = [("127.0.0.1", 5353), ("::1", 5353)]
    settings.nodefault = ["test."]
    settings.negative_anchors = [("broken.example.", 1800000000.0)]
    settings.metrics = ("127.0.0.1", 9153)
    settings.api = None
    settings.root_hints = Path("/etc/resolver/named.root")
    settings.auto_trust_anchor_file = Path("/var/lib/resolver/root.json")
    settings.iter_limits.upstream_queries = 150
    again = apply(Settings(), tomllib.loads(dump(settings)))
    assert again == settings


def test_example_config_loads() -> None:
    settings = load(ROOT / "contrib" / "resolver.toml")
    assert settings.listen == [("127.0.0.1", 53), ("::1", 53)]
    assert settings.validate


@pytest.mark.parametrize(("text", "words"), [
    ("listn = []", "listn: unknown key"),
    ("validate = 1", "validate: expected bool"),
    ("cache-size-mb = -4", "cache-size-mb: must not be negative"),
    ("listen = ['127.0.0.1:99999']", "port out of range"),
    ("[limits]\nupstream-querys = 5", "limits.upstream-querys: unknown key"),
    ("[limits]\ncname-chain = 0", "limits.cname-chain: must be positive"),
    ("api = 5", "api: expected str"),
    ("negative-trust-anchors = [{zone = 'x.'}]", "negative-trust-anchors: each entry"),
    ("validate = ", "not valid TOML"),
])
def test_bad_files_name_the_key(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert words in str(err.value)
    assert str(path) in str(err.value)


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('listen = ["127.0.0.1:5300"]\nqname-minimisation = true\n'
                    'upstream-port = 5301\n')
    args = _serve_parser().parse_args(["--config", str(path), "--listen", "127.0.0.1:5400",
                                       "--no-qname-minimisation"])
    settings = settings_from_args(args)
    assert settings.listen == [("127.0.0.1", 5400)]
    assert settings.qname_minimisation is False
    assert settings.upstream_port == 5301
