"""Text rendering, pinned uncoloured (rich's own way: a Console with no colour and a width)."""

from __future__ import annotations

import io

from engine.render import console, first_failures, render_html, render_text

REPORT = {
    "targets": [{"raw": "app:8080"}],
    "layers": [
        {"target": "app:8080", "layer": "route", "status": "ok", "summary": "via 10.0.0.1"},
        {"target": "app:8080", "layer": "transport", "status": "fail", "summary": "timeout"},
        {"target": "app:8080", "layer": "tls", "status": "fail", "summary": "not reached"},
    ],
    "paths": [{"target": "app:8080", "path": "10.0.0.2 (eth0) → gateway 10.0.0.1 → 10.9.0.5 "
                                             "port 8080 (explicit) [name via 10.0.0.53; direct]"}],
    "findings": [{
        "rule": "transport.tcp-timeout-silent-drop", "title": "Connection attempts time out",
        "severity": "error", "checklist": ["F5", "B1"], "layer": "transport",
        "confidence": "heuristic", "explanation": "TCP to 10.9.0.5 port 8080 got no answer.",
        "advice": "Find the dropping firewall.", "evidence": ["probe_tcp:1"], "rank": 1,
        "instances": 1, "file": "knowledge/transport.yaml:5",
    }],
    "facts": [{}, {}],
    "rule_errors": [],
}


def _text(report: dict, quiet: bool = False) -> str:
    out = io.StringIO()
    render_text(report, console(out, width=100, color=False), quiet=quiet)
    return out.getvalue()


def test_first_failing_layer_per_target() -> None:
    assert first_failures(REPORT["layers"]) == {"app:8080": "transport"}


def test_text_report_shows_layers_path_first_failure_and_the_finding() -> None:
    text = _text(REPORT)
    assert "\x1b[" not in text  # no colour codes when colour is off
    lines = [line.rstrip() for line in text.splitlines()]
    flowing = " ".join(text.split())  # rich wraps long lines at the console width
    assert ("path app:8080: 10.0.0.2 (eth0) → gateway 10.0.0.1 → 10.9.0.5 port 8080 (explicit) "
            "[name via 10.0.0.53; direct]") in flowing
    assert "first failing layer for app:8080: transport" in lines
    assert any(line.startswith("╭─ #1 ERROR  Connection attempts time out") for line in lines)
    assert "│ advice: Find the dropping firewall." in "\n".join(lines)
    assert lines[-1] == "1 finding(s), 1 at warning or above; 2 facts in report"


def test_quiet_hides_info_findings() -> None:
    info = dict(REPORT, findings=[dict(REPORT["findings"][0], severity="info")], layers=[],
                targets=[])
    assert "No findings at warning or above." in _text(info, quiet=True)
    assert "#1 INFO" in _text(info)


def test_html_escapes_what_it_shows() -> None:
    hostile = dict(REPORT, findings=[dict(REPORT["findings"][0],
                                          explanation="<script>alert(1)</script>")])
    page = render_html(hostile)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
