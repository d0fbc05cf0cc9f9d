"""Lab proofs for the proxy and kernel faults of ``pkfaults``: each fault is shown with plain
sockets in the client namespace first, then whynet is held to ``verdict()`` (the expected rule
on top, the expected first failing layer, no other error); each control must give no warning.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import pkfaults as P
from .netlab import Lab
from .registry import runs
from .scenarios import SERVER_IP, Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab


def counter(report: dict[str, Any], name: str) -> dict[str, Any]:
    [fact] = [f for f in report["facts"]
              if f["kind"] == "counter_change" and f["name"] == name]
    return fact


# --- X40: strict rp_filter and asymmetric routing ---------------------------------------------

@runs("strict-rp-filter-asymmetric")
def test_strict_rp_filter_drops_asymmetric_replies(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(SERVER_IP, 80, timeout=1.0).outcome == "timeout"
    report = verdict(lab, sc)
    assert counter(report, "TcpExt.IPReversePathFilter")["delta"] > 0
    assert f"net.ipv4.conf.{sc.info['client_if']}.rp_filter" in report["findings"][0][
        "explanation"]
    sc.client.sysctl("net.ipv4.conf.all.rp_filter", 2)  # loose: the same replies now pass
    sc.client.sysctl(f"net.ipv4.conf.{sc.info['client_if']}.rp_filter", 2)
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"


@runs("asymmetric-return-loose-rp-filter")
def test_loose_rp_filter_with_asymmetric_routing(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"
    report = verdict(lab, sc)
    assert counter(report, "TcpExt.IPReversePathFilter")["delta"] == 0


# --- X41: a full connection-tracking table -------------------------------------------------------

@runs("conntrack-table-full")
def test_conntrack_table_full(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(SERVER_IP, 80, timeout=1.0).outcome == "timeout"
    assert sc.nodes["gw"].connect(SERVER_IP, 80).outcome == "open"  # the server is fine
    report = verdict(lab, sc)
    assert counter(report, "nf_conntrack.drop")["delta"] > 0
    [table] = [f for f in report["facts"] if f["kind"] == "conntrack_table"]
    assert table["count"] >= table["max"] == sc.info["limit"]
    # The advice's way out: exempt the traffic from tracking (both directions), and it flows.
    sc.client.nft("table inet notrack_all {\n"
                  " chain out { type filter hook output priority raw; notrack; }\n"
                  " chain in { type filter hook prerouting priority raw; notrack; }\n}\n")
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"  # untracked, it goes through


@runs("conntrack-busy-not-full")
def test_conntrack_busy_not_full(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"
    report = verdict(lab, sc)
    [table] = [f for f in report["facts"] if f["kind"] == "conntrack_table"]
    assert table["count"] >= P.BUSY_FLOWS and table["fill_percent"] < 90
