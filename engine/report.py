"""Findings and the report: folding, ranking, the JSON document, and its text rendering.

Ranking puts the root cause first. Findings at warning or above come before info findings
(info is context, not a failure); within each group: the lowest layer first (link before
route before name before transport...), then severity, then how directly the evidence shows
the cause (``observed`` by a probe, ``inferred`` from configuration, ``heuristic``).
Several activations of one rule for one cause (the pairs a/b and b/a of two default routes,
say) fold into one finding; ``fold_by`` in a rule splits them per target or per interface.

One fault, one finding: after ranking, a finding that is a consequence or a restatement of a
higher-ranked finding *about the same target* folds under it as its supporting evidence
(``supporting`` in the JSON, shown with it in text and HTML). The test is general, read from the
justification graph, never from rule ids:

* shared evidence: both rest on one fact (directly, or through a fact a rule derived), e.g. the
  one timed-out connection that a firewall rule, "ping works" and "UDP passes" all explain; or
* a generic reading of a probe outcome (confidence ``heuristic``: "connection refused") on a
  target that a more specific finding already explains; or
* a restatement: everything it rests on is a strict part of what another finding rests on
  (that finding then takes the better rank of the two, whatever their layers).

A finding never folds under one of lower severity, and a finding about a target never folds
under one about another target (a host-wide finding, such as an output policy, folds under the
first target finding that shares its evidence). Titles name the finding's subject (its targets,
else its ``fold_by`` key) unless the rule's title is itself a template.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import __version__
from engine.facts import Fact
from engine.inference import Activation, InferenceResult
from engine.kinds import LAYERS, SEVERITIES
from engine.knowledge import CONFIDENCES, KnowledgeBase, Rule, builtin_knowledge_dir
from engine.redact import redact_fact, redact_report, redact_text

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
    title: str = ""
    targets: list[str] = field(default_factory=list)  # targets of the probe facts it rests on
    basis: set[str] = field(default_factory=set)  # evidence, plus what derived evidence rests on
    supporting: list[Finding] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return self.rule.severity

    @property
    def at_least_warning(self) -> bool:
        return SEVERITIES.index(self.rule.severity) >= SEVERITIES.index("warning")

    def severity_at_least(self, other: Finding) -> bool:
        return SEVERITIES.index(self.rule.severity) >= SEVERITIES.index(other.rule.severity)

    def may_support(self, other: Finding) -> bool:
        """``other`` may fold under this finding: not more severe, and about the same target
        (or host-wide)."""
        if not self.severity_at_least(other):
            return False
        return not other.targets or set(other.targets) <= set(self.targets)

    def restates(self, other: Finding) -> bool:
        """This finding rests on everything ``other`` rests on, and more: ``other`` tells part
        of the same story, wherever it ranks."""
        return self.may_support(other) and other.basis < self.basis

    def shares_evidence(self, other: Finding) -> bool:
        """``other`` (ranked below) rests on a fact this finding rests on."""
        return self.may_support(other) and bool(self.basis & other.basis)

    def explains(self, other: Finding) -> bool:
        """Whether ``other`` (ranked below) is a consequence or restatement of this finding."""
        if not self.may_support(other):
            return False
        if self.basis & other.basis:
            return True
        # a generic reading (alone, or as the evidence of a finding that restates it)
        return bool(other.targets) and any(g.rule.confidence == "heuristic"
                                           for g in (other, *other.supporting))

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
        out: dict[str, Any] = {
            "rule": self.rule.id, "title": redact_text(self.title or self.rule.title),
            "severity": self.rule.severity,
            "checklist": list(self.rule.checklist), "layer": self.rule.layer,
            "confidence": self.rule.confidence, "explanation": redact_text(self.explanation),
            "advice": redact_text(self.advice), "evidence": self.evidence, "rank": self.rank,
            "instances": self.instances, "activations": self.activations,
            "file": self.rule.location, "target": self.targets[0] if self.targets else None,
            "targets": list(self.targets),
            "supporting": [dict(s.to_json(), rank=self.rank) for s in self.supporting],
        }
        if self.extra_explanations:
            out["also"] = [redact_text(e) for e in self.extra_explanations]
        return out


def build_findings(kb: KnowledgeBase, result: InferenceResult) -> list[Finding]:
    """Findings, root cause first, each with the findings it explains folded under it."""
    findings = fold_consequences(sorted(_findings_by_rule(kb, result), key=Finding.sort_key))
    for i, f in enumerate(findings, 1):
        f.rank = i
    return findings


def fold_consequences(ranked: list[Finding]) -> list[Finding]:
    """Fold findings under the findings that explain them (see the module docstring).

    First restatements: a finding whose basis is a strict part of another's folds under the
    one with the largest basis, which takes the better rank of the two. Then, in rank order,
    each finding folds under the first higher-ranked one that shares its evidence, else the
    first that explains it otherwise; a parent's basis grows by its children's, so passes
    repeat until nothing moves."""
    kept = []
    for finding in ranked:
        wider = [k for k in ranked if k is not finding and k.restates(finding)]
        if wider:
            max(wider, key=lambda k: len(k.basis)).supporting.append(finding)
        else:
            kept.append(finding)
    for finding in kept:  # a restatement's own restatements belong to the widest one
        finding.supporting = [g for s in finding.supporting for g in (s, *s.supporting)]
        for s in finding.supporting:
            s.supporting = []
    kept.sort(key=lambda f: min(g.sort_key() for g in (f, *f.supporting)))
    moved = True
    while moved:
        moved = False
        survivors: list[Finding] = []
        for finding in kept:
            parent = next((k for k in survivors if k.shares_evidence(finding)),
                          next((k for k in survivors if k.explains(finding)), None))
            if parent is None:
                survivors.append(finding)
                continue
            moved = True
            parent.supporting += [finding, *finding.supporting]
            finding.supporting = []
            parent.basis |= finding.basis
        kept = survivors
    for finding in kept:
        finding.supporting.sort(key=Finding.sort_key)
    return kept


def _basis(fact_ids: Iterable[str], result: InferenceResult,
           by_id: Mapping[str, Activation]) -> set[str]:
    """The facts a finding rests on: its evidence, and for each derived fact the evidence of
    the activation that derived it (recursively)."""
    out: set[str] = set()
    todo = list(fact_ids)
    while todo:
        fid = todo.pop()
        if fid in out:
            continue
        out.add(fid)
        act = by_id.get(result.derived.get(fid, ""))
        if act is not None:
            todo.extend(act.bindings.values())
    return out


def _targets(fact_ids: Iterable[str], result: InferenceResult, probed: set[str]) -> list[str]:
    """The diagnosed targets among the facts' ``target`` fields (probe facts, and facts such
    as a target's path derived from them; ``probed`` tells them from a firewall rule's
    ``target``, which is a verdict)."""
    targets = []
    for fid in fact_ids:
        fact = result.facts.get(fid)
        target = fact.get("target") if fact is not None else None
        if target in probed and target not in targets:
            targets.append(str(target))
    return targets


def _title(rule: Rule, rendered: str, subject: str) -> str:
    if "{" in rule.title or not subject:
        return rendered or rule.title
    return f"{rule.title} — {subject}"


def _findings_by_rule(kb: KnowledgeBase, result: InferenceResult) -> list[Finding]:
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
    by_id = {a.id: a for a in result.activations}
    probed = {str(f.get("target")) for f in result.facts.values()
              if f.kind.startswith("probe_") and f.get("target")}
    for f in by_key.values():
        f.basis = _basis(f.evidence, result, by_id)
        f.targets = _targets(f.basis, result, probed)
        f.title = _title(f.rule, by_id[f.activations[0]].title,
                         ", ".join(f.targets) or f.fold_key)
    return list(by_key.values())


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
    # Every member of a group relation the report carries: `why` shows each with its source.
    keep = keep | {m for r in result.relations.values()
                   if r.id in result.facts or r.id in keep for m in r.fields.get("members", ())}
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
    keep = {e for f in findings for g in (f, *f.supporting) for e in g.evidence}
    fact_list, omitted = report_facts(facts, kb, result, keep)
    return redact_report({
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
        "knowledge": _knowledge_used(kb),
    })


def _knowledge_used(kb: KnowledgeBase) -> dict[str, Any]:
    """The rule files a report was made with (resolved), and which of them are the user's:
    ``why``/``why-not`` load those again, the shipped ones come with whynet itself."""
    shipped = builtin_knowledge_dir().resolve()
    files = [Path(f).resolve() for f in kb.files]
    return {"files": [str(f) for f in files],
            "user_files": [str(f) for f in files if shipped not in f.parents],
            "rules": len(kb.active_rules)}


def exit_code(report: Mapping[str, Any]) -> int:
    """0: nothing at warning or above; 1: such findings (the exit codes in the README)."""
    return 1 if any(f["severity"] in ("warning", "error") for f in report["findings"]) else 0
