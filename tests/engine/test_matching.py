"""One matcher: the engine and why-not decide a condition the same way, on every example."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import expr
from engine.explain import why_not
from engine.inference import example_facts, run
from engine.knowledge import load_files, load_knowledge
from engine.report import build_report


@pytest.mark.parametrize("op, actual, expected, result", [
    ("contains", "connection refused by peer", "refused", True),
    ("contains", "connection reset", "refused", False),
    ("contains", ["a", "b"], "b", True),
    ("contains", ["abc"], "b", False),  # a list holds elements, not substrings
    ("contains", None, "x", False),
    ("contains_any", "admin-prohibited", ["host-", "admin"], True),
    ("startswith", "fe80::1", "fe80:", True),
    ("startswith", "10.0.0.1", ["192.168.", "172.16."], False),
    ("endswith", "corp.example", ".example", True),
])
def test_string_operators_mean_what_they_say(op: str, actual: object, expected: object,
                                             result: bool) -> None:
    assert expr.OPERATORS[op](actual, expected) is result


def _report(kb, facts):  # type: ignore[no-untyped-def]
    result = run(kb, facts)
    return build_report(kb=kb, facts=facts, result=result, targets=[], layers=[]), result


def test_why_not_agrees_with_the_engine_on_every_rule_and_example() -> None:
    """For every example of every shipped rule, and every rule over that example's facts,
    why-not finds a full match exactly when the engine fired the rule."""
    kb = load_knowledge(include_user=False)
    checked = 0
    for rule in kb.active_rules:
        for ex in rule.examples:
            report, result = _report(kb, example_facts(ex.facts))
            fired = {a.rule for a in result.activations}
            for other in kb.active_rules:
                w = why_not(report, other)
                matched = len(w.checks) == len(other.when) and not any(
                    c.failed_here for c in w.checks)
                assert matched == (other.id in fired), (rule.id, ex.name, other.id)
                checked += 1
    assert checked > 1000


def test_a_string_contains_rule_fires_and_why_not_shows_the_near_miss(tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text("""\
rules:
  - id: mine.reset-by-peer
    title: the peer resets
    checklist: [B1]
    severity: warning
    layer: transport
    when:
      - fact: probe_tcp
        as: p
        match: {error: {contains: "reset by peer"}}
    explanation: "{p.error}"
    advice: look at the peer
""")
    kb = load_files([f])
    hit = {"kind": "probe_tcp", "target": "h:1", "layer": "transport", "outcome": "reset",
           "error": "[Errno 104] Connection reset by peer", "ip": "192.0.2.1", "port": 1}
    miss = dict(hit, error="[Errno 111] Connection refused")
    report, result = _report(kb, example_facts([hit]))
    assert [a.rule for a in result.activations] == ["mine.reset-by-peer"]
    report, result = _report(kb, example_facts([miss]))
    assert result.activations == []
    w = why_not(report, kb.rules[0])
    assert w.checks[0].failed_here and w.checks[0].nearest is not None
    assert w.checks[0].nearest["failed"] == [
        "error contains 'reset by peer' (has '[Errno 111] Connection refused')"]
