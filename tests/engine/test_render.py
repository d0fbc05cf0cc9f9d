"""Text rendering, pinned uncoloured (rich's own way: a Console with no colour and a width).

Reports are recorded lab runs (tests/fixtures/reports/README.md); hostile values are planted in
copies of them.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from engine.explain import render_why_not, why, why_not
from engine.knowledge import load_knowledge
from engine.render import (
    THEME,
    console,
    finding_targets,
    first_failures,
    render_text,
    verdicts,
)
from engine.safetext import clean

REPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
HOSTILE = ("[link=https://evil.example/]click[/link] [/x] [bold]b[/] "
           "\x1b]8;;https://evil.example/\x1b\\osc\x1b]8;;\x1b\\ \x1b[31mred\x1b[0m nul\x00 "
           "bell\x07 cr\rover \u202eevil \ud800lone")


def recorded(name: str) -> dict[str, Any]:
    return json.loads((REPORTS / name).read_text(encoding="utf-8"))


def text_of(report: dict[str, Any], quiet: bool = False, width: int = 100) -> str:
    out = io.StringIO()
    render_text(report, console(out, width=width, color=False), quiet=quiet)
    return out.getvalue()


def test_clean_strips_every_control_character_but_layout() -> None:
    assert clean(HOSTILE) == ("[link=https://evil.example/]click[/link] [/x] [bold]b[/] "
                              "]8;;https://evil.example/\\osc]8;;\\ [31mred[0m nul bell "
                              "crover evil lone")
    assert clean("a\tb\nc") == "a\tb\nc" and clean("a\tb\n\nc", one_line=True) == "a b c"


def test_verdict_names_the_failing_layer_and_the_top_finding() -> None:
    report = recorded("firewall-drop-at-server.json")
    assert verdicts(report) == [
        "app.corp.test:8080: transport fails: 198.51.100.20:8080 timeout — Ping answers, but TCP "
        "to the port is dropped (B4, F5; transport.ping-ok-tcp-dropped)"]
    assert verdicts(recorded("dns-dead.json")) == [
        "http://app.corp.test/: name fails: temporary_failure: Temporary failure in name "
        "resolution — The name does not resolve (D1; name.system-resolution-fails)"]
    assert verdicts(recorded("healthy-https.json")) == ["https://app.corp.test/: no problem found"]


def test_verdict_without_targets_is_one_line() -> None:
    report = recorded("firewall-drop-at-server.json")
    report.update(targets=[], layers=[], paths=[])
    assert verdicts(report) == [
        "error: Ping answers, but TCP to the port is dropped (B4, F5; "
        "transport.ping-ok-tcp-dropped)"]
    report["findings"] *= 2
    assert verdicts(report)[0].endswith(" — and 1 more finding(s) at warning or above")
    report["findings"] = []
    assert verdicts(report) == ["no problem found"]


def test_a_target_is_found_through_the_facts_a_derived_fact_came_from() -> None:
    report = recorded("firewall-drop-at-server.json")
    assert finding_targets(report) == [["app.corp.test:8080"]]
    # A report without a finding's targets (before 2026-11-29): found through its evidence,
    # here a derived fact made from the probe.
    top = report["findings"][0]
    del top["targets"]
    report["facts"].append({"kind": "dropped_flow", "id": "dropped_flow:1", "source": {}})
    report["justification"]["derived"] = {"dropped_flow:1": "a1"}
    top["evidence"] = ["dropped_flow:1"]
    assert finding_targets(report)[0] == ["app.corp.test:8080"]


def test_text_report_opens_with_the_verdict_then_layers_path_and_findings() -> None:
    text = text_of(recorded("firewall-drop-at-server.json"))
    assert "\x1b" not in text  # no colour codes when colour is off
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines[0].startswith("app.corp.test:8080: transport fails: 198.51.100.20:8080 timeout")
    assert "Layers of app.corp.test:8080 (lowest first)" in lines[2]
    flowing = " ".join(text.split())  # rich wraps long lines at the console width
    assert ("path: 10.20.0.10 (eth0) → gateway 10.20.0.1 → 198.51.100.20 port 8080 (explicit) "
            "[name via 10.20.0.53; direct]") in flowing
    assert any(line.startswith("╭─ #1 ERROR  Ping answers, but TCP to the port is dropped — "
                               "app.corp.test:8080 ─") for line in lines)
    # The timeout it explains is folded under it, shown inside its box.
    boxed = " ".join(text.replace("│", " ").split())
    assert ("supporting: error Connection attempts time out (silently dropped) — "
            "app.corp.test:8080 (transport.tcp-timeout-silent-drop): TCP to 198.51.100.20 port "
            "8080 got no answer") in boxed
    assert lines[-1] == "1 finding(s), 1 at warning or above; 126 facts in report"


@pytest.mark.parametrize("width", [40, 100])
def test_quiet_prints_exactly_the_verdict_lines_whatever_the_width(width: int) -> None:
    report = recorded("dns-dead.json")
    assert text_of(report, quiet=True, width=width).splitlines() == verdicts(report)


@pytest.mark.parametrize("width", [30, 60])
def test_rule_ids_are_never_cut(width: int) -> None:
    text = text_of(recorded("firewall-drop-at-server.json"), width=width)
    assert "whynet why transport.ping-ok-tcp-dropped" in text
    assert "transport.tcp-timeout-silent-drop" in text  # the supporting finding's


def test_first_failing_layer_per_target() -> None:
    report = recorded("dns-dead.json")
    assert {t: row["layer"] for t, row in first_failures(report).items()} == {
        "http://app.corp.test/": "name"}


def _plant(report: dict[str, Any]) -> dict[str, Any]:
    """Hostile values where a remote peer or another machine's snapshot can put them."""
    report = copy.deepcopy(report)
    report["targets"][0]["raw"] = "[fd00::99]:22"
    for row in report["layers"] + report["paths"]:
        row["target"] = "[fd00::99]:22"
    for f in report["facts"]:
        if f.get("target") == "app.corp.test:8080":
            f["target"] = "[fd00::99]:22"
        if f["kind"] == "probe_tcp":
            f["error"] = HOSTILE
    report["layers"][4]["summary"] = HOSTILE
    report["findings"][0]["explanation"] = HOSTILE
    report["findings"][0]["title"] = HOSTILE
    report["justification"]["activations"][0]["explanation"] = HOSTILE
    return report


