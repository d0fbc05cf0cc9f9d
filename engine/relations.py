"""The relation step: pairs of related facts, found with an index, as derived facts.

experta tests a join between two conditions pair by pair, so a rule relating two facts of a
large kind (two interfaces with one MAC, two overlapping subnets) costs n² before it can say
anything. Like insights-core's combiners, which sit between parsers and rules, this step sits
between the fact base and inference: for each ``relations:`` entry of the knowledge base that
some rule matches, it finds the related pairs with an index and emits one fact per pair, of
the relation's kind (or, for ``group``, one per key), which rules match like any other fact
(``left:``/``right:`` bind the two facts themselves). The relation is still stated in YAML;
nobody writes Python for a fast join.

The joins (``join:`` in the YAML), each linear in its input plus the pairs it finds:

* ``same``: the two facts' ``field`` values are equal (a list of fields: all equal). Hash by
  key. A list-valued field (a hosts entry's ``names``) joins on each of its elements.
* ``overlaps``: the two CIDRs (or addresses, as /32 and /128) overlap. Sort and sweep: CIDRs
  are nested or disjoint, so the ones still open when a CIDR starts all contain it. A self-join
  with ``distinct: [fields]`` relates only facts that differ in those fields, and facts with the
  same CIDR and the same ``distinct`` values enter the sweep once (the smallest id stands for
  them): 250 addresses of one subnet on one NIC are one fact to the sweep, not 31,125 pairs.
* ``covers``: the left CIDR (``default`` = the whole family) contains the right address or
  CIDR. A hash per prefix length of the left side (a prefix trie laid flat): each right value
  is looked up once per distinct left prefix length, at most 33 (129 for IPv6).

With no ``right:`` both facts come from ``left`` (a self-join); for the symmetric joins
(``same``, ``overlaps``) each unordered pair is then emitted once, the smaller fact id on the
left (as a pairwise rule's ``b.id > a.id`` did). A fact is never related to itself.
A relation's optional ``test:`` (the rule expression language, names ``left`` and ``right``)
filters the pairs found; it is evaluated on those pairs only, never on all of them.

Pairs within one key are themselves n² when many facts share the key (300 default routes in one
table are 44,850 pairs). ``group`` states "more than one fact per key" instead:

* ``group``: the facts of ``left`` (no ``right:``) with equal ``field`` values, hashed by key,
  become ONE fact per key that has at least two members, or, with ``distinct: [fields]``, at
  least two members that differ in those fields. The fact holds the key (``value``), the number
  of members (``count``), the number of different ``distinct`` values (``distinct_count``) and
  every member's id (``members``, sorted), so ``why`` reaches each of them; ``left`` is the first
  member and ``right`` the first one after it that differs from it in ``distinct`` (the second
  member without ``distinct:``), so rules bind two representatives as with a pair; each
  ``distinct`` field is also a field of the group fact, the list of its members' values (each
  value once). Or, with ``unit: EXPRESSION`` (over ``member``, evaluated once per fact),
  members whose unit is equal count as one (a bond's ports stand for the bond: they carry its
  MAC by design), the group needs two units, ``distinct_count`` counts units, ``right`` is
  the first member of another unit than ``left``'s, and ``units`` lists them. Linear.

A side's ``within: RELATION.left|right`` admits only the facts on that side of some fact of
another relation (any member of a group), computed before it (:func:`relation_order`): one set
lookup per fact, where a rule condition on a second kind would be a join.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from engine import expr
from engine.facts import Fact
from engine.knowledge import Relation, RelationSide, relation_order

Pair = tuple[Fact, Fact, Any]  # left, right, the joined value


def compute(relations: Iterable[Relation], facts: Sequence[Fact],
            errors: list[tuple[str, str]] | None = None, given: Iterable[Fact] = ()) -> list[Fact]:
    """Every related pair, for every relation, as a fact of the relation's kind.

    A relation ``test:`` that fails on an odd pair is appended to ``errors`` (as
    ``(relation name, message)``) and that pair skipped. ``given``: relation facts computed
    before, which a ``within:`` here may read."""
    rels = relation_order(list(relations))
    if not rels:
        return []
    by_kind: dict[str, list[Fact]] = defaultdict(list)
    wanted = {k for rel in rels for k in rel.input_kinds}
    for f in facts:
        if f.kind in wanted:
            by_kind[f.kind].append(f)
    out: list[Fact] = []
    # (relation, side) -> the ids of the facts on that side of its facts, for within:
    sides: dict[tuple[str, str], set[str]] = defaultdict(set)
    _add_sides(sides, given)
    for rel in rels:
        found = list(_relation_facts(rel, by_kind, errors, sides))
        _add_sides(sides, found)
        out.extend(found)
    return out


def _add_sides(sides: dict[tuple[str, str], set[str]], found: Iterable[Fact]) -> None:
    for f in found:
        members = [str(m) for m in f.fields.get("members", ())]  # a group: each on both sides
        sides[(f.kind, "left")].update([str(f.fields["left"]), *members])
        sides[(f.kind, "right")].update([str(f.fields["right"]), *members])


def may_relate(rel: Relation, facts: Sequence[Fact]) -> bool:
    """False when ``rel`` surely has no fact on ``facts``, whatever its ``within:`` admits: a
    group with no key shared by two admitted facts (one hash, no relation it reads computed).
    True otherwise (it may have)."""
    if rel.join != "group":
        return True
    seen: set[tuple[Any, ...]] = set()
    for f in facts:
        if f.kind != rel.left.kind or (rel.left.tests and not rel.left.admits(f.fields)):
            continue
        for k in set(_keys(f, rel.left.fields)):
            if k in seen:
                return True
            seen.add(k)
    return False


def _relation_facts(rel: Relation, by_kind: Mapping[str, list[Fact]],
                    errors: list[tuple[str, str]] | None,
                    sides: Mapping[tuple[str, str], set[str]]) -> Iterator[Fact]:
    from engine.inference import FactView  # inference imports this module

    left = _admitted(rel.left, by_kind.get(rel.left.kind, []), sides)
    if rel.join == "group":
        yield from _groups(rel, left, errors)
        return
    right = None if rel.right is None else _admitted(rel.right, by_kind.get(rel.right.kind, []),
                                                     sides)
    if rel.join == "same":
        pairs = _same(rel, left, right)
    elif rel.join == "overlaps":
        pairs = _overlaps(rel, left, right)
    else:
        pairs = _covers(rel, left, right)
    seen: set[tuple[str, str]] = set()
    for a, b, value in pairs:
        if a.id == b.id or (a.id, b.id) in seen:
            continue
        seen.add((a.id, b.id))
        if rel.test is not None:
            try:
                if not expr.evaluate(rel.test, {"left": FactView(a), "right": FactView(b)}):
                    continue
            except Exception as exc:  # noqa: BLE001 - reported, the pair is skipped
                if errors is not None:
                    errors.append((rel.name, f"test {rel.test!r}: "
                                             f"{exc.__class__.__name__}: {exc}"))
                continue
        yield Fact(
            rel.name, f"{rel.name}:{a.id}|{b.id}",
            {"relation": rel.name, "file": rel.file, "line": rel.line},
            {"left": a.id, "right": b.id, "left_kind": a.kind, "right_kind": b.kind,
             "value": value},
        )


def _admitted(side: RelationSide, facts: list[Fact],
              sides: Mapping[tuple[str, str], set[str]]) -> list[Fact]:
    if side.within is not None:  # computed before this one (relation_order)
        inside = sides.get(side.within, set())
        facts = [f for f in facts if f.id in inside]
    if not side.tests:
        return facts
    return [f for f in facts if side.admits(f.fields)]  # a missing field reads as None


# --- same: hash by key ---------------------------------------------------------------------------

def _keys(fact: Fact, fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """The keys a fact joins on: one per combination of its list fields' elements."""
    per_field: list[list[Any]] = []
    for name in fields:
        value = fact.fields.get(name)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        values = [v for v in values if v is not None and v != ""]
        if not values:
            return []
        per_field.append(values)
    return [tuple(k) for k in itertools.product(*per_field)]


