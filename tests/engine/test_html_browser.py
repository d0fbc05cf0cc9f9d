"""The HTML report in a real browser: headless Chromium loads the page, logs no console message,
its DOM has the drawn path with the failing hop marked, and its screenshot shows something.

Pages come from recorded lab reports (tests/fixtures/reports) and from a live run against a
closed loopback port (`whynet diagnose ... --format html -o F`). Chromium comes from the
system (`apt-get install chromium`, as .ci/run does): without it the tests skip, except under
CI, where they must run.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from engine.render_html import render_html
from tests.engine.test_render import HOSTILE, recorded

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                         "google-chrome")) if p), None)
if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("headless Chromium is not installed (apt-get install chromium); CI runs these",
                allow_module_level=True)


def chromium(page: Path, tmp_path: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``page`` with its log on stderr (console messages included)."""
    assert CHROMIUM is not None, "CI=true but no chromium: .ci/run installs it"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
            "--window-size=1200,900", *mode, page.as_uri()]
    return subprocess.run(argv, capture_output=True, text=True, timeout=90,
                          env={**os.environ, "HOME": str(tmp_path)})


def console_messages(stderr: str) -> list[str]:
    """What the page logged: Chromium writes each console message as ``...:CONSOLE...]``."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


class _Hops(HTMLParser):
    """The drawn hops (``<g class='hop ok|fail' data-role=...>``) in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.hops: list[tuple[str, str]] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg":
            self.svgs += 1
        if tag == "g" and "hop" in (a.get("class") or "").split():
            state = "fail" if "fail" in (a.get("class") or "").split() else "ok"
            self.hops.append((a.get("data-role") or "", state))


def hops_in(dom: str) -> _Hops:
    parser = _Hops()
    parser.feed(dom)
    return parser


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes): width, height and
    the pixels. Plain zlib and the five PNG row filters; no imaging library needed."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            corner = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        prev = line
    pixels = [tuple(row[x * bpp:x * bpp + 3]) for row in rows for x in range(width)]
    return width, height, pixels


def _page(tmp_path: Path, report: dict[str, Any], name: str = "report.html") -> Path:
    page = tmp_path / name
    page.write_text(render_html(report), encoding="utf-8")
    return page


def test_the_console_check_catches_a_page_that_logs(tmp_path: Path) -> None:
    """The check below can fail: a page that logs an error is caught."""
    page = tmp_path / "logs.html"
    page.write_text("<!doctype html><script>console.error('broken page')</script>")
    run = chromium(page, tmp_path, "--dump-dom")
    assert any("broken page" in m for m in console_messages(run.stderr)), run.stderr[-2000:]


@pytest.mark.parametrize(("fixture", "hops"), [
    ("firewall-drop-at-server.json", [("source", "ok"), ("gateway", "ok"), ("resolver", "ok"),
                                      ("proxy", "ok"), ("target", "fail")]),
    ("dns-dead.json", [("source", "ok"), ("gateway", "ok"), ("resolver", "fail"),
                       ("proxy", "ok"), ("target", "ok")]),
    ("healthy-https.json", [("source", "ok"), ("gateway", "ok"), ("resolver", "ok"),
                            ("proxy", "ok"), ("target", "ok")]),
])
def test_a_lab_report_loads_cleanly_with_its_path_drawn(tmp_path: Path, fixture: str,
                                                       hops: list[tuple[str, str]]) -> None:
    page = _page(tmp_path, recorded(fixture))
    run = chromium(page, tmp_path, "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_messages(run.stderr) == []
    drawn = hops_in(run.stdout)
    assert drawn.svgs == 1 and drawn.hops == hops


def test_the_screenshot_shows_the_report_and_the_failing_hop_in_red(tmp_path: Path) -> None:
    page = _page(tmp_path, recorded("firewall-drop-at-server.json"))
    shot = tmp_path / "shot.png"
    run = chromium(page, tmp_path, f"--screenshot={shot}")
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 900)
    colours = set(pixels)
    assert len(colours) > 50, "a blank or single-coloured screenshot"
    red = sum(1 for r, g, b in pixels if r > 180 and g < 60 and b < 60)
    assert red > 500, f"the failing hop's red border and mark are missing ({red} red pixels)"


def test_hostile_values_stay_text_in_the_browser(tmp_path: Path) -> None:
    report = recorded("firewall-drop-at-server.json")
    report["findings"][0]["explanation"] = ("<script>console.error('injected')</script>"
                                            "<img src=x onerror=console.error('img')> " + HOSTILE)
    report["host"] = "</title><script>console.error('title')</script>"
    for f in report["facts"]:
        if f["kind"] == "network_path":
            f["proxy"] = "<svg onload=console.error('svg')>"
    page = _page(tmp_path, report)
    assert "\x00" not in page.read_text(encoding="utf-8")
    run = chromium(page, tmp_path, "--dump-dom")
    assert console_messages(run.stderr) == []
    assert "&lt;script&gt;console.error('injected')&lt;/script&gt;" in run.stdout
    assert hops_in(run.stdout).hops[-1] == ("target", "fail")


def test_diagnose_writes_a_page_chromium_loads(tmp_path: Path) -> None:
    """End to end: a live run against a closed loopback port, written with -o."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    page = tmp_path / "live.html"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", "from cli import run; run()", "diagnose",
                          f"127.0.0.1:{port}", "--format", "html", "-o", str(page)],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert res.returncode == 1, res.stderr
    run = chromium(page, tmp_path, "--dump-dom")
    assert console_messages(run.stderr) == []
    assert hops_in(run.stdout).hops == [("source", "ok"), ("gateway", "ok"), ("resolver", "ok"),
                                        ("proxy", "ok"), ("target", "fail")]
    assert f"127.0.0.1:{port}: transport fails" in run.stdout
