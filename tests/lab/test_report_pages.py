"""A lab scenario's report as people read it: the text verdict and the HTML page in Chromium.

The scenario is a firewall silently dropping TCP 8080 at the server (scenarios.firewall_verdict);
whynet runs in the client namespace and writes `--format html -o F`; headless Chromium (outside
the namespace: it only reads the file) loads the page and must log nothing, show the drawn path
with the target hop failing, and the verdict naming the transport layer.
"""

from __future__ import annotations

from pathlib import Path

from . import scenarios as S
from .netlab import Lab


def test_firewall_drop_text_verdict_and_html_page(lab: Lab, tmp_path: Path) -> None:
    from tests.engine.test_html_browser import chromium, console_messages, hops_in

    sc = S.firewall_verdict(lab)
    quiet = lab.run_whynet(sc.client, "diagnose", sc.target or "", "--quiet", env=sc.env)
    assert quiet.exit_code == 1, quiet.stderr
    lines = quiet.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"{sc.target}: transport fails: {S.SERVER_IP}:8080 timeout — "), lines

    page = lab.workdir / "report.html"
    run = lab.run_whynet(sc.client, "diagnose", sc.target or "", "--format", "html",
                         "-o", str(page), env=sc.env)
    assert run.exit_code == 1, run.stderr
    shown = chromium(page, tmp_path, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert console_messages(shown.stderr) == []
    assert hops_in(shown.stdout).hops == [("source", "ok"), ("gateway", "ok"),
                                          ("resolver", "ok"), ("proxy", "ok"), ("target", "fail")]
    assert lines[0] in shown.stdout  # the same verdict heads the page
