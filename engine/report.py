"""Findings and the report: folding, ranking, the JSON document, and its text rendering.

Ranking puts the root cause first. Findings at warning or above come before info findings
(info is context, not a failure); within each group: the lowest layer first (link before
route before name before transport...), then severity, then how directly the evidence shows
the cause (``observed`` by a probe, ``inferred`` from configuration, ``heuristic``).
Several activations of one rule for one cause (the pairs a/b and b/a of two default routes,
say) fold into one finding; ``fold_by`` in a rule splits them per target or per interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import __version__
from engine.facts import Fact
from engine.inference import InferenceResult
from engine.kinds import LAYERS, SEVERITIES
from engine.knowledge import CONFIDENCES, KnowledgeBase, Rule
from engine.redact import redact_fact, redact_text

# Kinds with more facts than this are shortened in the report to those that some rule could
# match; their totals are kept in ``omitted_facts``.
MAX_FACTS_PER_KIND = 5000


@dataclass
class Finding:
    rule: Rule
    activations: list[str]
    evidence: list[str]
    explanation: str
    advice: str
    fold_key: str
    instances: int = 1
    rank: int = 0
    extra_explanations: list[str] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return self.rule.severity

    @property
    def at_least_warning(self) -> bool:
        return SEVERITIES.index(self.rule.severity) >= SEVERITIES.index("warning")

    def sort_key(self) -> tuple[Any, ...]:
        return (
            not self.at_least_warning,
            LAYERS.index(self.rule.layer),
            -SEVERITIES.index(self.rule.severity),
            CONFIDENCES.index(self.rule.confidence),
            self.rule.id,
            self.fold_key,
        )

    def to_json(self) -> dict[str, Any]:
        out = {
            "rule": self.rule.id, "title": self.rule.title, "severity": self.rule.severity,
            "checklist": list(self.rule.checklist), "layer": self.rule.layer,
            "confidence": self.rule.confidence, "explanation": redact_text(self.explanation),
            "advice": redact_text(self.advice), "evidence": self.evidence, "rank": self.rank,
            "instances": self.instances, "activations": self.activations,
            "file": self.rule.location,
        }
        if self.extra_explanations:
            out["also"] = [redact_text(e) for e in self.extra_explanations]
        return out


def build_findings(kb: KnowledgeBase, result: InferenceResult) -> list[Finding]:
    by_key: dict[tuple[str, str], Finding] = {}
    for act in result.activations:
        rule = kb.get(act.rule)
        if rule is None:
            continue
        key = (rule.id, act.fold_key)
        evidence = [fid for fid in act.bindings.values()]
        found = by_key.get(key)
        if found is None:
            by_key[key] = Finding(rule, [act.id], evidence, act.explanation, act.advice,
                                  act.fold_key)
            continue
        found.activations.append(act.id)
        found.instances += 1
        found.evidence.extend(e for e in evidence if e not in found.evidence)
        if act.explanation != found.explanation and act.explanation not in found.extra_explanations:
            found.extra_explanations.append(act.explanation)
    findings = sorted(by_key.values(), key=Finding.sort_key)
    for i, f in enumerate(findings, 1):
        f.rank = i
    return findings


def skipped_rules(kb: KnowledgeBase, facts: Iterable[Fact]) -> list[dict[str, Any]]:
    """Rules that could not fire because a kind they need has no fact at all (insights-core's
    "skipped: missing X"): reported, never silently false."""
    present = {f.kind for f in facts} | kb.derived_kinds
    out = []
    for rule in kb.active_rules:
        needed: set[str] = set()
        for c in rule.when:
            if not c.negated:  # a relation needs the kinds it relates, not pairs of them
                rel = kb.relations.get(c.kind)
                needed |= rel.input_kinds if rel is not None else {c.kind}
        missing = sorted(needed - present)
        if missing:
            out.append({"rule": rule.id, "missing": missing})
    return out


def report_facts(facts: list[Fact], kb: KnowledgeBase, result: InferenceResult,
                 keep: set[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The facts the report carries: every fact of a kind rules look at (for why-not),
    shortened for huge kinds, plus every fact named as evidence (``keep``)."""
    wanted = {c.kind for r in kb.active_rules for c in r.when}
    counts: dict[str, int] = {}
    for f in facts:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    out: list[Fact] = []
    omitted: dict[str, int] = {}
    for f in facts:
        if f.kind.startswith("probe_") or f.kind in ("collection_error", "source_absent"):
            out.append(f)
        elif f.kind in wanted and (counts[f.kind] <= MAX_FACTS_PER_KIND or f.id in result.facts):
            out.append(f)
        elif f.id in keep:
            out.append(f)
        else:
            omitted[f.kind] = omitted.get(f.kind, 0) + 1
    derived = [result.facts[fid] for fid in result.derived]
    derived += [f for f in result.relations.values() if f.id in result.facts or f.id in keep]
    return [redact_fact(f).to_json() for f in out + derived], omitted


def build_report(
    *, kb: KnowledgeBase, facts: list[Fact], result: InferenceResult,
    targets: list[Mapping[str, Any]], layers: list[dict[str, Any]], host: str = "",
    collected_at: str = "",
) -> dict[str, Any]:
    findings = build_findings(kb, result)
    keep = {e for f in findings for e in f.evidence}
    fact_list, omitted = report_facts(facts, kb, result, keep)
    return {
        "whynet": __version__,
        "host": host,
        "collected_at": collected_at,
        "targets": list(targets),
        "findings": [f.to_json() for f in findings],
        "layers": layers,
        "facts": fact_list,
        "omitted_facts": omitted,
        "justification": {
            "activations": [a.to_json() for a in result.activations],
            "derived": dict(result.derived),
        },
        "rule_errors": [e.to_json() for e in result.errors],
        "skipped_rules": skipped_rules(kb, facts),
        "knowledge": {"files": kb.files, "rules": len(kb.active_rules)},
    }


def exit_code(report: Mapping[str, Any]) -> int:
    """0: nothing at warning or above; 1: such findings (DESIGN.md)."""
    return 1 if any(f["severity"] in ("warning", "error") for f in report["findings"]) else 0
