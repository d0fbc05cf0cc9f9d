"""The public address the world sees, from a STUN server the user names (checklist N3).

A STUN Binding request (RFC 5389) over UDP: the server answers with the source address and
port it saw (XOR-MAPPED-ADDRESS; MAPPED-ADDRESS from older servers). When that differs from the
socket's own address, something on the way translates (NAT).

The same request is also sent with IP TTLs 1..:data:`MAX_HOPS`, all at once, each on its own
socket with ``IP_RECVERR``: every router whose TTL expires answers with an ICMP time-exceeded
that the kernel queues with the router's address (no root needed). That lists the routers on
the way out: one in 100.64.0.0/10 (RFC 6598 shared address space) means carrier-grade NAT;
two or more with private addresses before the public internet suggest double NAT.

Nothing is sent unless the user names a server (``--stun HOST[:PORT]`` or ``WHYNET_STUN``); the
whole probe is bounded by the timeout. IPv4 only: NAT is an IPv4 matter.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import select
import socket
import struct
import time
from dataclasses import dataclass, field

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import Stopwatch, describe_exception, in_daemon_thread, probe_fact
from engine.probes.sockerr import enable_recverr, read_queued_error

DEFAULT_PORT = 3478
MAX_HOPS = 8
MAGIC = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS = 0x0001, 0x0101
MAPPED_ADDRESS, XOR_MAPPED_ADDRESS = 0x0001, 0x0020
SHARED = ipaddress.ip_network("100.64.0.0/10")


class StunError(ValueError):
    """A server given as something other than HOST or HOST:PORT."""


def parse_server(text: str) -> tuple[str, int]:
    """``stun.example.org``, ``stun.example.org:3478``, ``192.0.2.1:3478``."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = text.strip(), str(DEFAULT_PORT)
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise StunError(f"STUN server {text!r}: expected HOST or HOST:PORT")
    return host, int(port_text)


def binding_request(transaction: bytes) -> bytes:
    return struct.pack("!HHI", BINDING_REQUEST, 0, MAGIC) + transaction


def parse_binding_response(data: bytes, transaction: bytes) -> tuple[str, int] | None:
    """The mapped (address, port) of a Binding success response to ``transaction``."""
    if len(data) < 20:
        return None
    kind, length, magic = struct.unpack_from("!HHI", data)
    if kind != BINDING_SUCCESS or magic != MAGIC or data[8:20] != transaction:
        return None
    plain: tuple[str, int] | None = None
    pos, end = 20, min(len(data), 20 + length)
    while pos + 4 <= end:
        attr, size = struct.unpack_from("!HH", data, pos)
        value = data[pos + 4:pos + 4 + size]
        pos += 4 + size + (-size % 4)
        if len(value) < 8 or value[1] != 1:  # family 1: IPv4
            continue
        port = struct.unpack_from("!H", value, 2)[0]
        if attr == XOR_MAPPED_ADDRESS:
            ip = bytes(a ^ b for a, b in zip(value[4:8], struct.pack("!I", MAGIC), strict=True))
            return socket.inet_ntoa(ip), port ^ (MAGIC >> 16)
        if attr == MAPPED_ADDRESS:
            plain = socket.inet_ntoa(value[4:8]), port
    return plain


@dataclass
class Exchange:
    local: tuple[str, int] | None = None
    mapped: tuple[str, int] | None = None
    hops: dict[int, str] = field(default_factory=dict)  # TTL -> router that answered
    reached_at: int | None = None  # the smallest TTL whose request the server answered
    error: str | None = None


def exchange(ip: str, port: int, wait: float) -> Exchange:
    """Blocking: the Binding request (resent twice) and the TTL-limited copies, all at once."""
    result = Exchange()
    sockets: dict[socket.socket, tuple[int | None, bytes]] = {}
    try:
        for ttl in [None, *range(1, MAX_HOPS + 1)]:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            if ttl is not None:
                enable_recverr(sock)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sock.connect((ip, port))
            transaction = os.urandom(12)
            sockets[sock] = (ttl, transaction)
            sock.send(binding_request(transaction))
        main = next(iter(sockets))
        result.local = main.getsockname()[:2]
        deadline = time.monotonic() + wait
        resend = [time.monotonic() + wait / 4, time.monotonic() + wait / 2]
        while (left := deadline - time.monotonic()) > 0:
            if resend and time.monotonic() >= resend[0]:
                resend.pop(0)
                if result.mapped is None:
                    main.send(binding_request(sockets[main][1]))
            readable, _, errored = select.select(list(sockets), [], list(sockets),
                                                 min(left, wait / 4))
            for sock in {*readable, *errored}:
                _take(sock, sockets, result)
            if _complete(result):
                break
    except OSError as exc:
        result.error = describe_exception(exc)
    finally:
        for sock in sockets:
            sock.close()
    return result


