"""DNS: the system resolver and the hosts file, and direct queries to an in-test responder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from probe_helpers import DnsResponder, dead_port

from engine.facts import make_fact
from engine.probes.dns import (
    HostsMatch,
    answered_from_hosts,
    expanded_by,
    hosts_lookup,
    is_localhost_name,
    nonexistent_name,
    probe_dns,
    probe_nxdomain,
    query_names,
    resolve_system,
    resolve_via_nameserver,
)


@pytest.fixture
def responder():
    server = DnsResponder()
    yield server
    server.stop()


def ask(responder: DnsResponder, name: str, rdtype: str = "A", timeout: float = 1.0, **kw):
    return asyncio.run(resolve_via_nameserver(name, "127.0.0.1", port=responder.port,
                                              rdtype=rdtype, timeout=timeout, **kw))


def test_a_record(responder: DnsResponder) -> None:
    fact = ask(responder, "a.test")
    assert fact["outcome"] == "resolved"
    assert fact["addresses"] == ["198.51.100.10"]
    assert fact["transport"] == "udp" and fact["fallback"] is None
    assert fact["via"] == f"127.0.0.1:{responder.port}"
    assert fact["rcode"] == "NOERROR" and fact["layer"] == "name"
    assert fact.source == {"probe": f"dns query a.test A @127.0.0.1:{responder.port}"}


def test_aaaa_record(responder: DnsResponder) -> None:
    assert ask(responder, "a.test", "AAAA")["addresses"] == ["2001:db8::10"]


@pytest.mark.parametrize(("name", "outcome", "rcode"), [
    ("nx.test", "nxdomain", "NXDOMAIN"),
    ("noaddr.test", "no_answer", "NOERROR"),
    ("refused.test", "refused", "REFUSED"),
    ("servfail.test", "servfail", "SERVFAIL"),
])
def test_negative_answers(responder: DnsResponder, name: str, outcome: str, rcode: str) -> None:
    fact = ask(responder, name)
    assert (fact["outcome"], fact["rcode"], fact["addresses"]) == (outcome, rcode, [])
    assert fact["error"]


def test_silence_is_a_timeout_after_trying_tcp_too(responder: DnsResponder) -> None:
    fact = ask(responder, "silent.test", timeout=0.6)
    assert fact["outcome"] == "timeout"
    assert fact["transport"] == "tcp"
    assert "no udp answer" in fact["fallback"]
    assert fact["elapsed_ms"] < 1500
    # No answer at all: the route the queries take is looked up (X40 reads it), and it is
    # the loopback here.
    assert fact["route_interface"] == "lo"


def test_an_answering_server_needs_no_route_lookup(responder: DnsResponder) -> None:
    for name in ("a.test", "nx.test", "servfail.test"):
        assert ask(responder, name)["route_interface"] is None


def test_truncated_udp_falls_back_to_tcp(responder: DnsResponder) -> None:
    fact = ask(responder, "trunc.test")
    assert (fact["outcome"], fact["transport"]) == ("resolved", "tcp")
    assert fact["fallback"] == "udp answer truncated"
    assert fact["addresses"] == ["198.51.100.10"]


def test_nothing_listening_is_unreachable() -> None:
    fact = asyncio.run(resolve_via_nameserver("a.test", "127.0.0.1", port=dead_port(),
                                              timeout=0.6))
    assert fact["outcome"] == "unreachable"
    assert "nothing answers" in fact["error"]


def test_search_domains_are_tried_as_the_system_resolver_does(responder: DnsResponder) -> None:
    fact = ask(responder, "www", search=["nothing.invalid", "test"])
    assert fact["outcome"] == "resolved"
    assert fact["qname"] == "www.test"
    assert responder.queries[:2] == ["www.nothing.invalid. A", "www.test. A"]


@pytest.mark.parametrize(("host", "search", "ndots", "expected"), [
    ("www", ["a.test", "b.test"], 1, ["www.a.test", "www.b.test", "www"]),
    ("www.example.org", ["a.test"], 1, ["www.example.org", "www.example.org.a.test"]),
    ("www.x", ["a.test"], 2, ["www.x.a.test", "www.x"]),
    ("abs.example.", ["a.test"], 1, ["abs.example."]),
])
def test_query_names(host, search, ndots, expected) -> None:
    assert query_names(host, search, ndots) == expected


HOSTS = """\
127.0.0.1 localhost
# 10.0.0.9 commented.example
10.9.9.9   Legacy.Example.org legacy   # stale entry
10.9.9.10  other.example.org
"""


def test_hosts_lookup(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(HOSTS)
    assert hosts_lookup("legacy.example.org", path) == [HostsMatch(3, "10.9.9.9")]
    assert hosts_lookup("LEGACY", path) == [HostsMatch(3, "10.9.9.9")]
    assert hosts_lookup("commented.example", path) == []
    assert hosts_lookup("x", tmp_path / "missing") == []


@pytest.mark.parametrize(("addresses", "nsswitch", "expected"), [
    (["10.9.9.9"], ["files", "dns"], True),
    (["10.9.9.9"], ["dns", "files"], False),
    (["10.9.9.9"], ["dns"], False),
    (["10.9.9.9", "10.1.1.1"], ["files", "dns"], False),
    ([], ["files", "dns"], False),
    (["10.9.9.9"], ["files", "resolve", "dns"], True),
])
def test_answered_from_hosts(addresses, nsswitch, expected) -> None:
    assert answered_from_hosts(addresses, [HostsMatch(3, "10.9.9.9")], nsswitch) is expected


def test_system_resolver_and_hosts_file(make_ctx) -> None:
    # The live /etc/hosts maps localhost; the context's copy says on which line.
    ctx = make_ctx(hosts="# header\n127.0.0.1 localhost\n")
    fact, addresses = asyncio.run(resolve_system("localhost:1", "localhost", ctx))
    assert fact["outcome"] == "resolved" and "127.0.0.1" in addresses
    assert fact["via"] == "system" and fact["rdtype"] == "ANY"
    if set(addresses) == {"127.0.0.1"}:
        assert fact["from_hosts"] is True and fact["hosts_line"] == 2


def test_localhost_names_are_not_asked_of_dns_servers(make_ctx) -> None:
    """RFC 6761: a DNS server's answer for localhost concerns no program (a restrictive or
    authoritative-only server REFUSES it, which once read as a dead server)."""
    server = make_fact("nameserver", "nameserver:1", {"file": "/etc/resolv.conf"},
                       ip="127.0.0.1", origin="resolv.conf")  # asked, it would add facts
    ctx = make_ctx(hosts="127.0.0.1 localhost\n", facts=[server])
    facts, addresses = asyncio.run(probe_dns("http://localhost:8080/", "localhost", ctx))
    assert [f["via"] for f in facts] == ["system"] and "127.0.0.1" in addresses
    assert is_localhost_name("LOCALHOST.") and is_localhost_name("app.localhost")
    assert not is_localhost_name("localhost.example.org") and not is_localhost_name("mylocalhost")


def test_system_resolver_honours_nsswitch_order_from_facts(make_ctx) -> None:
    config = make_fact("resolver_config", "resolver_config", {"file": "/etc/nsswitch.conf"},
                       search=[], options=[], nsswitch_hosts=["dns", "files"])
    ctx = make_ctx(hosts="127.0.0.1 localhost\n", facts=[config])
    fact, _ = asyncio.run(resolve_system("localhost", "localhost", ctx))
    assert fact["from_hosts"] is False
    assert fact["nsswitch_hosts"] == ["dns", "files"]


# --- search-domain expansions of names with a dot (X21) and NXDOMAIN rewriting (X20) ----------

def test_an_expanded_dotted_name_is_also_asked_as_typed(responder: DnsResponder) -> None:
    fact = ask(responder, "a.test", search=["test"], ndots=5)  # a.test.test exists too
    assert (fact["qname"], fact["expanded"]) == ("a.test.test", True)
    assert (fact["as_typed_outcome"], fact["as_typed_addresses"]) == ("resolved",
                                                                      ["198.51.100.10"])
    assert responder.queries == ["a.test.test. A", "a.test. A"]


def test_a_name_answered_as_typed_asks_nothing_more(responder: DnsResponder) -> None:
    fact = ask(responder, "a.test", search=["test"], ndots=1)
    assert (fact["qname"], fact["expanded"], fact["as_typed_outcome"]) == ("a.test", False, None)
    assert responder.queries == ["a.test. A"]


def test_a_short_name_completed_by_the_search_list_is_not_asked_as_typed(
        responder: DnsResponder) -> None:
    fact = ask(responder, "www", search=["test"])
    assert (fact["qname"], fact["expanded"], fact["as_typed_outcome"]) == ("www.test", True, None)
    assert responder.queries == ["www.test. A"]


@pytest.mark.parametrize(("host", "canonical", "search", "expected"), [
    ("www.example.com", "www.example.com.corp.test", ["corp.test"], "corp.test"),
    ("app", "APP.Corp.Test.", ["lab.test", "corp.test"], "corp.test"),
    ("www.example.com", "www.example.com", ["corp.test"], None),
    ("www.example.com", "edge.cdn.example.net", ["corp.test"], None),  # a CNAME hides it
    ("app.", "app.corp.test", ["corp.test"], None),  # absolute: never expanded
    ("app", None, ["corp.test"], None),
])
def test_expanded_by(host, canonical, search, expected) -> None:
    assert expanded_by(host, canonical, search) == expected


def test_the_system_resolver_reports_its_canonical_name(make_ctx) -> None:
    fact, _ = asyncio.run(resolve_system("localhost", "localhost", make_ctx()))
    assert fact["canonical"] == "localhost" and fact["expanded_by"] is None


def test_nonexistent_names_are_random() -> None:
    first, second = nonexistent_name(), nonexistent_name()
    assert first != second and first.endswith(".com") and len(first.split(".")[0]) == 26


def test_nxdomain_probe(responder: DnsResponder, make_ctx) -> None:
    ctx = make_ctx(facts=[make_fact("nameserver", "ns1", {}, ip="127.0.0.1")])
    [fact] = asyncio.run(probe_nxdomain(ctx, port=responder.port))
    assert (fact.kind, fact["via"], fact["outcome"], fact["rcode"]) == (
        "probe_nxdomain", "127.0.0.1", "nxdomain", "NXDOMAIN")
    assert fact["qname"].startswith("whynet-nx-") and responder.queries == [f"{fact['qname']}. A"]
