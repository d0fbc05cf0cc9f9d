"""firewall_verdict facts from probes and listen ports (engine/firewall/verdicts.py), on the
recorded ruleset tests/fixtures/nftables/ruleset-paths.json."""

from __future__ import annotations

from pathlib import Path

from engine.collectors import nftables
from engine.facts import Fact, make_fact
from engine.firewall.verdicts import firewall_verdicts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def ruleset() -> list[Fact]:
    return nftables.parse_ruleset((FIXTURES / "nftables" / "ruleset-paths.json").read_text())


def probe(target: str, ip: str, port: int, outcome: str = "timeout") -> list[Fact]:
    return [
        make_fact("probe_route", f"probe_route:{target}:{ip}", {"probe": "ip route get"},
                  target=target, layer="route", outcome="routed", ip=ip, src="10.0.0.1",
                  interface="veth0"),
        make_fact("probe_tcp", f"probe_tcp:{target}:{ip}:{port}", {"probe": "tcp"},
                  target=target, layer="transport", outcome=outcome, ip=ip, port=port),
    ]


def by_protocol(facts: list[Fact]) -> dict[str, Fact]:
    return {str(f.get("protocol")): f for f in facts}


def test_probe_gets_a_verdict_per_protocol() -> None:
    out = firewall_verdicts([*ruleset(), *probe("db:1500", "10.9.9.9", 1500)])
    verdicts = by_protocol(out)
    tcp, udp = verdicts["tcp"], verdicts["udp"]
    assert tcp.kind == "firewall_verdict" and tcp["target"] == "db:1500"
    assert (tcp["verdict"], tcp["table"], tcp["chain"], tcp["position"]) == (
        "drop", "filter", "egress", 3)
    assert tcp["handle"] is not None and tcp["rule_text"] == "tcp dport 1000-2000 drop"
    assert tcp["oif"] == "veth0" and tcp["saddr"] == "10.0.0.1"
    assert tcp["description"].startswith("dropped by rule 3 of chain egress")
    assert tcp.source["rule"] == tcp["rule"] and tcp.source["probe"].startswith("probe_tcp")
    assert udp["verdict"] == "accept"  # the egress rule is for TCP only


def test_listen_port_names_the_allow_list() -> None:
    listen = make_fact("probe_listen", "probe_listen:8080", {"probe": "bind"},
                       target="listen:8080", layer="transport", outcome="can_listen",
                       port=8080, protocol="tcp")
    route = make_fact("route", "route:default", {"command": "ip -j route"},
                      destination="default", interface="eth0", table="main")
    out = [f for f in firewall_verdicts([*ruleset(), listen, route]) if f["family"] == 4]
    assert len(out) == 1
    v = out[0]
    assert (v["direction"], v["iif"], v["verdict"]) == ("input", "eth0", "reject")
    assert v["assumed"] == ["inet filter input #4: tcp dport 8080 ip saddr "
                            "{ 10.20.0.0/16, 10.30.0.5 } accept"]


def test_no_firewall_facts_no_verdicts() -> None:
    assert firewall_verdicts(probe("db:1500", "10.9.9.9", 1500)) == []


def test_listen_families_follow_the_addresses() -> None:
    listen = make_fact("probe_listen", "probe_listen:22", {"probe": "bind"},
                       target="listen:22", layer="transport", outcome="can_listen", port=22,
                       protocol="tcp")
    route = make_fact("route", "route:default", {"command": "ip -j route"},
                      destination="default", interface="eth0", table="main")
    v6 = make_fact("address", "address:eth0:2001:db8::7", {"command": "ip -j addr"},
                   interface="eth0", ip="2001:db8::7", prefix=64, family=6, scope="global")
    only_v6 = firewall_verdicts([*ruleset(), listen, route, v6])
    assert [(f["family"], f["ip"]) for f in only_v6] == [(6, "2001:db8::7")]
    assert [f["family"] for f in firewall_verdicts([*ruleset(), listen, route])] == [4]