def _complete(result: Exchange) -> bool:
    """The answer is in, and every router before the server has said who it is."""
    reached = result.reached_at
    return (result.mapped is not None and reached is not None
            and all(t in result.hops for t in range(1, reached)))


def _take(sock: socket.socket, sockets: dict[socket.socket, tuple[int | None, bytes]],
          result: Exchange) -> None:
    ttl, transaction = sockets[sock]
    queued = read_queued_error(sock)
    if queued is not None and ttl is not None and queued.offender:
        if queued.name == "time-exceeded":
            result.hops[ttl] = queued.offender
        return
    try:
        data = sock.recv(2048)
    except OSError:
        return
    mapped = parse_binding_response(data, transaction)
    if mapped is None:
        return
    if ttl is None:
        result.mapped = mapped
    elif result.reached_at is None or ttl < result.reached_at:
        result.reached_at = ttl
        result.mapped = result.mapped or mapped


def _category(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    if addr in SHARED:
        return "shared"
    return "private" if addr.is_private else "public"


async def probe_stun(server: str, timeout: float) -> Fact:
    """One ``probe_stun`` fact for the server the user named."""
    watch = Stopwatch()
    fid = f"probe_stun:{server}"
    what = f"STUN binding request to {server}"

    def fact(outcome: str, error: str | None, **fields: object) -> Fact:
        return probe_fact("probe_stun", fid, what, target=server, layer="route",
                          outcome=outcome, elapsed_ms=watch.ms(), error=error, server=server,
                          **fields)

    try:
        host, port = parse_server(server)
        infos = await asyncio.wait_for(in_daemon_thread(
            socket.getaddrinfo, host, port, socket.AF_INET, socket.SOCK_DGRAM), timeout)
        ip = str(infos[0][4][0])
    except StunError as exc:
        return fact(O.ERROR, str(exc))
    except (OSError, asyncio.TimeoutError, IndexError) as exc:
        return fact(O.ERROR, f"cannot resolve the STUN server: {describe_exception(exc)}")
    ex = await asyncio.wait_for(asyncio.to_thread(exchange, ip, port, watch.remaining(timeout)),
                                timeout + 1.0)
    hops = [ex.hops.get(t, "*") for t in range(1, (ex.reached_at or MAX_HOPS + 1))]
    while hops and hops[-1] == "*":
        hops.pop()
    known = [h for h in hops if h != "*"]
    first_public = next((i for i, h in enumerate(known) if _category(h) == "public"), len(known))
    inside = known[:first_public]  # routers before the public internet
    rfc1918_hops = [h for h in inside if _category(h) == "private"]
    shared_hops = [h for h in inside if _category(h) == "shared"]
    common = {"ip": ip, "port": port, "hops": hops,
              "rfc1918_hops": rfc1918_hops, "shared_hops": shared_hops,
              "local_ip": ex.local[0] if ex.local else None,
              "local_port": ex.local[1] if ex.local else None}
    if ex.error is not None:
        return fact(O.ERROR, ex.error, **common)
    if ex.mapped is None:
        return fact(O.TIMEOUT, f"no STUN answer from {ip}:{port} (UDP) within "
                               f"{timeout:g}s", **common)
    public_ip, public_port = ex.mapped
    local_ip = ex.local[0] if ex.local else None
    translated = (public_ip, public_port) != ex.local
    cgnat = bool(shared_hops) or any(
        ipaddress.ip_address(a) in SHARED for a in (public_ip, local_ip) if a)
    return fact(O.MAPPED, None, public_ip=public_ip, public_port=public_port,
                translated=translated, public_ip_not_global=_category(public_ip) != "public",
                cgnat=cgnat,
                double_nat=translated and not cgnat and len(rfc1918_hops) >= 2,
                **common)
