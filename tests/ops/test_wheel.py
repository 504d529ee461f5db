"""The package as users get it: an sdist built from the source files, a wheel built
from that sdist, installed into a fresh venv outside the checkout. The installed
package must carry every file the program reads (the OpenAPI description, the root
trust anchors, the test hierarchy for ``demo`` and ``testnet``) and run from any
directory: ``serve --api`` answers ``/v1/openapi.json``, ``demo`` passes from a
temporary directory.

Everything stays offline: the build uses the setuptools of the test's own venv
(``--no-build-isolation``), the wheel is installed with ``--no-index --no-deps``, and
the fresh venv sees its dependencies through a folder of links to exactly the
distributions the wheel requires (never the test venv's site-packages, whose
editable finder would import the checkout's ``resolver`` instead of the wheel's).
"""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
# what an sdist is made from (MANIFEST.in decides what of it goes in)
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "resolver", "zones",
           "trust_anchors")
OPTIONAL_SOURCES = ("docs", "contrib", "Makefile")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
DATA_FILES = ("resolver/py.typed", "resolver/api/openapi.json",
              "resolver/data/root-anchors.xml", "resolver/testnet/zones/manifest.tsv",
              "resolver/testnet/zones/keys/dkim-sel1.secure.example.pem")
TIMEOUT = 120


@dataclass(frozen=True)
class Installed:
    """The wheel and the fresh venv it is installed in."""

    wheel: Path
    venv: Path
    python: Path
    cwd: Path           # an empty directory outside the checkout
    env: dict[str, str]


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _build_wheel(work: Path) -> Path:
    """sdist from a copy of the source files, then a wheel from the unpacked sdist."""
    src = work / "src"
    src.mkdir()
    for name in SOURCES + OPTIONAL_SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=IGNORE)
        elif path.is_file():
            shutil.copy2(path, src / name)
        else:
            assert name in OPTIONAL_SOURCES, f"{path} is missing"
    dist = work / "dist"
    _run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
          "print(b.build_sdist(sys.argv[1]))", dist], cwd=src)
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", dist, unpacked], cwd=work)
    (wheel,) = dist.glob("*.whl")
    return wheel


def _requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = (n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(zf.read(name))
    return [Requirement(r) for r in meta.get_all("Requires-Dist") or []]


def _dependency_links(wheel: Path, target: Path) -> None:
    """Link into *target* the top-level entries (packages, modules, dist-info) of every
    distribution the wheel needs, found in this environment, transitively."""
    target.mkdir()
    todo = [r for r in _requirements(wheel) if r.marker is None or r.marker.evaluate()]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(req.name)
        base = Path(str(dist.locate_file("")))
        for file in dist.files or []:
            top = file.parts[0]
            if top == ".." or top.endswith(".pth") or (target / top).exists():
                continue
            (target / top).symlink_to(base / top)
        todo.extend(r for r in (Requirement(t) for t in dist.requires or [])
                    if r.marker is None or r.marker.evaluate({"extra": ""}))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    assert not work.resolve().is_relative_to(ROOT), "the test must run outside the checkout"
    wheel = _build_wheel(work)
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
          "--no-index", wheel], cwd=work)
    site = Path(_run([python, "-I", "-c", "import sysconfig; "
                      "print(sysconfig.get_paths()['purelib'])"], cwd=work).stdout.strip())
    assert site.is_relative_to(venv)
    _dependency_links(wheel, work / "deps")
    # after the venv's own site-packages in sys.path: the wheel's resolver comes first
    (site / "test-dependencies.pth").write_text(f"{work / 'deps'}\n")
    cwd = work / "elsewhere"
    cwd.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
           "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
    return Installed(wheel, venv, python, cwd, env)


def test_the_wheel_carries_every_file_the_program_reads(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as zf:
        names = set(zf.namelist())
        manifest = zf.read("resolver/testnet/zones/manifest.tsv").decode()
    missing = [n for n in DATA_FILES if n not in names]
    assert not missing, f"not in the wheel: {missing}"
    zone_files = {line.split("\t")[2] for line in manifest.splitlines()
                  if line.strip() and not line.startswith(("#", "zone\t"))}
    assert zone_files, "the manifest names no zone file"
    missing = sorted(f for f in zone_files if f"resolver/testnet/zones/{f}" not in names)
    assert not missing, f"zone files the manifest names but the wheel lacks: {missing}"
    assert not any(n.startswith(("tests/", "zones/")) for n in names), \
        "the wheel installs something besides the resolver package"


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    out = _run([installed.python, "-I", "-c",
                "import resolver, resolver.api.app as app, resolver.testnet.hierarchy as h; "
                "print(resolver.__file__); print(app.OPENAPI); print(h.default_zones_dir())"],
               cwd=installed.cwd, env=installed.env).stdout.split("\n")
    for line in out[:3]:
        path = Path(line).resolve()
        assert path.is_relative_to(installed.venv.resolve()), \
            f"{line} is not inside the fresh venv {installed.venv}"


def _free_port() -> int:
    return free_port("127.0.0.1")


def _get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    with opener.open(url, timeout=5) as reply:
        return reply.status, reply.read()


def test_installed_serve_answers_openapi_from_elsewhere(installed: Installed) -> None:
    dns, api = _free_port(), _free_port()
    proc = subprocess.Popen(
        [str(installed.python), "-I", "-m", "resolver", "serve", "--workers", "1", "--listen",
         f"127.0.0.1:{dns}", "--api", f"127.0.0.1:{api}"],
        cwd=installed.cwd, env=installed.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = _get(f"http://127.0.0.1:{api}/v1/openapi.json")
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, f"serve exited: {proc.communicate()[0]}"
                assert time.monotonic() < deadline, "serve's API did not come up in 30 s"
                time.sleep(0.1)
        assert status == 200
        spec = json.loads(body)
        shipped = json.loads((ROOT / "resolver" / "api" / "openapi.json").read_text())
        assert spec == shipped
        status, body = _get(f"http://127.0.0.1:{api}/v1/trust-anchors")
        keys = json.loads(body)["keys"]
        assert {k["key_tag"] for k in keys} >= {20326, 38696}, keys
        for key in keys:  # the bundled root anchors, read from the installed package
            assert Path(key["source"]).resolve().is_relative_to(installed.venv.resolve()), key
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out


def test_installed_demo_runs_from_a_temporary_directory(installed: Installed) -> None:
    proc = _run([installed.python, "-I", "-m", "resolver", "demo"], cwd=installed.cwd,
                env=installed.env)
    assert str(installed.venv) in proc.stdout, "demo did not use the installed hierarchy"
    assert "NOERROR  [ad]" in proc.stdout and "SERVFAIL" in proc.stdout, proc.stdout
    assert "DKIM signature d=secure.example s=sel1: pass" in proc.stdout, proc.stdout
    assert "report page of a bogus domain (HTTP 200): http://127.0.0.1:" in proc.stdout
    assert "/ui/domain/bad-ds.example" in proc.stdout, proc.stdout


def test_demo_says_what_a_zones_folder_needs(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "resolver", "demo", "--zones", tmp_path],
                          cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "manifest.tsv" in proc.stderr and "zones/" in proc.stderr, proc.stderr


def test_a_checkout_finds_its_zones_from_any_directory() -> None:
    """The development (editable) install serves the checkout's zones/, whatever the
    working directory; no copy is made."""
    from resolver.testnet.hierarchy import default_zones_dir

    assert default_zones_dir() == ROOT / "zones"
