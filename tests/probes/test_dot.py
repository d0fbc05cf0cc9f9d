"""Encrypted DNS probes: server spellings, where the servers come from, and failures told
apart on loopback (a closed port, a port that is not TLS)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from probe_helpers import Server, dead_port

from engine.facts import make_fact
from engine.probes.context import ProbeContext
from engine.probes.dot import (
    DohUrlError,
    DotServer,
    dot_servers,
    parse_doh_url,
    parse_dot_server,
    probe_dot,
)


@pytest.mark.parametrize(("token", "expected"), [
    ("1.1.1.1#cloudflare-dns.com", DotServer("1.1.1.1", 853, "cloudflare-dns.com")),
    ("192.0.2.53:8853", DotServer("192.0.2.53", 8853, None)),
    ("[2001:db8::53]:853#dns.example", DotServer("2001:db8::53", 853, "dns.example")),
    ("2001:db8::53", DotServer("2001:db8::53", 853, None)),
    ("192.0.2.53%eth0#dns.example", DotServer("192.0.2.53", 853, "dns.example")),
    ("dns.example", None),
])
def test_dot_server_spellings(token: str, expected: DotServer | None) -> None:
    assert parse_dot_server(token) == expected


def test_servers_come_from_resolved_conf_else_the_links() -> None:
    config = make_fact("resolved_config", "rc", {}, dns=["192.0.2.53#dns.example"],
                       dns_over_tls="yes")
    link = make_fact("nameserver", "ns", {}, ip="198.51.100.53", origin="systemd-resolved",
                     link="wan0", stub=False)
    assert dot_servers(ProbeContext(timeout=1, facts=[config, link])) == (
        "yes", [DotServer("192.0.2.53", 853, "dns.example")])
    bare = make_fact("resolved_config", "rc", {}, dns=[], dns_over_tls="opportunistic")
    assert dot_servers(ProbeContext(timeout=1, facts=[bare, link])) == (
        "opportunistic", [DotServer("198.51.100.53", 853, None)])
    off = make_fact("resolved_config", "rc", {}, dns=["192.0.2.53"], dns_over_tls=None)
    assert dot_servers(ProbeContext(timeout=1, facts=[off, link])) == (None, [])
    assert dot_servers(ProbeContext(timeout=1, facts=[link])) == (None, [])


def test_doh_urls() -> None:
    url = parse_doh_url("https://dns.example/dns-query?x=1")
    assert (url.host, url.port, url.path) == ("dns.example", 443, "/dns-query?x=1")
    assert parse_doh_url("https://192.0.2.53:8443").path == "/dns-query"
    for bad in ("http://dns.example/dns-query", "dns.example", "https://"):
        with pytest.raises(DohUrlError):
            parse_doh_url(bad)


def test_dot_failures_are_told_apart() -> None:
    closed = asyncio.run(probe_dot(DotServer("127.0.0.1", dead_port(), None), "yes", 1.0))
    assert (closed["outcome"], closed["transport"], closed["rcode"]) == ("refused", "dot", None)

    def plain_text(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    server = Server(plain_text)
    try:
        fact = asyncio.run(probe_dot(DotServer("127.0.0.1", server.port, None), "yes", 1.0))
    finally:
        server.stop()
    assert fact["outcome"] == "not_tls" and "TLS handshake failed" in fact["error"]
