"""Lab proofs for ``rpffaults``: strict reverse-path filtering dropping a DNS server's answers
and echo replies. Each fault is shown with plain sockets in the client namespace first (and
undone by making the filter loose, as the advice says), then whynet is held to ``verdict()``
(the expected rule on top, the expected first failing layer, no other error); each control, on
the same asymmetric topology with loose filtering, must give no warning.
"""

from __future__ import annotations

from typing import Any

import dns.exception
import pytest

from . import rpffaults as R
from .netlab import Lab
from .registry import runs
from .scenarios import APP, SERVER_IP, Scenario
from .test_coverage_scenarios import verdict
from .test_pkfaults import counter

pytestmark = pytest.mark.lab

RP_DROPS = "TcpExt.IPReversePathFilter"


def make_loose(sc: Scenario) -> None:
    """The advice's first way out: rp_filter=2 on all and on the interface the replies use."""
    sc.client.sysctl("net.ipv4.conf.all.rp_filter", 2)
    sc.client.sysctl(f"net.ipv4.conf.{sc.info['client_if']}.rp_filter", 2)


def findings_of(report: dict[str, Any], severity: str) -> list[str]:
    return [f["rule"] for f in report["findings"] if f["severity"] == severity]


@runs("strict-rp-filter-dns-answers")
def test_strict_rp_filter_drops_the_dns_servers_answers(lab: Lab, sc: Scenario) -> None:
    with pytest.raises(dns.exception.Timeout):  # the server answers; nothing arrives
        sc.client.dns(R.FAR_DNS_IP, APP, timeout=1.0)
    assert sc.nodes["gw"].dns(R.FAR_DNS_IP, APP) == [SERVER_IP]  # it answers the gateway
    report = verdict(lab, sc)
    assert counter(report, RP_DROPS)["delta"] > 0
    top = report["findings"][0]
    client_if = sc.info["client_if"]
    assert f"DNS server {R.FAR_DNS_IP} gave no answer" in top["explanation"]
    assert f"leaves on eth0; net.ipv4.conf.{client_if}.rp_filter is 1" in top["explanation"]
    # The per-server and system-resolver readings of the same silence are its support.
    assert {"name.nameserver-not-answering", "name.system-resolution-fails"} <= {
        s["rule"] for s in top["supporting"]}
    [row] = [r for r in report["layers"] if r["layer"] == "name"]
    assert row["status"] == "fail"
    make_loose(sc)
    assert sc.client.dns(R.FAR_DNS_IP, APP) == [SERVER_IP]


@runs("asymmetric-dns-loose-rp-filter")
def test_loose_rp_filter_with_an_asymmetric_dns_server(lab: Lab, sc: Scenario) -> None:
    assert sc.client.dns(R.FAR_DNS_IP, APP) == [SERVER_IP]
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"
    report = verdict(lab, sc)
    assert counter(report, RP_DROPS)["delta"] == 0
    resolved = [f for f in report["facts"]
                if f["kind"] == "probe_resolve" and f["via"] == R.FAR_DNS_IP]
    assert resolved and all(f["route_interface"] is None for f in resolved)  # none looked up
    assert {f["outcome"] for f in resolved} <= {"resolved", "no_answer"}


@runs("strict-rp-filter-echo-replies")
def test_strict_rp_filter_drops_echo_replies(lab: Lab, sc: Scenario) -> None:
    assert not sc.client.ping(SERVER_IP)
    assert sc.nodes["gw"].ping(SERVER_IP)  # the server answers pings
    report = verdict(lab, sc)
    assert counter(report, RP_DROPS)["delta"] > 0
    assert findings_of(report, "error") == ["routing.rp-filter-dropped-echo-replies"]
    explanation = report["findings"][0]["explanation"]
    assert f"no echo reply came back from {SERVER_IP}" in explanation
    assert f"filters strictly on {sc.info['client_if']}" in explanation
    make_loose(sc)
    assert sc.client.ping(SERVER_IP)


@runs("asymmetric-ping-loose-rp-filter")
def test_loose_rp_filter_lets_asymmetric_echo_replies_in(lab: Lab, sc: Scenario) -> None:
    assert sc.client.ping(SERVER_IP)
    report = verdict(lab, sc)
    assert counter(report, RP_DROPS)["delta"] == 0
