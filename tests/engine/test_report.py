"""Findings: one per cause per target. Consequences and restatements fold under the finding that
explains them (``supporting``), read from the justification graph, never from rule ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.facts import Fact
from engine.inference import example_facts, run
from engine.knowledge import KnowledgeBase, load_files, load_knowledge
from engine.render import console, render_text
from engine.render_html import render_html
from engine.report import build_findings, build_report, exit_code


def _rule(rid: str, severity: str, layer: str, confidence: str, when: str,
          title: str = "") -> str:
    return (f"  - id: {rid}\n    title: {title or rid}\n    checklist: [F5]\n"
            f"    severity: {severity}\n    layer: {layer}\n    confidence: {confidence}\n"
            f"    fold_by: \"{{p.target}}\"\n    when:\n{when}"
            f"    explanation: \"{rid} on {{p.target}}\"\n    advice: x\n")


TCP = "      - fact: probe_tcp\n        as: p\n        match: {outcome: timeout}\n"
RULES = "rules:\n" + "".join([
    # the specific cause: TCP timed out and ping answered (shares p with the generic reading)
    _rule("t.cause", "error", "transport", "observed",
          TCP + "      - fact: probe_icmp\n        as: i\n"
                "        match: {outcome: reply, target: $t}\n"
                "        test: \"i.target == p.target\"\n"),
    # the generic reading of the same outcome
    _rule("t.generic", "error", "transport", "heuristic", TCP),
    # a host-wide configuration finding that the cause also rests on
    "  - id: t.policy\n    title: output policy drop\n    checklist: [F1]\n    severity: warning\n"
    "    layer: transport\n    when:\n      - fact: firewall_chain\n        as: c\n"
    "        match: {hook: output, policy: drop}\n    explanation: policy\n    advice: x\n",
    _rule("t.local", "error", "transport", "observed",
          TCP + "      - fact: firewall_chain\n        as: c\n"
                "        match: {hook: output, policy: drop}\n"),
    # a weaker finding (warning) cannot absorb an error
    _rule("t.weak", "warning", "name", "observed",
          "      - fact: probe_resolve\n        as: p\n        match: {outcome: resolved}\n"),
    # a lower-layer finding and a higher-layer one resting on the same fact and more
    _rule("t.hop", "error", "link", "observed",
          "      - fact: probe_arp\n        as: p\n        match: {outcome: no_answer}\n"),
    _rule("t.wide", "error", "address", "observed",
          "      - fact: probe_arp\n        as: p\n        match: {outcome: no_answer}\n"
          "      - fact: address\n        as: a\n        match: {scope: global}\n"),
    # a template title
    _rule("t.titled", "info", "route", "observed",
          "      - fact: probe_route\n        as: p\n        match: {outcome: routed}\n",
          title="'Route to {p.ip}'"),
])


def _kb(tmp_path: Path) -> KnowledgeBase:
    (tmp_path / "rules.yaml").write_text(RULES)
    return load_files([tmp_path / "rules.yaml"])


def _facts(*raw: dict[str, Any]) -> list[Fact]:
    return example_facts(raw)


def _tcp(target: str, ip: str) -> dict[str, Any]:
    return {"kind": "probe_tcp", "target": target, "layer": "transport", "outcome": "timeout",
            "ip": ip, "port": 443}


def _report(kb: KnowledgeBase, facts: list[Fact]) -> dict[str, Any]:
    return build_report(kb=kb, facts=facts, result=run(kb, facts), targets=[], layers=[])


def test_a_generic_reading_and_a_restatement_fold_under_the_cause(tmp_path: Path) -> None:
    kb = _kb(tmp_path)
    facts = _facts(_tcp("a:443", "10.0.0.5"),
                   {"kind": "probe_icmp", "target": "a:443", "layer": "route",
                    "outcome": "reply", "ip": "10.0.0.5"})
    findings = build_findings(kb, run(kb, facts))
    assert [(f.rule.id, [s.rule.id for s in f.supporting]) for f in findings] == [
        ("t.cause", ["t.generic"])]
    assert findings[0].title == "t.cause — a:443"  # the title names the target


def test_one_finding_per_target_and_a_host_wide_one_folds_under_the_first(
        tmp_path: Path) -> None:
    kb = _kb(tmp_path)
    facts = _facts(_tcp("a:443", "10.0.0.5"), _tcp("b:443", "10.0.0.6"),
                   {"kind": "firewall_chain", "backend": "nftables", "family": "inet",
                    "table": "filter", "chain": "output", "hook": "output", "policy": "drop"})
    report = _report(kb, facts)
    top = [(f["rule"], f["target"], sorted(s["rule"] for s in f["supporting"]))
           for f in report["findings"]]
    assert top == [("t.local", "a:443", ["t.generic", "t.policy"]),
                   ("t.local", "b:443", ["t.generic"])]
    assert [f["title"] for f in report["findings"]] == ["t.local — a:443", "t.local — b:443"]
    assert [f["rank"] for f in report["findings"]] == [1, 2]
    assert report["findings"][0]["supporting"][0]["rank"] == 1
    # every fact a folded finding rests on stays in the report, for `why`
    ids = {f["id"] for f in report["facts"]}
    assert all(e in ids for f in report["findings"] for s in f["supporting"]
               for e in s["evidence"])


def test_an_error_never_folds_under_a_warning(tmp_path: Path) -> None:
    kb = _kb(tmp_path)
    facts = _facts(_tcp("a:443", "10.0.0.5"),
                   {"kind": "probe_resolve", "target": "a:443", "layer": "name",
                    "outcome": "resolved", "via": "system", "addresses": ["10.0.0.5"]})
    report = _report(kb, facts)
    assert [(f["rule"], f["severity"]) for f in report["findings"]] == [
        ("t.weak", "warning"), ("t.generic", "error")]
    assert exit_code(report) == 1


def test_a_restatement_folds_under_the_wider_finding_whatever_their_layers(
        tmp_path: Path) -> None:
    kb = _kb(tmp_path)
    facts = _facts({"kind": "probe_arp", "target": "a", "layer": "address",
                    "outcome": "no_answer", "ip": "10.0.0.5"},
                   {"kind": "address", "interface": "eth1", "ip": "10.0.0.11", "prefix": 24,
                    "family": 4, "scope": "global"})
    findings = build_findings(kb, run(kb, facts))
    assert [(f.rule.id, [s.rule.id for s in f.supporting]) for f in findings] == [
        ("t.wide", ["t.hop"])]


def test_template_titles_render(tmp_path: Path) -> None:
    kb = _kb(tmp_path)
    facts = _facts({"kind": "probe_route", "target": "a", "layer": "route", "outcome": "routed",
                    "ip": "10.0.0.5"})
    assert [f.title for f in build_findings(kb, run(kb, facts))] == ["Route to 10.0.0.5"]


def test_supporting_findings_are_shown_in_text_and_html(tmp_path: Path) -> None:
    import io

    kb = _kb(tmp_path)
    facts = _facts(_tcp("a:443", "10.0.0.5"),
                   {"kind": "probe_icmp", "target": "a:443", "layer": "route",
                    "outcome": "reply", "ip": "10.0.0.5"})
    report = _report(kb, facts)
    out = io.StringIO()
    render_text(report, console(out, width=200, color=False))
    assert "supporting: error t.generic — a:443 (t.generic): t.generic on a:443" in out.getvalue()
    assert "<ul class='supporting'><li class='error'>" in render_html(report)


def test_shipped_rules_give_one_error_for_a_dropped_port() -> None:
    """The issue's example: a port dropped by a firewall while ping and UDP get through gave
    three errors (drop, ping-ok, UDP-passes); now one, with the others as its evidence."""
    kb = load_knowledge(include_user=False)
    facts = _facts(
        {"kind": "probe_tcp", "target": "app:8080", "layer": "transport", "outcome": "timeout",
         "ip": "10.0.0.5", "port": 8080, "elapsed_ms": 3000},
        {"kind": "probe_icmp", "target": "app:8080", "layer": "route", "outcome": "reply",
         "ip": "10.0.0.5", "rtt_ms": 1},
        {"kind": "probe_udp", "target": "app:8080", "layer": "transport", "outcome": "reply",
         "ip": "10.0.0.5", "port": 8080})
    report = _report(kb, facts)
    errors = [f["rule"] for f in report["findings"] if f["severity"] == "error"]
    assert errors == ["transport.udp-passes-tcp-dropped"]
    assert {s["rule"] for s in report["findings"][0]["supporting"]} >= {
        "transport.ping-ok-tcp-dropped", "transport.tcp-timeout-silent-drop"}


def test_shipped_rules_give_one_error_for_a_refused_default_port() -> None:
    """`http://localhost` refused: default-port-assumed explains the bare refusal."""
    kb = load_knowledge(include_user=False)
    facts = _facts(
        {"kind": "probe_target", "target": "http://localhost", "layer": "transport",
         "outcome": "parsed", "host": "localhost", "port": 80, "port_reason": "http default",
         "scheme": "http"},
        {"kind": "probe_tcp", "target": "http://localhost", "layer": "transport",
         "outcome": "refused", "ip": "127.0.0.1", "port": 80, "errno": "ECONNREFUSED"})
    report = _report(kb, facts)
    raised = [f for f in report["findings"] if f["severity"] != "info"]
    assert [f["rule"] for f in raised] == ["transport.default-port-assumed"]
    assert "transport.tcp-refused" in [s["rule"] for s in raised[0]["supporting"]]
