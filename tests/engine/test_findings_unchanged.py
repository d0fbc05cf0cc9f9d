"""Findings unchanged by the relation step (issue 9): on recorded inputs, every shipped relation
gives exactly the pairs a pairwise evaluation gives, and every rule matching a relation fires
for exactly the pairs the pairwise form of its conditions accepts.

The inputs: the facts of every rule example in the knowledge base, a recorded snapshot, facts
parsed from the recorded link, address, route and neighbour outputs, and those recordings with
clashes added (cloned MACs, a subnet inside another, two neighbours behind one MAC).

And findings unchanged by the inference plan (engine.inference._Plan: only the facts and
relations a rule that can fire needs): on those inputs, on the facts of the recorded lab
reports (tests/fixtures/reports) and on a busy node grown from the recorded snapshot, the same
activations, findings and rule ids as declaring every fact and computing every relation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import expr, relations
from engine.collectors.links import parse_addresses, parse_links
from engine.collectors.routes import parse_neighbors
from engine.facts import Fact
from engine.inference import FactView, InferenceResult, example_facts, run
from engine.knowledge import (
    KnowledgeBase,
    Relation,
    RelationSide,
    Rule,
    builtin_knowledge_dir,
    load_files,
    load_knowledge,
)
from engine.report import build_findings
from tests.benchmarks.generate import BUSY_NODE, base_snapshot, grown

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _recorded() -> list[Fact]:
    facts: list[Fact] = []
    for prefix in ("host", "netns"):
        links = FIXTURES / "links"
        facts += parse_links((links / f"{prefix}-ip-j-d-link-show.json").read_text())
        facts += parse_addresses((links / f"{prefix}-ip-j-addr-show.json").read_text())
        facts += parse_neighbors((FIXTURES / "routes" / f"{prefix}-ip-j-neigh-show.json")
                                 .read_text())
    return [Fact(f.kind, f"{i}:{f.id}", f.source, f.fields) for i, f in enumerate(facts)]


def _with_clashes(facts: list[Fact]) -> list[Fact]:
    """The recordings plus copies that clash with them: the same MAC on another interface,
    a /30 inside an existing subnet on another interface, a second IP behind a neighbour's MAC."""
    out = list(facts)
    for f in facts:
        fields = dict(f.fields)
        if f.kind == "interface" and f.fields.get("mac"):
            fields["name"] = f"clone-{f.fields['name']}"
            fields["master"] = None
        elif f.kind == "address" and f.fields.get("family") == 4 and f.fields.get("network"):
            net = expr._net(f.fields["network"])
            for offset in (0, 8):  # one /30 sharing the subnet's start, one inside it
                first = net.network_address + offset
                out.append(Fact(f.kind, f"clash:{offset}:{f.id}", f.source, {
                    **fields, "interface": f"clone{offset}-{f.fields['interface']}",
                    "prefix": 30, "network": f"{first}/30", "ip": str(first + 1)}))
            continue
        elif f.kind == "neighbor" and f.fields.get("mac") and f.fields.get("family") == 4:
            fields["ip"] = str(expr._ip(f.fields["ip"]) + 100)
        else:
            continue
        out.append(Fact(f.kind, f"clash:{f.id}", f.source, fields))
    return out


def _inputs(kb: KnowledgeBase) -> Iterator[tuple[str, list[Fact]]]:
    for rule in kb.active_rules:
        for ex in rule.examples:
            yield f"{rule.id} / {ex.name}", example_facts(ex.facts)
    yield "recorded snapshot", list(base_snapshot().facts)
    yield "recorded links, addresses, neighbours", _recorded()
    yield "recordings with clashes", _with_clashes(_recorded())