def _same(rel: Relation, left: list[Fact], right: list[Fact] | None) -> Iterator[Pair]:
    index: dict[tuple[Any, ...], list[Fact]] = defaultdict(list)
    if right is None:  # self-join: every unordered pair within a group
        for f in left:
            for k in _keys(f, rel.left.fields):
                index[k].append(f)
        for key, group in index.items():
            ordered = sorted(group, key=lambda f: f.id)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1:]:
                    yield a, b, _key_value(key)
        return
    for f in right:
        for k in _keys(f, rel.right_side.fields):
            index[k].append(f)
    for a in left:
        for k in _keys(a, rel.left.fields):
            for b in index.get(k, ()):
                yield a, b, _key_value(k)


def _key_value(key: tuple[Any, ...]) -> Any:
    return key[0] if len(key) == 1 else list(key)


# --- group: hash by key, one fact per key ---------------------------------------------------------

def _distinct_value(fact: Fact, fields: tuple[str, ...]) -> str:
    # JSON text: list values (unhashable) compare by content, 1 and "1" stay different.
    return json.dumps([fact.fields.get(name) for name in fields], sort_keys=True, default=str)


def _groups(rel: Relation, left: list[Fact],
            errors: list[tuple[str, str]] | None) -> Iterator[Fact]:
    index: dict[tuple[Any, ...], dict[str, Fact]] = defaultdict(dict)
    for f in left:
        for k in _keys(f, rel.left.fields):
            index[k][f.id] = f  # a fact whose list field repeats an element counts once
    units: dict[str, Any] = {}  # fact id -> its unit, evaluated once (a member of two keys)
    for key, by_id in index.items():
        if len(by_id) < 2:
            continue
        members = sorted(by_id.values(), key=lambda f: f.id)
        if rel.unit is not None:
            members = [f for f in members if _unit_of(rel, f, units, errors)]
            if len(members) < 2:
                continue
        # What tells members apart: their distinct fields, their unit, else each is its own.
        if rel.distinct:
            values = [_distinct_value(f, rel.distinct) for f in members]
        elif rel.unit is not None:
            values = [units[f.id][1] for f in members]
        else:
            values = [f.id for f in members]
        distinct = len(set(values))
        if distinct < 2:
            continue
        first = members[0]
        second = next(f for f, v in zip(members, values, strict=True) if v != values[0])
        fields: dict[str, Any] = {
            "left": first.id, "right": second.id, "left_kind": first.kind,
            "right_kind": second.kind, "value": _key_value(key), "count": len(members),
            "distinct_count": distinct, "members": [f.id for f in members]}
        for name in rel.distinct:  # each distinct field's values, once each, in member order
            of_members = (f.fields.get(name) for f in members)
            fields[name] = list({json.dumps(v, sort_keys=True, default=str): v
                                 for v in of_members}.values())
        if rel.unit is not None:  # the units, once each, in member order
            fields["units"] = list({units[f.id][1]: units[f.id][0] for f in members}.values())
        yield Fact(rel.name, f"{rel.name}:{'|'.join(str(k) for k in key)}",
                   {"relation": rel.name, "file": rel.file, "line": rel.line}, fields)


