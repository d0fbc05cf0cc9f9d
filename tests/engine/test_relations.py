"""The relation step (engine/relations.py): indexed joins give exactly the pairs a pairwise
comparison gives, on facts parsed from recorded real outputs; relation YAML is validated with
FILE:LINE errors; rules bind a relation's two facts."""

from __future__ import annotations

import ipaddress
import itertools
from pathlib import Path
from typing import Any

import pytest

from engine import expr, relations
from engine.collectors.hosts import parse_hosts
from engine.collectors.links import parse_addresses, parse_links
from engine.collectors.routes import parse_neighbors, parse_routes
from engine.facts import Fact
from engine.inference import example_facts, run
from engine.knowledge import KnowledgeLoadError, load_files

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _addresses() -> list[Fact]:
    out = []
    for name in ("host-ip-j-addr-show.json", "netns-ip-j-addr-show.json"):
        facts = parse_addresses((FIXTURES / "links" / name).read_text())
        out += [Fact(f.kind, f"{name}:{f.id}", f.source, f.fields) for f in facts]
    return out


def _routes() -> list[Fact]:
    out = []
    for path in sorted((FIXTURES / "routes").glob("*route-show-table-all.json")):
        family = 6 if "-6-" in path.name else 4 if "-4-" in path.name else None
        facts = parse_routes(path.read_text(), family, path.name)
        out += [Fact(f.kind, f"{path.name}:{f.id}", f.source, f.fields) for f in facts]
    return out


def _kb(tmp_path: Path, text: str) -> Any:
    f = tmp_path / "r.yaml"
    f.write_text(text)
    return load_files([f])


def _pairs(facts: list[Fact]) -> set[tuple[str, str]]:
    return {(f.fields["left"], f.fields["right"]) for f in facts}


RULE = """
rules:
  - id: t.uses
    title: uses the relation
    checklist: [R2]
    severity: info
    layer: address
    when:
      - fact: {name}
        left: a
        right: b
    explanation: "{{a.id}} {{b.id}}"
    advice: "none"
"""


def test_overlaps_finds_exactly_the_pairwise_overlaps_of_recorded_addresses(
        tmp_path: Path) -> None:
    kb = _kb(tmp_path, """
relations:
  - name: overlap
    join: overlaps
    left: {fact: address, field: network}
""" + RULE.format(name="overlap"))
    facts = _addresses()
    found = _pairs(relations.compute(kb.used_relations, facts))
    nets = [f for f in facts if f.fields.get("network")]
    expected = {
        tuple(sorted((a.id, b.id))) for a in nets for b in nets
        if a.id < b.id and expr.overlaps(a.fields["network"], b.fields["network"])
    }
    assert expected, "the recordings hold overlapping subnets (mac0 inside lan0's)"
    assert found == expected


def test_overlaps_with_distinct_relates_other_interfaces_once_per_subnet(
        tmp_path: Path) -> None:
    """A load balancer's 250 addresses of one subnet on one NIC (the recorded global address,
    repeated) and one more of that subnet on a second NIC: the same-NIC pairs (31,125 of them
    before) are not related, and the second NIC's address is related once, to the smallest id
    of the first NIC's."""
    kb = _kb(tmp_path, """
relations:
  - name: overlap
    join: overlaps
    left: {fact: address, field: network, match: {scope: global}}
    distinct: [interface]
""" + RULE.format(name="overlap"))
    [recorded] = [f for f in parse_addresses(
        (FIXTURES / "links" / "host-ip-j-addr-show.json").read_text())
        if f.fields.get("scope") == "global" and f.fields.get("family") == 4][:1]
    net = ipaddress.ip_network(recorded.fields["network"])
    hosts = itertools.islice(net.hosts(), 251)
    vips = [Fact("address", f"vip{i:03}", recorded.source,
                 {**recorded.fields, "ip": str(ip)}) for i, ip in enumerate(hosts)]
    other = Fact("address", "zz-other-nic", recorded.source,
                 {**vips.pop().fields, "interface": "eth9"})
    found = _pairs(relations.compute(kb.used_relations, [*vips, other]))
    assert found == {("vip000", "zz-other-nic")}
    assert _pairs(relations.compute(kb.used_relations, vips)) == set()


