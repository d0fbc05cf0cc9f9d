"""A path-MTU black hole: full-size segments vanish on the way, small ones pass (X11).

A link on the path carries less than this host's MTU (a tunnel, PPPoE, a VPN). Path MTU
discovery depends on the router before that link answering an oversized packet with ICMP
"fragmentation needed" (IPv4) or "packet too big" (IPv6); when a firewall drops that ICMP,
neither end ever learns the smaller size. The TCP handshake (small packets) works, and the
first flight that fills a segment (a TLS server's certificates, a large page) never arrives:
the connection hangs exactly like a service that never speaks.

Run when a TLS handshake got no answer over a TCP connection that opened, it repeats the
handshake twice at once, each bounded by the timeout, without root:

* with this host's default MSS (what the failed handshake had), and
* with the MSS clamped by ``TCP_MAXSEG`` before ``connect`` (:data:`CLAMPED_MSS`: 536 for IPv4,
  the size every IPv4 host must accept, 1220 for IPv6, its 1280-byte minimum MTU): the SYN then
  advertises the small MSS and the server sends only small segments.

``black_hole``: the clamped handshake completes and the default one stalls. ``timeout``: both
stall (the server never speaks, whatever the size: a tarpit, not the MTU). ``tls_ok``: both
complete now (no black hole, or it healed). Evidence read on the stalled connection just
before giving up: ``TCP_INFO`` (the MSS advertised, ``tcpi_advmss``; the bytes received) and
``IP_MTU``/``IPV6_MTU`` (the path MTU the kernel knows for the address: still the full size,
since no ICMP came back). The packet that vanished is the socket's path MTU (``tcpi_pmtu``), and
the MSS its SYN announced that less the IP and TCP headers.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import Stopwatch, describe_exception, host_for_url, probe_fact
from engine.probes.context import ProbeContext
from engine.probes.target import Target
from engine.probes.tcp import family_of
from engine.probes.tls import unverified_context

CLAMPED_MSS: dict[int, int] = {socket.AF_INET: 536, socket.AF_INET6: 1220}
HEADERS: dict[int, int] = {socket.AF_INET: 40, socket.AF_INET6: 60}  # IP + TCP headers without options
IP_MTU = getattr(socket, "IP_MTU", 14)
IPV6_MTU = getattr(socket, "IPV6_MTU", 24)
SAMPLE_MARGIN = 0.05  # s before the deadline at which the stalled connection is read


@dataclass(frozen=True)
class TcpInfo:
    """The fields of Linux ``struct tcp_info`` this probe reads (``advmss`` is the payload of a
    full segment: the MSS announced less the TCP options every segment carries)."""

    state: int
    snd_mss: int
    rcv_mss: int
    pmtu: int
    advmss: int
    total_retrans: int
    bytes_received: int | None  # since Linux 4.1


def parse_tcp_info(raw: bytes) -> TcpInfo | None:
    """``getsockopt(IPPROTO_TCP, TCP_INFO)`` as Linux lays it out (include/uapi/linux/tcp.h):
    eight one-byte fields, then 32-bit counters; None when too short."""
    if len(raw) < 104:
        return None
    u32 = struct.unpack_from("=24I", raw, 8)
    received = struct.unpack_from("=Q", raw, 128)[0] if len(raw) >= 136 else None
    # offsets / 4 - 2: snd_mss 16, rcv_mss 20, pmtu 60, advmss 84, total_retrans 100
    return TcpInfo(state=raw[0], snd_mss=u32[2], rcv_mss=u32[3], pmtu=u32[13], advmss=u32[19],
                   total_retrans=u32[23], bytes_received=received)


@dataclass
class Attempt:
    outcome: str
    elapsed_ms: int
    error: str | None = None
    info: TcpInfo | None = None
    kernel_mtu: int | None = None


def _read_socket(sock: socket.socket | None) -> tuple[TcpInfo | None, int | None]:
    if sock is None or sock.fileno() < 0:
        return None, None
    info, mtu = None, None
    try:
        info = parse_tcp_info(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256))
    except OSError:
        pass
    try:
        if sock.family == socket.AF_INET6:
            mtu = sock.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU)
        else:
            mtu = sock.getsockopt(socket.IPPROTO_IP, IP_MTU)
    except OSError:
        pass
    return info, mtu


async def attempt(ip: str, port: int, server_name: str, timeout: float,
                  mss: int | None = None) -> Attempt:
    """A TCP connect and a TLS handshake (certificates not checked), MSS clamped when asked;
    the connection is read just before the timeout if it stalls."""
    watch = Stopwatch()
    family = family_of(ip)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        if mss is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        await asyncio.wait_for(loop.sock_connect(sock, (ip, port)), timeout)
    except asyncio.TimeoutError:
        sock.close()
        return Attempt(O.TIMEOUT, watch.ms(), f"tcp connect: no answer within {timeout:g}s")
    except OSError as exc:
        sock.close()
        return Attempt(O.ERROR, watch.ms(), f"tcp connect: {describe_exception(exc)}")
    shake = asyncio.ensure_future(asyncio.open_connection(
        sock=sock, ssl=unverified_context(), server_hostname=server_name,
        ssl_handshake_timeout=max(0.1, watch.remaining(timeout))))
    done, _ = await asyncio.wait({shake}, timeout=max(0.0, watch.remaining(timeout)
                                                      - SAMPLE_MARGIN))
    info, mtu = _read_socket(sock)
    if not done:
        shake.cancel()
        sock.close()
        return Attempt(O.TIMEOUT, watch.ms(), f"no TLS handshake within {timeout:g}s", info, mtu)
    try:
        _reader, writer = shake.result()
    except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
        sock.close()
        return Attempt(O.ERROR, watch.ms(), f"TLS: {describe_exception(exc)}", info, mtu)
    writer.transport.abort()
    return Attempt(O.TLS_OK, watch.ms(), None, info, mtu)


async def probe_pmtu(target: Target, ip: str, ctx: ProbeContext) -> Fact:
    """One ``probe_pmtu`` fact: the handshake at the default and at a clamped MSS, at once."""
    assert target.port is not None
    family = family_of(ip)
    clamp = CLAMPED_MSS[family]
    default, clamped = await asyncio.gather(
        attempt(ip, target.port, target.host, ctx.timeout),
        attempt(ip, target.port, target.host, ctx.timeout, mss=clamp))
    if default.outcome == O.TIMEOUT and clamped.outcome == O.TLS_OK:
        outcome, error = O.BLACK_HOLE, None
    elif default.outcome == O.TLS_OK:
        outcome, error = O.TLS_OK, None
    elif O.TIMEOUT in (default.outcome, clamped.outcome) and O.ERROR not in (
            default.outcome, clamped.outcome):
        outcome, error = O.TIMEOUT, "the handshake stalled at the small segment size too"
    else:
        outcome, error = O.ERROR, default.error or clamped.error
    info = default.info
    header = HEADERS[family]
    # The full-size packet is the socket's path MTU; the SYN announced that less the headers
    # (tcpi_advmss is smaller by the TCP options each segment carries, timestamps: 12 bytes).
    full = info.pmtu if info is not None and info.pmtu else None
    advertised = full - header if full else None
    return probe_fact(
        "probe_pmtu", f"probe_pmtu:{target.raw}:{ip}:{target.port}",
        f"tls handshake {host_for_url(ip)}:{target.port} at the default and a {clamp}-byte MSS",
        target=target.raw, layer="route", outcome=outcome,
        elapsed_ms=max(default.elapsed_ms, clamped.elapsed_ms), error=error, ip=ip,
        port=target.port, family=4 if family == socket.AF_INET else 6,
        default_outcome=default.outcome, clamped_outcome=clamped.outcome,
        default_error=default.error, clamped_mss=clamp,
        passed_packet=clamp + header if clamped.outcome == O.TLS_OK else None,
        lost_packet=full if outcome == O.BLACK_HOLE else None,
        advertised_mss=advertised,
        default_bytes_received=info.bytes_received if info is not None else None,
        kernel_path_mtu=default.kernel_mtu,
    )
