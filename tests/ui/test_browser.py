"""Headless Chromium loads the report page of a secure and a bogus domain from the test
network and takes a screenshot: the page must render (a PNG of the window's size, with
more than a blank page's worth of content) without console errors. Skipped, with the
reason printed, where Debian's chromium is not installed (CI installs it)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from tests.ui.conftest import Ui

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1280, 2000
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", f"--window-size={WIDTH},{HEIGHT}"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(apt-get install chromium; .ci/run installs it)")


def screenshot(url: str, out: Path) -> str:
    """Load *url* in a fresh headless Chromium profile, save a PNG to *out*; its log."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="ui-chromium-") as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                               f"--screenshot={out}", url],
                              capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def png_pixels(path: Path) -> tuple[int, int, set[bytes]]:
    """Width, height and a sample of distinct pixels of an 8-bit RGB(A) PNG, read with
    zlib (no imaging library needed)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    # distinct raw scanline bytes of a sample of rows (filtered, but a blank page gives
    # a handful of values, a drawn one many)
    sample = {raw[r * stride + 1 + i:r * stride + 1 + i + channels]
              for r in range(0, height, 25) for i in range(0, width * channels, channels * 7)}
    return width, height, sample


@pytest.mark.parametrize(("name", "colour"), [("secure.example", "secure"),
                                              ("bad-ds.example", "bogus")])
def test_chromium_renders_the_report(ui: Ui, tmp_path: Path, name: str, colour: str) -> None:
    page = ui.get(f"/ui/domain/{name}")
    assert page.status == 200 and f'class="badge {colour}"' in page.text
    shot = tmp_path / f"{name}.png"
    log = screenshot(f"{ui.url}/ui/domain/{name}", shot)
    assert shot.is_file() and shot.stat().st_size > 20_000
    width, height, sample = png_pixels(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(sample) > 50, "the screenshot looks blank"
    errors = [line for line in log.splitlines()
              if re.search(r"CONSOLE|Uncaught|Refused to|Content Security Policy", line)]
    assert not errors, "\n".join(errors)