def _unit_of(rel: Relation, fact: Fact, units: dict[str, Any],
             errors: list[tuple[str, str]] | None) -> bool:
    """Evaluate ``rel.unit`` for ``fact`` into ``units`` as (value, JSON text); False when the
    expression fails on it (reported in ``errors``: the member is left out, as a pair whose
    ``test:`` fails is)."""
    from engine.inference import FactView  # inference imports this module

    if fact.id not in units:
        assert rel.unit is not None
        try:
            value = expr.evaluate(rel.unit, {"member": FactView(fact)})
        except Exception as exc:  # noqa: BLE001 - reported, the member is left out
            if errors is not None:
                errors.append((rel.name, f"unit {rel.unit!r} on {fact.id}: "
                                         f"{exc.__class__.__name__}: {exc}"))
            units[fact.id] = None
        else:
            units[fact.id] = (value, json.dumps(value, sort_keys=True, default=str))
    return units[fact.id] is not None


# --- overlaps: sort and sweep ---------------------------------------------------------------------

Interval = tuple[int, int, int, int, Fact]  # version, first, last, side (0 left, 1 right), fact


def _network(value: Any, fact: Fact) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(value, str) or not value:
        return None
    if value == "default":
        return ipaddress.ip_network("::/0" if fact.fields.get("family") == 6 else "0.0.0.0/0")
    try:
        return ipaddress.ip_network(value.split("%", 1)[0], strict=False)
    except ValueError:
        return None


