"""Operating ``serve`` (issue 16 s2-s4): reloads that drop the answers whose verdict
could change, logging (-v/-q after the command, log-level/log-file/log-format, the
query log, ready/stopping lines), sd_notify, listener errors, the privilege drop,
and client mistakes on the API answered in JSON without a traceback."""

from __future__ import annotations

import asyncio
import calendar
import json
import logging
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resolver.cli import build_parser
from resolver.cli.logs import JsonFormatter, TextFormatter, flag_level
from resolver.cli.serve import settings_from_args
from resolver.config import ConfigError, Settings, parse_listen
from resolver.configfile import apply
from resolver.server import notify
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.querykey import query_key
from resolver.wire.types import RRType

from .test_serve_process import ROOT, _ask, _free_port, _stop

UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
_HEAD: dict[int, str] = {}     # pid -> what a process wrote before it was ready


def _launch(args: list[str], env: dict[str, str] | None = None,
            prefix: list[str] | None = None) -> subprocess.Popen[str]:
    """``python -m resolver [PREFIX] serve ARGS`` until it says it is ready."""
    proc = subprocess.Popen([sys.executable, "-m", "resolver", *(prefix or []), "serve",
                             "--workers", "1", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1",
                                            **(env or {})})
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    head = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        head.append(line)
        if line.startswith("resolver ready"):
            _HEAD[proc.pid] = "".join(head)
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    rest = proc.stdout.read()
    raise AssertionError(f"serve did not start (status {proc.wait()}): {''.join(head)}{rest}")


def _finish(proc: subprocess.Popen[str]) -> str:
    """Stop a process started by :func:`_launch`: all it wrote."""
    return _HEAD.pop(proc.pid, "") + _stop(proc)


