"""The HTML report's content and escaping (test_html_browser loads it in Chromium)."""

from __future__ import annotations

from engine.render_html import path_hops, prose, render_html
from tests.engine.test_render import recorded


def test_html_escapes_what_it_shows() -> None:
    report = recorded("firewall-drop-at-server.json")
    report["findings"][0]["explanation"] = "<script>alert(1)</script>\x00\ud800\x1b[31m"
    page = render_html(report)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert not any(ch in page for ch in "\x00\ud800\x1b")
    page.encode("utf-8")  # no lone surrogate left to break the write


def test_page_says_where_when_what_and_why() -> None:
    report = recorded("firewall-drop-at-server.json")
    report["notes"] = ["two machines mixed: <b>x</b>"]
    page = render_html(report)
    assert "host <b>vm</b> · collected 2026-11-29T21:09:43+00:00 · whynet 0.1.0" in page
    assert ("<h2 class='verdict fail'>app.corp.test:8080: transport fails: 198.51.100.20:8080 "
            "timeout — Ping answers, but TCP to the port is dropped (B4, F5; "
            "transport.ping-ok-tcp-dropped)</h2>") in page
    assert "<p class='note'>note: two machines mixed: &lt;b&gt;x&lt;/b&gt;</p>" in page
    assert "<td class='fail'>fail</td><td>198.51.100.20:8080 timeout</td>" in page
    # advice with its commands as code, the why chain and the facts folded away
    assert "(<code>traceroute -T -p 8080 198.51.100.20</code> shows where" in page
    assert "<details class='why'><summary>why: the rules and facts behind it</summary>" in page
    assert "<code>probe_tcp:app.corp.test:8080:198.51.100.20:8080</code>" in page
    assert "probe: tcp connect 198.51.100.20:8080" in page  # a fact's source
    assert "<ul class='supporting'><li class='error'>" in page


def test_backticks_become_code_and_stay_escaped() -> None:
    assert prose("run `nft list ruleset` or `a<b`") == (
        "run <code>nft list ruleset</code> or <code>a&lt;b</code>")
    assert prose("a lone ` stays") == "a lone ` stays"


def test_path_hops_name_each_hop_and_bracket_ipv6() -> None:
    path = {"src": "fd00::10", "interface": "eth0", "gateway": None, "next_hop": "fd00::99",
            "ip": "fd00::99", "port": 22, "resolver": "no name lookup", "proxy": "direct"}
    assert path_hops(path) == [("source", "this host", "fd00::10 (eth0)"),
                               ("gateway", "gateway", "on the link"),
                               ("resolver", "name", "no name lookup"),
                               ("proxy", "proxy", "direct"),
                               ("target", "target", "[fd00::99]:22")]


def test_a_run_without_targets_gets_one_verdict() -> None:
    report = recorded("healthy-https.json")
    report.update(targets=[], layers=[], paths=[], findings=[])
    assert "<h2 class='verdict ok'>no problem found</h2>" in render_html(report)