def test_covers_finds_exactly_the_routes_containing_each_address(tmp_path: Path) -> None:
    kb = _kb(tmp_path, """
relations:
  - name: route_covers
    join: covers
    left: {fact: route, field: destination, match: {table: main}}
    right: {fact: address, field: ip}
""" + RULE.format(name="route_covers"))
    routes, addresses = _routes(), _addresses()
    found = _pairs(relations.compute(kb.used_relations, routes + addresses))
    expected = {
        (r.id, a.id) for r in routes if r.fields.get("table") == "main" for a in addresses
        if r.fields.get("family") == a.fields.get("family") and expr.cidr_contains(
            "::/0" if r.fields["destination"] == "default" and r.fields["family"] == 6
            else r.fields["destination"], a.fields["ip"])
    }
    assert len(expected) > 5
    assert found == expected


def test_same_joins_list_fields_element_by_element(tmp_path: Path) -> None:
    kb = _kb(tmp_path, """
relations:
  - name: name_on_two_lines
    join: same
    left: {fact: hosts_entry, field: names}
""" + RULE.format(name="name_on_two_lines"))
    facts = parse_hosts((FIXTURES / "hosts" / "host-etc-hosts").read_bytes())
    found = relations.compute(kb.used_relations, facts)
    expected = {
        (a.id, b.id) for a in facts for b in facts
        if a.id < b.id and set(a.fields["names"]) & set(b.fields["names"])
    }
    assert _pairs(found) == expected
    for f in found:
        a = next(x for x in facts if x.id == f.fields["left"])
        assert f.fields["value"] in a.fields["names"]


def test_same_on_two_fields_and_two_kinds(tmp_path: Path) -> None:
    kb = _kb(tmp_path, """
relations:
  - name: neighbour_of_address
    join: same
    left: {fact: address, field: [interface]}
    right: {fact: neighbor, field: [interface]}
""" + RULE.format(name="neighbour_of_address"))
    addresses = _addresses()
    neighbours = parse_neighbors((FIXTURES / "routes" / "host-ip-j-neigh-show.json").read_text())
    found = _pairs(relations.compute(kb.used_relations, addresses + neighbours))
    expected = {(a.id, n.id) for a in addresses for n in neighbours
                if a.fields["interface"] == n.fields["interface"]}
    assert expected and found == expected


def test_duplicate_mac_groups_on_recorded_links_hold_every_interface_of_the_mac() -> None:
    """The shipped duplicate_mac group on recorded links (and clones of them): one fact per
    MAC that two interfaces own, with every admitted interface of that MAC."""
    from engine.knowledge import load_knowledge

    kb = load_knowledge(include_user=False)
    links = []
    for name in ("host-ip-j-d-link-show.json", "netns-ip-j-d-link-show.json"):
        facts = parse_links((FIXTURES / "links" / name).read_text(), frozenset({"eth0"}))
        links += [Fact(f.kind, f"{name}:{f.id}", f.source, f.fields) for f in facts]
    clones = [Fact(f.kind, f"clone:{f.id}", f.source, {**f.fields, "name": f"c-{f.fields['name']}",
                                                        "master": None})
              for f in links[:3] if f.fields.get("mac")]
    rel = kb.relations["duplicate_mac"]
    found = relations.compute([rel], links + clones)
    sharing = set(kb.lists["mac_sharing_kinds"])
    ok = [f for f in links + clones if f.fields.get("link_kind") not in sharing
          and f.fields.get("mac") not in (None, "", "00:00:00:00:00:00")]
    by_mac: dict[str, set[str]] = {}
    for f in ok:
        by_mac.setdefault(str(f.fields["mac"]), set()).add(f.id)
    expected = {mac: ids for mac, ids in by_mac.items() if len(ids) > 1}
    assert {str(g.fields["value"]): set(g.fields["members"]) for g in found} == expected
    assert expected  # the clones clash with the recordings
    for g in found:
        assert g.fields["distinct_count"] == len(g.fields["units"]) == g.fields["count"]


