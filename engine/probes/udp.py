"""One UDP datagram to the port whose TCP connect got no answer (checklist F3, F5).

Firewalls filter TCP and UDP separately. When TCP to a port is silently dropped, a datagram
to the same port tells the two protocols apart: an answer (many UDP services reply to anything,
echo and DNS among them) or an ICMP port-unreachable (the host is reachable over UDP and
nothing listens) means the path lets UDP through where TCP is dropped. Silence proves nothing,
since most UDP services ignore a stray datagram: it is recorded as ``timeout``.

The socket is connected, so an ICMP port-unreachable comes back as ECONNREFUSED.
"""

from __future__ import annotations

import asyncio
import socket

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import Stopwatch, describe_exception, probe_fact

PAYLOAD = b"whynet udp probe\n"


async def _exchange(ip: str, port: int, wait: float) -> str:
    """Send the datagram and wait for an answer on the event loop (no thread: fifty targets
    behind a silent drop must not queue for a thread pool)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect((ip, port))
        sock.send(PAYLOAD)
        try:
            await asyncio.wait_for(loop.sock_recv(sock, 2048), wait)
        except asyncio.TimeoutError:
            return O.TIMEOUT
        except ConnectionRefusedError:
            return O.REFUSED
        return O.REPLY


async def probe_udp(target: str, ip: str, port: int, timeout: float) -> Fact:
    watch = Stopwatch()
    wait = max(0.2, min(1.5, timeout / 2))
    error: str | None = None
    try:
        outcome = await _exchange(ip, port, wait)
    except OSError as exc:
        outcome, error = O.ERROR, describe_exception(exc)
    if outcome == O.TIMEOUT:
        error = f"no UDP answer within {wait:g}s (most UDP services ignore a stray datagram)"
    return probe_fact(
        "probe_udp", f"probe_udp:{target}:{ip}:{port}", f"udp datagram to {ip}:{port}",
        target=target, layer="transport", outcome=outcome, elapsed_ms=watch.ms(), error=error,
        ip=ip, port=port,
    )