def _joined(rel: Relation, a: Fact, b: Fact) -> bool:
    """The join, decided pair by pair as a rule's test: would have (no index)."""
    left, right = rel.left, rel.right_side
    if rel.join == "same":
        return bool(set(relations._keys(a, left.fields)) & set(relations._keys(b, right.fields)))
    va, vb = a.fields.get(left.fields[0]), b.fields.get(right.fields[0])
    nets_a = [relations._network(v, a) for v in (va if isinstance(va, list) else [va])]
    nets_b = [relations._network(v, b) for v in (vb if isinstance(vb, list) else [vb])]
    for na in nets_a:
        for nb in nets_b:
            if na is None or nb is None or na.version != nb.version:
                continue
            if rel.join == "overlaps" and na.overlaps(nb):  # type: ignore[arg-type]
                return True
            if rel.join == "covers" and nb.subnet_of(na):  # type: ignore[arg-type]
                return True
    return False


def _admitted(side: RelationSide, facts: list[Fact], kb: KnowledgeBase | None) -> list[Fact]:
    """The facts a relation side takes, its within: decided pair by pair too."""
    out = [f for f in facts if f.kind == side.kind and side.admits(f.fields)]
    if side.within is not None:
        assert kb is not None
        name, which = side.within
        inside = {p[0 if which == "left" else 1] for p in pairwise(kb.relations[name], facts, kb)}
        out = [f for f in out if f.id in inside]
    return out


def pairwise(rel: Relation, facts: list[Fact],
             kb: KnowledgeBase | None = None) -> set[tuple[str, str]]:
    lefts = _admitted(rel.left, facts, kb)
    rights = _admitted(rel.right_side, facts, kb)
    if rel.join == "overlaps" and rel.right is None and rel.distinct:
        # as documented: facts with one CIDR and the same distinct values are related through
        # one of them, the smallest id
        stand_for: dict[tuple[str, str], Fact] = {}
        for f in sorted(lefts, key=lambda f: f.id):
            key = (str(f.fields.get(rel.left.fields[0])), relations._distinct_value(
                f, rel.distinct))
            stand_for.setdefault(key, f)
        lefts = rights = list(stand_for.values())
    pairs = set()
    for a in lefts:
        for b in rights:
            if a.id == b.id or (rel.right is None and rel.join != "covers" and a.id > b.id):
                continue
            if rel.distinct and all(a.fields.get(n) == b.fields.get(n) for n in rel.distinct):
                continue
            if not _joined(rel, a, b):
                continue
            if rel.test and not expr.evaluate(rel.test, {"left": FactView(a),
                                                         "right": FactView(b)}):
                continue
            pairs.add((a.id, b.id))
    return pairs


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(include_user=False)


def test_the_shipped_relations_are_used(kb: KnowledgeBase) -> None:
    assert {r.name for r in kb.used_relations} >= {
        "subnet_overlap", "duplicate_mac", "shared_neighbour_mac", "address_on_virtual_network"}


def _unit(rel: Relation, fact: Fact) -> Any:
    assert rel.unit is not None
    return expr.evaluate(rel.unit, {"member": FactView(fact)})


def _same_member(rel: Relation, a: Fact, b: Fact) -> bool:
    """Whether a group counts ``a`` and ``b`` as one: equal in ``distinct``, or one unit."""
    if rel.unit is not None:
        return bool(_unit(rel, a) == _unit(rel, b))
    return bool(rel.distinct) and all(a.fields.get(n) == b.fields.get(n) for n in rel.distinct)


def pairwise_groups(rel: Relation, facts: list[Fact],
                    kb: KnowledgeBase) -> dict[str, set[str]]:
    """A group relation decided pair by pair, as two conditions joined on the key did: the
    facts sharing a key, for each key where some pair of them differs in ``distinct`` (or in
    their ``unit``)."""
    admitted = _admitted(rel.left, facts, kb)
    groups: dict[str, set[str]] = {}
    for a in admitted:
        for b in admitted:
            if a.id >= b.id:
                continue
            if _same_member(rel, a, b):
                continue
            for key in set(relations._keys(a, rel.left.fields)) & set(
                    relations._keys(b, rel.left.fields)):
                groups[str(relations._key_value(key))] = {
                    f.id for f in admitted if key in relations._keys(f, rel.left.fields)}
    return groups