def _intervals(facts: list[Fact], field: str, side: int) -> Iterator[Interval]:
    for f in facts:
        value = f.fields.get(field)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            net = _network(v, f)
            if net is not None:
                yield (net.version, int(net.network_address), int(net.broadcast_address),
                       side, f)


def _overlaps(rel: Relation, left: list[Fact], right: list[Fact] | None) -> Iterator[Pair]:
    items = list(_intervals(left, rel.left.fields[0], 0))
    if rel.distinct and right is None:
        items = _one_per_cidr_and_distinct(items, rel.distinct)
    if right is not None:
        items.extend(_intervals(right, rel.right_side.fields[0], 1))
    # By start, the wider first: a CIDR's container is always before it.
    items.sort(key=lambda t: (t[0], t[1], -t[2]))
    open_: list[list[Interval]] = [[], []]  # per side: a chain of nested CIDRs still open
    version = None
    for item in items:
        v, first, _last, side, fact = item
        if v != version:
            open_, version = [[], []], v
        for stack in open_:
            while stack and stack[-1][2] < first:
                stack.pop()
        if right is None:
            for other in open_[0]:
                if rel.distinct and _distinct_value(other[4], rel.distinct) == _distinct_value(
                        fact, rel.distinct):
                    continue
                a, b = sorted((other[4], fact), key=lambda f: f.id)
                yield a, b, None
        else:
            for other in open_[1 - side]:
                yield (other[4], fact, None) if side == 1 else (fact, other[4], None)
        open_[side if right is not None else 0].append(item)


def _one_per_cidr_and_distinct(items: list[Interval],
                               fields: tuple[str, ...]) -> list[Interval]:
    """One interval per (CIDR, ``distinct`` values): the smallest fact id stands for the rest."""
    best: dict[tuple[Any, ...], Interval] = {}
    for item in items:
        key = (item[0], item[1], item[2], _distinct_value(item[4], fields))
        if key not in best or item[4].id < best[key][4].id:
            best[key] = item
    return list(best.values())


# --- covers: per-prefix-length hash ---------------------------------------------------------------

def _covers(rel: Relation, left: list[Fact], right: list[Fact] | None) -> Iterator[Pair]:
    # (version, prefix length) -> network address >> host bits -> facts
    index: dict[tuple[int, int], dict[int, list[Fact]]] = defaultdict(lambda: defaultdict(list))
    for f in left:
        value = f.fields.get(rel.left.fields[0])
        for v in value if isinstance(value, (list, tuple)) else [value]:
            net = _network(v, f)
            if net is not None:
                host_bits = net.max_prefixlen - net.prefixlen
                index[(net.version, net.prefixlen)][int(net.network_address) >> host_bits].append(f)
    lengths: dict[int, list[int]] = defaultdict(list)
    for version, plen in index:
        lengths[version].append(plen)
    targets = left if right is None else right
    field = rel.right_side.fields[0]
    for b in targets:
        value = b.fields.get(field)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            net = _network(v, b)
            if net is None:
                continue
            addr = int(net.network_address)
            for plen in lengths.get(net.version, ()):
                if plen > net.prefixlen:
                    continue
                for a in index[(net.version, plen)].get(addr >> (net.max_prefixlen - plen), ()):
                    yield a, b, v
