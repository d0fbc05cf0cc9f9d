"""A path-MTU black hole: full-size segments vanish on the way, small ones pass (X11).

A link on the path carries less than this host's MTU (a tunnel, PPPoE, a VPN). Path MTU
discovery depends on the router before that link answering an oversized packet with ICMP
"fragmentation needed" (IPv4) or "packet too big" (IPv6); when a firewall drops that ICMP,
neither end ever learns the smaller size. The TCP handshake (small packets) works, and the
first flight that fills a segment (a TLS server's certificates, a large page) never arrives:
the connection hangs exactly like a service that never speaks.

The check needs something large to come back, so it depends on what the target speaks
(``exchange`` in the fact). Each exchange runs twice at once, each bounded by the timeout,
without root:

* with this host's default MSS, and
* with the MSS clamped by ``TCP_MAXSEG`` before ``connect`` (:data:`CLAMPED_MSS`: 536 for IPv4,
  the size every IPv4 host must accept, 1220 for IPv6, its 1280-byte minimum MTU): the SYN then
  advertises the small MSS and the server sends only small segments.

``tls_handshake`` (a TLS target whose handshake got no answer over a TCP connection that
opened): the server's certificate flight is the large answer. ``black_hole``: the clamped
handshake completes and the default one stalls; ``timeout``: both stall (the server never
speaks, whatever the size: a tarpit, not the MTU); ``tls_ok``: both complete now.

``http_get`` (an ``http://`` target reached directly): ``GET`` of the target's path, reading
the answer to its end (at most :data:`ANSWER_CAP` bytes), alongside the HTTP probe. Most
servers write the head and the first part of the body in one go, so the head itself travels
in a full-size segment and never comes; others send the head alone and the body stalls.
``http_ok``: the answer arrived at the default size, in segments larger than the clamped size
(the clamped exchange is then dropped); ``black_hole``: the default exchange stalls, the
clamped one gets the whole answer, and that answer is larger than one full-size segment (it
needed them); ``inconclusive``: the answer came in small segments only (too small to tell
whether large ones pass), or a stall that an answer this small cannot explain; ``timeout``:
both stall.

The other direction rides along: the same GET padded by a :data:`UPLOAD_PADDING`-byte header
fills full-size segments *from this host*, at both sizes at once, and is read only until the
server reacts (a byte, or closing). When the plain GET came back at the default size, the padded
one got no reaction at the default size and did at the clamped one, this host's full-size
packets are what vanish (the ICMP is dropped on the way back to this host): ``black_hole``
with ``direction`` ``upload`` (else ``download``). Any large request is lost there: a form
post, an upload, a ``git push``. (A server that has lately learned the smaller path MTU toward
this host, by PMTUD on its own packets, announces a smaller MSS in its SYN-ACK for as long as
it remembers, about ten minutes on Linux; this host's packets then fit, uploads do work
meanwhile, and the check rightly sees none.)

``https_get`` (an ``https://`` target reached directly whose handshake completed): a small
certificate flight (an ECDSA certificate, a short chain) fits in one segment below the path
MTU, so the handshake passes a black hole and the page then stalls. When the handshake at the
default MSS already brought a full-size segment (``tcpi_rcv_mss`` up to ``tcpi_advmss``), it
proved them: ``tls_ok``, nothing more sent. Otherwise the ``http_get`` exchange follows over
that TLS connection, with the same outcomes; its clamped twin starts only then, within the same
deadline, so a healthy site whose handshake is large costs one handshake alongside the HTTP
probe.

The upload direction over TLS: a ClientHello is a few hundred bytes, so the handshake passes a
black hole in this host's direction as it passes one in the server's, and the large requests
after it hang. Alongside, the padded GET goes over its own TLS connection at the default MSS,
read until the server reacts; its clamped twin starts only when that one has gone
:data:`UPLOAD_TWIN_AFTER` of the timeout without a reaction, and shares its deadline (a healthy
server reacts long before: one more handshake and request, no twin). ``black_hole`` with
``direction`` ``upload`` as for ``http://``; the download side may be a handshake that brought
a full-size segment instead of the plain GET. An answer of any status (a ``431`` refusing the
long header) is a reaction: the request arrived. No reaction at either size is no black hole
(the server ignores such requests, whatever their segments): ``upload_outcome`` and
``upload_clamped_outcome`` ``timeout``, no finding.

``none`` (any other port reached directly: a database, SSH, a raw TCP service): whynet does not
speak the protocol, and whatever a server-first protocol says on its own (a banner) is short,
so nothing large can be asked for: ``not_possible``, recorded rather than guessed.

Evidence read on the stalled connection just before giving up: ``TCP_INFO`` (the MSS advertised,
``tcpi_advmss``; the largest segment received, ``tcpi_rcv_mss``; the bytes received) and
``IP_MTU``/``IPV6_MTU`` (the path MTU the kernel knows for the address: still the full size,
since no ICMP came back). The packet that vanished is the socket's path MTU (``tcpi_pmtu``), and
the MSS its SYN announced that less the IP and TCP headers.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import (
    Stopwatch,
    cancel_and_wait,
    describe_exception,
    host_for_url,
    probe_fact,
)
from engine.probes.context import ProbeContext
from engine.probes.http import parse_head, request_bytes
from engine.probes.target import Target
from engine.probes.tcp import family_of
from engine.probes.tls import unverified_context

T = TypeVar("T")

CLAMPED_MSS: dict[int, int] = {socket.AF_INET: 536, socket.AF_INET6: 1220}
HEADERS: dict[int, int] = {socket.AF_INET: 40, socket.AF_INET6: 60}  # IP + TCP headers without options
IP_MTU = getattr(socket, "IP_MTU", 14)
IPV6_MTU = getattr(socket, "IPV6_MTU", 24)
SAMPLE_MARGIN = 0.05  # s before the deadline at which the stalled connection is read
ANSWER_CAP = 16 * 1024  # bytes of an HTTP answer read: a dozen full-size segments
UPLOAD_PADDING = 4000  # bytes of padding header: a request of three segments or more
UPLOAD_TWIN_AFTER = 0.5  # of the timeout without a reaction to the padded request over TLS
TLS_HANDSHAKE, HTTP_GET, HTTPS_GET = "tls_handshake", "http_get", "https_get"
NO_EXCHANGE = "none"
GET_EXCHANGES = frozenset({HTTP_GET, HTTPS_GET})
DOWNLOAD, UPLOAD = "download", "upload"


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
    received: int = 0  # bytes of the answer read (HTTP)
    large_segments: bool = False  # segments larger than the clamped size arrived (HTTP)


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


async def _connect(ip: str, port: int, timeout: float, mss: int | None
                   ) -> socket.socket | Attempt:
    """A non-blocking TCP socket connected to ``ip:port`` (MSS clamped when asked), or the
    failed :class:`Attempt`."""
    watch = Stopwatch()
    sock = socket.socket(family_of(ip), socket.SOCK_STREAM)
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
    except asyncio.CancelledError:
        sock.close()
        raise
    return sock


async def attempt(ip: str, port: int, server_name: str, timeout: float,
                  mss: int | None = None) -> Attempt:
    """A TCP connect and a TLS handshake (certificates not checked), MSS clamped when asked;
    the connection is read just before the timeout if it stalls."""
    watch = Stopwatch()
    sock = await _connect(ip, port, timeout, mss)
    if isinstance(sock, Attempt):
        return sock
    shake = asyncio.ensure_future(asyncio.open_connection(
        sock=sock, ssl=unverified_context(), server_hostname=server_name,
        ssl_handshake_timeout=max(0.1, watch.remaining(timeout))))
    try:
        done, _ = await asyncio.wait({shake}, timeout=max(0.0, watch.remaining(timeout)
                                                          - SAMPLE_MARGIN))
        info, mtu = _read_socket(sock)
        if not done:
            return Attempt(O.TIMEOUT, watch.ms(), f"no TLS handshake within {timeout:g}s", info,
                           mtu)
        try:
            _reader, writer = shake.result()
        except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
            return Attempt(O.ERROR, watch.ms(), f"TLS: {describe_exception(exc)}", info, mtu)
        writer.transport.abort()
        return Attempt(O.TLS_OK, watch.ms(), None, info, mtu)
    finally:
        await cancel_and_wait(shake)
        sock.close()


def answer_complete(answer: bytes) -> bool:
    """Whether an HTTP/1.1 answer read so far has ended by its own framing (``Content-Length``
    bytes of body, or the last chunk), for a server that keeps the connection open although
    asked to close it. Without either, only the server closing ends it.

    >>> answer_complete(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    True
    >>> answer_complete(b"HTTP/1.1 200 OK\\r\\nContent-Length: 20\\r\\n\\r\\nok")
    False
    """
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    try:
        headers = parse_head(head)[3]
    except ValueError:  # not HTTP: only the server closing ends it
        return False
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return body.endswith(b"0\r\n\r\n") and (body == b"0\r\n\r\n"
                                                  or body.endswith(b"\r\n0\r\n\r\n"))
    length = headers.get("content-length", "")
    return length.isdigit() and len(body) >= int(length)


async def http_attempt(ip: str, port: int, request: bytes, timeout: float,
                       mss: int | None = None, *, first_byte: bool = False,
                       server_name: str | None = None,
                       small_handshake: asyncio.Event | None = None) -> Attempt:
    """A TCP connect and ``request``, then the answer read to its end (or
    :data:`ANSWER_CAP` bytes; with ``first_byte``, only until the server reacts at all: a
    byte, or closing). ``http_ok``: over; ``timeout``: the answer stalled (the connection is
    read just before the timeout).

    With ``server_name``, over TLS (certificates not checked). With ``small_handshake`` too,
    a handshake that already brought a full-size segment settles the question alone:
    ``tls_ok`` with ``large_segments``, no request sent; else the event is set (the GET
    follows, and its clamped twin may start)."""
    watch = Stopwatch()
    sock = await _connect(ip, port, timeout, mss)
    if isinstance(sock, Attempt):
        return sock
    answer = bytearray()
    writers: list[asyncio.StreamWriter] = []
    sampled: list[Any] = [None, None]  # TCP_INFO and path MTU after the last chunk read
    before_request = [0]  # the largest segment received before the request (the handshake's)
    clamp = CLAMPED_MSS[sock.family]

    async def exchange() -> bool:
        """True when the handshake alone showed full-size segments pass."""
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=unverified_context() if server_name else None,
            server_hostname=server_name)
        writers.append(writer)
        shaken, _ = _read_socket(sock)
        before_request[0] = shaken.rcv_mss if shaken is not None else 0
        if small_handshake is not None:
            # tcpi_rcv_mss grows to the largest segment received, up to tcpi_advmss (a full
            # segment's payload): at advmss a full-size segment came, nothing larger can.
            if shaken is not None and mss is None and shaken.rcv_mss >= shaken.advmss > 0:
                return True
            small_handshake.set()
        writer.write(request)
        await writer.drain()
        while len(answer) < ANSWER_CAP and not answer_complete(bytes(answer)):
            chunk = await reader.read(ANSWER_CAP)
            if not chunk:
                break
            answer.extend(chunk)
            # Read while the socket is open: a TLS transport closes it on the server's EOF.
            sampled[:] = _read_socket(sock)
            if first_byte:
                break
        return False

    job = asyncio.ensure_future(exchange())
    try:
        done, _ = await asyncio.wait({job}, timeout=max(0.0, watch.remaining(timeout)
                                                        - SAMPLE_MARGIN))
        info, mtu = _read_socket(sock)
        if info is None:
            info, mtu = sampled
        if not done:
            return Attempt(O.TIMEOUT, watch.ms(), f"the HTTP answer stalled after {len(answer)} "
                           f"bytes (no more within {timeout:g}s)", info, mtu, len(answer))
        try:
            proved_by_handshake = job.result()
        except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
            return Attempt(O.ERROR, watch.ms(), f"http: {describe_exception(exc)}", info, mtu,
                           len(answer))
        # tcpi_rcv_mss: the largest in-order segment received (it starts at 536). Above the
        # clamped size, segments larger than the clamped exchange's passed, if the answer
        # brought them: it grew while the answer came, or the answer is larger than it (it
        # filled such segments). Over TLS the handshake may have brought the largest one, and
        # a short answer after it proves nothing.
        large = (info is not None and mss is None and info.rcv_mss > clamp
                 and (info.rcv_mss > before_request[0] or len(answer) > info.rcv_mss))
        return Attempt(O.TLS_OK if proved_by_handshake else O.HTTP_OK, watch.ms(), None, info,
                       mtu, len(answer), large)
    finally:
        await cancel_and_wait(job)
        for writer in writers:
            writer.transport.abort()
        sock.close()


async def https_get_after_handshake(ip: str, port: int, request: bytes, server_name: str,
                                    timeout: float, clamp: int
                                    ) -> tuple[Attempt, Attempt | None]:
    """The GET over TLS at the default MSS; its clamped twin starts only once the default
    handshake has come in small segments (a handshake that carried a full-size one needs no
    twin and no GET), and shares the default exchange's deadline."""
    watch = Stopwatch()
    small = asyncio.Event()
    default_task = asyncio.ensure_future(http_attempt(
        ip, port, request, timeout, server_name=server_name, small_handshake=small))
    signal = asyncio.ensure_future(small.wait())
    try:
        await asyncio.wait({default_task, signal}, return_when=asyncio.FIRST_COMPLETED)
        if not small.is_set():
            return await default_task, None
        return await _both(default_task, http_attempt(
            ip, port, request, max(0.1, watch.remaining(timeout)), mss=clamp,
            server_name=server_name), HTTPS_GET)
    finally:
        await cancel_and_wait(signal, default_task)


async def upload_after_silence(ip: str, port: int, padded: bytes, server_name: str,
                               timeout: float, clamp: int) -> tuple[Attempt, Attempt | None]:
    """The padded request over TLS at the default MSS, read until the server reacts; its
    clamped twin starts only once that one has gone :data:`UPLOAD_TWIN_AFTER` of the timeout
    without a reaction, and shares its deadline. A healthy server reacts long before, so a
    healthy site costs one handshake and one request alongside the HTTP probe."""
    watch = Stopwatch()
    default_task = asyncio.ensure_future(http_attempt(
        ip, port, padded, timeout, first_byte=True, server_name=server_name))
    try:
        done, _ = await asyncio.wait({default_task}, timeout=timeout * UPLOAD_TWIN_AFTER)
        if done:
            return default_task.result(), None
        return await _both(default_task, http_attempt(
            ip, port, padded, max(0.1, watch.remaining(timeout)), mss=clamp, first_byte=True,
            server_name=server_name), UPLOAD)
    finally:
        await cancel_and_wait(default_task)


def _verdict(default: Attempt, clamped: Attempt | None, exchange: str
             ) -> tuple[str, str | None]:
    """The probe's outcome and error from its two exchanges (see the module docstring)."""
    done = O.TLS_OK if exchange == TLS_HANDSHAKE else O.HTTP_OK
    if exchange in GET_EXCHANGES and default.outcome in (O.HTTP_OK, O.TLS_OK):
        if default.large_segments:  # tls_ok: the handshake alone showed it
            return default.outcome, None
        return O.INCONCLUSIVE, (f"the answer ({default.received} bytes) came in small segments "
                                "only: too small to tell whether full-size ones pass")
    if default.outcome == done:
        return done, None
    clamped_outcome = clamped.outcome if clamped is not None else None
    if default.outcome == O.TIMEOUT and clamped is not None and clamped_outcome == done:
        if exchange == TLS_HANDSHAKE:
            return O.BLACK_HOLE, None
        payload = default.info.advmss if default.info is not None else 0
        if clamped.received > default.received and clamped.received > payload > 0:
            return O.BLACK_HOLE, None
        return O.INCONCLUSIVE, (f"the answer stalled at the default segment size, but the "
                                f"whole answer ({clamped.received} bytes) fits in one "
                                "full-size segment: the segment size cannot explain it")
    if O.TIMEOUT in (default.outcome, clamped_outcome) and O.ERROR not in (
            default.outcome, clamped_outcome):
        what = "handshake" if exchange == TLS_HANDSHAKE else "answer"
        return O.TIMEOUT, f"the {what} stalled at the small segment size too"
    return O.ERROR, default.error or (clamped.error if clamped is not None else None)


async def _both(default_job: Awaitable[Attempt], clamped_job: Awaitable[Attempt],
                exchange: str) -> tuple[Attempt, Attempt | None]:
    """Both exchanges at once; the clamped one is dropped when the default one settles the
    question alone (an HTTP answer that arrived at the default size)."""
    clamped_task = asyncio.ensure_future(clamped_job)
    try:
        default = await default_job
        if exchange != TLS_HANDSHAKE and default.outcome == O.HTTP_OK:
            return default, None
        return default, await clamped_task
    finally:
        await cancel_and_wait(clamped_task)


async def _together(*jobs: Awaitable[T]) -> list[T]:
    """The jobs at once, as ``asyncio.gather``; but when one fails, the others are cancelled
    and awaited before the error goes on (gather would leave them running)."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        await cancel_and_wait(*tasks)


def padded_request(target: Target) -> bytes:
    """The target's GET with a padding header of :data:`UPLOAD_PADDING` bytes: a request that
    fills full-size segments from this host (a header any server accepts: nginx, Apache and
    IIS take 8 KB lines; one that refuses it still answers, which is all that is asked)."""
    return request_bytes(target)[:-2] + b"X-Whynet-Padding: " + b"x" * UPLOAD_PADDING + b"\r\n\r\n"


def upload_stalls(download: Attempt, upload: Attempt, upload_clamped: Attempt | None) -> bool:
    """The upload black hole: the server's packets reach this host at the default size (the
    plain GET came back, or over TLS a handshake that brought a full-size segment), the padded
    request got no reaction at all at the default size, and one with the MSS clamped did (an
    answer of any status, an error included: the request arrived)."""
    return (download.outcome in (O.HTTP_OK, O.TLS_OK) and upload.outcome == O.TIMEOUT
            and upload.received == 0 and upload_clamped is not None
            and upload_clamped.outcome == O.HTTP_OK)


async def probe_pmtu(target: Target, ip: str, ctx: ProbeContext, *,
                     handshake_done: bool = False) -> Fact:
    """One ``probe_pmtu`` fact: the target's exchange at the default and at a clamped MSS, at
    once (a TLS handshake for a TLS target whose handshake stalled, a GET for an ``http://``
    one, a GET over TLS for an ``https://`` one whose handshake completed: ``handshake_done``);
    for any other target the ``not_possible`` record of the module docstring."""
    assert target.port is not None
    family = family_of(ip)
    clamp = CLAMPED_MSS[family]
    header = HEADERS[family]
    fid = f"probe_pmtu:{target.raw}:{ip}:{target.port}"
    common: dict[str, Any] = dict(target=target.raw, layer="route", ip=ip, port=target.port,
                                  family=4 if family == socket.AF_INET else 6, clamped_mss=clamp)
    upload_fields: dict[str, Any] = {}
    request, padded = request_bytes(target), padded_request(target)
    upload: Attempt | None = None
    upload_clamped: Attempt | None = None
    if target.tls and handshake_done:
        exchange, what = HTTPS_GET, f"https GET {target.shown_path}"
        (default, clamped), (upload, upload_clamped) = await _together(
            https_get_after_handshake(ip, target.port, request, target.host, ctx.timeout,
                                      clamp),
            upload_after_silence(ip, target.port, padded, target.host, ctx.timeout, clamp))
    elif target.tls:
        exchange, what = TLS_HANDSHAKE, "tls handshake"
        default, clamped = await _both(
            attempt(ip, target.port, target.host, ctx.timeout),
            attempt(ip, target.port, target.host, ctx.timeout, mss=clamp), exchange)
    elif target.scheme == "http":
        exchange, what = HTTP_GET, f"http GET {target.shown_path}"
        (default, clamped), (upload, upload_clamped) = await _together(
            _both(http_attempt(ip, target.port, request, ctx.timeout),
                  http_attempt(ip, target.port, request, ctx.timeout, mss=clamp), exchange),
            _both(http_attempt(ip, target.port, padded, ctx.timeout, first_byte=True),
                  http_attempt(ip, target.port, padded, ctx.timeout, mss=clamp,
                               first_byte=True), UPLOAD))
    else:
        spoken = f"its protocol ({target.scheme})" if target.scheme else "what listens there"
        return probe_fact(
            "probe_pmtu", fid, f"path MTU to {host_for_url(ip)}:{target.port}: no exchange",
            outcome=O.NOT_POSSIBLE, elapsed_ms=0, exchange=NO_EXCHANGE,
            error=(f"nothing large to ask for on port {target.port}: whynet does not speak "
                   f"{spoken}, and what a server says unasked is a short greeting"), **common)
    if upload is not None:
        if upload_stalls(default, upload, upload_clamped):
            return _upload_fact(fid, what, exchange, clamp, header, default, upload,
                                upload_clamped, len(padded), common)
        upload_fields = {"upload_request_bytes": len(padded), "upload_outcome": upload.outcome,
                         "upload_clamped_outcome": (upload_clamped.outcome
                                                    if upload_clamped is not None else None)}
    outcome, error = _verdict(default, clamped, exchange)
    info = default.info
    # The full-size packet is the socket's path MTU; the SYN announced that less the headers
    # (tcpi_advmss is smaller by the TCP options each segment carries, timestamps: 12 bytes).
    full = info.pmtu if info is not None and info.pmtu else None
    advertised = full - header if full else None
    clamped_outcome = clamped.outcome if clamped is not None else None
    return probe_fact(
        "probe_pmtu", fid,
        f"{what} {host_for_url(ip)}:{target.port} at the default and a {clamp}-byte MSS",
        outcome=outcome, elapsed_ms=max(default.elapsed_ms,
                                        clamped.elapsed_ms if clamped is not None else 0),
        error=error, exchange=exchange, direction=DOWNLOAD,
        default_outcome=default.outcome, clamped_outcome=clamped_outcome,
        default_error=default.error,
        passed_packet=clamp + header if clamped_outcome in (O.TLS_OK, O.HTTP_OK) else None,
        lost_packet=full if outcome == O.BLACK_HOLE else None,
        advertised_mss=advertised,
        default_bytes_received=info.bytes_received if info is not None else None,
        default_largest_segment=info.rcv_mss if info is not None else None,
        answer_bytes=(clamped.received if clamped is not None and exchange in GET_EXCHANGES
                      and clamped_outcome == O.HTTP_OK
                      else default.received if exchange in GET_EXCHANGES else None),
        default_answer_bytes=default.received if exchange in GET_EXCHANGES else None,
        kernel_path_mtu=default.kernel_mtu, **common, **upload_fields,
    )


def _upload_fact(fid: str, what: str, exchange: str, clamp: int, header: int,
                 download: Attempt, upload: Attempt, upload_clamped: Attempt | None,
                 request_size: int, common: dict[str, Any]) -> Fact:
    """The fact of an upload black hole (:func:`upload_stalls`): this host's full-size
    packets vanish; the packet lost is the padded request's socket's path MTU."""
    info = upload.info
    full = info.pmtu if info is not None and info.pmtu else None
    return probe_fact(
        "probe_pmtu", fid,
        f"{what} {host_for_url(common['ip'])}:{common['port']}, plain and with a "
        f"{request_size}-byte request, at the default and a {clamp}-byte MSS",
        outcome=O.BLACK_HOLE, error=None, exchange=exchange, direction=UPLOAD,
        elapsed_ms=max(download.elapsed_ms, upload.elapsed_ms,
                       upload_clamped.elapsed_ms if upload_clamped is not None else 0),
        default_outcome=download.outcome, clamped_outcome=None, default_error=None,
        passed_packet=clamp + header, lost_packet=full,
        advertised_mss=full - header if full else None,
        default_bytes_received=download.info.bytes_received if download.info else None,
        default_largest_segment=download.info.rcv_mss if download.info else None,
        answer_bytes=download.received, default_answer_bytes=download.received,
        kernel_path_mtu=upload.kernel_mtu, upload_request_bytes=request_size,
        upload_outcome=upload.outcome,
        upload_clamped_outcome=upload_clamped.outcome if upload_clamped else None, **common,
    )