def _assert_shown_safely(text: str) -> None:
    assert not any(ch in text for ch in "\x1b\x00\x07\r\u202e\ud800"), repr(text)
    assert "[link=https://evil.example/]click[/link] [/x] [bold]b[/]" in " ".join(text.split())


def test_hostile_values_are_shown_literally_and_without_control_characters() -> None:
    report = _plant(recorded("firewall-drop-at-server.json"))
    for quiet in (False, True):
        text = text_of(report, quiet=quiet, width=400)
        _assert_shown_safely(text)
        assert text.startswith("[fd00::99]:22: transport fails: [link=")
        assert quiet or "Layers of [fd00::99]:22 (lowest first)" in text


def test_why_and_why_not_show_hostile_facts_literally() -> None:
    report = _plant(recorded("firewall-drop-at-server.json"))
    kb = load_knowledge()
    out = io.StringIO()
    con = console(out, width=400, color=False)
    tree = why(report, kb.get("transport.ping-ok-tcp-dropped"))
    assert tree is not None
    con.print(tree)
    con.print(render_why_not(why_not(report, kb.get("transport.tcp-refused"))))
    _assert_shown_safely(out.getvalue())
    assert "target=[fd00::99]:22" in out.getvalue()


def test_mixed_machines_note_is_shown() -> None:
    report = recorded("healthy-https.json")
    report["notes"] = ["two machines mixed: \x1b[2Jsnapshot of vm"]
    text = text_of(report)
    assert "note: two machines mixed: [2Jsnapshot of vm" in text


def test_the_readme_session_is_in_the_current_format() -> None:
    """The README opens with a captured session: its verdict line must still be what
    render_text prints first (re-capture it when the format changes)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    session = readme.split("## A session", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    lines = session.splitlines()
    assert lines[0] == "$ whynet diagnose app.corp.test:8080"
    report = recorded("firewall-drop-at-server.json")  # the same scenario, recorded
    assert lines[1] == verdicts(report)[0]
    assert lines[3].strip() == "Layers of app.corp.test:8080 (lowest first)"


def test_a_host_wide_warning_shows_on_a_target_whose_layers_all_pass() -> None:
    report = recorded("healthy-https.json")
    warning = dict(recorded("firewall-drop-at-server.json")["findings"][0], severity="warning",
                   targets=[], title="Two default gateways", rule="routing.multiple-default-gateways",
                   checklist=["R1"])
    report["findings"] = [warning]
    assert verdicts(report) == [
        "https://app.corp.test/: every layer passed, but warning: Two default gateways "
        "(R1; routing.multiple-default-gateways)"]


def test_verdicts_are_coloured_on_a_colour_console() -> None:
    out = io.StringIO()
    con = Console(file=out, force_terminal=True, color_system="standard", width=200,
                  theme=THEME)
    render_text(recorded("firewall-drop-at-server.json"), con, quiet=True)
    assert out.getvalue().startswith("\x1b[1mapp.corp.test:8080:\x1b[0m \x1b[1;31mtransport "
                                     "fails\x1b[0m: 198.51.100.20:8080 timeout")
