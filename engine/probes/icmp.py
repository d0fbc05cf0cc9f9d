"""One ICMP echo (ping) to an address (checklist B4).

What it proves, and what not: a reply shows the host is up and ICMP passes both ways. It says
nothing about any TCP or UDP port (ICMP has no ports): ``reply`` with TCP 443 ``timeout`` is a
filtered port, and a ``timeout`` here with TCP ``open`` is ICMP filtered on the way.

How, without root: an unprivileged ``SOCK_DGRAM``/``IPPROTO_ICMP`` "ping socket", which Linux
allows when one of the user's groups is inside ``net.ipv4.ping_group_range`` (``1 0``, the
default on many systems, allows nobody; root included). Else a raw socket, which needs root or
CAP_NET_RAW. Else outcome ``not_possible``, ``method: none``, and the error says both reasons.
"""

from __future__ import annotations

import asyncio
import errno as _errno
import os
import random
import socket
import struct
import time
from dataclasses import dataclass

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import Stopwatch, describe_exception, probe_fact
from engine.probes.context import ProbeContext
from engine.probes.sockerr import enable_recverr, icmp_error_name, read_queued_error
from engine.probes.tcp import family_of

ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
_UNREACH_TYPES: dict[int, set[int]] = {socket.AF_INET: {3, 11}, socket.AF_INET6: {1, 3}}
_LOCAL_FAILURES = frozenset({_errno.ENETUNREACH, _errno.EHOSTUNREACH, _errno.EACCES,
                             _errno.EPERM, _errno.EINVAL})
_PROTO: dict[int, int] = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}


@dataclass
class PingResult:
    outcome: str
    method: str
    rtt_ms: int | None = None
    error: str | None = None
    icmp: str | None = None
    icmp_from: str | None = None


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST[family], 0, 0, ident, seq)
    if family == socket.AF_INET6:  # the kernel computes ICMPv6 checksums
        return header + payload
    return struct.pack("!BBHHH", ECHO_REQUEST[family], 0, checksum(header + payload), ident,
                       seq) + payload


def open_icmp_socket(family: int) -> tuple[socket.socket | None, str, str | None]:
    """(socket, method, why not) trying the ping socket first, then a raw socket."""
    proto = _PROTO[family]
    try:
        return socket.socket(family, socket.SOCK_DGRAM, proto), "dgram", None
    except OSError as exc:
        dgram_error = describe_exception(exc)
    try:
        return socket.socket(family, socket.SOCK_RAW, proto), "raw", None
    except OSError as exc:
        raw_error = describe_exception(exc)
    return None, "none", f"ping socket: {dgram_error}; raw socket: {raw_error}"


def ping(ip: str, timeout: float, group_range: str | None = None) -> PingResult:
    """:func:`ping_async` for callers without an event loop."""
    return asyncio.run(ping_async(ip, timeout, group_range))


async def ping_async(ip: str, timeout: float, group_range: str | None = None) -> PingResult:
    """One echo request and the wait for its reply, on the event loop (no thread)."""
    family = family_of(ip)
    sock, method, why = open_icmp_socket(family)
    if sock is None:
        return PingResult(O.NOT_POSSIBLE, "none", error=_not_possible_text(why, group_range))
    with sock:
        sock.setblocking(False)
        if method == "dgram":
            # Ping sockets get only their own errors. A raw socket must not ask: unbound, it
            # would be handed the errors of every other raw socket's echo; it reads the ICMP
            # error packets themselves instead (and checks they quote its own echo).
            enable_recverr(sock)
        ident, seq = os.getpid() & 0xFFFF, random.getrandbits(16)
        start = time.monotonic()
        try:
            sock.sendto(echo_request(family, ident, seq, b"whynet-ping"), (ip, 0))
        except OSError as exc:
            return _send_failure(exc, method, sock)
        return await _await_reply(sock, family, method, ip, ident, seq, start, timeout)


