"""Lab proofs for issue 13's checklist items and the faults beyond the checklist.

Each test proves its fault with plain sockets inside the client namespace, then runs whynet
there and asserts exactly one thing: the expected rule ranked first, the expected first failing
layer, and no other finding at error level. Each healthy control asserts no warning at all.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import coverage as C
from .netlab import Lab, arp_who_has
from .registry import runs
from .scenarios import APP, CLIENT_IP, SERVER_IP, Scenario

pytestmark = pytest.mark.lab


def verdict(lab: Lab, sc: Scenario, *extra: str) -> dict[str, Any]:
    """Run whynet as the scenario says and hold it to the lab's standard."""
    run = lab.run_whynet(sc.client, *sc.diagnose_args(*extra), env=sc.env, user=sc.user)
    assert run.report is not None, f"no JSON report (exit {run.exit_code}): {run.stderr}"
    report: dict[str, Any] = run.report
    findings = report["findings"]
    summary = [(f["rank"], f["rule"], f["checklist"], f["severity"]) for f in findings]
    if sc.healthy:
        assert run.exit_code == 0, summary
        assert all(f["severity"] == "info" for f in findings), summary
        return report
    assert run.exit_code == 1, (run.stderr, summary)
    assert findings[0]["rule"] == sc.expect, summary
    assert set(sc.checklist) <= set(findings[0]["checklist"]), summary
    errors = [f["rule"] for f in findings if f["severity"] == "error"]
    assert errors in ([], [sc.expect]), summary
    failing = [row["layer"] for row in report["layers"] if row["status"] == "fail"]
    assert failing[:1] == ([sc.layer] if sc.layer else []), report["layers"]
    return report


# --- B3 and X1: the path, hop by hop ------------------------------------------------------------

@runs("gateway-silent-at-arp")
def test_gateway_silent_at_arp(lab: Lab, sc: Scenario) -> None:
    gateway = sc.info["gateway"]
    assert sc.client.arp("eth0", gateway) == []  # nobody answers for the gateway
    assert sc.client.connect(SERVER_IP, 80, timeout=1.0).outcome != "open"
    report = verdict(lab, sc)
    path = [f for f in report["facts"] if f["kind"] == "network_path"]
    assert path and path[0]["next_hop"] == gateway and path[0]["unknown_hops"] == ["next hop"]
    sc.nodes["gw"].exec("nft", "delete", "table", "arp", "silence")
    assert sc.client.arp("eth0", gateway) == [sc.nodes["gw"].mac(sc.info["gw_lan_if"])]
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"


@runs("healthy-path")
def test_healthy_path(lab: Lab, sc: Scenario) -> None:
    report = verdict(lab, sc)
    path = [f for f in report["facts"] if f["kind"] == "network_path"]
    assert [(p["complete"], p["next_hop_answers"]) for p in path] == [(True, True)], path
    dad = [(f["ip"], f["outcome"]) for f in report["facts"] if f["kind"] == "probe_dad"]
    assert dad == [(CLIENT_IP, "unique")]  # C1's control: nobody else holds our address
    assert APP in report["paths"][0]["target"]


# --- C1: this host's own address held by another machine ---------------------------------------

@runs("own-address-taken")
def test_own_address_taken(lab: Lab, sc: Scenario) -> None:
    mac = sc.info["intruder_mac"]
    # Ground truth: an ARP probe for the client's own address (as `arping -D`) gets an answer.
    assert sc.client.call(arp_who_has, "eth0", sc.client.mac("eth0"), "0.0.0.0", CLIENT_IP,
                          0.5) == [mac]
    report = verdict(lab, sc)
    dad = [f for f in report["facts"] if f["kind"] == "probe_dad"]
    assert [(f["ip"], f["outcome"], f["macs"]) for f in dad] == [(CLIENT_IP, "duplicate", [mac])]
    sc.nodes["intruder"].ip("addr", "flush", "dev", sc.info["intruder_if"])
    assert sc.client.call(arp_who_has, "eth0", sc.client.mac("eth0"), "0.0.0.0", CLIENT_IP,
                          0.5) == []


# --- P1: a CDN edge that proxies only some ports ------------------------------------------------

@runs("cdn-port-not-proxied")
def test_cdn_port_not_proxied(lab: Lab, sc: Scenario) -> None:
    edge = sc.info["edge"]
    assert sc.client.connect(edge, C.ORIGIN_PORT, timeout=1.0).outcome == "timeout"
    assert sc.client.connect(edge, 8080).outcome == "open"
    assert sc.nodes["server"].connect(edge, C.ORIGIN_PORT).outcome == "open"  # origin listens
    report = verdict(lab, sc)
    assert report["findings"][0]["explanation"].count("Lab CDN") >= 1


