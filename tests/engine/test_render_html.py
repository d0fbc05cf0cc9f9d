"""The HTML report: escaping (the page itself is checked in a browser in test_html_browser)."""

from __future__ import annotations

from engine.render_html import render_html
from tests.engine.test_render import recorded


def test_html_escapes_what_it_shows() -> None:
    report = recorded("firewall-drop-at-server.json")
    report["findings"][0]["explanation"] = "<script>alert(1)</script>\x00\ud800"
    page = render_html(report)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "\x00" not in page and "\ud800" not in page
    page.encode("utf-8")  # no lone surrogate left to break the write
