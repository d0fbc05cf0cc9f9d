"""The compiled experta rules: matching, bindings, negation, chaining, prefiltering, errors."""

from __future__ import annotations

from pathlib import Path

from engine.facts import Fact
from engine.inference import KnowledgeEngine, XRule, _Runner, relevant, run
from engine.knowledge import KnowledgeBase, load_files

RULES = """\
rules:
  - id: t.pair
    title: pair
    checklist: [R1]
    severity: warning
    layer: route
    when:
      - fact: route
        as: a
        match: {destination: default, table: $t}
      - fact: route
        as: b
        match: {destination: default, table: $t}
        test: "b.id > a.id"
    then:
      - fact: gw_pair
        fields: {first: "{a.gateway}", second: "{b.gateway}", table: "{t}"}
    explanation: "{a.gateway} and {b.gateway} in {t}"
    advice: x
  - id: t.chained
    title: chained
    checklist: [R1]
    severity: error
    layer: route
    when:
      - fact: gw_pair
        as: p
      - not:
          fact: sysctl
          match: {name: net.ipv4.conf.all.rp_filter, int_value: 0}
    explanation: "pair {p.first}/{p.second}"
    advice: x
  - id: t.cidr
    title: cidr
    checklist: [R4]
    severity: info
    layer: address
    when:
      - fact: address
        as: a
        match: {ip: {in_cidr: ["10.0.0.0/8"]}, prefix: {ge: 16}}
    explanation: "{a.ip}"
    advice: x
"""


def _kb(tmp_path: Path, text: str = RULES) -> KnowledgeBase:
    f = tmp_path / "r.yaml"
    f.write_text(text)
    return load_files([f])


def route(fid: str, gw: str, table: str = "main") -> Fact:
    return Fact("route", fid, {"command": "ip -j route show table all"},
                {"destination": "default", "gateway": gw, "interface": "eth0", "table": table})


def test_rules_compile_into_real_experta_rules(tmp_path: Path) -> None:
    kb = _kb(tmp_path)
    cls = _Runner(kb.rules).compile()
    assert issubclass(cls, KnowledgeEngine)
    assert len(cls().get_rules()) == 3
    assert all(isinstance(r, XRule) for r in cls().get_rules())


def test_bindings_join_and_test_order_pairs(tmp_path: Path) -> None:
    facts = [route("r1", "10.0.0.1"), route("r2", "10.0.0.2"), route("r3", "10.9.0.1", "100")]
    result = run(_kb(tmp_path), facts)
    pairs = result.activations_of("t.pair")
    assert [(a.bindings["a"], a.bindings["b"]) for a in pairs] == [("r1", "r2")]
    assert pairs[0].variables == {"t": "main"}
    assert pairs[0].explanation == "10.0.0.1 and 10.0.0.2 in main"


def test_forward_chaining_through_a_derived_fact(tmp_path: Path) -> None:
    result = run(_kb(tmp_path), [route("r1", "10.0.0.1"), route("r2", "10.0.0.2")])
    (chained,) = result.activations_of("t.chained")
    derived_id = chained.bindings["p"]
    assert result.derived[derived_id] == result.activations_of("t.pair")[0].id
    assert result.facts[derived_id].fields == {
        "first": "10.0.0.1", "second": "10.0.0.2", "table": "main"}


def test_negation_blocks_when_a_matching_fact_exists(tmp_path: Path) -> None:
    rp0 = Fact("sysctl", "s", {"file": "/proc/sys/net/ipv4/conf/all/rp_filter"},
               {"name": "net.ipv4.conf.all.rp_filter", "value": "0", "int_value": 0})
    result = run(_kb(tmp_path), [route("r1", "10.0.0.1"), route("r2", "10.0.0.2"), rp0])
    assert result.activations_of("t.pair") and not result.activations_of("t.chained")


def test_only_facts_some_condition_can_match_are_declared(tmp_path: Path) -> None:
    kb = _kb(tmp_path)
    hosts = [Fact("hosts_entry", f"h{i}", {"file": "/etc/hosts", "line": i},
                  {"ip": "0.0.0.0", "names": [f"ad{i}.example"], "line": i}) for i in range(50)]
    addr_in = Fact("address", "a1", {"command": "ip"}, {"ip": "10.1.2.3", "prefix": 24})
    addr_out = Fact("address", "a2", {"command": "ip"}, {"ip": "192.168.1.2", "prefix": 24})
    kept = relevant(kb.rules, [*hosts, addr_in, addr_out, route("r1", "10.0.0.1")])
    assert [f.id for f in kept] == ["a1", "r1"]


def test_odd_fact_values_make_a_condition_false_not_crash(tmp_path: Path) -> None:
    odd = Fact("address", "odd", {"command": "ip"}, {"ip": "not-an-ip", "prefix": "x"})
    good = Fact("address", "good", {"command": "ip"}, {"ip": "10.1.2.3", "prefix": 24})
    result = run(_kb(tmp_path), [odd, good])
    assert [a.bindings["a"] for a in result.activations_of("t.cidr")] == ["good"]


def test_runtime_error_in_a_test_is_reported_and_skipped(tmp_path: Path) -> None:
    text = RULES.replace('test: "b.id > a.id"', 'test: "b.metric > a.metric"')
    a = Fact("route", "r1", {"command": "ip"}, {"destination": "default", "table": "main",
                                                "metric": 5})
    b = Fact("route", "r2", {"command": "ip"}, {"destination": "default", "table": "main",
                                                "metric": "high"})
    result = run(_kb(tmp_path, text), [a, b])
    assert any(e.rule == "t.pair" and "TypeError" in e.message for e in result.errors)
