"""Lab proofs for per-link DNS routing domains with a real systemd-resolved
(tests/lab/resolvedfaults.py).

Each test proves its set-up first with plain DNS queries (each server asked directly, and the
system resolver as a program sees it) and resolvectl's own view, then runs whynet in the same
network and mount namespaces and holds it to ``verdict()``.
"""

from __future__ import annotations

import socket
from typing import Any

import dns.exception
import dns.resolver
import pytest

from . import resolvedfaults as R
from .healthy import INTRANET_IP, VPN_GW_IP, WEB_NAME
from .netlab import Lab
from .registry import runs
from .scenarios import APP, DNS_IP, SERVER_IP, Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab


def facts_of(report: dict[str, Any], kind: str, **match: object) -> list[dict[str, Any]]:
    return [f for f in report["facts"]
            if f["kind"] == kind and all(f.get(k) == v for k, v in match.items())]


@runs("resolved-routing-domain-misses-zone")
def test_routing_domain_misses_zone(lab: Lab, sc: Scenario) -> None:
    resolved = R.resolved_of(sc)
    # Ground truth: the VPN's server knows the name, the LAN's does not, and resolved (the
    # stub every program asks) sends it to the LAN's.
    assert sc.client.dns(VPN_GW_IP, R.UNROUTED_NAME) == [R.BUILD_IP]
    with pytest.raises(dns.resolver.NXDOMAIN):
        sc.client.dns(DNS_IP, R.UNROUTED_NAME)
    with pytest.raises(socket.gaierror):
        sc.client.getaddrinfo(R.UNROUTED_NAME)
    assert f"~{R.ROUTED_ZONE}" in resolved.ctl("domain", R.VPN_IF)
    report = verdict(lab, sc)
    [system] = facts_of(report, "probe_resolve", via="system")
    assert system["outcome"] == "nxdomain", system
    direct = facts_of(report, "probe_resolve", via=VPN_GW_IP, rdtype="A")
    assert [(f["outcome"], f["addresses"]) for f in direct] == [("resolved", [R.BUILD_IP])], direct
    assert {(f["ip"], f["link"]) for f in facts_of(report, "nameserver",
                                                    origin="systemd-resolved")} \
        == {(DNS_IP, R.LAN_IF), (VPN_GW_IP, R.VPN_IF)}
    # Adding the zone to the link's routing domains, as the advice says, fixes it.
    resolved.ctl("domain", R.VPN_IF, f"~{R.ROUTED_ZONE}", "~corp-lab.test")
    assert sc.client.getaddrinfo(R.UNROUTED_NAME) == [R.BUILD_IP]


@runs("resolved-routed-server-dead")
def test_routed_server_dead(lab: Lab, sc: Scenario) -> None:
    resolved = R.resolved_of(sc)
    # Ground truth: nothing answers DNS on the VPN's server, the LAN's server does not know
    # the name, and resolved (routing corp.test to wg0 only) fails it.
    with pytest.raises(dns.exception.Timeout):
        sc.client.dns(VPN_GW_IP, R.ROUTED_NAME)
    with pytest.raises(dns.resolver.NXDOMAIN):
        sc.client.dns(DNS_IP, R.ROUTED_NAME)
    with pytest.raises(socket.gaierror):
        sc.client.getaddrinfo(R.ROUTED_NAME)
    assert sc.client.getaddrinfo(WEB_NAME) == [SERVER_IP]  # other names resolve
    assert R.current_scopes(resolved, R.VPN_IF).startswith("DNS")
    report = verdict(lab, sc)
    top = report["findings"][0]
    # the stub and the VPN's server, each "not answering", are this fault's evidence
    assert [s["rule"] for s in top["supporting"]].count("name.nameserver-not-answering") == 2, top
    # A server on 10.66.0.1 again: the routed name resolves.
    sc.servers["vpn_dns"] = sc.nodes["vpn"].dnsmasq(VPN_GW_IP, {R.ROUTED_NAME: INTRANET_IP})
    assert sc.client.dns(VPN_GW_IP, R.ROUTED_NAME) == [INTRANET_IP]


@runs("resolved-routed-link-down")
def test_routed_link_down(lab: Lab, sc: Scenario) -> None:
    resolved = R.resolved_of(sc)
    # Ground truth: wg0 has no carrier and keeps its settings; resolved uses it for nothing,
    # so the routed name goes to the LAN's server, which says NXDOMAIN.
    [link] = sc.client.ip_json("link", "show", "dev", R.VPN_IF)
    assert "NO-CARRIER" in link["flags"], link
    assert f"~{R.ROUTED_ZONE}" in resolved.ctl("domain", R.VPN_IF)
    assert R.current_scopes(resolved, R.VPN_IF) == "none"
    with pytest.raises(dns.resolver.NXDOMAIN):
        sc.client.dns(DNS_IP, R.ROUTED_NAME)
    with pytest.raises(socket.gaierror):
        sc.client.getaddrinfo(R.ROUTED_NAME)
    report = verdict(lab, sc)
    [system] = facts_of(report, "probe_resolve", via="system")
    assert system["outcome"] == "nxdomain", system
    # The far end back: resolved routes corp.test to wg0 again, and the name resolves.
    sc.nodes["vpn"].ip("link", "set", R.TUNNEL_FAR_END, "up")
    R.wait_for_scopes(resolved, R.VPN_IF, "DNS")
    assert sc.client.getaddrinfo(R.ROUTED_NAME) == [INTRANET_IP]


@runs("resolved-routed-name")
def test_routed_name(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(R.ROUTED_NAME) == [INTRANET_IP]
    with pytest.raises(dns.resolver.NXDOMAIN):
        sc.client.dns(DNS_IP, R.ROUTED_NAME)  # only the VPN's server knows it
    assert sc.client.connect(INTRANET_IP, 80).outcome == "open"
    report = verdict(lab, sc)
    [system] = facts_of(report, "probe_resolve", via="system")
    assert system["addresses"] == [INTRANET_IP], system
    assert {(f["ip"], f["link"]) for f in facts_of(report, "nameserver",
                                                    origin="systemd-resolved")} \
        == {(DNS_IP, R.LAN_IF), (VPN_GW_IP, R.VPN_IF)}
    assert facts_of(report, "dns_domain", link=R.VPN_IF, domain=R.ROUTED_ZONE, routing_only=True)


@runs("resolved-single-link")
def test_single_link(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(WEB_NAME) == sc.client.getaddrinfo(APP) == [SERVER_IP]
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"
    report = verdict(lab, sc)
    assert {f["outcome"] for f in facts_of(report, "probe_resolve", via="system")} == {"resolved"}
    assert {(f["ip"], f["link"]) for f in facts_of(report, "nameserver",
                                                    origin="systemd-resolved")} \
        == {(DNS_IP, R.LAN_IF)}