def test_every_relation_gives_the_pairwise_pairs_on_every_input(kb: KnowledgeBase) -> None:
    found_any: dict[str, int] = {}
    for name, facts in _inputs(kb):
        for rel in kb.used_relations:
            needed = [kb.relations[n] for n in sorted(rel.needs)]  # what its within: reads
            if rel.join == "group":
                by_id = {f.id: f for f in facts}
                found = [f for f in relations.compute([*needed, rel], facts) if f.kind == rel.name]
                for g in found:  # the two it binds are members that differ in `distinct`
                    left, right = by_id[g.fields["left"]], by_id[g.fields["right"]]
                    assert {left.id, right.id} <= set(g.fields["members"]), (rel.name, name)
                    assert not _same_member(rel, left, right), (rel.name, name)
                groups = {str(g.fields["value"]): set(g.fields["members"]) for g in found}
                assert groups == pairwise_groups(rel, facts, kb), (rel.name, name)
                found_any[rel.name] = found_any.get(rel.name, 0) + len(groups)
                continue
            indexed = {(f.fields["left"], f.fields["right"])
                       for f in relations.compute([*needed, rel], facts) if f.kind == rel.name}
            assert indexed == pairwise(rel, facts, kb), (rel.name, name)
            found_any[rel.name] = found_any.get(rel.name, 0) + len(indexed)
    assert all(found_any.values()), found_any  # each relation is exercised with real pairs


def _relation_only_rules(kb: KnowledgeBase) -> list[Rule]:
    """Rules whose one positive condition is a relation: their pairwise form is that
    relation's pairs filtered by the condition's own match and test."""
    out = []
    for rule in kb.active_rules:
        positive = [c for c in rule.when if not c.negated]
        if (len(positive) == 1 and positive[0].sides and len(rule.when) == 1
                and kb.relations[positive[0].kind].join != "group"):
            out.append(rule)
    return out


def _pairwise_rule(rule: Rule, rel: Relation, facts: list[Fact]) -> set[tuple[str, ...]]:
    cond = rule.when[0]
    by_id = {f.id: f for f in facts}
    fired = set()
    for left, right in pairwise(rel, facts):
        scope: dict[str, Any] = {}
        names = dict(cond.sides)
        for name, side in names.items():
            scope[name] = FactView(by_id[left if side == "left" else right])
        value = relations._key_value(
            next(iter(set(relations._keys(by_id[left], rel.left.fields))
                      & set(relations._keys(by_id[right], rel.right_side.fields))))
        ) if rel.join == "same" else None
        relation_fields = {"value": value}
        if not all(t.var is not None or t.check(relation_fields.get(t.field))
                   for t in cond.tests):
            continue
        scope.update({t.var: relation_fields.get(t.field) for t in cond.tests if t.var})
        if cond.test and not expr.evaluate(cond.test, scope):
            continue
        fired.add(tuple(sorted((left, right))))
    return fired


