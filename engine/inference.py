"""Compile YAML rules into experta rules, run them over facts, record why each conclusion holds.

This module knows no network: it works the same on a live fact base and on a snapshot.

* Each :class:`~engine.knowledge.Rule` becomes a real ``experta.Rule``: a ``when`` condition is
  an ``experta.Fact`` pattern (literal equality for plain values, ``P(...)`` predicates for
  operators, ``MATCH.var`` for ``$var`` bindings, ``AS.name << ...`` for ``as:``), a ``not:`` is
  ``NOT(...)``, and a ``test:`` is ``TEST(...)`` over the names bound so far.
* Only facts that could match some condition are declared: the kind must appear in a rule and
  the fact must pass the literal tests of at least one condition of that kind. A 300k-line
  hosts file of blocked names costs nothing when no rule can look at those lines.
* Every activation is recorded (rule, the fact bound to each name, derived facts) in a
  :class:`Justification`, the graph that ``why`` and ``why-not`` render.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from experta import AS, MATCH, NOT, TEST, KnowledgeEngine, P
from experta import Fact as XFact
from experta import Rule as XRule

import engine._compat  # noqa: F401 - must run before experta is imported
from engine import relations
from engine.facts import Fact
from engine.kinds import KINDS
from engine.knowledge import Condition, FieldTest, KnowledgeBase, Relation, Rule, render_template
from engine.matching import expression_holds, field_passes
from engine.matching import plain as _plain


@dataclass
class Activation:
    """One firing of one rule: the facts bound to its names, and what it derived."""

    id: str
    rule: str
    bindings: dict[str, str]  # alias -> fact id
    variables: dict[str, Any]
    conditions: list[dict[str, Any]]  # per condition: description, fact id or None (negated)
    derived: list[str] = field(default_factory=list)
    explanation: str = ""
    advice: str = ""
    fold_key: str = ""
    title: str = ""  # the rule's title, rendered when it is a template

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "rule": self.rule, "bindings": self.bindings,
            "variables": {k: _plain(v) for k, v in self.variables.items()},
            "conditions": self.conditions, "derived": self.derived,
            "explanation": self.explanation, "advice": self.advice,
        }


@dataclass
class RuleError:
    rule: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


@dataclass
class InferenceResult:
    activations: list[Activation]
    facts: dict[str, Fact]  # every declared fact (collected, probed and derived), by id
    derived: dict[str, str]  # derived fact id -> activation id
    errors: list[RuleError]
    declared_kinds: set[str]
    relations: dict[str, Fact] = field(default_factory=dict)  # relation facts, by id

    def activations_of(self, rule_id: str) -> list[Activation]:
        return [a for a in self.activations if a.rule == rule_id]


def fact_fields(fact: Fact) -> dict[str, Any]:
    """A fact's fields with every field of its kind present (missing ones as None), so
    ``exists: false`` and equality with null behave the same for absent and null fields."""
    fields = dict(fact.fields)
    spec = KINDS.get(fact.kind)
    if spec is not None:
        for name in spec.fields:
            fields.setdefault(name, None)
    return fields


class FactView(Mapping[str, Any]):
    """What expressions see of a bound fact: its fields, plus kind and id."""

    def __init__(self, fact: Fact):
        self._fact = fact
        self._fields = fact_fields(fact)

    def __getitem__(self, key: str) -> Any:
        if key in ("kind", "id"):
            return getattr(self._fact, key)
        if key == "source":
            return dict(self._fact.source)
        return self._fields[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(["kind", "id", *self._fields])

    def __len__(self) -> int:
        return len(self._fields) + 2


CompiledTests = tuple[tuple[str, Callable[[Any], bool]], ...]


def _compiled_conditions(kb_rules: Iterable[Rule]) -> dict[str, list[tuple[Condition,
                                                                            CompiledTests]]]:
    """Per kind, each condition on it with its literal field tests compiled once
    (``t.compiled`` is matching.field_passes without thawing experta's frozen values: a
    fact's fields are plain JSON values already)."""
    by_kind: dict[str, list[tuple[Condition, CompiledTests]]] = {}
    for rule in kb_rules:
        for cond in rule.when:
            by_kind.setdefault(cond.kind, []).append(
                (cond, tuple((t.field, t.compiled) for t in cond.alpha_tests)))
    return by_kind


def relevant(kb_rules: Iterable[Rule], facts: Iterable[Fact]) -> list[Fact]:
    """The facts some condition could ever match (kind, then literal field tests).

    Each fact is tested once per condition on its own fields (a field it lacks reads as None,
    as in :func:`fact_fields`), with checks compiled once per condition."""
    by_kind = {kind: [tests for _, tests in conds]
               for kind, conds in _compiled_conditions(kb_rules).items()}
    out = []
    for f in facts:
        conds = by_kind.get(f.kind)
        if conds and _any_condition(conds, f.fields):
            out.append(f)
    return out


def _any_condition(conds: list[CompiledTests], fields: Mapping[str, Any]) -> bool:
    for tests in conds:
        if _passes(tests, fields):
            return True
    return False


def _passes(tests: CompiledTests, fields: Mapping[str, Any]) -> bool:
    get = fields.get
    try:
        for name, check in tests:
            if not check(get(name)):
                return False
    except Exception:  # noqa: BLE001 - an odd fact simply does not match
        return False
    return True


class _Plan:
    """Which rules can fire at all, and so which facts and relations inference needs.

    A rule can fire only when each of its positive conditions has a fact passing its literal
    tests, or matches a kind that a rule which can fire derives (``then:``). The facts only
    rules that cannot fire would look at are not declared to experta, and a relation only such
    rules match is not computed: on a node with 5,000 neighbours on its own subnets, the 5,000
    ``neighbour_on_own_subnet`` facts are worth building only if two neighbours share a MAC.
    Whether a rule can fire is decided on its conditions' literal tests alone (joins and
    ``test:`` are left to experta), so no rule that could fire is ever left out."""

    def __init__(self, rules: list[Rule], relations_by_kind: Mapping[str, Any]):
        self.rules = rules
        self.conditions = _compiled_conditions(rules)
        self.relation_kinds = set(relations_by_kind)
        self.computed: set[str] = set()  # relation kinds computed so far
        self.met: set[int] = set()  # id() of each condition some candidate fact passes
        self.candidates: list[tuple[Fact, list[Condition]]] = []

    def add(self, facts: Iterable[Fact]) -> None:
        """Test facts against the conditions; keep those passing any, with which they pass."""
        conditions = self.conditions
        for f in facts:
            conds = conditions.get(f.kind)
            if not conds:
                continue
            fields = f.fields
            passed = [cond for cond, tests in conds if _passes(tests, fields)]
            if passed:
                self.candidates.append((f, passed))
                self.met.update(id(c) for c in passed)

    def possible(self) -> list[Rule]:
        """The rules that can fire, with a relation not yet computed counted as present."""
        derived: set[str] = set()
        possible: list[Rule] = []
        remaining = list(self.rules)
        while True:
            still = []
            for rule in remaining:
                if all(c.negated or id(c) in self.met or c.kind in derived
                       or (c.kind in self.relation_kinds and c.kind not in self.computed)
                       for c in rule.when):
                    possible.append(rule)
                    derived.update(d.kind for d in rule.then)
                else:
                    still.append(rule)
            if len(still) == len(remaining):
                return possible
            remaining = still

    def declared(self, possible: list[Rule]) -> list[Fact]:
        wanted = {id(c) for rule in possible for c in rule.when}
        return [f for f, passed in self.candidates if any(id(c) in wanted for c in passed)]


# A run's budget. A rule that matches its own derived facts (or two that feed each other) would
# otherwise run until memory runs out; a rule matching every pair of 300 routes fires 45,150
# times for one finding. Past these, the rule stops being recorded (one rule error names it)
# or, for derived facts, the run stops, and the report carries everything found before.
MAX_ACTIVATIONS_PER_RULE = 1000
MAX_DERIVED_FACTS = 20000


class _Runner:
    """Builds an experta engine for a knowledge base and records what happens in it."""

    def __init__(self, rules: list[Rule]):
        self.rules = rules
        self.activations: list[Activation] = []
        self.errors: list[RuleError] = []
        self.facts: dict[str, Fact] = {}
        self.derived: dict[str, str] = {}
        self._counter = 0
        # The run's budget (see MAX_ACTIVATIONS_PER_RULE, MAX_DERIVED_FACTS).
        self._fired: dict[str, int] = {}
        self._derived_by: dict[str, int] = {}
        self._derived_keys: dict[tuple[str, str], str] = {}
        self.stopped = False

    # -- compilation ---------------------------------------------------------------------------
    def compile(self) -> type[KnowledgeEngine]:
        attrs: dict[str, Any] = {}
        for i, rule in enumerate(self.rules):
            attrs[f"rule_{i}"] = self._compile_rule(rule)
        return type("CompiledKnowledge", (KnowledgeEngine,), attrs)

    def _compile_rule(self, rule: Rule) -> XRule:
        ces: list[Any] = []
        names: list[str] = []
        variables: set[str] = set()
        sides = _sides(rule)
        for cond in rule.when:
            pattern = self._pattern(rule, cond)
            if cond.negated:
                ces.append(NOT(pattern))
                continue
            ces.append(getattr(AS, _fact_var(cond.alias)) << pattern if cond.alias else pattern)
            if cond.alias:
                names.append(cond.alias)
            for t in cond.tests:
                if t.var and t.var not in variables:
                    variables.add(t.var)
                    names.append(t.var)
            if cond.test:
                ces.append(TEST(self._test(rule, cond.test, list(names), set(variables),
                                           sides)))
        return XRule(*ces)(self._action(rule, sides))

    def _pattern(self, rule: Rule, cond: Condition) -> XFact:
        constraints: dict[str, Any] = {"kind": cond.kind}
        for t in cond.tests:
            if t.var is not None:
                c: Any = getattr(MATCH, _value_var(t.var))
            else:
                # Every field test, a literal too, goes through the matcher why-not uses.
                c = P(self._predicate(rule, t))
            constraints[t.field] = constraints[t.field] & c if t.field in constraints else c
        return XFact(**constraints)

    def _predicate(self, rule: Rule, test: FieldTest) -> Callable[[Any], bool]:
        def predicate(value: Any) -> bool:
            try:
                return field_passes(test, value)
            except Exception as exc:  # noqa: BLE001 - reported, the rule is skipped for it
                self.errors.append(RuleError(rule.id, f"{exc.__class__.__name__}: {exc}"))
                return False

        return predicate

    def _test(self, rule: Rule, source: str, names: list[str],
              variables: set[str], sides: Mapping[str, tuple[str, str]]) -> Callable[..., bool]:
        # experta passes a TEST only the context entries its signature names.
        params = [_value_var(n) if n in variables else _fact_var(n) for n in names]

        def test(**context: Any) -> bool:
            try:
                return expression_holds(source, self._scope(context, names, sides))
            except Exception as exc:  # noqa: BLE001 - reported, this match is skipped
                self.errors.append(RuleError(rule.id, f"test {source!r}: "
                                                      f"{exc.__class__.__name__}: {exc}"))
                return False

        test.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in params]
        )
        return test

    def _scope(self, context: Mapping[str, Any], names: Iterable[str],
               sides: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
        scope: dict[str, Any] = {}
        for n in names:
            if _fact_var(n) in context:
                xf = context[_fact_var(n)]
                scope[n] = FactView(self.facts[xf["id"]])
            elif _value_var(n) in context:
                scope[n] = _plain(context[_value_var(n)])
        # The two facts of a relation fact, under the names its condition gave them.
        for name, (alias, side) in sides.items():
            if alias in scope:
                scope[name] = FactView(self.facts[scope[alias][side]])
        return scope

    def _action(self, rule: Rule, sides: Mapping[str, tuple[str, str]]) -> Callable[..., None]:
        names = [c.alias for c in rule.when if c.alias]
        names += [t.var for c in rule.when for t in c.tests if t.var]

        def action(ke: KnowledgeEngine, **context: Any) -> None:
            self._fire(ke, rule, context, list(dict.fromkeys(names)), sides)

        action.__name__ = rule.id.replace(".", "_").replace("-", "_")
        return action

    # -- running -------------------------------------------------------------------------------
    def _within_budget(self, rule: Rule) -> bool:
        """Count this activation; False when the rule (or the run) has had its share."""
        if self.stopped:
            return False
        fired = self._fired[rule.id] = self._fired.get(rule.id, 0) + 1
        if fired <= MAX_ACTIVATIONS_PER_RULE:
            return True
        if fired == MAX_ACTIVATIONS_PER_RULE + 1:
            self.errors.append(RuleError(rule.id, (
                f"stopped after {MAX_ACTIVATIONS_PER_RULE} activations in one run; "
                "the rest of its matches are not reported (fold_by, or a narrower when:)")))
        return False

    def _fire(self, ke: KnowledgeEngine, rule: Rule, context: Mapping[str, Any],
              names: list[str], sides: Mapping[str, tuple[str, str]]) -> None:
        if not self._within_budget(rule):
            return
        scope = self._scope(context, names, sides)
        self._counter += 1
        act = Activation(
            id=f"a{self._counter}", rule=rule.id,
            bindings={n: scope[n]["id"] for c in rule.when
                      for n in (c.alias, *(name for name, _ in c.sides)) if n in scope},
            variables={n: v for n, v in scope.items() if not isinstance(v, FactView)},
            conditions=[
                {"condition": c.describe(), "line": c.line, "negated": c.negated,
                 "fact": scope[c.alias]["id"] if c.alias in scope else None,
                 **({"related": {n: scope[n]["id"] for n, _ in c.sides if n in scope}}
                    if c.sides else {})}
                for c in rule.when
            ],
        )
        act.explanation = str(render_template(rule.explanation, scope))
        act.advice = str(render_template(rule.advice, scope))
        act.fold_key = str(render_template(rule.fold_by, scope)) if rule.fold_by else ""
        act.title = str(render_template(rule.title, scope)) if "{" in rule.title else rule.title
        self.activations.append(act)
        for n, d in enumerate(rule.then, 1):
            fields = {k: _plain(render_template(v, scope)) if isinstance(v, str) else v
                      for k, v in d.fields.items()}
            key = (d.kind, json.dumps(fields, sort_keys=True, default=str))
            same = self._derived_keys.get(key)
            if same is not None:
                act.derived.append(same)  # derived already: declaring it again changes nothing
                continue
            if self._derived_count(rule) > MAX_DERIVED_FACTS:
                self.stopped = True
                self.errors.append(RuleError(rule.id, (
                    f"inference stopped: more than {MAX_DERIVED_FACTS} derived facts in one "
                    f"run, {self._derived_by[rule.id]} of them by this rule (does its then: "
                    "make facts its when: matches again?); the report has what came before")))
                ke.halt()
                return
            fid = f"{d.kind}:{act.id}:{n}"
            fact = Fact(d.kind, fid, {"rule": rule.id, "activation": act.id}, fields)
            self._derived_keys[key] = fid
            self.facts[fid] = fact
            self.derived[fid] = act.id
            act.derived.append(fid)
            ke.declare(_to_experta(fact))

    def _derived_count(self, rule: Rule) -> int:
        self._derived_by[rule.id] = self._derived_by.get(rule.id, 0) + 1
        return len(self.derived) + 1


def _sides(rule: Rule) -> dict[str, tuple[str, str]]:
    """Names bound to the two facts of a relation fact: name -> (relation alias, side)."""
    return {name: (c.alias, side) for c in rule.when if c.alias for name, side in c.sides}


def _fact_var(alias: str) -> str:
    return f"f_{alias}"


def _value_var(var: str) -> str:
    return f"v_{var}"


def _to_experta(fact: Fact) -> XFact:
    return XFact(kind=fact.kind, id=fact.id, **fact_fields(fact))


def run(kb: KnowledgeBase, facts: Iterable[Fact], *, prefilter: bool = True) -> InferenceResult:
    """Declare the relevant facts, run every active rule to quiescence, return what fired.

    Only the facts a rule that can fire could match are declared, and only the relations such
    rules match are computed (:class:`_Plan`). ``prefilter=False`` computes every relation and
    declares every fact of a kind some rule names (the benchmarks' baseline, and the reference
    the tests compare the plan with: the same findings, only slower)."""
    rules = kb.active_rules
    runner = _Runner(rules)
    engine_cls = runner.compile()
    facts = list(facts)
    relation_errors: list[tuple[str, str]] = []
    if prefilter:
        related, declared = _planned(kb, rules, facts, relation_errors)
    else:
        related = relations.compute(kb.used_relations, facts, relation_errors)
        kinds = {c.kind for r in rules for c in r.when}
        declared = [f for f in [*facts, *related] if f.kind in kinds]
    runner.errors.extend(RuleError(f"relation {name}", msg) for name, msg in relation_errors)
    if related:
        # The facts a relation names are bound by rules without being declared themselves.
        by_id = {f.id: f for f in facts}
        for r in related:
            for fid in (r.fields["left"], r.fields["right"], *r.fields.get("members", ())):
                runner.facts[fid] = by_id[fid]
    runner.facts.update({f.id: f for f in declared})
    ke = engine_cls()
    ke.reset()
    if declared:
        ke.declare(*(_to_experta(f) for f in declared))
    ke.run()
    return InferenceResult(
        activations=runner.activations, facts=runner.facts, derived=runner.derived,
        errors=_dedupe(runner.errors), declared_kinds={f.kind for f in declared},
        relations={f.id: f for f in related},
    )


def _planned(kb: KnowledgeBase, rules: list[Rule], facts: list[Fact],
             errors: list[tuple[str, str]]) -> tuple[list[Fact], list[Fact]]:
    """The relation facts computed and the facts to declare, as :class:`_Plan` decides.
    Relations are computed cheapest input first: one that turns out empty can make a costlier
    one needless (no shared neighbour MAC: no need to place every neighbour in a subnet)."""
    used = {rel.name: rel for rel in kb.used_relations}
    plan = _Plan(rules, used)
    plan.add(facts)
    inputs = {k for rel in used.values() for k in rel.input_kinds}
    by_kind: dict[str, list[Fact]] = {k: [] for k in inputs}
    for f in facts:
        if f.kind in inputs:
            by_kind[f.kind].append(f)
    pending = sorted(used.values(),
                     key=lambda rel: sum(len(by_kind[k]) for k in rel.input_kinds))
    related: list[Fact] = []

    def compute(rel: Relation) -> None:
        pending.remove(rel)
        inputs = [f for k in rel.input_kinds for f in by_kind[k]]
        found: list[Fact] = []
        # A relation whose within: reads another (a group of neighbours on this host's
        # subnets) needs that one first, unless its own key already says it is empty.
        if relations.may_relate(rel, inputs):
            for need in sorted(rel.needs):
                if used[need] in pending:
                    compute(used[need])
            found = relations.compute([rel], inputs, errors, given=related)
        plan.computed.add(rel.name)
        plan.add(found)
        related.extend(found)

    while pending:
        needed = {c.kind for rule in plan.possible() for c in rule.when}
        # Those another pending one reads through within: last: the reader may need none.
        rel = next((r for r in pending if r.name in needed
                    and not any(r.name in other.needs for other in pending)),
                   next((r for r in pending if r.name in needed), None))
        if rel is None:
            break
        compute(rel)
    plan.computed.update(r.name for r in pending)  # not needed: no rule that can fire uses them
    return related, plan.declared(plan.possible())


def _dedupe(errors: list[RuleError]) -> list[RuleError]:
    seen: set[tuple[str, str]] = set()
    out = []
    for e in errors:
        if (e.rule, e.message) not in seen:
            seen.add((e.rule, e.message))
            out.append(e)
    return out


def example_facts(raw: Iterable[Mapping[str, Any]]) -> list[Fact]:
    """Facts from a rule example: ``id`` and ``source`` are optional there."""
    out = []
    for i, f in enumerate(raw):
        data = dict(f)
        kind = data.pop("kind")
        fid = str(data.pop("id", f"{kind}:example:{i}"))
        source = data.pop("source", {"example": i})
        out.append(Fact(kind, fid, dict(source) if isinstance(source, Mapping) else {}, data))
    return out
