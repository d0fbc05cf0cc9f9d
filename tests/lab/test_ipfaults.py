"""Lab proofs for the IP-level faults of issue 13 (tests/lab/ipfaults.py).

Each test proves its fault with plain sockets inside the client namespace, then runs whynet
there and holds it to ``verdict`` (the expected rule on top, the expected first failing layer,
no other error); each healthy control asserts no warning at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from . import ipfaults as I
from .netlab import Lab, Namespace
from .registry import runs
from .scenarios import APP, SERVER_IP, Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab


def resolver_order(ns: Namespace, name: str) -> list[str]:
    """The system resolver's addresses in its own order (RFC 6724 sorting), as a program
    connecting one address after the other tries them."""
    proc = ns.python("import json, socket\n"
                     f"r = socket.getaddrinfo({name!r}, 80, type=socket.SOCK_STREAM)\n"
                     "print(json.dumps(list(dict.fromkeys(a[4][0] for a in r))))\n")
    return list(json.loads(proc.stdout))


def facts_of(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in report["facts"] if f["kind"] == kind]


# --- X10: one address family broken ------------------------------------------------------------

@pytest.mark.parametrize(("sc", "broken"), [("ipv6-dropped-at-gateway", 6),
                                             ("ipv4-dropped-at-gateway", 4)], indirect=["sc"])
def test_one_family_dropped(lab: Lab, sc: Scenario, broken: int) -> None:
    # The system resolver lists the AAAA first: the client has a global IPv6 address.
    assert resolver_order(sc.client, APP) == [I.SERVER_V6, SERVER_IP]
    assert sc.client.connect(sc.info["broken"], 80, timeout=1.0).outcome == "timeout"
    assert sc.client.connect(sc.info["working"], 80).outcome == "open"
    report = verdict(lab, sc)
    [split] = facts_of(report, "family_split")
    assert (split["broken_family"], split["broken_ips"], split["working_ips"]) == (
        broken, [sc.info["broken"]], [sc.info["working"]])
    assert split["order"] == [I.SERVER_V6, SERVER_IP]
    assert split["broken_first"] is (broken == 6)
    text = report["findings"][0]["explanation"]
    assert ("waits for its connect timeout on IPv6" in text) is (broken == 6)
    sc.nodes["gw"].exec("nft", "delete", "table", "inet", "family_block")
    assert sc.client.connect(sc.info["broken"], 80).outcome == "open"


@runs("dual-stack-v6-first")
def test_dual_stack_control(lab: Lab, sc: Scenario) -> None:
    for ip, port in sc.info["reach"]:
        assert sc.client.connect(ip, port).outcome == "open"
    report = verdict(lab, sc)
    assert facts_of(report, "family_split") == []
    tcp = sorted((f["ip"], f["outcome"]) for f in facts_of(report, "probe_tcp"))
    assert tcp == sorted([(SERVER_IP, "open"), (I.SERVER_V6, "open")])