@runs("cdn-proxied-port")
def test_cdn_proxied_port(lab: Lab, sc: Scenario) -> None:
    verdict(lab, sc)


# --- N4: failures at certain hours ----------------------------------------------------------

def history_of(sc: Scenario) -> list[str]:
    return (sc.info["state"] / "whynet" / "history.jsonl").read_text().splitlines()


@runs("time-based-block")
def test_time_based_block(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(SERVER_IP, 80, timeout=1.0).outcome == "timeout"
    before = len(history_of(sc))
    report = verdict(lab, sc)
    assert "within" in report["findings"][0]["explanation"]
    after = history_of(sc)
    assert len(after) == before + 1 and '"ok": false' in after[-1]  # this run is recorded too
    sc.nodes["gw"].exec("nft", "delete", "table", "inet", "schedule")
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"


@runs("no-time-pattern")
def test_no_time_pattern(lab: Lab, sc: Scenario) -> None:
    report = verdict(lab, sc)
    pattern = [f for f in report["facts"] if f["kind"] == "history_pattern"]
    assert [(p["runs"], p["failures"], p["clustered_by"]) for p in pattern] == [(8, 4, None)]
    assert '"ok": true' in history_of(sc)[-1]


# --- N3: the public address, CGNAT and double NAT ----------------------------------------------

def stun_fact(report: dict[str, Any]) -> dict[str, Any]:
    [fact] = [f for f in report["facts"] if f["kind"] == "probe_stun"]
    return fact


@pytest.mark.parametrize(("sc", "hops"), [
    ("nat-cgnat", ["10.20.0.1", "100.64.0.1"]),
    ("nat-double", ["10.20.0.1", "192.168.1.1"]),
], indirect=["sc"])
def test_behind_two_nats(lab: Lab, sc: Scenario, hops: list[str]) -> None:
    assert sc.client.udp(C.STUN_IP, C.STUN_PORT, b"not stun", timeout=0.5) is None
    report = verdict(lab, sc)
    fact = stun_fact(report)
    assert (fact["public_ip"], fact["hops"], fact["translated"]) == ("203.0.113.1", hops, True)
    assert fact["local_ip"] == CLIENT_IP


@runs("nat-single")
def test_one_nat_with_a_public_address(lab: Lab, sc: Scenario) -> None:
    report = verdict(lab, sc)
    fact = stun_fact(report)
    assert (fact["public_ip"], fact["hops"], fact["cgnat"], fact["double_nat"]) == (
        "203.0.113.2", ["10.20.0.1"], False, False)
    assert [f["rule"] for f in report["findings"]] == ["nat.public-address"]


# --- beyond the checklist: X2 no carrier, X3 forwarding off -------------------------------------

@runs("route-interface-down")
def test_route_interface_down(lab: Lab, sc: Scenario) -> None:
    [route] = sc.client.ip_json("route", "get", C.BRANCH_SERVER)
    assert route["dev"] == sc.info["client_if"]  # the dead link's route is still chosen
    assert sc.client.connect(C.BRANCH_SERVER, 80, timeout=1.0).outcome != "open"
    verdict(lab, sc)
    sc.nodes["branch"].ip("link", "set", sc.info["branch_if"], "up")
    sc.client.ping(C.BRANCH_SERVER, count=1, timeout=2.0)  # carrier back: neighbours relearn
    assert sc.client.connect(C.BRANCH_SERVER, 80).outcome == "open"


@runs("container-host-no-forwarding")
def test_container_host_without_forwarding(lab: Lab, sc: Scenario) -> None:
    ctr = sc.nodes["ctr"]
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"  # the host itself is fine
    assert ctr.connect(SERVER_IP, 80, timeout=1.0).outcome != "open"
    verdict(lab, sc)
    sc.client.sysctl("net.ipv4.ip_forward", 1)
    assert ctr.connect(SERVER_IP, 80).outcome == "open"


@runs("bridge-shadows-remote")
def test_bridge_shadows_remote(lab: Lab, sc: Scenario) -> None:
    [route] = sc.client.ip_json("route", "get", C.REMOTE_SERVER)
    assert route["dev"] == "br-5f2c1a"
    assert sc.client.connect(C.REMOTE_SERVER, 80, timeout=1.0).outcome != "open"
    assert sc.nodes["gw"].connect(C.REMOTE_SERVER, 80).outcome == "open"  # the site is fine
    verdict(lab, sc)
    sc.client.ip("link", "del", "br-5f2c1a")
    assert sc.client.connect(C.REMOTE_SERVER, 80).outcome == "open"