def test_a_group_unit_counts_a_bonds_ports_as_the_bond(tmp_path: Path) -> None:
    kb = _kb(tmp_path, """
relations:
  - name: one_mac
    join: group
    left: {fact: interface, field: mac}
    unit: "member.master if member.slave_kind == 'bond' else member.name"
rules:
  - id: t.one-mac
    title: uses the group
    checklist: [R8]
    severity: info
    layer: link
    when:
      - fact: one_mac
        as: g
        left: a
        right: b
    explanation: "{g.units} {a.name} {b.name}"
    advice: none
""")
    mac = "52:54:00:12:34:56"
    ports = example_facts([
        {"kind": "interface", "id": f"i{n}", "name": name, "mac": mac, "master": master,
         "slave_kind": "bond" if master else None}
        for n, (name, master) in enumerate([("ens1", "bond0"), ("ens2", "bond0")])])
    assert relations.compute(kb.used_relations, ports) == []  # one unit: no group
    clone = example_facts([{"kind": "interface", "id": "i9", "name": "eth9", "mac": mac}])
    [group] = relations.compute(kb.used_relations, ports + clone)
    assert (group.fields["units"], group.fields["distinct_count"], group.fields["count"]) == (
        ["bond0", "eth9"], 2, 3)
    assert (group.fields["left"], group.fields["right"]) == ("i0", "i9")
    [act] = run(kb, ports + clone).activations
    assert act.explanation == "bond0, eth9 ens1 eth9"


def test_a_unit_that_fails_on_a_member_leaves_it_out_and_says_so(tmp_path: Path) -> None:
    kb = _kb(tmp_path, """
relations:
  - name: one_mac
    join: group
    left: {fact: interface, field: mac}
    unit: "member.mtu - 1"
""" + RULE.format(name="one_mac"))
    facts = example_facts([
        {"kind": "interface", "id": f"i{n}", "name": f"eth{n}", "mac": "52:54:00:12:34:56",
         "mtu": mtu} for n, mtu in enumerate([1500, None, 9000])])
    errors: list[tuple[str, str]] = []
    [group] = relations.compute(kb.used_relations, facts, errors)
    assert group.fields["members"] == ["i0", "i2"] and group.fields["units"] == [1499, 8999]
    assert errors and errors[0][0] == "one_mac" and "i1" in errors[0][1]


@pytest.mark.parametrize(("body", "message"), [
    ("join: same\n    left: {fact: interface, field: mac}\n    unit: member.name",
     "'unit:' is for 'join: group' only"),
    ("join: group\n    left: {fact: interface, field: mac}\n    distinct: [name]\n"
     "    unit: member.name", "'distinct:' or 'unit:', not both"),
    ("join: group\n    left: {fact: interface, field: mac}\n    unit: member.nosuch",
     "unknown field 'nosuch'"),
    ("join: group\n    left: {fact: interface, field: mac}\n    unit: other.name",
     "expression uses 'other'"),
    ("join: group\n    left: {fact: interface, field: mac}\n    unit: member.name[0]",
     "Subscript is not part of the expression vocabulary"),
])
def test_a_bad_unit_is_an_error_with_its_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    text = f"relations:\n  - name: one_mac\n    {body}\n" + RULE.format(name="one_mac")
    path.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip().startswith("unit:"))
    with pytest.raises(KnowledgeLoadError) as exc:
        load_files([path])
    assert any(message in str(e) and f"bad.yaml:{line}:" in str(e) for e in exc.value.errors), \
        exc.value.errors


