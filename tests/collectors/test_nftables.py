"""nftables collector: recorded `nft -j list ruleset` outputs, bad input, missing tool, live netns."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from netns_util import collect_in, namespace, require_netns

from engine.collectors import base, nftables
from engine.collectors.base import CollectContext, CommandResult
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nftables"


def _facts(name: str) -> list[Fact]:
    return nftables.parse_ruleset((FIXTURES / name).read_text())


def _by_id(facts: list[Fact]) -> dict[str, Fact]:
    return {f.id: f for f in facts}


@pytest.fixture(scope="module")
def native() -> dict[str, Fact]:
    return _by_id(_facts("ruleset-native.json"))


def rule(native: dict[str, Fact], chain: str, handle: int, table: str = "filter",
         family: str = "inet") -> Fact:
    return native[f"firewall_rule:nftables:{family}:{table}:{chain}:{handle}"]


def test_backend_counts_native_rules_and_is_active(native: dict[str, Fact]) -> None:
    backend = native["firewall_backend:nftables"]
    assert backend["present"] is True and backend["active"] is True
    n_rules = sum(1 for f in native.values() if f.kind == "firewall_rule")
    assert backend["rule_count"] == n_rules == backend["total_rule_count"] == 41


def test_base_chains_have_hook_policy_priority(native: dict[str, Fact]) -> None:
    out = native["firewall_chain:nftables:inet:filter:output"]
    assert (out["hook"], out["policy"], out["priority"], out["rule_count"]) == \
        ("output", "drop", 0, 5)
    post = native["firewall_chain:nftables:ip:nat:postrouting"]
    assert (post["hook"], post["policy"], post["priority"]) == ("postrouting", "accept", 100)
    regular = native["firewall_chain:nftables:inet:filter:from_eth0"]
    assert regular["hook"] is None and regular["policy"] is None
    assert regular["reached_from"] == ["forward", "input"]


def test_ports_sets_and_ranges(native: dict[str, Fact]) -> None:
    assert rule(native, "input", 13)["dports"] == [80, 443]
    assert rule(native, "input", 13)["protocol"] == "tcp"
    udp_range = rule(native, "input", 14)
    assert udp_range["dports"] == list(range(5000, 5011))
    assert udp_range["dport_ranges"] == ["5000-5010"] and udp_range["protocol"] == "udp"
    big = rule(native, "input", 2, table="extra")
    assert big["dports"] == [] and big["dport_ranges"] == ["1024-65535"]
    below = rule(native, "input", 3, table="extra")
    assert below["dport_ranges"] == ["0-1023"] and 22 in below["dports"]
    assert rule(native, "input", 20)["sports"] == [53]


def test_addresses_prefixes_sets_and_ranges(native: dict[str, Fact]) -> None:
    assert rule(native, "input", 11)["saddr"] == ["10.0.0.0/8", "192.168.1.10"]  # @allowed_ssh
    assert rule(native, "input", 17)["saddr"] == ["203.0.113.0/24"]
    assert rule(native, "input", 20)["saddr"] == ["198.51.100.7", "198.51.100.8"]
    assert rule(native, "input", 18)["saddr"] == ["2001:db8::/32"]
    assert rule(native, "output", 38)["daddr"] == ["192.0.2.0/24"]
    assert rule(native, "input", 5, table="extra")["saddr"] == \
        ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/31"]


def test_negated_matches_never_fill_the_positive_fields(native: dict[str, Fact]) -> None:
    r = rule(native, "input", 25)
    assert r["daddr"] == [] and r["not_daddr"] == ["10.1.2.3"] and r["dports"] == [1234]
    iface = rule(native, "input", 4, table="extra")
    assert iface["iifname"] is None and iface["not_iifname"] == "lo"
    proto = rule(native, "input", 9, table="extra")
    assert proto["protocol"] is None and "!protocol" in proto["unparsed"]


def test_protocol_sources(native: dict[str, Fact]) -> None:
    assert rule(native, "input", 9)["protocol"] == "icmp"   # meta l4proto icmp
    assert rule(native, "input", 10)["protocol"] == "icmp"  # ip protocol icmp
    both = rule(native, "input", 22)                         # meta l4proto { tcp, udp } th dport
    assert both["protocol"] is None and both["protocols"] == ["tcp", "udp"]
    assert both["dports"] == [53]


@pytest.mark.parametrize(("chain", "handle", "expected"), [
    ("input", 15, "tcp-reset"),
    ("input", 16, "icmpx-port-unreachable"),
    ("input", 17, "icmpx-admin-prohibited"),
    ("input", 23, "icmp-host-prohibited"),
    ("input", 24, "icmp-admin-prohibited"),
    ("output", 38, "icmp-port-unreachable"),
])
def test_reject_with(native: dict[str, Fact], chain: str, handle: int, expected: str) -> None:
    r = rule(native, chain, handle)
    assert r["verdict"] == "reject" and r["reject_with"] == expected


def test_bare_reject_defaults_by_family() -> None:
    assert nftables.reject_with(None, "ip") == "icmp-port-unreachable"
    assert nftables.reject_with(None, "ip6") == "icmpv6-port-unreachable"
    assert nftables.reject_with(None, "inet") == "icmpx-port-unreachable"


def test_verdicts_jumps_nat_and_counters(native: dict[str, Fact]) -> None:
    jump = rule(native, "input", 26)
    assert (jump["verdict"], jump["target"], jump["iifname"]) == ("jump", "from_eth0", "eth0")
    assert rule(native, "forward", 32)["verdict"] == "goto"
    assert rule(native, "from_eth0", 30)["verdict"] == "return"
    assert rule(native, "input", 28)["verdict"] is None  # counter only
    assert rule(native, "input", 27)["verdict"] is None  # log + counter
    masq = rule(native, "postrouting", 3, table="nat", family="ip")
    assert (masq["verdict"], masq["oifname"], masq["saddr"]) == \
        ("masquerade", "eth0", ["10.10.0.0/16"])
    snat = rule(native, "postrouting", 4, table="nat", family="ip")
    assert (snat["verdict"], snat["target"]) == ("snat", "203.0.113.5")
    dnat = rule(native, "prerouting", 5, table="nat", family="ip")
    assert (dnat["verdict"], dnat["target"], dnat["dports"]) == ("dnat", "10.10.0.5:443", [8443])


def test_ct_state_positions_hooks_and_text(native: dict[str, Fact]) -> None:
    first = rule(native, "input", 6)
    assert first["ct_state"] == ["established", "related"]
    assert (first["position"], first["hook"], first["handle"]) == (1, "input", 6)
    assert rule(native, "from_eth0", 29)["hook"] is None
    assert rule(native, "input", 17)["text"] == \
        "ip saddr 203.0.113.0/24 tcp dport 3306 reject with icmpx admin-prohibited"
    assert rule(native, "input", 2, table="extra")["text"].endswith('comment "high ports"')


def test_undecoded_expressions_are_named(native: dict[str, Fact]) -> None:
    assert rule(native, "input", 6, table="extra")["unparsed"] == ["limit"]
    vmap = rule(native, "input", 8, table="extra")
    assert vmap["unparsed"] == ["vmap"] and vmap["verdict"] is None
    assert vmap["text"] == "tcp dport vmap { 7000 : accept, 7001 : drop }"
    assert rule(native, "input", 13)["unparsed"] == []


def test_iptables_nft_tables_are_recorded_but_not_authoritative() -> None:
    facts = _by_id(_facts("ruleset-iptables-nft.json"))
    rules = [f for f in facts.values() if f.kind == "firewall_rule"]
    assert len(rules) == 27
    assert all(r["managed_by"] == "iptables-nft" and r["authoritative"] is False for r in rules)
    backend = facts["firewall_backend:nftables"]
    assert (backend["rule_count"], backend["total_rule_count"], backend["active"]) == \
        (0, 27, False)
    conntrack = facts["firewall_rule:nftables:ip:filter:INPUT:7"]
    assert conntrack["unparsed"] == ["xt conntrack"] and conntrack["verdict"] == "accept"
    reject = facts["firewall_rule:nftables:ip:filter:INPUT:13"]
    assert (reject["verdict"], reject["action"], reject["dports"]) == ("reject", "REJECT", [8080])


def test_empty_ruleset() -> None:
    facts = _facts("ruleset-empty.json")
    assert [f.kind for f in facts] == ["firewall_backend"]
    assert (facts[0]["present"], facts[0]["active"], facts[0]["rule_count"]) == (True, False, 0)


@pytest.mark.parametrize("text", ["not json at all", "", '{"tables": []}', "[1, 2]"])
def test_bad_output_is_a_collection_error(text: str) -> None:
    facts = nftables.parse_ruleset(text)
    assert [f.kind for f in facts] == ["collection_error"]
    assert facts[0]["collector"] == "nftables"


def test_missing_nft_binary_is_recorded_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "which", lambda binary: None)
    facts = nftables.collect(CollectContext(env={}))
    kinds = {f.kind: f for f in facts}
    assert kinds["firewall_backend"]["present"] is False
    assert kinds["firewall_backend"]["active"] is False
    assert kinds["source_absent"]["collector"] == "nftables"


def test_failing_nft_is_a_collection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = (FIXTURES / "nonroot.stderr").read_text()
    monkeypatch.setattr(base, "which", lambda binary: f"/usr/sbin/{binary}")
    monkeypatch.setattr(base, "run_command", lambda argv, timeout=0: CommandResult(
        tuple(argv), 1, "", stderr))
    facts = {f.kind: f for f in nftables.collect(CollectContext(env={}))}
    assert facts["firewall_backend"]["present"] is True
    assert facts["firewall_backend"]["active"] is None
    assert "Operation not permitted" in facts["collection_error"]["reason"]


def test_non_json_from_nft_is_a_collection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "which", lambda binary: f"/usr/sbin/{binary}")
    monkeypatch.setattr(base, "run_command", lambda argv, timeout=0: CommandResult(
        tuple(argv), 0, "table inet filter {\n}\n", ""))
    facts = nftables.collect(CollectContext(env={}))
    assert [f.kind for f in facts] == ["collection_error"]
    assert "not JSON" in facts[0]["reason"]


def test_port_match_caps_expansion() -> None:
    ports = nftables.PortMatch()
    assert ports.add_text("22,8000:8002,1024-65535")
    assert ports.sorted() == [22, 8000, 8001, 8002]
    assert ports.ranges == ["8000-8002", "1024-65535"]
    assert not nftables.PortMatch().add_text("ssh")


# --------------------------------------------------------------------------------------------
# Live: the collector in a namespace holding the recorded ruleset gives the recorded facts.
# --------------------------------------------------------------------------------------------

def test_live_collect_in_a_namespace_matches_the_recording() -> None:
    require_netns()
    nft = base.which("nft")
    if nft is None:
        pytest.skip("needs the nft binary")
    with namespace("nft") as ns:
        subprocess.run(["ip", "netns", "exec", ns, nft, "-f",
                        str(FIXTURES / "ruleset-native.nft")], check=True, timeout=30)
        _, live = collect_in(ns, "nftables")
    recorded = {f.id: f.to_json() for f in _facts("ruleset-native.json")}
    assert {f["id"]: f for f in live} == recorded