async def _await_reply(sock: socket.socket, family: int, method: str, ip: str, ident: int,
                       seq: int, start: float, timeout: float) -> PingResult:
    deadline = start + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            await asyncio.wait_for(_readable(sock), left)
        except asyncio.TimeoutError:
            break
        try:
            data, addr = sock.recvfrom(2048)
        except BlockingIOError:
            continue
        except OSError as exc:
            return _send_failure(exc, method, sock)
        verdict = _read_packet(data, family, method, ip, ident, seq, addr[0])
        if verdict is not None:
            if verdict.outcome == O.REPLY:
                verdict.rtt_ms = int((time.monotonic() - start) * 1000)
            return verdict
    return PingResult(O.TIMEOUT, method, error=f"no echo reply within {timeout:g}s")


async def _readable(sock: socket.socket) -> None:
    """Wait until ``sock`` has something to read (a packet or a pending error)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


def _read_packet(data: bytes, family: int, method: str, ip: str, ident: int, seq: int,
                 sender: str) -> PingResult | None:
    """The verdict a received packet gives, or None when it is not about our echo."""
    if family == socket.AF_INET and method == "raw":
        data = data[(data[0] & 0x0F) * 4:]
    if len(data) < 8:
        return None
    icmp_type, code = data[0], data[1]
    _, _, _, got_ident, got_seq = struct.unpack("!BBHHH", data[:8])
    if icmp_type == ECHO_REPLY[family]:
        ours = got_seq == seq and (method == "dgram" or got_ident == ident)
        return PingResult(O.REPLY, method) if ours and _same_ip(sender, ip) else None
    if icmp_type in _UNREACH_TYPES[family] and _quotes_our_echo(data[8:], family, ip):
        name = icmp_error_name("icmp" if family == socket.AF_INET else "icmp6", icmp_type, code)
        return PingResult(O.UNREACHABLE, method, error=f"ICMP {name} from {sender}", icmp=name,
                          icmp_from=sender)
    return None


def _quotes_our_echo(quoted: bytes, family: int, ip: str) -> bool:
    """An ICMP error quotes the packet it is about: was it our echo to ``ip``?"""
    if family == socket.AF_INET:
        if len(quoted) < 20:
            return False
        return socket.inet_ntop(socket.AF_INET, quoted[16:20]) == ip
    return len(quoted) >= 40 and _same_ip(socket.inet_ntop(socket.AF_INET6, quoted[24:40]), ip)


def _send_failure(exc: OSError, method: str, sock: socket.socket) -> PingResult:
    queued = read_queued_error(sock)
    if queued is not None and queued.name is not None:
        return PingResult(O.UNREACHABLE, method, error=f"ICMP {queued.name} from {queued.offender}",
                          icmp=queued.name, icmp_from=queued.offender)
    if exc.errno in _LOCAL_FAILURES:
        return PingResult(O.UNREACHABLE, method, error=describe_exception(exc))
    return PingResult(O.ERROR, method, error=describe_exception(exc))


def _same_ip(a: str, b: str) -> bool:
    return a.split("%")[0] == b.split("%")[0]


def _not_possible_text(why: str | None, group_range: str | None) -> str:
    gids = sorted({os.getgid(), *os.getgroups()})
    return (f"cannot send ICMP here: unprivileged ping needs a group in "
            f"net.ipv4.ping_group_range (now {group_range!r}, this user's groups {gids}); "
            f"a raw socket needs root or CAP_NET_RAW ({why})")


async def probe_icmp(target: str, ip: str, ctx: ProbeContext) -> Fact:
    """One ``probe_icmp`` fact for ``ip``."""
    watch = Stopwatch()
    group_range = ctx.sysctl("net.ipv4.ping_group_range")
    result = await ping_async(ip, ctx.timeout, group_range)
    return probe_fact(
        "probe_icmp", f"probe_icmp:{target}:{ip}", f"icmp echo {ip}", target=target,
        layer="route", outcome=result.outcome, elapsed_ms=watch.ms(), error=result.error, ip=ip,
        method=result.method, rtt_ms=result.rtt_ms, icmp=result.icmp, icmp_from=result.icmp_from,
    )