@pytest.fixture(scope="module")
def planned_runs(kb: KnowledgeBase) -> list[tuple[str, list[Fact], InferenceResult]]:
    """Every input of this module, with the (planned) inference run on it."""
    small_busy = {kind: n // 100 for kind, n in BUSY_NODE.items()}
    inputs = [*_inputs(kb), *_report_inputs(kb),
              ("busy node / 100", list(grown(small_busy).facts))]
    return [(name, facts, run(kb, facts)) for name, facts in inputs]


def test_rules_on_relations_fire_for_the_pairwise_pairs(
        kb: KnowledgeBase, planned_runs: list[tuple[str, list[Fact], InferenceResult]]) -> None:
    rules = _relation_only_rules(kb)
    # link.duplicate-mac-neighbours also asks that both neighbours be on this host's subnets
    # (proxy ARP, issue 10): no longer a one-condition rule, so its examples test it;
    # link.duplicate-mac is a group now (test_duplicate_macs_fire_per_mac_...).
    assert {r.id for r in rules} >= {"addressing.overlapping-subnets"}
    fired_somewhere = set()
    for name, facts, result in planned_runs:
        for rule in rules:
            rel = kb.relations[rule.when[0].kind]
            expected = _pairwise_rule(rule, rel, facts)
            got = {tuple(sorted(a.bindings[n] for n, _ in rule.when[0].sides))
                   for a in result.activations_of(rule.id)}
            assert got == expected, (rule.id, name)
            if got:
                fired_somewhere.add(rule.id)
    assert fired_somewhere == {r.id for r in rules}


# routing.multiple-default-gateways as it was, two route conditions joined on $table (n²),
# selecting the default routes as the relation does today (a gateway, or straight out of a
# link: `default dev tun0`).
PAIRWISE_DEFAULT_GATEWAYS = """rules:
  - id: pairwise.multiple-default-gateways
    title: More than one default gateway
    checklist: [R1]
    severity: warning
    layer: route
    when:
      - fact: route
        as: a
        match: {destination: default, family: 4, table: $table, interface: {exists: true}}
      - fact: route
        as: b
        match: {destination: default, family: 4, table: $table, interface: {exists: true}}
        test: "b.id > a.id and (b.interface != a.interface or b.gateway != a.gateway)"
    explanation: "{table}"
    advice: none
"""


def test_default_gateways_fire_per_table_where_the_pairwise_rule_did(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    """One finding per table where the pairwise rule found a pair, whose group holds every
    route of every pair it found there."""
    (tmp_path / "pairwise.yaml").write_text(PAIRWISE_DEFAULT_GATEWAYS)
    old_kb = load_files([tmp_path / "pairwise.yaml"])
    inputs = [*_inputs(kb), ("three gateways, two tables", example_facts([
        {"kind": "route", "id": f"r{i}", "destination": "default", "family": 4,
         "gateway": gw, "interface": dev, "table": table, "metric": i}
        for i, (gw, dev, table) in enumerate([
            ("192.0.2.1", "eth0", "main"), ("192.0.2.1", "eth0", "main"),
            ("198.51.100.1", "eth1", "main"), ("192.0.2.1", "eth2", "main"),
            ("203.0.113.1", "eth0", "100"), ("203.0.113.1", "eth0", "100")])]))]
    fired_on = []
    for name, facts in inputs:
        if not any(f.kind == "route" and f.fields.get("destination") == "default"
                   for f in facts):
            continue  # nothing either form could fire on
        old = run(old_kb, facts).activations
        pairs: dict[str, set[str]] = {}
        for act in old:
            pairs.setdefault(act.variables["table"], set()).update(
                (act.bindings["a"], act.bindings["b"]))
        new = run(kb, facts)
        groups = {}
        for act in new.activations_of("routing.multiple-default-gateways"):
            group = new.facts[act.bindings["g"]]
            groups[act.variables["table"]] = set(group.fields["members"])
        assert set(groups) == set(pairs), name
        for table, routes in pairs.items():
            assert routes <= groups[table], (name, table)
        if groups:
            fired_on.append(name)
    assert "three gateways, two tables" in fired_on and len(fired_on) > 3


# link.duplicate-mac as it was: every pair of interfaces with one MAC (n² when many clone it).
PAIRWISE_DUPLICATE_MAC = """relations:
  - name: old_duplicate_mac
    join: same
    left:
      fact: interface
      field: mac
      match: {mac: {ne: "00:00:00:00:00:00"}, link_kind: {not_in: "@mac_sharing_kinds"}}
rules:
  - id: pairwise.duplicate-mac
    title: Two interfaces share a MAC address
    checklist: [R8]
    severity: warning
    layer: link
    when:
      - fact: old_duplicate_mac
        left: a
        right: b
        match: {value: $mac}
        test: >
          a.master != b.name and b.master != a.name
          and not (a.master != null and a.master == b.master
                   and a.slave_kind in ["bond", "team"])
    explanation: "{mac}"
    advice: none
"""


def _interfaces(*groups: tuple[str, list[tuple[str, str, str | None, str | None]]]
                ) -> list[Fact]:
    """Interfaces (name, link kind, master, slave kind) by the MAC they carry."""
    return example_facts([{"kind": "interface", "name": name, "mac": mac, "link_kind": kind,
                           "master": master, "slave_kind": slave_kind}
                          for mac, specs in groups for name, kind, master, slave_kind in specs])


def test_duplicate_macs_fire_per_mac_where_the_pairwise_rule_did(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    """One finding per MAC where the pairwise rule found a pair, whose group holds every
    interface of every pair it found there (and names each owner of the MAC once)."""
    (tmp_path / "pairwise.yaml").write_text(PAIRWISE_DUPLICATE_MAC)
    old_kb = load_files([builtin_knowledge_dir() / "lists.yaml", tmp_path / "pairwise.yaml"])
    mac = "52:54:00:12:34:56"
    inputs = [*_inputs(kb), ("bridges, bonds and clones on one MAC", _interfaces(
        (mac, [("docker0", "container", None, None), ("veth1", "veth", "docker0", "bridge"),
               ("veth2", "veth", "docker0", "bridge")]),
        ("52:54:00:00:00:02", [("team0", "virtual", None, None),
                               ("ens1", "physical", "team0", "team"),
                               ("ens2", "physical", "team0", "team")]),
        ("52:54:00:00:00:03", [("br-x", "container", None, None),
                               ("veth9", "veth", "br-x", "bridge")]),
        ("52:54:00:00:00:04", [("bond0", "bond", None, None),
                               ("ens3", "physical", "bond0", "bond"),
                               ("ens4", "physical", "bond0", "bond"),
                               ("eth7", "physical", None, None)]),
    ))]
    fired_on = []
    for name, facts in inputs:
        if sum(f.kind == "interface" for f in facts) < 2:
            continue  # nothing either form could fire on
        pairs: dict[str, set[str]] = {}
        for act in run(old_kb, facts).activations_of("pairwise.duplicate-mac"):
            pairs.setdefault(act.variables["mac"], set()).update(
                (act.bindings["a"], act.bindings["b"]))
        new = run(kb, facts)
        groups = {}
        for act in new.activations_of("link.duplicate-mac"):
            group = new.facts[act.bindings["g"]]
            groups[act.variables["mac"]] = set(group.fields["members"])
            assert group.fields["distinct_count"] == len(group.fields["units"]), name
        assert set(groups) == set(pairs), name
        for key, interfaces in pairs.items():
            assert interfaces <= groups[key], (name, key)
        if groups:
            fired_on.append(name)
    assert "bridges, bonds and clones on one MAC" in fired_on and len(fired_on) >= 4, fired_on


REPORTS = FIXTURES / "reports"


def _report_inputs(kb: KnowledgeBase) -> Iterator[tuple[str, list[Fact]]]:
    """The facts of each recorded lab report, without those inference derived from them."""
    for path in sorted(REPORTS.glob("*.json")):
        report = json.loads(path.read_text())
        derived = set(report["justification"]["derived"])
        facts = [Fact.from_json(raw) for raw in report["facts"]]
        yield path.name, [f for f in facts if f.id not in derived and f.kind not in kb.relations]


def _fired(result: InferenceResult) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((a.rule, tuple(sorted(a.bindings.items()))) for a in result.activations)


def _findings(kb: KnowledgeBase, result: InferenceResult) -> list[tuple[Any, ...]]:
    """The ranked findings: rule id, title, instances, the rules supporting each."""
    return [(f.rule.id, f.title, f.instances, [s.rule.id for s in f.supporting])
            for f in build_findings(kb, result)]


def test_the_plan_fires_exactly_as_declaring_every_fact(
        kb: KnowledgeBase, planned_runs: list[tuple[str, list[Fact], InferenceResult]]) -> None:
    """The same rule ids, activations (with the facts bound) and findings, on every input."""
    assert len([n for n, _, _ in planned_runs if n.endswith(".json")]) >= 3
    rules_seen: set[str] = set()
    for name, facts, planned in planned_runs:
        reference = run(kb, facts, prefilter=False)
        assert _fired(planned) == _fired(reference), name
        assert _findings(kb, planned) == _findings(kb, reference), name
        assert set(planned.derived.values()) <= {a.id for a in planned.activations}, name
        rules_seen |= {a.rule for a in planned.activations}
    assert len(rules_seen) > 50  # the inputs make most rules fire somewhere


def _neighbours_on_a_subnet(shared_mac: bool) -> list[Fact]:
    """An address on a /24 and 200 neighbours on it: two share a MAC when ``shared_mac``."""
    facts = [Fact("address", "address:eth0:0", {"command": "ip -j addr show"},
                  {"interface": "eth0", "ip": "10.20.0.10", "prefix": 24, "family": 4,
                   "scope": "global", "network": "10.20.0.0/24"})]
    for i in range(1, 201):
        mac = f"52:54:00:00:00:{(1 if shared_mac and i == 2 else i):02x}"
        facts.append(Fact("neighbor", f"neighbor:{i}", {"command": "ip -j neigh show"},
                          {"ip": f"10.20.0.{i}", "mac": mac, "interface": "eth0",
                           "state": "REACHABLE", "family": 4}))
    return facts


@pytest.mark.parametrize("shared_mac", [False, True])
def test_a_relation_no_rule_that_can_fire_needs_is_not_computed(kb: KnowledgeBase,
                                                                   shared_mac: bool) -> None:
    """neighbour_on_own_subnet only serves link.duplicate-mac-neighbours, which needs two
    neighbours behind one MAC first: without them its 200 pairs are never built."""
    facts = _neighbours_on_a_subnet(shared_mac)
    planned, reference = run(kb, facts), run(kb, facts, prefilter=False)
    kinds = [f.kind for f in planned.relations.values()]
    assert kinds.count("neighbour_on_own_subnet") == (200 if shared_mac else 0)
    assert sum(f.kind == "neighbour_on_own_subnet"
               for f in reference.relations.values()) == 200
    assert bool(planned.activations_of("link.duplicate-mac-neighbours")) == shared_mac
    assert _fired(planned) == _fired(reference)
    if not shared_mac:
        assert not {"neighbor", "neighbour_on_own_subnet"} & planned.declared_kinds


# link.duplicate-mac-neighbours as it was: every pair behind one MAC (n² in the group), both
# neighbours on this host's subnets.
PAIRWISE_NEIGHBOURS = """relations:
  - name: old_shared_mac
    join: same
    left:
      fact: neighbor
      field: [mac, interface]
      match: {state: {not_in: [FAILED, INCOMPLETE, NOARP, PERMANENT]}}
  - name: old_own_subnet
    join: covers
    left: {fact: address, field: network, match: {family: 4}}
    right: {fact: neighbor, field: ip, match: {family: 4}}
rules:
  - id: pairwise.duplicate-mac-neighbours
    title: Two neighbours share a MAC address
    checklist: [R8]
    severity: warning
    layer: link
    when:
      - fact: old_shared_mac
        left: a
        right: b
        match: {left: $a_id, right: $b_id}
        test: "b.ip != a.ip and a.family == 4 and b.family == 4"
      - fact: old_own_subnet
        match: {right: $a_id}
      - fact: old_own_subnet
        match: {right: $b_id}
    explanation: "{a.mac} {a.interface}"
    advice: none
"""


def test_shared_neighbour_macs_fire_per_group_where_the_pairwise_rule_did(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    (tmp_path / "pairwise.yaml").write_text(PAIRWISE_NEIGHBOURS)
    old_kb = load_files([tmp_path / "pairwise.yaml"])
    fired_on = []
    for name, facts in _inputs(kb):
        if sum(f.kind == "neighbor" for f in facts) < 2:
            continue  # nothing either form could fire on
        pairs: dict[str, set[str]] = {}
        for act in run(old_kb, facts).activations:
            pairs.setdefault(act.explanation, set()).update((act.bindings["a"],
                                                             act.bindings["b"]))
        new = run(kb, facts)
        groups = {}
        for act in new.activations_of("link.duplicate-mac-neighbours"):
            group = new.facts[act.bindings["g"]]
            mac, interface = group.fields["value"]
            groups[f"{mac} {interface}"] = set(group.fields["members"])
        assert set(groups) == set(pairs), name
        for key, neighbours in pairs.items():
            assert neighbours == groups[key], (name, key)  # every member is in some pair
        if groups:
            fired_on.append(name)
    assert len(fired_on) >= 2, fired_on