def test_relation_test_filters_pairs_and_rules_bind_both_facts(tmp_path: Path) -> None:
    kb = _kb(tmp_path, """
relations:
  - name: overlap
    join: overlaps
    left: {fact: address, field: network}
    test: "left.interface != right.interface"
""" + RULE.format(name="overlap"))
    facts = _addresses()
    result = run(kb, facts)
    assert result.activations
    by_id = {f.id: f for f in facts}
    for act in result.activations:
        a, b = by_id[act.bindings["a"]], by_id[act.bindings["b"]]
        assert a.fields["interface"] != b.fields["interface"]
        assert act.explanation == f"{a.id} {b.id}"
        assert act.bindings["overlap"] in result.relations


GROUP = """
relations:
  - name: gateways
    join: group
    left: {fact: route, field: table, match: {destination: default}}
    distinct: [gateway]
rules:
  - id: t.group
    title: uses the group
    checklist: [R1]
    severity: info
    layer: route
    when:
      - fact: gateways
        as: g
        left: a
        right: b
    explanation: "{g.count} {g.distinct_count} {a.gateway} {b.gateway} {g.gateway}"
    advice: none
"""


def _route(i: int, table: str, gateway: str | None, destination: str = "default") -> Fact:
    return Fact("route", f"r{i}", {"command": "ip -j route"}, {
        "destination": destination, "gateway": gateway, "table": table, "family": 4})


def test_group_is_one_fact_per_key_with_every_member(tmp_path: Path) -> None:
    kb = _kb(tmp_path, GROUP)
    facts = [_route(0, "main", "192.0.2.1"), _route(1, "main", "192.0.2.1"),
             _route(2, "main", "198.51.100.1"), _route(3, "main", "192.0.2.1"),
             _route(4, "100", "203.0.113.1"), _route(5, "100", "203.0.113.1"),
             _route(6, "200", "203.0.113.1"), _route(7, "main", "192.0.2.9", "10.0.0.0/8")]
    groups = relations.compute(kb.used_relations, facts)
    # Table 100's two routes share a gateway (not distinct); table 200 has one route.
    assert [g.id for g in groups] == ["gateways:main"]
    g = groups[0].fields
    assert g["members"] == ["r0", "r1", "r2", "r3"] and g["count"] == 4
    assert (g["left"], g["right"], g["distinct_count"]) == ("r0", "r2", 2)
    assert g["gateway"] == ["192.0.2.1", "198.51.100.1"] and g["value"] == "main"
    [act] = run(kb, facts).activations
    assert act.explanation == "4 2 192.0.2.1 198.51.100.1 192.0.2.1, 198.51.100.1"


def test_within_admits_only_the_facts_another_relation_relates(tmp_path: Path) -> None:
    """Declared after the relation it reads, computed after it all the same."""
    kb = _kb(tmp_path, """
relations:
  - name: gateways
    join: group
    left: {fact: route, field: table, match: {destination: default},
           within: on_link.right}
    distinct: [gateway]
  - name: on_link
    join: covers
    left: {fact: address, field: network}
    right: {fact: route, field: gateway}
""" + "rules:" + GROUP.split("rules:", 1)[1])
    address = Fact("address", "a0", {}, {"interface": "eth0", "ip": "192.0.2.10", "prefix": 24,
                                         "family": 4, "network": "192.0.2.0/24"})
    facts = [address, _route(0, "main", "192.0.2.1"), _route(1, "main", "198.51.100.1"),
             _route(2, "main", "192.0.2.254")]
    assert [r.name for r in kb.used_relations] == ["on_link", "gateways"]
    [group] = [f for f in relations.compute(kb.used_relations, facts) if f.kind == "gateways"]
    assert group.fields["members"] == ["r0", "r2"]  # r1's gateway is on no subnet of ours


