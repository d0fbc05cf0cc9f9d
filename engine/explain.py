"""``why`` and ``why-not``, rendered from the report's justification graph and facts only.

* :func:`why` walks a rule's activations: each condition, the fact that met it, where that fact
  came from (file and line, command, netlink), and, for a derived fact, the activation that
  derived it, recursively down to collected or probed facts.
* :func:`why_not` re-checks a rule that did not fire condition by condition against the
  report's facts, with the engine's own matcher (:mod:`engine.matching`), and says which
  condition stopped it, how many facts each condition matched, and the nearest partial match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.tree import Tree

from engine.facts import Fact, describe_source
from engine.inference import FactView, fact_fields
from engine.knowledge import Condition, Relation, Rule
from engine.matching import alpha_passes, expression_holds, failed_tests
from engine.render import markup, rule_file

MAX_PARTIALS = 20000  # bound the join while re-checking a rule


class ReportFacts:
    """The facts a report carries, by id."""

    def __init__(self, report: Mapping[str, Any]):
        self.by_id: dict[str, Fact] = {}
        for i, raw in enumerate(report.get("facts", [])):
            f = Fact.from_json(raw, f"report fact #{i}")
            self.by_id[f.id] = f
        self.activations = {a["id"]: a for a in report.get("justification", {}).get(
            "activations", [])}
        self.derived: dict[str, str] = report.get("justification", {}).get("derived", {})

    def of_kind(self, kind: str) -> list[Fact]:
        return [f for f in self.by_id.values() if f.kind == kind]


def _short(value: Any) -> Any:
    """A long list (a group's values) as its first few elements and its length."""
    if isinstance(value, list) and len(value) > 8:
        return f"{value[:8]}… ({len(value)} in all)"
    return value


def _fact_label(f: Fact | None, fid: str) -> str:
    if f is None:
        return f"{markup(fid)} (not in report)"
    shown = {k: v for k, v in f.fields.items() if v not in (None, [], "")
             and not (k == "members" and f.source.get("relation"))}  # listed under it
    text = ", ".join(f"{k}={_short(v)}" for k, v in list(shown.items())[:8])
    return (f"[bold]{markup(f.id)}[/] ({markup(f.kind)}) {markup(text)}  "
            f"[whynet.source]← {markup(describe_source(f.source))}[/]")


def why(report: Mapping[str, Any], rule: Rule) -> Tree | None:
    """A tree: finding → each activation → condition → fact → source (recursing into derived)."""
    facts = ReportFacts(report)
    acts = [a for a in facts.activations.values() if a["rule"] == rule.id]
    if not acts:
        return None
    # A title with {placeholders} is shown as the report rendered it for its finding.
    title = rule.title if "{" not in rule.title else next(
        (str(f["title"]) for f in report.get("findings", []) if f.get("rule") == rule.id),
        rule.title)
    root = Tree(f"[bold]{markup(rule.id)}[/]: {markup(title)}  "
                f"[dim]({rule.severity}, layer {rule.layer}, checklist "
                f"{markup(', '.join(rule.checklist))}, {markup(rule_file(rule.location))})[/]")
    for act in acts:
        _add_activation(root, act, facts, depth=0)
    return root


def _add_activation(parent: Tree, act: Mapping[str, Any], facts: ReportFacts, depth: int) -> None:
    node = parent.add(f"fired ({markup(act['id'])}): {markup(act['explanation'])}")
    for cond in act["conditions"]:
        label = (f"[whynet.cond]{markup(cond['condition'])}[/] "
                 f"[dim](line {markup(cond['line'])})[/]")
        cnode = node.add(label)
        fid = cond.get("fact")
        if cond["negated"]:
            cnode.add("[dim]no fact matched: the absence is the evidence[/]")
            continue
        if fid is None:
            continue
        fnode = cnode.add(_fact_label(facts.by_id.get(fid), fid))
        for name, related in (cond.get("related") or {}).items():  # a relation's two facts
            fnode.add(f"{markup(name)}: " + _fact_label(facts.by_id.get(related), related))
        fact = facts.by_id.get(fid)
        members = fact.fields.get("members") if fact is not None else None
        if isinstance(members, list) and fact is not None and fact.source.get("relation"):
            group = fnode.add(f"members ({len(members)}), all with the key "
                              f"{markup(fact.fields.get('value'))}:")
            for member in members:  # a group relation: every fact sharing the key
                group.add(_fact_label(facts.by_id.get(str(member)), str(member)))
        parent_act = facts.derived.get(fid)
        if parent_act and depth < 10 and parent_act in facts.activations:
            derived_from = facts.activations[parent_act]
            sub = fnode.add(f"derived by rule [bold]{markup(derived_from['rule'])}[/]")
            _add_activation(sub, derived_from, facts, depth + 1)


@dataclass
class ConditionCheck:
    condition: Condition
    candidates: int  # facts of its kind
    alpha_matched: int  # passing its own field tests
    joined: int  # partial matches that survive it
    failed_here: bool = False
    blocking_fact: str | None = None  # for a negated condition: the fact that exists
    nearest: dict[str, Any] | None = None  # closest fact and the tests it failed
    relation_note: str | None = None  # a relation with no fact: what its inputs were


@dataclass
class WhyNot:
    rule: Rule
    fired: bool
    checks: list[ConditionCheck] = field(default_factory=list)
    partial: dict[str, str] = field(default_factory=dict)  # alias -> fact id, deepest match
    errors: list[str] = field(default_factory=list)


def _bind(cond: Condition, fact: Fact, fields: Mapping[str, Any], scope: Mapping[str, Any],
          ids: Mapping[str, str], by_id: Mapping[str, Fact]) -> tuple[dict[str, Any], dict[str, str]]:
    """The names bound once ``fact`` meets ``cond``: its alias, a relation fact's two facts,
    and the ``$var`` values it binds first (as the engine's activation binds them)."""
    inner, inner_ids = dict(scope), dict(ids)
    if cond.alias:
        inner[cond.alias] = FactView(fact)
        inner_ids[cond.alias] = fact.id
    for name, side in cond.sides:
        related = by_id.get(str(fields.get(side)))
        if related is not None:
            inner[name] = FactView(related)
            inner_ids[name] = related.id
    for t in cond.tests:
        if t.var and t.var not in inner:
            inner[t.var] = fields.get(t.field)
    return inner, inner_ids


def _test_failures(cond: Condition, fields: Mapping[str, Any], scope: Mapping[str, Any],
                   fact: Fact, by_id: Mapping[str, Fact]) -> list[str]:
    """Which of a condition's tests this fact fails, given what is bound so far: the engine's
    own matcher (engine.matching) decides, this only words the answer."""
    failed = [f"{t.describe()} (has {fields.get(t.field)!r})"
              for t in failed_tests(cond, fields, scope)]
    if not failed and cond.test:
        inner, _ = _bind(cond, fact, fields, scope, {}, by_id)
        try:
            if not expression_holds(cond.test, inner):
                failed.append(f"test {cond.test!r} is false")
        except Exception as exc:  # noqa: BLE001 - the engine skips this match too
            failed.append(f"test {cond.test!r} failed: {exc}")
    return failed


def _relation_note(rel: Relation, facts: ReportFacts) -> str:
    """Why a relation has no fact: how many facts each side admits, and what they must share."""
    def admitted(side: Any) -> int:
        return sum(1 for f in facts.of_kind(side.kind) if side.admits(fact_fields(f)))

    fields, where = ", ".join(rel.left.fields), rule_file(f"{rel.file}:{rel.line}")
    if rel.join == "group":
        differ = f", differing in {', '.join(rel.distinct)}" if rel.distinct else ""
        return (f"{admitted(rel.left)} {rel.left.kind} fact(s) pass its match; no two of them "
                f"share {fields}{differ} ({where})")
    right = rel.right_side
    return (f"{admitted(rel.left)} {rel.left.kind} and {admitted(right)} {right.kind} fact(s) "
            f"pass its sides' match; no pair of them is related by {rel.join} on {fields} "
            f"({where})")


def why_not(report: Mapping[str, Any], rule: Rule,
            relations: Mapping[str, Relation] | None = None) -> WhyNot:
    """``relations``: the knowledge base's, to say what a relation with no fact was given."""
    facts = ReportFacts(report)
    fired = any(a["rule"] == rule.id for a in facts.activations.values())
    result = WhyNot(rule, fired)
    partials: list[tuple[dict[str, Any], dict[str, str]]] = [({}, {})]
    for cond in rule.when:
        candidates = facts.of_kind(cond.kind)
        alpha = [f for f in candidates if alpha_passes(cond, fact_fields(f))]
        check = ConditionCheck(cond, len(candidates), len(alpha), 0)
        result.checks.append(check)
        new: list[tuple[dict[str, Any], dict[str, str]]] = []
        best: tuple[int, Fact, list[str]] | None = None
        for scope, ids in partials:
            matching = []
            for f in candidates:
                fields = fact_fields(f)
                failures = _test_failures(cond, fields, scope, f, facts.by_id)
                if not failures:
                    matching.append(f)
                elif best is None or len(failures) < best[0]:
                    best = (len(failures), f, failures)
            if cond.negated:
                if matching:
                    check.blocking_fact = matching[0].id
                else:
                    new.append((scope, ids))
                continue
            for f in matching:
                s2, ids2 = _bind(cond, f, fact_fields(f), scope, ids, facts.by_id)
                new.append((s2, ids2))
                if len(new) >= MAX_PARTIALS:
                    break
        check.joined = len(new)
        if best is not None and not cond.negated:
            check.nearest = {"fact": best[1].id, "failed": best[2],
                             "source": describe_source(best[1].source)}
        if not new:
            check.failed_here = True
            rel = (relations or {}).get(cond.kind)
            if rel is not None and not candidates:
                check.relation_note = _relation_note(rel, facts)
            result.partial = partials[0][1] if partials else {}
            break
        partials = new
    else:
        result.partial = partials[0][1] if partials else {}
    return result


def render_why_not(w: WhyNot) -> Tree:
    state = "fired" if w.fired else "did not fire"
    root = Tree(f"[bold]{markup(w.rule.id)}[/]: {markup(w.rule.title)} — [bold]{state}[/] "
                f"[dim]({markup(rule_file(w.rule.location))})[/]")
    for i, c in enumerate(w.checks, 1):
        mark = "[whynet.fail]✗[/]" if c.failed_here else "[whynet.ok]✓[/]"
        head = (f"{mark} condition {i} [dim](line {c.condition.line})[/]: "
                f"[whynet.cond]{markup(c.condition.describe())}[/]")
        node = root.add(head)
        if c.condition.negated:
            if c.blocking_fact:
                node.add("a matching fact exists, so this 'not' fails: "
                         f"[bold]{markup(c.blocking_fact)}[/]")
            else:
                node.add("no matching fact: satisfied")
            continue
        node.add(f"{c.candidates} fact(s) of kind {markup(c.condition.kind)}; "
                 f"{c.alpha_matched} pass its own field tests; "
                 f"{c.joined} match together with the conditions before")
        if c.failed_here and c.nearest:
            near = node.add(f"nearest: [bold]{markup(c.nearest['fact'])}[/] "
                            f"[whynet.source]← {markup(c.nearest['source'])}[/]")
            for reason in c.nearest["failed"]:
                near.add(f"fails: {markup(reason)}")
        if c.failed_here and c.relation_note:
            node.add(f"[whynet.fail]no {markup(c.condition.kind)} fact:[/] "
                     f"{markup(c.relation_note)}")
        elif c.failed_here and c.candidates == 0 and c.condition.sides:
            node.add(f"[whynet.fail]no pair of facts is related as "
                     f"{markup(c.condition.kind)}[/]")
        elif c.failed_here and c.candidates == 0:
            node.add(f"[whynet.fail]no {markup(c.condition.kind)} fact at all in this report[/]")
    if w.partial and not w.fired:
        root.add("nearest partial match: "
                 + markup(", ".join(f"{k}={v}" for k, v in w.partial.items())))
    return root
