"""Every rule's texts render cleanly over its own firing examples.

A template placeholder must evaluate (a failure renders as "?") to a value (None renders as
"none"); the rendered title, explanation and advice must not show what an empty list or a
missing value leaves behind (a double space, "()", punctuation after nothing), and `code`
markup must be balanced, since the text and HTML reports render it (never as raw backticks).
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from engine import expr
from engine.inference import FactView, example_facts, run
from engine.knowledge import _TEMPLATE_RE, Rule, load_knowledge
from engine.render import console, render_text
from engine.report import build_report

ARTEFACTS = [
    (re.compile(r"\bnone\b|\bNone\b|\bnull\b"), "a missing value shown as none/null"),
    (re.compile(r"\(\s*\)|\[\s*\]"), "an empty list or group"),
    (re.compile(r"(^|[\s(])[,.;:](\s|$)"), "punctuation after nothing"),
    (re.compile(r"\S {2,}\S"), "a double space where a value is missing"),
    (re.compile(r",\s*,|,\s*\.|(?<!\.)\.\s+\.(?!\.)"), "doubled punctuation"),
]

KB = load_knowledge(include_user=False)


def _firing(rule: Rule) -> list[Any]:
    return [ex for ex in rule.examples if ex.expect == "fires"]


CASES = [(rule.id, n) for rule in KB.active_rules for n, _ in enumerate(_firing(rule))]


def _scope(result: Any, activation: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {k: v for k, v in activation.variables.items()}
    for alias, fid in activation.bindings.items():
        scope[alias] = FactView(result.facts[fid])
    return scope


@pytest.mark.parametrize(("rule_id", "n"), CASES)
def test_rule_texts_render_cleanly(rule_id: str, n: int) -> None:
    rule = KB.get(rule_id)
    assert rule is not None
    example = _firing(rule)[n]
    facts = example_facts(example.facts)
    result = run(KB, facts)
    activations = result.activations_of(rule_id)
    assert activations, f"{rule_id}: example {example.name!r} does not fire"
    for act in activations:
        scope = _scope(result, act)
        for field, template in (("title", rule.title), ("explanation", rule.explanation),
                                ("advice", rule.advice)):
            for m in _TEMPLATE_RE.finditer(template):
                value = expr.evaluate(m.group(1), scope)  # raises where "?" would show
                assert value is not None, (rule_id, field, m.group(0), "renders as none")
        for field, text in (("title", act.title), ("explanation", act.explanation),
                            ("advice", act.advice)):
            for pattern, what in ARTEFACTS:
                found = pattern.search(text)
                assert not found, (rule_id, example.name, field, what, text)
            assert text.count("`") % 2 == 0, (rule_id, field, "unbalanced `code` markup", text)


def test_the_text_report_renders_code_markup() -> None:
    rule = KB.get("transport.tcp-refused")
    assert rule is not None and "`" in rule.advice
    facts = example_facts(_firing(rule)[0].facts)
    report = build_report(kb=KB, facts=facts, result=run(KB, facts), targets=[], layers=[])
    out = io.StringIO()
    render_text(report, console(out, width=120, color=False))
    assert "`" not in out.getvalue()
    assert "ss -tlnp" in out.getvalue()
