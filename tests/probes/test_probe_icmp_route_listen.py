"""ICMP echo, route lookup and --listen on this host (loopback only), plus their parsers."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import pytest
from probe_helpers import run_as_nobody

from engine.facts import make_fact
from engine.probes.context import ProbeContext
from engine.probes.icmp import checksum, echo_request, ping, probe_icmp
from engine.probes.listen import check_listen, firewall_blocks
from engine.probes.route import (
    choosing_rule,
    parse_route_get,
    probe_route,
    route_failure,
    rules_from_ip_json,
)

# --- ICMP ------------------------------------------------------------------------------------


def test_checksum_of_a_known_packet() -> None:
    packet = echo_request(socket.AF_INET, 0x1234, 1, b"abc")
    assert checksum(packet) == 0  # a packet with its checksum in place sums to zero


def test_ping_loopback(make_ctx) -> None:
    fact = asyncio.run(probe_icmp("t", "127.0.0.1", make_ctx(timeout=1.0)))
    assert fact["outcome"] in ("reply", "not_possible")
    if fact["outcome"] == "reply":
        assert fact["method"] in ("dgram", "raw") and fact["rtt_ms"] is not None
    else:
        assert fact["method"] == "none" and "ping_group_range" in fact["error"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_ping_as_nobody_without_ping_group_says_why() -> None:
    group_range = open("/proc/sys/net/ipv4/ping_group_range").read().split()
    if int(group_range[0]) <= 65534 <= int(group_range[1]):
        pytest.skip("this host lets nobody use ping sockets")
    result = run_as_nobody(lambda: ping("127.0.0.1", 0.5, " ".join(group_range)).__dict__)
    assert result["outcome"] == "not_possible" and result["method"] == "none"
    assert "net.ipv4.ping_group_range" in result["error"]
    assert "CAP_NET_RAW" in result["error"]


# --- routes ----------------------------------------------------------------------------------

def test_route_to_loopback(make_ctx) -> None:
    fact = asyncio.run(probe_route("t", "127.0.0.1", make_ctx()))
    assert fact["outcome"] == "routed"
    assert (fact["interface"], fact["table"], fact["non_default_table"]) == ("lo", "local", False)
    assert fact["rule_priority"] == 0
    assert fact.source == {"probe": "ip -j route get 127.0.0.1"}


# `ip -j` outputs recorded in the lab's source-policy-table namespace (tests/lab/variants.py):
# `ip rule add from 10.20.0.10 lookup 200`, table 200 with a default route via 10.30.0.1.
SOURCE_RULE_OUTPUTS = {
    ("route", "get", "198.51.100.20"):
        '[{"dst":"198.51.100.20","gateway":"10.20.0.1","dev":"eth0","prefsrc":"10.20.0.10",'
        '"flags":[],"uid":0,"cache":[]}]',
    ("route", "get", "198.51.100.20", "fibmatch"):
        '[{"dst":"default","gateway":"10.20.0.1","dev":"eth0","flags":[]}]',
    ("route", "get", "198.51.100.20", "from", "10.20.0.10"):
        '[{"dst":"198.51.100.20","from":"10.20.0.10","gateway":"10.30.0.1","dev":"eth1",'
        '"table":"200","flags":[],"uid":0,"cache":[]}]',
    ("route", "get", "198.51.100.20", "from", "10.20.0.10", "fibmatch"):
        '[{"dst":"default","gateway":"10.30.0.1","dev":"eth1","table":"200","flags":[]}]',
}
SOURCE_RULE = ('[{"priority":0,"src":"all","table":"local"},{"priority":1000,'
               '"src":"10.20.0.10","table":"200"},{"priority":32766,"src":"all","table":"main"},'
               '{"priority":32767,"src":"all","table":"default"}]')
DEFAULT_RULES = ('[{"priority":0,"src":"all","table":"local"},{"priority":32766,"src":"all",'
                 '"table":"main"},{"priority":32767,"src":"all","table":"default"}]')


@pytest.mark.parametrize(("rules", "table", "gateway", "priority"), [
    (SOURCE_RULE, "200", "10.30.0.1", 1000),   # the rule applies to TCP: table 200
    (DEFAULT_RULES, "main", "10.20.0.1", 32766),  # no source rule: one lookup, main table
])
def test_route_is_looked_up_from_the_chosen_source_as_connect_does(
        monkeypatch: pytest.MonkeyPatch, make_ctx, rules: str, table: str, gateway: str,
        priority: int) -> None:
    from engine.collectors.base import CommandResult
    from engine.probes import route

    asked: list[tuple[str, ...]] = []

    async def fake_ip(argv: list[str], timeout: float) -> CommandResult:
        key = tuple(a for a in argv[1:] if a not in ("-j", "-4"))
        asked.append(key)
        out = rules if key == ("rule", "show") else SOURCE_RULE_OUTPUTS[key]
        return CommandResult(tuple(argv), 0, out, "")

    monkeypatch.setattr(route, "_ip", fake_ip)
    fact = asyncio.run(probe_route("t", "198.51.100.20", make_ctx()))
    assert (fact["table"], fact["gateway"], fact["rule_priority"], fact["src"]) == (
        table, gateway, priority, "10.20.0.10")
    assert fact["non_default_table"] is (table == "200")
    assert (("route", "get", "198.51.100.20", "from", "10.20.0.10") in asked) is (
        table == "200")


# `ip -j` outputs recorded in two lab namespaces joined by a veth, fe80::2 and fe80::1 on
# eth0 (`ip route get fe80::1%eth0` itself is refused: "any valid prefix is expected").
LINK_LOCAL_OUTPUTS = {
    ("route", "get", "fe80::1", "oif", "eth0"):
        '[{"dst":"fe80::1","from":"::","dev":"eth0","protocol":"kernel","prefsrc":"fe80::2",'
        '"metric":256,"flags":[],"pref":"medium"}]',
    ("route", "get", "fe80::1", "oif", "eth0", "fibmatch"):
        '[{"dst":"fe80::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[],'
        '"pref":"medium"}]',
}


def test_a_zoned_link_local_address_is_routed_out_of_its_link(
        monkeypatch: pytest.MonkeyPatch, make_ctx) -> None:
    from engine.collectors.base import CommandResult
    from engine.probes import route

    async def fake_ip(argv: list[str], timeout: float) -> CommandResult:
        key = tuple(a for a in argv[1:] if a not in ("-j", "-6"))
        out = DEFAULT_RULES if key == ("rule", "show") else LINK_LOCAL_OUTPUTS[key]
        return CommandResult(tuple(argv), 0, out, "")

    monkeypatch.setattr(route, "_ip", fake_ip)
    fact = asyncio.run(probe_route("t", "fe80::1%eth0", make_ctx()))
    assert (fact["outcome"], fact["interface"], fact["src"], fact["matched_route"]) == (
        "routed", "eth0", "fe80::2", "fe80::/64")
    assert route.route_get_argv("fe80::1%eth0")[-2:] == ["oif", "eth0"]
    assert route.route_get_argv("2001:db8::1") == ["ip", "-j", "route", "get", "2001:db8::1"]


def test_parse_route_get() -> None:
    text = '[{"dst":"10.231.60.5","dev":"c0","table":"100","prefsrc":"10.231.1.1","flags":[]}]'
    assert parse_route_get(text)["table"] == "100"
    assert parse_route_get('[{"dst":"1.1.1.1","gateway":"192.0.2.1","dev":"eth0"}]')[
        "table"] == "main"
    assert parse_route_get('[{"type":"local","dst":"127.0.0.1","dev":"lo"}]')["table"] == "local"
    with pytest.raises(ValueError):
        parse_route_get("[]")


@pytest.mark.parametrize(("stderr", "expected"), [
    ("RTNETLINK answers: Network is unreachable", (True, None)),
    ("RTNETLINK answers: No route to host", (True, "unreachable")),
    ("RTNETLINK answers: Permission denied", (True, "prohibit")),
    ("RTNETLINK answers: Invalid argument", (True, "blackhole")),
    ("Error: inet address is expected", (False, None)),
])
def test_route_failure(stderr: str, expected) -> None:
    assert route_failure(stderr) == expected


def test_choosing_rule() -> None:
    rules = rules_from_ip_json(json.dumps([
        {"priority": 0, "src": "all", "table": "local"},
        {"priority": 1000, "src": "all", "dst": "10.231.60.0", "dstlen": 24, "table": "100"},
        {"priority": 2000, "src": "10.9.0.0", "srclen": 16, "table": "200"},
        {"priority": 32766, "src": "all", "table": "main"},
    ]))
    assert choosing_rule(rules, "10.231.60.5", "10.231.1.1", "100")["priority"] == 1000
    assert choosing_rule(rules, "10.231.61.5", "10.231.1.1", "100") is None
    assert choosing_rule(rules, "8.8.8.8", "10.9.1.1", "200")["priority"] == 2000
    assert choosing_rule(rules, "8.8.8.8", "10.8.1.1", "200") is None
    assert choosing_rule(rules, "8.8.8.8", "10.8.1.1", "main")["priority"] == 32766


# --- listen ----------------------------------------------------------------------------------

def test_listen_free_high_port(make_ctx) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fact = check_listen(port, make_ctx())
    assert fact["outcome"] == "can_listen" and fact["in_use"] is False
    assert fact["privileged"] is False and fact["target"] == f"listen:{port}"


def test_listen_in_use_names_the_holder_from_listener_facts(make_ctx) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        listener = make_fact("listener", f"listener:tcp:{port}", {"command": "ss"}, ip="0.0.0.0",
                             port=port, protocol="tcp", family=4, pid=4242, process="nginx",
                             user="www-data")
        fact = check_listen(port, make_ctx(facts=[listener]))
        live = check_listen(port, make_ctx())
    assert fact["outcome"] == "in_use"
    assert (fact["holder_pid"], fact["holder_process"]) == (4242, "nginx")
    assert "nginx 4242" in fact["error"]
    assert live["outcome"] == "in_use" and live["holder_pid"] == os.getpid()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_listen_privileged_port_as_nobody() -> None:
    ctx = ProbeContext(timeout=1.0)
    start = int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())
    if start <= 1:
        pytest.skip("every port is unprivileged here")
    result = run_as_nobody(lambda: check_listen(start - 1, ctx).to_json())
    assert result["outcome"] == "privileged"
    assert result["is_root"] is False and result["cap_net_bind_service"] is False
    assert result["unprivileged_port_start"] == start


def test_listen_as_root_on_a_privileged_port_is_marked(make_ctx) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    fact = check_listen(1, make_ctx())
    assert fact["privileged"] is True and fact["is_root"] is True
    assert fact["outcome"] in ("can_listen", "in_use")


def _rule(position: int, verdict: str, **kw) -> object:
    """An input rule with its legacy fields and the ``matches`` the evaluator reads (as the
    nftables collector writes both)."""
    fields = {"backend": "nftables", "family": "inet", "table": "filter", "chain": "input",
              "hook": "input", "position": position, "protocol": "tcp", "dports": [],
              "saddr": [], "daddr": [], "iifname": None, "ct_state": [], "verdict": verdict}
    fields.update(kw)
    matches = [{"field": "l4proto", "op": "==", "values": [fields["protocol"]],
                "text": f"meta l4proto {fields['protocol']}"}]
    for key, field in (("dports", "dport"), ("saddr", "saddr"), ("ct_state", "ct_state")):
        if fields[key]:
            matches.append({"field": field, "op": "==", "values": list(fields[key]),
                            "text": f"{field} {fields[key]}"})
    if fields["iifname"]:
        matches.append({"field": "iifname", "op": "==", "values": [fields["iifname"]],
                        "text": f"iifname {fields['iifname']}"})
    return make_fact("firewall_rule", f"firewall_rule:{position}", {"command": "nft"},
                     matches=matches, **fields)


def _chain(policy: str) -> object:
    return make_fact("firewall_chain", "firewall_chain:input", {"command": "nft"},
                     backend="nftables", family="inet", table="filter", chain="input",
                     hook="input", policy=policy, priority=0, rule_count=2)


@pytest.mark.parametrize(("facts", "expected"), [
    ([], (None, None)),
    ([_rule(1, "drop", dports=[8080]), _chain("accept")], (True, "firewall_rule:1")),
    ([_rule(1, "reject", dports=[8080]), _chain("accept")], (True, "firewall_rule:1")),
    ([_rule(1, "accept", dports=[8080]), _rule(2, "drop"), _chain("accept")], (False, None)),
    ([_rule(1, "accept", ct_state=["established", "related"]), _rule(2, "drop", dports=[22]),
      _chain("accept")], (False, None)),
    ([_rule(1, "accept", dports=[22]), _chain("drop")], (True, "firewall_chain:input")),
    ([_rule(1, "accept", dports=[8080], saddr=["10.0.0.0/8"]), _chain("drop")],
     (True, "firewall_chain:input")),
    ([_rule(1, "drop", dports=[8080], iifname="eth1"), _chain("accept")], (False, None)),
    ([_rule(1, "drop", protocol="udp", dports=[8080]), _chain("accept")], (False, None)),
    ([_chain("drop")], (True, "firewall_chain:input")),
])
def test_firewall_blocks(facts, expected) -> None:
    assert firewall_blocks(8080, facts) == expected


@pytest.mark.parametrize("port", [0, 65536])
def test_listen_port_out_of_range(make_ctx, port: int) -> None:
    fact = check_listen(port, make_ctx())
    assert fact["outcome"] == "error" and "out of range" in fact["error"]


@pytest.mark.parametrize(("port", "blocked", "by"), [
    # tcp dport { 80, 443 } accept in inet filter; then inet extra's input chain (priority
    # 10) runs too, as the kernel does after an accept, and its last rule drops all but UDP
    (443, True, "firewall_rule:nftables:inet:extra:input:9"),
    (53, True, "firewall_rule:nftables:inet:extra:input:9"),
    (8080, True, "firewall_rule:nftables:inet:filter:input:15"),  # reject with tcp reset
    (9000, True, "firewall_chain:nftables:inet:filter:input"),  # policy drop
])
def test_firewall_blocks_on_a_recorded_ruleset(port: int, blocked: bool, by: str | None) -> None:
    """`meta l4proto icmp accept` is not an accept-all for TCP (it once was read as one), and
    an accept ends one base chain only: the next one of the input hook still runs."""
    from pathlib import Path

    from engine.collectors.nftables import parse_ruleset

    recorded = Path(__file__).parents[1] / "fixtures" / "nftables" / "ruleset-native.json"
    facts = parse_ruleset(recorded.read_text())
    assert firewall_blocks(port, facts) == (blocked, by)
