"""The firewall evaluator on recorded rulesets (tests/fixtures/nftables, tests/fixtures/iptables).

Each expectation was worked out by hand from the ruleset text next to the recorded output
(``ruleset-paths.nft``, ``rules-paths.sh``); the kernel itself checks the evaluator in
tests/lab/test_firewall_oracle.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.collectors import iptables, nftables
from engine.facts import Fact, make_fact
from engine.firewall.evaluate import Packet, Ruleset
from engine.redact import redact_fact

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def nft() -> Ruleset:
    text = (FIXTURES / "nftables" / "ruleset-paths.json").read_text()
    return Ruleset(nftables.parse_ruleset(text))


@pytest.fixture(scope="module")
def ipt() -> Ruleset:
    text = (FIXTURES / "iptables" / "iptables-nft-save-paths.txt").read_text()
    return Ruleset(iptables.parse_save(text, "iptables-nft-save", "iptables"))


def out(daddr: str, dport: int, proto: str = "tcp", oif: str = "veth0",
        saddr: str = "10.0.0.1", family: int = 4) -> Packet:
    return Packet("output", family, proto, saddr, daddr, 40000, dport, None, oif)


def inp(saddr: str | None, dport: int, iif: str = "eth0", proto: str = "tcp") -> Packet:
    return Packet("input", 4, proto, saddr, "10.0.0.1", 40000, dport, iif, None)


# --- nftables --------------------------------------------------------------------------------

def test_interval_set_drop_names_rule_and_handle(nft: Ruleset) -> None:
    v = nft.evaluate(out("198.51.100.15", 443))
    assert v.verdict == "drop"
    assert v.deciding is not None
    assert (v.deciding.table, v.deciding.chain, v.deciding.position) == ("filter", "output", 4)
    assert v.deciding.handle is not None
    assert v.deciding.text == "ip daddr @blocked counter drop"
    assert v.describe().startswith("dropped by rule 4 of chain output in table inet filter "
                                   "(handle ")
    # the counter rule before it matched and was passed over
    assert [r.text for r in v.passed] == ["counter"]


def test_address_outside_interval_is_not_blocked(nft: Ruleset) -> None:
    assert nft.evaluate(out("198.51.100.21", 443)).verdict == "accept"
    assert nft.evaluate(out("192.0.2.16", 443)).verdict == "accept"  # /28 ends at .15


def test_jump_goto_and_reject_with_tcp_reset(nft: Ruleset) -> None:
    v = nft.evaluate(out("203.0.113.9", 443))  # egress -> goto partner -> reject
    assert (v.verdict, v.reject_with) == ("reject", "tcp-reset")
    assert (v.deciding and v.deciding.chain) == "partner"
    assert [r.chain for r in v.passed][-2:] == ["output", "egress"]
    assert nft.evaluate(out("203.0.113.9", 5432)).verdict == "accept"


def test_goto_does_not_come_back(nft: Ruleset) -> None:
    # partner accepts 5432; had goto been a jump, 'tcp dport 1000-2000 drop' could not
    # change that either, so test a port partner leaves to its reject instead
    v = nft.evaluate(out("203.0.113.9", 1500))
    assert v.deciding is not None and v.deciding.chain == "partner"


def test_return_goes_back_to_the_caller(nft: Ruleset) -> None:
    v = nft.evaluate(out("10.9.9.9", 80))  # egress returns, output goes on, policy accept
    assert v.verdict == "accept"
    assert "tcp dport { 22, 80 } return" in [r.text for r in v.passed]


def test_port_range_in_jumped_chain(nft: Ruleset) -> None:
    v = nft.evaluate(out("10.9.9.9", 1999))
    assert v.verdict == "drop" and v.deciding is not None
    assert (v.deciding.chain, v.deciding.position) == ("egress", 3)


def test_interface_wildcard(nft: Ruleset) -> None:
    assert nft.evaluate(out("10.9.9.9", 1999, oif="veth7")).verdict == "drop"
    assert nft.evaluate(out("10.9.9.9", 1999, oif="eth0")).verdict == "accept"


def test_th_dport_and_l4proto(nft: Ruleset) -> None:
    v = nft.evaluate(out("10.9.9.9", 53, proto="udp", oif="eth0"))
    assert v.verdict == "accept" and v.deciding is not None
    assert v.deciding.text == "udp dport 53 accept"  # nft lists 'meta l4proto udp th dport 53'
    assert v.deciding.position == 6


def test_reject_type_and_log_passed_over(nft: Ruleset) -> None:
    v = nft.evaluate(out("10.9.9.9", 8443, oif="eth0"))
    assert (v.verdict, v.reject_with) == ("reject", "icmp-admin-prohibited")


def test_ipv6_set_and_prefix(nft: Ruleset) -> None:
    accept = nft.evaluate(out("2001:db8::80", 80, saddr="2001:db8::1", family=6))
    assert accept.verdict == "accept"
    v = nft.evaluate(out("2001:db8::81", 443, saddr="2001:db8::1", family=6))
    assert (v.verdict, v.reject_with) == ("reject", "icmpv6-admin-prohibited")
    # an IPv4 table does not see IPv6 packets: 'ip early' drops tcp 6000 for IPv4 only
    assert nft.evaluate(out("2001:db8:1::9", 6000, saddr="2001:db8::1", family=6,
                            oif="eth0")).verdict == "accept"


def test_priorities_across_tables(nft: Ruleset) -> None:
    v = nft.evaluate(out("10.9.9.9", 6000, oif="eth0"))
    assert v.verdict == "drop" and v.deciding is not None
    assert (v.deciding.family, v.deciding.table) == ("ip", "early")
    assert v.chains[0] == "ip early out"  # priority -10 before inet filter (0)
    late = nft.evaluate(out("10.1.1.1", 7000, oif="eth0"))
    assert late.deciding is not None and late.deciding.table == "late"
    assert late.chains == ["ip early out", "inet filter output", "ip late out"]


def test_unmodelled_match_is_unknown_not_a_guess(nft: Ruleset) -> None:
    v = nft.evaluate(out("10.1.1.1", 7001, oif="eth0"))
    assert v.verdict == "unknown"
    assert v.unknown is not None and "tcp flags" in v.unknown
    # a failing modelled match rules the rule out whatever the unmodelled one says
    assert nft.evaluate(out("10.1.1.1", 7002, oif="eth0")).verdict == "accept"


def test_input_policy_negation_and_sets(nft: Ruleset) -> None:
    assert nft.evaluate(inp("10.20.3.4", 8080)).verdict == "accept"
    v = nft.evaluate(inp("10.21.3.4", 8080))
    assert (v.verdict, v.reject_with) == ("reject", "icmpx-port-unreachable")
    assert v.deciding is not None and v.deciding.text.startswith("tcp dport != { 22, 443 }")
    assert nft.evaluate(inp("10.21.3.4", 22)).verdict == "accept"
    assert nft.evaluate(inp("10.21.3.4", 9000, iif="eth1")).verdict == "accept"
    # UDP matches none of the tcp rules: the input policy drops it
    udp = nft.evaluate(inp("10.21.3.4", 9000, proto="udp"))
    assert udp.verdict == "drop" and udp.deciding is not None
    assert udp.deciding.position is None and "policy" in udp.describe()


def test_unknown_source_is_an_assumption(nft: Ruleset) -> None:
    v = nft.evaluate(inp(None, 8080))  # --listen: the client is not known
    assert v.verdict == "reject"
    assert [r.position for r in v.assumed] == [4]  # the allow-list would accept some sources


def test_netdev_ingress_comes_first_on_input(nft: Ruleset) -> None:
    # nft 1.0.6's JSON does not name the chain's device ("lo"): it is walked for every
    # input packet, and would make a drop there undecided rather than guess the device
    v = nft.evaluate(inp("10.20.0.1", 22, iif="lo"))
    assert v.chains[0] == "netdev edge ingress" and v.verdict == "accept"
    assert "netdev edge ingress" not in nft.evaluate(out("10.9.9.9", 22)).chains


# --- iptables ----------------------------------------------------------------------------------

def test_iptables_user_chain_drop_names_line(ipt: Ruleset) -> None:
    v = ipt.evaluate(out("10.9.9.9", 1500))
    assert v.verdict == "drop" and v.deciding is not None
    assert (v.deciding.table, v.deciding.chain, v.deciding.position) == ("filter", "EGRESS", 4)
    assert "iptables-nft-save line" in v.describe()
    assert v.deciding.command_line is not None


def test_iptables_goto_and_tcp_reset(ipt: Ruleset) -> None:
    v = ipt.evaluate(out("203.0.113.4", 443))
    assert (v.verdict, v.reject_with) == ("reject", "tcp-reset")
    assert v.deciding is not None and v.deciding.chain == "PARTNER"


def test_iptables_return_log_and_wildcard(ipt: Ruleset) -> None:
    v = ipt.evaluate(out("10.9.9.9", 9999))
    assert v.verdict == "accept"
    assert any("LOG" in r.text for r in v.passed)
    assert ipt.evaluate(out("10.9.9.9", 1500, oif="eth0")).verdict == "accept"  # veth+ only


def test_iptables_negated_port_and_default_reject(ipt: Ruleset) -> None:
    v = ipt.evaluate(out("10.9.9.9", 5353, proto="udp"))
    assert (v.verdict, v.reject_with) == ("reject", "icmp-port-unreachable")
    assert ipt.evaluate(out("10.9.9.9", 53, proto="udp")).verdict == "accept"


def test_iptables_tables_in_priority_order(ipt: Ruleset) -> None:
    v = ipt.evaluate(out("10.9.9.9", 6000, oif="eth0"))
    assert v.deciding is not None and v.deciding.table == "raw"
    mark = ipt.evaluate(out("10.9.9.9", 7000, oif="eth0"))  # MARK goes on
    assert mark.verdict == "accept"


def test_iptables_unmodelled_option_is_unknown(ipt: Ruleset) -> None:
    v = ipt.evaluate(out("10.9.9.9", 9998))
    assert v.verdict == "unknown" and v.unknown is not None and "--tcp-flags" in v.unknown


def test_iptables_input_interfaces(ipt: Ruleset) -> None:
    assert ipt.evaluate(inp("10.50.0.1", 9000, iif="eth1")).verdict == "accept"
    v = ipt.evaluate(inp("10.50.0.1", 9000, iif="eth0"))
    assert v.verdict == "drop" and v.deciding is not None and v.deciding.position is None


# --- the facts themselves -----------------------------------------------------------------------

def test_old_snapshot_without_matches_is_unknown() -> None:
    rule = make_fact("firewall_rule", "r1", {"command": "nft"}, backend="nftables",
                     family="inet", table="t", chain="c", position=1, verdict="drop",
                     text="tcp dport 22 drop", authoritative=True)
    chain = make_fact("firewall_chain", "c1", {"command": "nft"}, backend="nftables",
                      family="inet", table="t", chain="c", hook="output", priority=0,
                      policy="accept", authoritative=True)
    v = Ruleset([chain, rule]).evaluate(out("10.0.0.9", 22))
    assert v.verdict == "unknown" and v.unknown is not None and "collect again" in v.unknown


def test_non_authoritative_rules_are_ignored() -> None:
    text = (FIXTURES / "nftables" / "ruleset-iptables-nft.json").read_text()
    facts: list[Fact] = nftables.parse_ruleset(text)
    assert not Ruleset(facts)  # all of it is iptables-nft's: read from iptables-save


def test_no_ruleset_accepts() -> None:
    v = Ruleset([]).evaluate(out("10.0.0.9", 22))
    assert v.verdict == "accept" and v.deciding is None


def test_redacted_snapshot_facts_evaluate_the_same() -> None:
    """Reports and snapshots carry redacted facts (a field named like a secret is blanked):
    the evaluator must read them exactly as the live ones."""
    text = (FIXTURES / "nftables" / "ruleset-paths.json").read_text()
    live = nftables.parse_ruleset(text)
    stored = [Fact.from_json(redact_fact(f).to_json()) for f in live]
    packets = [out("198.51.100.15", 443), out("203.0.113.9", 443), out("10.9.9.9", 53, "udp"),
               inp("10.21.3.4", 8080), inp(None, 8080), out("10.1.1.1", 7001, oif="eth0")]
    assert ([Ruleset(live).evaluate(p).describe() for p in packets]
            == [Ruleset(stored).evaluate(p).describe() for p in packets])
