"""The UDP datagram sent after a TCP timeout, against loopback servers only."""

from __future__ import annotations

import asyncio
import socket
import threading

from engine.probes.udp import probe_udp


def _udp_server(reply: bool) -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)

    def serve() -> None:
        try:
            data, peer = sock.recvfrom(2048)
            if reply:
                sock.sendto(data, peer)
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    return sock, sock.getsockname()[1]


def test_udp_echo_answers() -> None:
    sock, port = _udp_server(reply=True)
    with sock:
        fact = asyncio.run(probe_udp("t", "127.0.0.1", port, 2.0))
    assert fact["outcome"] == "reply" and fact["port"] == port and fact["error"] is None


def test_closed_udp_port_is_refused_by_icmp() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now: the kernel answers ICMP port-unreachable.
    fact = asyncio.run(probe_udp("t", "127.0.0.1", port, 2.0))
    assert fact["outcome"] == "refused"


def test_silent_udp_service_is_a_bounded_timeout() -> None:
    sock, port = _udp_server(reply=False)
    with sock:
        fact = asyncio.run(probe_udp("t", "127.0.0.1", port, 1.0))
    assert fact["outcome"] == "timeout"
    assert fact["elapsed_ms"] < 2000
