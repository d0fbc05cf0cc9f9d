"""The firewall evaluator and the listen probe on the nftables ruleset of a real, running
firewalld 1.3 (recorded in the lab: tests/fixtures/firewalld/README.md): its base chains jump
to zone dispatch chains, which `goto` the default zone's chain, which jumps to its
pre/log/deny/allow/post chains and ends with the zone target."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.collectors.nftables import parse_ruleset
from engine.facts import Fact
from engine.firewall.evaluate import Packet, Ruleset
from engine.probes.listen import firewall_blocks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "firewalld"
SERVER = "198.51.100.20"


def _facts(state: str) -> list[Fact]:
    return parse_ruleset((FIXTURES / f"running-nft-ruleset-{state}.json").read_text())


def test_ct_status_is_decoded_for_the_evaluator() -> None:
    [rule] = [f for f in _facts("stock") if f.kind == "firewall_rule"
              and f["chain"] == "filter_INPUT" and "ct status" in f["text"]]
    assert rule["text"] == "ct status dnat accept"
    assert rule["matches"] == [{"field": "ct_status", "op": "==", "values": ["dnat"],
                                "text": "ct status dnat"}]
    assert "ct" in " ".join(rule["unparsed"])  # no legacy field holds it


@pytest.mark.parametrize(("state", "port", "verdict", "chain", "text"), [
    # the stock public zone: ssh open, the rest rejected at the end of the zone's chain
    ("stock", 8080, "reject", "filter_IN_public", "reject with icmpx admin-prohibited"),
    ("stock", 22, "accept", "filter_IN_public_allow", "tcp dport 22 accept"),
    # --add-port=8080/tcp: the zone's allow chain accepts before the final reject
    ("port", 8080, "accept", "filter_IN_public_allow", "tcp dport 8080 accept"),
    # --set-target=DROP: the zone's chain ends with a plain drop (ICMP too)
    ("drop", 8080, "drop", "filter_IN_public", "drop"),
])
def test_new_connection_in(state: str, port: int, verdict: str, chain: str, text: str) -> None:
    packet = Packet("input", 4, "tcp", "203.0.113.9", SERVER, 40000, port, "eth0")
    result = Ruleset(_facts(state)).evaluate(packet)
    assert (result.verdict, result.deciding and result.deciding.chain,
            result.deciding and result.deciding.text) == (verdict, chain, text)
    if verdict == "reject":
        assert result.reject_with == "icmpx-admin-prohibited"


def test_own_connections_out_and_their_answers_in() -> None:
    """firewalld filters what comes in: the host's own connections leave, and the answers
    come back as `ct state established` (filter_INPUT's first rule)."""
    ruleset = Ruleset(_facts("stock"))
    out = ruleset.evaluate(Packet("output", 4, "tcp", "10.20.0.10", SERVER, None, 443,
                                  None, "eth0"))
    assert out.verdict == "accept"
    answer = ruleset.evaluate(Packet("input", 4, "tcp", SERVER, "10.20.0.10", 443, 40000,
                                     "eth0", None, ct_state="established"))
    assert (answer.verdict, answer.deciding and answer.deciding.text) == \
        ("accept", "ct state { established, related } accept")


@pytest.mark.parametrize(("state", "port", "blocked", "chain"), [
    # once read as open: a flat reading of the input base chain took `ct status dnat accept`
    # for an accept-all and never followed the jump to the zone's chain
    ("stock", 8080, True, "filter_IN_public"),
    ("stock", 22, False, None),
    ("port", 8080, False, None),
    ("drop", 8080, True, "filter_IN_public"),
])
def test_listen_probe_reads_firewalld(state: str, port: int, blocked: bool,
                                      chain: str | None) -> None:
    result, evidence = firewall_blocks(port, _facts(state))
    assert result is blocked
    if chain:
        assert evidence is not None and f":firewalld:{chain}:" in evidence


def test_ipv6_reverse_path_filter() -> None:
    """firewalld's IPv6_rpfilter (`fib saddr . mark . iif oif missing drop` in
    filter_PREROUTING) once made every IPv6 verdict undecided ("fib False")."""
    facts = _facts("stock")
    [rpf] = [f for f in facts if f.kind == "firewall_rule" and "fib" in f["text"]]
    assert rpf["text"] == "meta nfproto ipv6 fib saddr . mark . iif oif missing drop"
    assert rpf["matches"][-1] == {"field": "rpf", "op": "==", "values": ["missing"],
                                  "text": "fib saddr . mark . iif oif missing"}
    ruleset = Ruleset(facts)
    server6 = "2001:db8::20"
    # a client --listen does not know: its reverse path is taken as fine, no assumption listed
    closed = ruleset.evaluate(Packet("input", 6, "tcp", None, server6, None, 8080, "eth0"))
    assert (closed.verdict, closed.reject_with, closed.assumed) == \
        ("reject", "icmpx-admin-prohibited", [])
    ssh = ruleset.evaluate(Packet("input", 6, "tcp", None, server6, None, 22, "eth0"))
    assert ssh.verdict == "accept"
    # this host's own connection over loopback passes the check
    local = ruleset.evaluate(Packet("input", 6, "tcp", server6, server6, 40000, 8080, "lo"))
    assert local.verdict == "accept"
    # a known source on another interface needs the routes: undecided, and says so
    known = ruleset.evaluate(Packet("input", 6, "tcp", "2001:db8:1::9", server6, 40000, 22,
                                    "eth0"))
    assert known.verdict == "unknown" and "routes back to 2001:db8:1::9" in known.describe()
