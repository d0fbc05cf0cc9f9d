"""TCP connect on loopback, and decoding of the kernel's ICMP error queue."""

from __future__ import annotations

import asyncio
import socket
import struct

from probe_helpers import Server, dead_port, tarpit

from engine.probes.sockerr import icmp_error_name, parse_extended_err
from engine.probes.tcp import probe_tcp


def test_open_port(make_ctx) -> None:
    server = Server(lambda conn: None)
    try:
        fact = asyncio.run(probe_tcp("t", "127.0.0.1", server.port, make_ctx()))
    finally:
        server.stop()
    assert fact["outcome"] == "open"
    assert (fact["errno"], fact["icmp"], fact["error"]) == (None, None, None)
    assert fact["src"] == "127.0.0.1"
    assert fact.id == f"probe_tcp:t:127.0.0.1:{server.port}"
    assert fact.source == {"probe": f"tcp connect 127.0.0.1:{server.port}"}
    assert fact["layer"] == "transport" and fact["via_proxy"] is False


def test_closed_port_is_refused_by_a_reset(make_ctx) -> None:
    fact = asyncio.run(probe_tcp("t", "127.0.0.1", dead_port(), make_ctx()))
    assert fact["outcome"] == "refused"
    assert fact["errno"] == "ECONNREFUSED"
    assert fact["icmp"] is None  # a RST, not an ICMP error
    assert "TCP reset" in fact["error"]


def test_ipv6_loopback(make_ctx) -> None:
    fact = asyncio.run(probe_tcp("t", "::1", dead_port(), make_ctx()))
    assert fact["outcome"] in ("refused", "no_route", "error")  # no_route/error: IPv6 disabled
    assert fact.source == {"probe": f"tcp connect [::1]:{fact['port']}"}


def test_accepting_port_that_never_speaks_is_open(make_ctx) -> None:
    server = tarpit()
    try:
        fact = asyncio.run(probe_tcp("t", "127.0.0.1", server.port, make_ctx(timeout=0.5)))
    finally:
        server.stop()
    assert fact["outcome"] == "open"  # TCP is fine; the TLS probe is the one that waits


def _extended_err(errno: int, origin: int, icmp_type: int, code: int, offender: bytes,
                  family: int) -> bytes:
    head = struct.pack("=IBBBBII", errno, origin, icmp_type, code, 0, 0, 0)
    if family == socket.AF_INET:
        return head + struct.pack("=HH4s8x", socket.AF_INET, 0, offender)
    return head + struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, offender, 0)


def test_parse_extended_err_v4() -> None:
    raw = _extended_err(113, 2, 3, 13, socket.inet_aton("10.231.1.2"), socket.AF_INET)
    err = parse_extended_err(raw)
    assert err is not None
    assert (err.errno, err.origin, err.name, err.offender) == (
        "EHOSTUNREACH", "icmp", "admin-prohibited", "10.231.1.2")


def test_parse_extended_err_v6() -> None:
    raw = _extended_err(13, 3, 1, 1, socket.inet_pton(socket.AF_INET6, "::1"), socket.AF_INET6)
    err = parse_extended_err(raw)
    assert err is not None
    assert (err.errno, err.origin, err.name, err.offender) == ("EACCES", "icmp6",
                                                               "admin-prohibited", "::1")
    assert parse_extended_err(b"short") is None


def test_icmp_code_names() -> None:
    assert [icmp_error_name("icmp", 3, c) for c in (0, 1, 3, 9, 10, 13)] == [
        "net-unreachable", "host-unreachable", "port-unreachable", "net-prohibited",
        "host-prohibited", "admin-prohibited"]
    assert [icmp_error_name("icmp6", 1, c) for c in (0, 1, 3, 4)] == [
        "no-route", "admin-prohibited", "addr-unreachable", "port-unreachable"]
    assert icmp_error_name("icmp", 11, 0) == "time-exceeded"
    assert icmp_error_name("local", 0, 0) is None
