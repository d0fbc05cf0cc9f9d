"""Probes on a real (namespaced) network: what each firewall reject really looks like.

Built once per module: a client and a server namespace on a veth (10.231.1.1 <-> 10.231.1.2).
The server's nft input chain rejects or drops ports in every way nft can; the client has
unreachable/prohibit/blackhole routes, a policy-routing table, an output-chain reject, and no
default route. The probes run inside the client (``ip netns exec``), one ``probe()`` call for all
targets, and each test checks one row of the table in engine/probes/tcp.py's docstring.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from probe_helpers import Netns, facts_of, lab_unavailable, namespace_pair

pytestmark = pytest.mark.lab

SERVER_RULES = """
table ip wnp {
  chain input {
    type filter hook input priority 0;
    tcp dport 1001 reject with tcp reset
    tcp dport 1002 reject with icmp type port-unreachable
    tcp dport 1003 reject with icmp type admin-prohibited
    tcp dport 1004 drop
    tcp dport 1005 reject with icmp type host-prohibited
    tcp dport 1006 reject with icmp type net-prohibited
    tcp dport 1007 reject with icmp type host-unreachable
    tcp dport 1008 reject with icmp type net-unreachable
    tcp dport 1100-1107 drop
    ip daddr 10.231.1.3 icmp type echo-request reject with icmp type admin-prohibited
    ip daddr 10.231.1.4 icmp type echo-request drop
  }
}
"""
SERVER_RULES_V6 = """
table ip6 wnp6 {
  chain input {
    type filter hook input priority 0;
    tcp dport 3001 reject with icmpv6 type admin-prohibited
    tcp dport 3002 reject with icmpv6 type port-unreachable
    tcp dport 3003 reject with icmpv6 type no-route
    tcp dport 3004 reject with icmpv6 type addr-unreachable
    tcp dport 3005 drop
  }
}
"""
CLIENT_RULES = """
table ip wnpout {
  chain output {
    type filter hook output priority 0;
    tcp dport 2002 reject with icmp type admin-prohibited
  }
}
"""
TIMEOUT = 1.0


def build(client: Netns, server: Netns) -> None:
    server.add_address("wnp-s0", "10.231.1.3/24")
    server.add_address("wnp-s0", "10.231.1.4/24")
    # A host rate-limits the ICMP errors it sends each peer (a burst of 6, then 1/s): with
    # this many rejects in one run, the later ones would be silent. Lift it in the lab.
    server.sysctl("net.ipv4.icmp_ratelimit", "0")
    server.sysctl("net.ipv6.icmp.ratelimit", "0")
    server.nft(SERVER_RULES)
    server.nft(SERVER_RULES_V6)
    client.nft(CLIENT_RULES)
    client.ip("route", "add", "unreachable", "10.231.50.0/24")
    client.ip("route", "add", "prohibit", "10.231.51.0/24")
    client.ip("route", "add", "blackhole", "10.231.52.0/24")
    client.ip("route", "add", "10.231.60.0/24", "dev", "wnp-c0", "table", "100")
    client.ip("rule", "add", "to", "10.231.60.0/24", "lookup", "100", "priority", "1000")
    # Fail ARP fast: one solicitation, 100 ms.
    client.sysctl("net.ipv4.neigh.wnp-c0.mcast_solicit", "1")
    client.sysctl("net.ipv4.neigh.wnp-c0.retrans_time_ms", "100")


TARGETS = [f"10.231.1.2:{p}" for p in range(1000, 1009)] + [
    "10.231.1.2:2002", "198.51.100.7:80", "10.231.50.1:80", "10.231.51.1:80", "10.231.52.1:80",
    "10.231.60.9:80", "10.231.1.77:80", "10.231.1.3", "10.231.1.4",
]
DROPPED = [f"10.231.1.2:{p}" for p in range(1100, 1108)]


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, Any]]:
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    with namespace_pair() as (client, server):
        build(client, server)
        results = {
            "main": client.probe(TARGETS, timeout=TIMEOUT),
            "dropped": client.probe(DROPPED, timeout=TIMEOUT),
            "v6": server.probe([f"[::1]:{p}" for p in range(3001, 3006)], timeout=TIMEOUT),
        }
        client.sysctl("net.ipv4.ping_group_range", "0 2147483647")
        results["dgram"] = client.probe(["10.231.1.2", "10.231.1.3", "10.231.1.4"],
                                        timeout=TIMEOUT)
        yield results


def tcp(lab: dict[str, Any], target: str, run: str = "main") -> dict[str, Any]:
    found = facts_of(lab[run], "probe_tcp", target=target)
    assert len(found) == 1, found
    return found[0]


# Measured on Linux 6.x: (target, outcome, errno, icmp, icmp from the server?)
REJECTS = [
    ("10.231.1.2:1000", "refused", "ECONNREFUSED", None),               # closed port: RST
    ("10.231.1.2:1001", "refused", "ECONNREFUSED", None),               # reject with tcp reset
    ("10.231.1.2:1002", "refused", "ECONNREFUSED", "port-unreachable"),
    ("10.231.1.2:1003", "unreachable", "EHOSTUNREACH", "admin-prohibited"),
    ("10.231.1.2:1004", "timeout", None, None),                         # drop
    ("10.231.1.2:1005", "unreachable", "EHOSTUNREACH", "host-prohibited"),
    ("10.231.1.2:1006", "unreachable", "ENETUNREACH", "net-prohibited"),
    ("10.231.1.2:1007", "unreachable", "EHOSTUNREACH", "host-unreachable"),
    ("10.231.1.2:1008", "unreachable", "ENETUNREACH", "net-unreachable"),
]


@pytest.mark.parametrize(("target", "outcome", "errno", "icmp"), REJECTS)
def test_server_side_reject_types(lab, target, outcome, errno, icmp) -> None:
    fact = tcp(lab, target)
    assert (fact["outcome"], fact["errno"], fact["icmp"]) == (outcome, errno, icmp)
    if icmp:
        assert fact["icmp_from"] == "10.231.1.2"
        assert fact["icmp_local"] is False
    assert fact["src"] == "10.231.1.1"


def test_local_output_reject_is_named_and_local(lab) -> None:
    fact = tcp(lab, "10.231.1.2:2002")
    assert (fact["outcome"], fact["icmp"]) == ("unreachable", "admin-prohibited")
    assert fact["icmp_from"] == "10.231.1.1" and fact["icmp_local"] is True


def test_no_arp_answer_is_host_unreachable_from_ourselves(lab) -> None:
    fact = tcp(lab, "10.231.1.77:80")
    assert fact["outcome"] in ("unreachable", "timeout")  # timeout if ARP outlasts 1 s
    if fact["outcome"] == "unreachable":
        assert fact["icmp"] == "host-unreachable" and fact["icmp_local"] is True


@pytest.mark.parametrize(("target", "outcome", "errno", "route_type"), [
    ("198.51.100.7:80", "no_route", "ENETUNREACH", None),
    ("10.231.50.1:80", "no_route", "EHOSTUNREACH", "unreachable"),
    ("10.231.51.1:80", "unreachable", "EACCES", "prohibit"),
    ("10.231.52.1:80", "no_route", "EINVAL", "blackhole"),
])
def test_local_routing_failures(lab, target, outcome, errno, route_type) -> None:
    fact = tcp(lab, target)
    assert (fact["outcome"], fact["errno"], fact["icmp"]) == (outcome, errno, None)
    assert fact["elapsed_ms"] < 500  # decided locally, at once
    route = facts_of(lab["main"], "probe_route", target=target)[0]
    assert (route["outcome"], route["route_type"]) == ("no_route", route_type)


def test_policy_routing_table_is_reported(lab) -> None:
    route = facts_of(lab["main"], "probe_route", target="10.231.60.9:80")[0]
    assert route["outcome"] == "routed"
    assert (route["table"], route["rule_priority"], route["non_default_table"]) == ("100", 1000,
                                                                                   True)
    assert route["matched_route"] == "10.231.60.0/24" and route["on_link"] is True
    plain = facts_of(lab["main"], "probe_route", target="10.231.1.2:1000")[0]
    assert (plain["table"], plain["rule_priority"], plain["non_default_table"]) == ("main",
                                                                                   32766, False)
    assert plain["matched_route"] == "10.231.1.0/24"


@pytest.mark.parametrize("run", ["main", "dgram"])
def test_icmp_echo(lab, run) -> None:
    def icmp(target: str) -> dict[str, Any]:
        return facts_of(lab[run], "probe_icmp", target=target)[0]
    ok = icmp("10.231.1.2:1000" if run == "main" else "10.231.1.2")
    assert (ok["outcome"], ok["method"]) == ("reply", "raw" if run == "main" else "dgram")
    rejected = icmp("10.231.1.3")
    # nft's reject answers from the address that was pinged.
    assert (rejected["outcome"], rejected["icmp"], rejected["icmp_from"]) == (
        "unreachable", "admin-prohibited", "10.231.1.3")
    assert icmp("10.231.1.4")["outcome"] == "timeout"


def test_icmp_reply_says_nothing_about_tcp(lab) -> None:
    """B4: the host answers ping while TCP 1004 is silently dropped."""
    assert facts_of(lab["main"], "probe_icmp", target="10.231.1.2:1004")[0]["outcome"] == "reply"
    assert tcp(lab, "10.231.1.2:1004")["outcome"] == "timeout"


def test_many_timeouts_take_about_one_timeout(lab) -> None:
    outcomes = [tcp(lab, t, "dropped")["outcome"] for t in DROPPED]
    assert outcomes == ["timeout"] * len(DROPPED)
    assert lab["dropped"]["elapsed"] < 2 * TIMEOUT  # not len(DROPPED) * TIMEOUT


# Measured on ::1 inside a namespace: ICMPv6 admin-prohibited is EACCES, not EHOSTUNREACH.
@pytest.mark.parametrize(("port", "outcome", "errno", "icmp"), [
    (3001, "unreachable", "EACCES", "admin-prohibited"),
    (3002, "refused", "ECONNREFUSED", "port-unreachable"),
    (3003, "unreachable", "ENETUNREACH", "no-route"),
    (3004, "unreachable", "EHOSTUNREACH", "addr-unreachable"),
    (3005, "timeout", None, None),
])
def test_ipv6_reject_types(lab, port, outcome, errno, icmp) -> None:
    fact = tcp(lab, f"[::1]:{port}", "v6")
    assert (fact["outcome"], fact["errno"], fact["icmp"]) == (outcome, errno, icmp)
    if icmp:
        assert fact["icmp_from"] == "::1" and fact["icmp_local"] is True
