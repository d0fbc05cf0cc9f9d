"""``whynet rules test``: run every rule's examples (Semgrep-style annotated cases).

Each example's facts run through the *whole* knowledge base, so an example of a rule that
matches a derived fact exercises the chain that derives it. ``fires`` passes when the rule
fired, ``silent`` when it did not; ``known-miss`` records a case the rule gets wrong today
(Semgrep's ``todoruleid``): it is reported, never counted as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.inference import example_facts, run
from engine.knowledge import Example, KnowledgeBase, Rule


@dataclass(frozen=True)
class ExampleResult:
    rule: Rule
    example: Example
    fired: bool
    errors: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        if self.example.expect == "known-miss":
            return True
        return self.fired == (self.example.expect == "fires") and not self.errors

    def describe(self) -> str:
        got = "fired" if self.fired else "stayed silent"
        status = "ok" if self.passed else "FAIL"
        if self.example.expect == "known-miss":
            status = "known miss"
        extra = f" (errors: {'; '.join(self.errors)})" if self.errors else ""
        return (f"{status}: {self.rule.id} / {self.example.name}: expected "
                f"{self.example.expect}, {got}{extra}  [{self.rule.file}:{self.example.line}]")


def run_examples(kb: KnowledgeBase, only: set[str] | None = None) -> list[ExampleResult]:
    results = []
    for rule in kb.active_rules:
        if only is not None and rule.file not in only:
            continue
        for ex in rule.examples:
            outcome = run(kb, example_facts(ex.facts))
            fired = any(a.rule == rule.id for a in outcome.activations)
            errors = tuple(e.message for e in outcome.errors if e.rule == rule.id)
            results.append(ExampleResult(rule, ex, fired, errors))
    return results
