"""links collector: recorded ``ip -j`` dumps, bad inputs, the live kernel, a namespace."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from netns_util import collect_in, ip, namespace, require_netns

from engine.collectors import base, links
from engine.collectors.base import CollectContext
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "links"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def physical(prefix: str) -> list[str]:
    return fixture_text(f"{prefix}-sys-class-net-with-device.txt").split()


def by_id(facts: list[Fact]) -> dict[str, Fact]:
    return {f.id: f for f in facts}


def recorded_link(prefix: str, name: str) -> dict[str, Any]:
    links_json = json.loads(fixture_text(f"{prefix}-ip-j-d-link-show.json"))
    return next(link for link in links_json if link["ifname"] == name)


# --- interfaces ------------------------------------------------------------------------------

def test_host_interfaces_are_classified() -> None:
    facts = by_id(links.parse_links(fixture_text("host-ip-j-d-link-show.json"), physical("host")))
    assert set(facts) == {"interface:lo", "interface:ifb0", "interface:ifb1", "interface:eth0"}
    eth0 = facts["interface:eth0"]
    assert (eth0["link_kind"], eth0["state"], eth0["mtu"], eth0["mac"]) == (
        "physical", "up", 1400, "02:fc:00:00:00:01")
    assert "LOWER_UP" in eth0["flags"]
    assert facts["interface:lo"]["link_kind"] == "loopback"
    assert facts["interface:ifb0"]["link_kind"] == "virtual"
    assert facts["interface:ifb0"]["state"] == "down"
    assert eth0.source == {"command": "ip -j -d link show"}


def test_without_a_device_link_a_nic_is_not_called_physical() -> None:
    facts = by_id(links.parse_links(fixture_text("host-ip-j-d-link-show.json"), []))
    assert facts["interface:eth0"]["link_kind"] == "virtual"


def test_namespace_interfaces_are_classified() -> None:
    facts = links.parse_links(fixture_text("netns-ip-j-d-link-show.json"), physical("netns"),
                              netns="wnc-fx")
    kinds = {f["name"]: f["link_kind"] for f in facts}
    assert kinds == {
        "lo": "loopback", "wan0": "veth", "lan0": "veth", "br0": "bridge",
        "docker0": "container", "virbr0": "vm", "br-5f1c2a9d0e11": "container",
        "vm0b": "veth", "vm0": "veth", "vethc0ffee": "veth", "cali7e2a0c1d": "container",
        "tun0": "tun", "vnet0": "tap", "flannel.1": "container", "mac0": "virtual",
    }
    found = by_id(facts)
    assert found["interface:vm0b"]["master"] == "br0"
    assert found["interface:vm0b"]["slave_kind"] == "bridge"
    assert found["interface:vm0"]["slave_kind"] is None
    assert found["interface:vnet0"]["master"] == "virbr0"
    assert found["interface:tun0"]["mac"] is None  # a tun has no link-layer address
    assert found["interface:virbr0"]["state"] == "down"
    assert {f["netns"] for f in facts} == {"wnc-fx"}


@pytest.mark.parametrize("info_kind", ["dummy", "bond", "vlan", "wireguard", "veth", "bridge"])
def test_kinds_this_kernel_cannot_create_map_from_info_kind(info_kind: str) -> None:
    # The recording kernel has no dummy/bond/vlan/wireguard driver: reuse a recorded link
    # object with the info_kind that ip prints for them.
    link = {**recorded_link("netns", "wan0"), "ifname": "x0", "linkinfo": {"info_kind": info_kind}}
    assert links.classify_interface(link, frozenset()) == info_kind


def test_name_patterns_win_over_info_kind_and_loopback_wins_over_all() -> None:
    veth = recorded_link("netns", "cali7e2a0c1d")
    assert links.classify_interface({**veth, "ifname": "vboxnet0"}, frozenset()) == "vm"
    assert links.classify_interface({**veth, "ifname": "podman1"}, frozenset()) == "container"
    lo = recorded_link("netns", "lo")
    assert links.classify_interface({**lo, "ifname": "docker0"}, frozenset()) == "loopback"


# --- addresses -------------------------------------------------------------------------------

def test_namespace_addresses() -> None:
    facts = by_id(links.parse_addresses(fixture_text("netns-ip-j-addr-show.json")))
    wan = facts["address:wan0:198.51.100.10/24"]
    assert (wan["interface"], wan["ip"], wan["prefix"], wan["family"], wan["scope"]) == (
        "wan0", "198.51.100.10", 24, 4, "global")
    assert wan["network"] == "198.51.100.0/24"
    assert wan["dynamic"] is False
    assert facts["address:wan0:198.51.100.11/24"]["dynamic"] is True
    assert facts["address:wan0:2001:db8:1::11/64"]["dynamic"] is True
    assert facts["address:wan0:2001:db8:1::10/64"]["network"] == "2001:db8:1::/64"
    assert facts["address:mac0:10.1.5.5/16"]["network"] == "10.1.0.0/16"
    assert facts["address:tun0:10.8.0.1/32"]["network"] == "10.8.0.2/32"  # the peer
    assert facts["address:lo:::1/128"]["scope"] == "host"
    # The peer namespace held fd00:1::99 first: duplicate address detection failed here.
    assert facts["address:lan0:fd00:1::99/64"]["duplicate"] is True
    assert facts["address:lan0:fd00:1::2/64"]["duplicate"] is False


def test_every_recorded_address_becomes_one_fact() -> None:
    recorded = json.loads(fixture_text("netns-ip-j-addr-show.json"))
    expected = {(link["ifname"], a["local"], a["prefixlen"])
                for link in recorded for a in link["addr_info"]}
    facts = links.parse_addresses(fixture_text("netns-ip-j-addr-show.json"))
    assert {(f["interface"], f["ip"], f["prefix"]) for f in facts} == expected
    assert len({f.id for f in facts}) == len(facts)


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [
    ('[{"ifname": "eth0"', "not JSON"),
    ('{"ifname": "eth0"}', "expected a JSON array"),
])
def test_output_that_is_not_a_json_array_is_a_collection_error(text: str, reason: str) -> None:
    for facts in (links.parse_links(text), links.parse_addresses(text)):
        assert [f.kind for f in facts] == ["collection_error"]
        assert reason in facts[0]["reason"]


def test_empty_output_is_no_facts() -> None:
    assert links.parse_links("") == []
    assert links.parse_addresses("\n") == []


def test_missing_ip_is_one_collection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "which", lambda binary: None)
    facts = links.collect(CollectContext())
    assert [f.kind for f in facts] == ["collection_error"]
    assert "ip: command not found" in facts[0]["reason"]


def fake_ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """Put a shell script called ``ip`` first on PATH."""
    script = tmp_path / "ip"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")


def test_ip_timing_out_is_a_collection_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ip(tmp_path, monkeypatch, "exec sleep 5")
    facts = links.collect(CollectContext(timeout=0.3))
    errors = [f for f in facts if f.kind == "collection_error"]
    assert len(errors) == 2  # the link dump and the address dump
    assert all("timed out after 0.3s" in f["reason"] for f in errors)
    assert {f.source["command"] for f in errors} == {"ip -j -d link show", "ip -j addr show"}


def test_ip_failing_is_a_collection_error_with_its_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ip(tmp_path, monkeypatch, 'echo "Cannot open netlink socket: Permission denied" >&2\n'
                                   "exit 1")
    facts = links.collect(CollectContext())
    assert {f.kind for f in facts} == {"collection_error"}
    assert "exit status 1: Cannot open netlink socket" in facts[0]["reason"]


def test_ip_printing_garbage_is_a_collection_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ip(tmp_path, monkeypatch, "echo 'Object \"link\" is unknown'")
    facts = links.collect(CollectContext())
    assert {f.kind for f in facts} == {"collection_error"}
    assert "not JSON" in facts[0]["reason"]


# --- live ------------------------------------------------------------------------------------

def live_ip_json(*args: str) -> list[dict[str, Any]]:
    if base.which("ip") is None:
        pytest.skip("iproute2's ip is not installed")
    out = subprocess.run([base.which("ip") or "ip", "-j", *args], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    return json.loads(out)


def test_live_every_address_and_link_is_collected() -> None:
    kernel_addresses = live_ip_json("addr", "show")
    facts = links.collect(CollectContext())
    assert not [f for f in facts if f.kind == "collection_error"]
    collected = {(f["interface"], f["ip"], f["prefix"]) for f in facts if f.kind == "address"}
    for link in kernel_addresses:
        for info in link.get("addr_info", []):
            if info.get("family") in ("inet", "inet6"):
                assert (link["ifname"], info["local"], info["prefixlen"]) in collected
    names = {f["name"] for f in facts if f.kind == "interface"}
    assert names == {link["ifname"] for link in kernel_addresses}


# --- in a namespace --------------------------------------------------------------------------

def test_in_a_namespace_interfaces_carry_its_name_and_kinds() -> None:
    require_netns()
    with namespace("links") as ns:
        ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip("-n", ns, "link", "add", "docker0", "type", "bridge")
        ip("-n", ns, "link", "set", "v1", "master", "docker0")
        ip("-n", ns, "addr", "add", "10.77.0.1/24", "dev", "v0")
        _, facts = collect_in(ns, "links")
    interfaces = {f["name"]: f for f in facts if f["kind"] == "interface"}
    assert set(interfaces) == {"lo", "v0", "v1", "docker0"}
    assert {f["netns"] for f in interfaces.values()} == {ns}
    assert interfaces["v0"]["link_kind"] == "veth"
    assert interfaces["docker0"]["link_kind"] == "container"
    assert interfaces["v1"]["master"] == "docker0"
    addresses = [f for f in facts if f["kind"] == "address"]
    assert [(a["ip"], a["network"]) for a in addresses if a["family"] == 4] == [
        ("10.77.0.1", "10.77.0.0/24")]
