"""routes collector: recorded route/rule/neighbour dumps, bad inputs, the live kernel, a
namespace with policy routing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from netns_util import collect_in, ip, namespace, require_netns

from engine.collectors import base, routes
from engine.collectors.base import CollectContext
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "routes"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def netns_routes(family: int) -> list[Fact]:
    name = f"netns-ip-j-d-{family}-route-show-table-all.json"
    return routes.parse_routes(fixture_text(name), family, f"ip -j -d -{family} route")


def by_id(facts: list[Fact]) -> dict[str, Fact]:
    return {f.id: f for f in facts}


def fields(fact: Fact, *names: str) -> tuple[Any, ...]:
    return tuple(fact[n] for n in names)


# --- routes ----------------------------------------------------------------------------------

def test_two_default_gateways_in_main_and_defaults_in_other_tables() -> None:
    defaults = [f for f in netns_routes(4) if f["destination"] == "default"]
    assert sorted(fields(f, "table", "gateway", "interface", "metric", "protocol")
                  for f in defaults) == [
        ("100", "10.1.0.1", "lan0", 0, "boot"),
        ("200", "198.51.100.254", "wan0", 0, "dhcp"),
        ("main", "10.1.0.1", "lan0", 200, "boot"),
        ("main", "198.51.100.1", "wan0", 100, "boot"),
    ]
    found = by_id(defaults)
    assert set(found) == {"route:main:default:wan0", "route:main:default:lan0",
                          "route:100:default:lan0", "route:200:default:wan0"}


def test_route_shapes_are_normalised() -> None:
    found = by_id(netns_routes(4))
    host_route = found["route:main:10.1.0.77/32:lan0"]
    assert fields(host_route, "destination", "gateway", "scope") == ("10.1.0.77/32", None, "link")
    multipath = [f for f in found.values() if f["destination"] == "100.64.0.0/10"]
    assert sorted(fields(f, "gateway", "interface") for f in multipath) == [
        ("10.1.0.1", "lan0"), ("198.51.100.1", "wan0")]
    blackhole = found["route:main:192.0.2.128/25:blackhole"]
    assert fields(blackhole, "type", "interface", "gateway") == ("blackhole", None, None)
    assert found["route:main:192.0.2.64/26:unreachable"]["type"] == "unreachable"
    assert found["route:main:192.0.2.32/27:prohibit"]["type"] == "prohibit"
    assert found["route:main:10.99.0.0/16:lan0"]["prefsrc"] == "10.1.0.2"
    assert found["route:main:203.0.113.0/24:lan0"]["protocol"] == "static"
    assert found["route:local:127.0.0.0/8:lo"]["type"] == "local"
    assert {f["family"] for f in found.values()} == {4}


def test_ipv6_routes() -> None:
    found = by_id(netns_routes(6))
    assert fields(found["route:main:default6:wan0"], "gateway", "metric", "family") == (
        "2001:db8:1::1", 1024, 6)
    assert found["route:main:default6:lan0"]["gateway"] == "fe80::1"
    assert found["route:1000:default6:lan0"]["gateway"] == "fd00:1::1"
    assert found["route:local:::1/128:lo"]["type"] == "local"
    assert len(found) == len(netns_routes(6))  # ids unique (repeats are suffixed)


def test_terse_output_means_main_boot_unicast_global() -> None:
    """``ip -j route`` without ``-d`` leaves defaults out; parsed, it gives the same facts."""
    detailed = [(f.id, dict(f.fields)) for f in netns_routes(4)]
    terse = routes.parse_routes(fixture_text("netns-ip-j-route-show-table-all.json"), None,
                                "ip -j route show table all")
    assert [(f.id, dict(f.fields)) for f in terse if f["family"] == 4] == detailed
    detailed6 = [(f.id, dict(f.fields)) for f in netns_routes(6)]
    # Without -4, "table all" lists IPv6 routes too; their family is guessed from addresses.
    assert [(f.id, dict(f.fields)) for f in terse if f["family"] == 6] == detailed6


def test_host_routes() -> None:
    found = by_id(routes.parse_routes(
        fixture_text("host-ip-j-d-4-route-show-table-all.json"), 4, "ip"))
    assert fields(found["route:main:default:eth0"], "gateway", "table") == ("192.0.2.1", "main")
    assert found["route:main:192.0.2.0/24:eth0"]["protocol"] == "kernel"


# --- policy rules ----------------------------------------------------------------------------

def netns_rules(family: int) -> dict[str, Fact]:
    name = "netns-ip-j-rule-show.json" if family == 4 else "netns-ip-j-6-rule-show.json"
    return by_id(routes.parse_rules(fixture_text(name), family, "ip -j rule show"))


def test_the_three_standard_rules_are_marked_default() -> None:
    rules = netns_rules(4)
    assert sorted(f["priority"] for f in rules.values() if f["default"]) == [0, 32766, 32767]
    assert fields(rules["rule:4:32766"], "selector", "table", "action") == (
        "from all", "main", "lookup")
    # Same table as the standard one, but not one of the three: not default.
    assert rules["rule:4:32000"]["default"] is False
    rules6 = netns_rules(6)
    assert sorted(f["priority"] for f in rules6.values() if f["default"]) == [0, 32766]


def test_rule_selectors() -> None:
    rules = netns_rules(4)
    expected = {
        1000: ("from 10.9.0.0/24", "10.9.0.0/24", None, "100", "lookup"),
        1100: ("from all to 203.0.113.0/24", "all", "203.0.113.0/24", "100", "lookup"),
        1200: ("from all fwmark 0x1/0xff", "all", None, "200", "lookup"),
        1300: ("from all iif br0", "all", None, "100", "lookup"),
        1400: ("from all oif wan0", "all", None, "main", "lookup"),
        1500: ("from 192.0.2.0/24", "192.0.2.0/24", None, None, "unreachable"),
        1600: ("not from 10.0.0.0/8 ipproto tcp dport 443", "10.0.0.0/8", None, "200", "lookup"),
        1700: ("from all uidrange 1000-2000", "all", None, "100", "lookup"),
    }
    for priority, want in expected.items():
        rule = rules[f"rule:4:{priority}"]
        assert fields(rule, "selector", "src", "dst", "table", "action") == want, priority
    assert rules["rule:4:1200"]["fwmark"] == "0x1/0xff"
    assert rules["rule:4:1300"]["iif"] == "br0"
    assert rules["rule:4:1400"]["oif"] == "wan0"
    assert fields(netns_rules(6)["rule:6:1000"], "src", "table", "family") == (
        "fd00:1::/64", "1000", 6)


# --- neighbours ------------------------------------------------------------------------------

def test_neighbours() -> None:
    found = by_id(routes.parse_neighbors(fixture_text("netns-ip-j-neigh-show.json")))
    assert fields(found["neighbor:lan0:10.1.0.1"], "mac", "state", "family") == (
        "02:00:00:00:02:01", "STALE", 4)
    shared = [f["ip"] for f in found.values() if f["mac"] == "02:00:00:00:01:01"]
    assert sorted(shared) == ["10.1.0.50", "198.51.100.1"]
    assert fields(found["neighbor:lan0:fd00:1::1"], "family", "state") == (6, "STALE")


def test_failed_neighbour_has_no_mac() -> None:
    found = by_id(routes.parse_neighbors(fixture_text("host-ip-j-neigh-show.json")))
    assert fields(found["neighbor:eth0:fd00::1"], "mac", "state") == (None, "FAILED")


# --- bad input -------------------------------------------------------------------------------

def test_bad_json_is_a_collection_error_per_dump() -> None:
    for facts in (routes.parse_routes("[{", 4, "ip -j -d -4 route show table all"),
                  routes.parse_rules("null", 4, "ip -j rule show"),
                  routes.parse_neighbors("oops")):
        assert [f.kind for f in facts] == ["collection_error"]
        assert facts[0].source["command"].startswith("ip -j")


def test_missing_ip_is_one_collection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "which", lambda binary: None)
    facts = routes.collect(CollectContext())
    assert [f.kind for f in facts] == ["collection_error"]
    assert "ip: command not found" in facts[0]["reason"]


def test_ip_timing_out_gives_one_error_per_command(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "ip"
    script.write_text("#!/bin/sh\nexec sleep 5\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    facts = routes.collect(CollectContext(timeout=0.2))
    assert [f.kind for f in facts] == ["collection_error"] * 5
    assert all("timed out" in f["reason"] for f in facts)
    assert len({f.id for f in facts}) == 5


def test_ipv6_disabled_kernel_records_absence(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sys" / "net" / "ipv4").mkdir(parents=True)  # a /proc without ipv6
    calls: list[list[str]] = []

    def fake_run(argv: list[str], timeout: float) -> base.CommandResult:
        calls.append(argv)
        return base.CommandResult(tuple(argv), 0, "[]", "")

    monkeypatch.setattr(base, "run_command", fake_run)
    facts = routes.collect(CollectContext(proc=tmp_path))
    assert [f.kind for f in facts] == ["source_absent", "source_absent"]
    assert all("-6" not in argv for argv in calls)


# --- live ------------------------------------------------------------------------------------

def live_ip_json(*args: str) -> list[dict[str, Any]]:
    path = base.which("ip")
    if path is None:
        pytest.skip("iproute2's ip is not installed")
    out = subprocess.run([path, "-j", *args], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    return json.loads(out or "[]")


def test_live_every_gateway_and_table_is_collected() -> None:
    kernel = live_ip_json("route", "show", "table", "all")
    facts = routes.collect(CollectContext())
    assert not [f for f in facts if f.kind == "collection_error"]
    collected = [f for f in facts if f.kind == "route"]
    gateways = {(f["gateway"], f["interface"], f["table"]) for f in collected}
    for route in kernel:
        for hop in route.get("nexthops") or [route]:
            if hop.get("gateway"):
                assert (hop["gateway"], hop.get("dev"), str(route.get("table", "main"))) \
                    in gateways
    assert len(collected) >= len(kernel)
    rules = [f for f in facts if f.kind == "policy_rule"]
    assert len(rules) == len(live_ip_json("rule", "show")) + len(live_ip_json("-6", "rule",
                                                                              "show"))


# --- in a namespace --------------------------------------------------------------------------

def test_in_a_namespace_policy_routing_is_collected() -> None:
    require_netns()
    with namespace("routes") as ns:
        ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip("-n", ns, "link", "set", "v0", "up")
        ip("-n", ns, "link", "set", "v1", "up")
        ip("-n", ns, "addr", "add", "10.78.0.2/24", "dev", "v0")
        ip("-n", ns, "route", "add", "default", "via", "10.78.0.1", "dev", "v0")
        ip("-n", ns, "route", "add", "default", "via", "10.78.0.254", "dev", "v0", "table", "42")
        ip("-n", ns, "rule", "add", "priority", "500", "from", "10.78.0.128/25", "lookup", "42")
        ip("-n", ns, "neigh", "add", "10.78.0.1", "lladdr", "02:00:00:00:78:01", "dev", "v0",
           "nud", "permanent")
        _, facts = collect_in(ns, "routes")
    found = {f["id"]: f for f in facts}
    assert found["route:main:default:v0"]["gateway"] == "10.78.0.1"
    assert found["route:42:default:v0"]["gateway"] == "10.78.0.254"
    rule = found["rule:4:500"]
    assert (rule["selector"], rule["table"], rule["default"]) == ("from 10.78.0.128/25", "42",
                                                                  False)
    assert found["neighbor:v0:10.78.0.1"]["state"] == "PERMANENT"
