"""The system resolver against direct DNS in a namespace with its own resolv.conf and hosts
file (B5, R5, D1): no query leaves the namespace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from probe_helpers import REPO, Netns, facts_of, lab_unavailable

from engine.facts import make_fact

pytestmark = pytest.mark.lab

RESPONDER = f"""
import sys, time
sys.path.insert(0, {str(REPO / "tests" / "probes")!r})
from probe_helpers import DnsResponder
DnsResponder(53)
print("ready", flush=True)
time.sleep(600)
"""
FACTS = [
    make_fact("nameserver", "nameserver:0", {"file": "/etc/resolv.conf", "line": 1},
              ip="127.0.0.1", origin="resolv.conf", link=None, stub=True),
    make_fact("resolver_config", "resolver_config", {"file": "/etc/resolv.conf"},
              search=["test"], options=["timeout:1", "attempts:1"],
              nsswitch_hosts=["files", "dns"]),
]


@pytest.fixture(scope="module")
def result() -> Iterator[dict[str, Any]]:
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    ns = Netns("d")
    try:
        ns.etc("resolv.conf", "nameserver 127.0.0.1\nsearch test\noptions timeout:1 attempts:1\n")
        ns.etc("hosts", "127.0.0.1 localhost\n10.231.9.9 legacy.test\n")
        ns.spawn_python(RESPONDER)
        yield ns.probe(["legacy.test", "nx.test", "www", "a.test:443"], timeout=2.5,
                       facts=FACTS)
    finally:
        ns.delete()


def resolve(result: dict[str, Any], target: str, via: str, rdtype: str = "A") -> dict[str, Any]:
    match = {"target": target, "via": via}
    if via != "system":
        match["rdtype"] = rdtype
    [fact] = facts_of(result, "probe_resolve", **match)
    return fact


def test_hosts_file_answers_where_dns_says_otherwise(result) -> None:
    system = resolve(result, "legacy.test", "system")
    assert system["outcome"] == "resolved" and system["addresses"] == ["10.231.9.9"]
    assert (system["from_hosts"], system["hosts_line"]) == (True, 2)
    direct = resolve(result, "legacy.test", "127.0.0.1")
    assert direct["outcome"] == "resolved" and direct["addresses"] == ["198.51.100.10"]


def test_nxdomain_both_ways(result) -> None:
    assert resolve(result, "nx.test", "system")["outcome"] == "nxdomain"
    assert resolve(result, "nx.test", "127.0.0.1")["outcome"] == "nxdomain"


def test_search_domain_both_ways(result) -> None:
    system = resolve(result, "www", "system")
    assert system["outcome"] == "resolved" and system["from_hosts"] is False
    direct = resolve(result, "www", "127.0.0.1")
    assert (direct["outcome"], direct["qname"]) == ("resolved", "www.test")
    assert resolve(result, "www", "127.0.0.1", "AAAA")["addresses"] == ["2001:db8::10"]


def test_resolved_addresses_are_probed_in_the_namespace(result) -> None:
    # a.test resolves to 198.51.100.10, which has no route here: the probes say so and stop.
    tcp = facts_of(result, "probe_tcp", target="a.test:443")
    assert {f["ip"] for f in tcp} <= {"198.51.100.10", "2001:db8::10"}
    assert all(f["outcome"] in ("no_route", "unreachable") for f in tcp)