def test_a_group_of_20000_routes_is_one_fact(tmp_path: Path) -> None:
    """One fact for 20,000 members, not 2·10⁸ pairs (the work is counted in
    tests/hardening/test_hostile_input.py)."""
    kb = _kb(tmp_path, GROUP)
    facts = [_route(i, "main", f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}") for i in range(20000)]
    [group] = relations.compute(kb.used_relations, facts)
    assert group.fields["count"] == group.fields["distinct_count"] == 20000


@pytest.mark.parametrize(("text", "message"), [
    ("relations:\n  - name: x\n    join: near\n    left: {fact: address, field: ip}\n",
     "r.yaml:3: bad join 'near'"),
    ("relations:\n  - name: x\n    join: same\n    left: {fact: address, field: nope}\n",
     "r.yaml:4: unknown field 'nope' of fact kind 'address'"),
    ("relations:\n  - name: x\n    join: same\n    left: {fact: nokind, field: ip}\n",
     "r.yaml:4: relation side: unknown collected or probed fact kind 'nokind'"),
    ("relations:\n  - name: route\n    join: same\n    left: {fact: address, field: ip}\n",
     "r.yaml:2: relation name 'route' is already a fact kind"),
    ("relations:\n  - name: x\n    join: overlaps\n    left: {fact: address, field: [ip, network]}\n",
     "r.yaml:4: join 'overlaps' takes one field per side"),
    ("relations:\n  - name: x\n    join: same\n    left: {fact: address, field: ip, match: {ip: $v}}\n",
     "r.yaml:4: a relation side cannot bind $variables"),
    ("relations:\n  - name: x\n    join: same\n    left: {fact: address, field: ip}\n"
     "    test: \"left.nope == 1\"\n",
     "r.yaml:5: unknown field 'nope' of fact kind 'address' in left.nope"),
    ("relations:\n  - name: x\n    join: group\n    left: {fact: route, field: table}\n"
     "    right: {fact: route, field: table}\n",
     "r.yaml:5: a 'group' relation has no pairs: no 'right:'"),
    ("relations:\n  - name: x\n    join: group\n    left: {fact: route, field: table}\n"
     "    test: \"left.metric > 1\"\n",
     "r.yaml:5: a 'group' relation has no pairs: no 'test:'"),
    ("relations:\n  - name: x\n    join: same\n    left: {fact: route, field: table}\n"
     "    distinct: [gateway]\n",
     "r.yaml:5: 'distinct:' is for 'join: group' and for an 'overlaps' self-join (no 'right:') "
     "only"),
    ("relations:\n  - name: x\n    join: group\n    left: {fact: route, field: table}\n"
     "    distinct: [nope]\n",
     "r.yaml:5: unknown field 'nope' of fact kind 'route'"),
    ("relations:\n  - name: x\n    join: group\n    left: {fact: neighbor, field: mac}\n"
     "    distinct: [ip, {a: 1}]\n",
     "r.yaml:5: 'distinct:' takes a field name or a list of field names"),
    ("relations:\n  - name: x\n    join: group\n"
     "    left: {fact: route, field: table, within: nope.left}\n",
     "r.yaml:2: relation 'x': within: names unknown relation 'nope'"),
    ("relations:\n  - name: x\n    join: group\n"
     "    left: {fact: route, field: table, within: x}\n",
     "r.yaml:4: within: takes RELATION.left or RELATION.right, not 'x'"),
    ("relations:\n  - name: x\n    join: group\n"
     "    left: {fact: route, field: table, within: x.left}\n",
     "r.yaml:2: relation 'x' reads itself through within:"),
    ("relations:\n  - name: x\n    join: same\n    left: {fact: address, field: ip}\n"
     "  - name: y\n    join: group\n    left: {fact: route, field: table, within: x.right}\n",
     "r.yaml:5: relation 'y': within: x.right holds address facts, not route"),
])
def test_bad_relations_are_file_line_errors(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(KnowledgeLoadError) as exc:
        load_files([f])
    assert any(str(e).endswith(message) or message in str(e) for e in exc.value.errors), \
        exc.value.errors


def test_left_and_right_bind_only_on_relation_kinds(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(RULE.format(name="address"))
    with pytest.raises(KnowledgeLoadError) as exc:
        load_files([f])
    assert any("'left:' binds a fact of a relation; 'address' is not one" in str(e)
               for e in exc.value.errors)