def _fails(args: list[str]) -> tuple[int, str]:
    """Run ``serve ARGS`` expecting it to exit by itself: (status, output)."""
    done = subprocess.run([sys.executable, "-m", "resolver", "serve", "--workers", "1",
                           *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout + done.stderr


def _base(port: int) -> list[str]:
    return ["--listen", f"127.0.0.1:{port}", "--api", "off"]


# --------------------------------------------------------------------------- reload

def _fill_wire_cache(server: DnsServer, name: str) -> int:
    """Ask *name* through the server (a local zone answers it) and return how many
    answers the wire cache holds then."""
    query = wm.make_query(Name.from_text(name), RRType.A, rd=True).to_wire()
    reply = asyncio.run(server.answer(query, "127.0.0.1", "udp", query_key(query)))
    assert reply is not None
    return server.resolver.cache_stats()["message"].entries


@pytest.mark.parametrize("change", ["nodefault", "validate", "nta"])
def test_reload_drops_the_wire_answers_a_change_could_alter(change: str) -> None:
    settings = Settings()
    resolver = Resolver(settings)
    server = DnsServer(resolver, settings)
    assert _fill_wire_cache(server, "invalid.") == 1
    resolver.reload(Settings())                       # the same settings: answers kept
    assert resolver.cache_stats()["message"].entries == 1
    fresh = Settings()
    if change == "nodefault":
        fresh.nodefault = ["invalid."]
    elif change == "validate":
        fresh.validate = False
    else:
        fresh.negative_anchors = [("broken.example.", time.time() + 3600)]
    resolver.reload(fresh)
    assert resolver.cache_stats()["message"].entries == 0
    if change == "nodefault":
        assert resolver.local.answer(Name.from_text("x.invalid."), RRType.A) is None
    if change == "validate":
        assert not resolver.settings.validate and len(resolver.anchors) == 0


def test_a_bad_reload_changes_nothing(tmp_path: Path) -> None:
    settings = Settings()
    resolver = Resolver(settings)
    server = DnsServer(resolver, settings)
    _fill_wire_cache(server, "invalid.")
    anchors = resolver.anchors
    fresh = Settings()
    fresh.validate = False
    fresh.nodefault = ["invalid."]
    fresh.negative_anchors = [("bad..name.", time.time() + 3600)]
    with pytest.raises(ValueError, match="empty label"):
        resolver.reload(fresh)
    fresh = Settings()
    fresh.nodefault = ["invalid."]
    fresh.trust_anchors = [tmp_path / "missing.ds"]
    with pytest.raises((OSError, ValueError), match=r"missing\.ds"):
        resolver.reload(fresh)
    assert resolver.settings.validate and resolver.settings.nodefault == []
    assert resolver.anchors is anchors
    assert resolver.cache_stats()["message"].entries == 1


def test_sighup_with_validation_switched_off_drops_the_answers(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "resolver.toml"
    config.write_text(f'listen = ["127.0.0.1:{port}"]\napi = "off"\n')
    proc = _launch(["--config", str(config), "-v"])
    try:
        assert _ask(port, "localhost.").rcode == 0
        config.write_text(f'listen = ["127.0.0.1:{port}"]\napi = "off"\nvalidate = false\n')
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert _ask(port, "localhost.").rcode == 0
    finally:
        out = _finish(proc)
    assert "validation switched off: cached verdicts and answers dropped" in out
    assert "configuration reloaded (0 trust anchors)" in out


# --------------------------------------------------------------------------- logging

def test_verbosity_flags_after_the_command() -> None:
    parser = build_parser()
    args = parser.parse_args(["serve", "-vv"])
    assert args.verbose + args.verbose_after == 2
    args = parser.parse_args(["-v", "query", "example.", "-v", "-q", "-q"])
    assert (args.verbose + args.verbose_after, args.quiet + args.quiet_after) == (2, 2)
    assert flag_level(0, 0) is None
    assert flag_level(1, 0) == 20 and flag_level(2, 0) == 10 and flag_level(5, 0) == 10
    assert flag_level(0, 1) == 40 and flag_level(1, 1) == 30


def test_logging_keys_are_checked() -> None:
    settings = apply(Settings(), {"log-level": "INFO", "log-file": "/var/log/r.log",
                                  "log-format": "json", "user": "resolver"})
    assert (settings.log_level, settings.log_format, settings.user) == ("info", "json",
                                                                         "resolver")
    assert settings.log_file == Path("/var/log/r.log")
    for key, value, words in (("log-level", "loud", "log-level: expected one of"),
                              ("log-format", "xml", "log-format: expected"),
                              ("log-file", 3, "log-file: expected str"),
                              ("user", "", "user: expected a user name")):
        with pytest.raises(ConfigError, match=words):
            apply(Settings(), {key: value})
    documented = (ROOT / "contrib" / "resolver.toml").read_text()
    for key in ("log-level", "log-file", "log-format", "user"):
        assert key in documented


def test_formatters_write_one_line_in_utc() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("resolver.x", logging.ERROR, __file__, 1, "bad %s",
                                   ("thing",), sys.exc_info())
    record.created = 0.25
    record.msecs = 250
    text = TextFormatter().format(record)
    assert text.startswith("1970-01-01T00:00:00.250Z ERROR resolver.x: bad thing | ")
    assert "\n" not in text and "ValueError: boom" in text
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["time"] == "1970-01-01T00:00:00.250Z" and data["level"] == "ERROR"
    assert data["message"] == "bad thing" and "ValueError: boom" in data["exception"]


def test_log_file_in_json_with_the_query_log(tmp_path: Path) -> None:
    port = _free_port()
    log_file = tmp_path / "resolver.log"
    config = tmp_path / "resolver.toml"
    config.write_text(f'listen = ["127.0.0.1:{port}"]\napi = "off"\nlog-level = "info"\n'
                      f'log-file = "{log_file}"\nlog-format = "json"\nquery-log = true\n')
    before = time.time()
    proc = _launch(["--config", str(config)])
    try:
        assert _ask(port, "localhost.").rcode == 0
    finally:
        out = _finish(proc)
    assert "resolver ready" in out and "INFO" not in out     # the log went to the file
    lines = log_file.read_text().splitlines()
    events = [json.loads(line) for line in lines]            # one JSON object per line
    for event in events:
        assert UTC_STAMP.match(event["time"]), event
        stamp = calendar.timegm(time.strptime(event["time"][:19], "%Y-%m-%dT%H:%M:%S"))
        assert before - 5 < stamp < time.time() + 5          # UTC, not local time
        assert set(event) >= {"time", "level", "logger", "message"}
    messages = [(e["level"], e["message"]) for e in events]
    assert any(level == "INFO" and m.startswith("resolver ready") for level, m in messages)
    assert any(level == "INFO" and m.startswith("stopping") for level, m in messages)
    assert any(m.startswith("query localhost. A") for _, m in messages), messages


def test_query_log_without_verbose(tmp_path: Path) -> None:
    port = _free_port()
    proc = _launch([*_base(port), "--query-log"])
    try:
        assert _ask(port, "localhost.").rcode == 0
    finally:
        out = _finish(proc)
    assert "query localhost. A" in out
    assert "INFO resolver.cli.serve: resolver ready" not in out   # still at WARNING
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO resolver.queries: "
                     r"query localhost\. A", out), out


def test_ready_and_stopping_at_info_with_v_after_the_command(tmp_path: Path) -> None:
    port = _free_port()
    proc = _launch([*_base(port), "-v"])
    out = _finish(proc)
    assert "INFO resolver.cli.serve: resolver ready on" in out
    assert "INFO resolver.cli.serve: stopping" in out
    quiet = _launch([*_base(port), "-q"])        # ERROR and up: nothing logged at all
    out = _finish(quiet)
    assert "resolver.cli.serve" not in out


# --------------------------------------------------------------------------- sd_notify

def test_notify_address_forms() -> None:
    assert notify.notify_address("") is None
    assert notify.notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify.notify_address("@abstract/name") == b"\0abstract/name"
    assert notify.notify_address("relative") is None


def test_notify_to_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"resolver-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify.ready("serving")
        fields = sock.recv(4096).decode().split("\n")
    assert fields[0] == "READY=1" and "STATUS=serving" in fields
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not notify.stopping()                 # outside systemd: nothing, no error


def test_sd_notify_ready_and_stopping(tmp_path: Path) -> None:
    port = _free_port()
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(10)
        proc = _launch(_base(port), env={"NOTIFY_SOCKET": str(path)})
        try:
            assert _ask(port, "localhost.").rcode == 0
            ready = sock.recv(4096).decode().split("\n")
            assert ready[0] == "READY=1"
            assert f"MAINPID={proc.pid}" in ready
            assert any(f.startswith("STATUS=serving on 127.0.0.1:") for f in ready), ready
            proc.send_signal(signal.SIGHUP)
            assert sock.recv(4096).decode().startswith("RELOADING=1\nMONOTONIC_USEC=")
            assert sock.recv(4096).decode().startswith("READY=1")
        finally:
            _finish(proc)
        stopping = sock.recv(4096).decode().split("\n")
    assert stopping[0] == "STOPPING=1"


# --------------------------------------------------------------------------- listeners

def test_listen_parsing_errors() -> None:
    with pytest.raises(ConfigError, match=r"--listen: '\[::1\]5461': expected ':'"):
        parse_listen("[::1]5461", 53, "--listen")
    for bad in ("[::1", "[::1]:", "127.0.0.1:", ":53", "1.2.3.4:x", "1.2.3.4:70000"):
        with pytest.raises(ConfigError):
            parse_listen(bad)
    assert parse_listen("[::1]:5461") == ("::1", 5461)
    assert parse_listen("[::1]") == ("::1", 53)
    assert parse_listen("::1") == ("::1", 53)
    parser = build_parser()
    for flag in ("--api", "--metrics", "--listen"):
        args = parser.parse_args(["serve", flag, "127.0.0.1:http"])
        with pytest.raises(ConfigError, match=f"^{flag}: bad port"):
            settings_from_args(args)
    with pytest.raises(ConfigError, match=r"^config: api: "):
        apply(Settings(), {"api": "[::1]8053"})


def test_listener_errors_from_the_process(tmp_path: Path) -> None:
    status, out = _fails(["--listen", "[::1]5461", "--api", "off"])
    assert status == 2 and "--listen" in out and "[::1]5461" in out, out
    status, out = _fails(["--listen", "127.0.0.1:5353", "--metrics", "localhost:x"])
    assert status == 2 and "--metrics: bad port" in out, out
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        status, out = _fails(_base(port))
        assert status == 2 and f"cannot listen on 127.0.0.1:{port}: port in use" in out, out
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api = taken.getsockname()[1]
        status, out = _fails(["--listen", f"127.0.0.1:{_free_port()}", "--api",
                              f"127.0.0.1:{api}"])
        assert status == 2 and f"127.0.0.1:{api} (--api): port in use" in out, out
    assert "Traceback" not in out


# --------------------------------------------------------------------------- privileges

def _uids(pid: int) -> list[int]:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("Uid:"))
    return [int(v) for v in line.split()[1:]]


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")
def test_privilege_drop_to_nobody(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    port = _free_port()
    config = tmp_path / "resolver.toml"
    config.write_text(f'listen = ["127.0.0.1:{port}"]\napi = "off"\nuser = "nobody"\n')
    proc = _launch(["--config", str(config), "-v"])
    try:
        assert _uids(proc.pid) == [nobody.pw_uid] * 4
        groups = next(x for x in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                      if x.startswith("Groups:"))
        assert groups.split()[1:] == []
        assert _ask(port, "localhost.").rcode == 0
    finally:
        out = _finish(proc)
    assert "running as user nobody" in out


def test_privilege_drop_to_an_unknown_user(tmp_path: Path) -> None:
    config = tmp_path / "resolver.toml"
    config.write_text(f'listen = ["127.0.0.1:{_free_port()}"]\napi = "off"\n'
                      'user = "no-such-user-here"\n')
    status, out = _fails(["--config", str(config)])
    assert status == 2
    assert "user: no such user 'no-such-user-here'" in out and "Traceback" not in out


# --------------------------------------------------------------------------- API

def _raw_http(port: int, payload: bytes) -> tuple[int, dict[str, str]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(payload)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert b"application/json" in head, head
    parsed: dict[str, str] = json.loads(body)
    return status, parsed


def test_api_client_mistakes_are_json_4xx_without_traceback(tmp_path: Path) -> None:
    port = _free_port()
    api = _free_port()
    proc = _launch(["--listen", f"127.0.0.1:{port}", "--api", f"127.0.0.1:{api}", "-v"])
    try:
        status, body = _raw_http(api, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert status == 400 and "HTTP/2" in body["error"]
        status, body = _raw_http(api, b"GET /v1/resolve?name=" + b"a" * 9000 +
                                 b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert 400 <= status < 500 and "too long" in body["error"]
        status, body = _raw_http(api, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                 b"b" * 9000 + b"\r\n\r\n")
        assert 400 <= status < 500 and "too long" in body["error"]
    finally:
        out = _finish(proc)
    assert "Traceback" not in out and " ERROR " not in out, out
    assert out.count("INFO resolver.api.client_errors: bad HTTP request from 127.0.0.1") == 3


# --------------------------------------------------------------------------- debug level

def test_debug_level_shows_the_upstream_queries(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    from tests.networks import in_process_lab

    resolver = in_process_lab().resolver(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="resolver"):
        answer = asyncio.run(resolver.resolve(Name.from_text("www.lab."), RRType.A))
    assert answer.rcode == 0
    upstream = [r.getMessage() for r in caplog.records if r.getMessage().startswith("upstream ")]
    # server, question (type as text), transport, rcode, answers, time
    assert any(re.match(r"upstream 127\.0\.0\.\d+ www\.lab\. A \(udp\): NOERROR, 1 answers, "
                        r"in \d+\.\d ms", m) for m in upstream), upstream


def test_debug_level_shows_the_validation_steps(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    from tests.networks import in_process_lab

    # the lab's root is not signed by the IANA root's keys: bogus, and the steps say why
    resolver = in_process_lab().resolver(tmp_path, validate=True,
                                         trust_anchor_signaling=False)
    with caplog.at_level(logging.DEBUG, logger="resolver"):
        asyncio.run(resolver.resolve(Name.from_text("www.lab."), RRType.A))
    steps = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith("validation of www.lab. A: ")]
    assert len(steps) == 1 and len(steps[0]) > len("validation of www.lab. A: bogus: "), steps
    bogus = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bogus: ")]
    assert bogus and bogus[0].startswith("bogus: www.lab. A zone "), bogus
