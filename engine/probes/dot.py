"""Encrypted DNS against plain DNS, server by server (X23).

Two sources of encrypted DNS servers: systemd-resolved's DNS over TLS, and a DNS-over-HTTPS
URL the user names (``--doh URL``, ``WHYNET_DOH``: what a browser is set to use; nothing is
sent without one). The DoH URL's host is resolved by the system resolver (a DoH client needs
its address first), then ``. NS`` is POSTed as ``application/dns-message`` (RFC 8484) and plain
DNS is asked at the same address on port 53.

When systemd-resolved is set to DNS over TLS (``DNSOverTLS=yes`` or ``opportunistic`` in
resolved.conf, read by the resolver collector into ``resolved_config``), each server it would
use (``DNS=``, else the per-link servers ``resolvectl dns`` lists) is asked twice, at once: over
TLS on its port (853 unless ``ADDRESS:PORT``; the ``#NAME`` as SNI), and in plain text on port
53 (UDP, TCP when UDP is silent or truncated). The question is ``. NS``: any DNS answer, even
REFUSED, proves the transport carries DNS. One ``probe_dns_transport`` fact per server and
transport: ``answered``, or why not (``timeout``: dropped; ``refused``: a reset or port
unreachable; ``unreachable``; ``not_tls``: the port answered but the TLS handshake failed;
``error``). The TLS certificate is not judged here (resolved checks it only when a name is
given, and the TLS probe is the place for chains); the handshake is.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

import dns.exception
import dns.message
import dns.rcode

from engine.collectors.resolver import server_address
from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import (
    Stopwatch,
    describe_exception,
    errno_name,
    in_daemon_thread,
    probe_fact,
)
from engine.probes.context import ProbeContext
from engine.probes.dns import _ask
from engine.probes.http import parse_head

DOT_PORT = 853
DOT_MODES = frozenset({"yes", "opportunistic", "true", "1", "on"})


@dataclass(frozen=True)
class DotServer:
    ip: str
    port: int
    name: str | None  # the server name for SNI (``#name``), or None

    @property
    def where(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


def parse_dot_server(token: str) -> DotServer | None:
    """``1.1.1.1#cloudflare-dns.com``, ``192.0.2.53:8853``, ``[2001:db8::53]:853#dns.example``
    (resolved.conf's syntax; ``%iface`` dropped) -> the server, or None when not an address."""
    text, _, name = token.partition("#")
    text = text.split("%", 1)[0] if not text.startswith("[") else text
    ip = server_address(text)
    if ip is None:
        return None
    port = DOT_PORT
    tail = text.rsplit("]", 1)[1] if text.startswith("[") else (
        text.split(":", 1)[1] if text.count(":") == 1 else "")
    tail = tail.lstrip(":").split("%", 1)[0]
    if tail.isdigit():
        port = int(tail)
    return DotServer(ip.split("%", 1)[0], port, name or None)


def dot_servers(ctx: ProbeContext) -> tuple[str | None, list[DotServer]]:
    """The DNSOverTLS mode and the servers it applies to; none when it is off."""
    configs = ctx.of_kind("resolved_config")
    mode = str(configs[0].get("dns_over_tls") or "no").lower() if configs else "no"
    if mode not in DOT_MODES:
        return None, []
    servers = [s for s in (parse_dot_server(str(t)) for t in configs[0].get("dns") or [])
               if s is not None]
    if not servers:  # no global DNS=: the per-link servers resolved reports
        servers = [DotServer(str(f.get("ip")), DOT_PORT, None)
                   for f in ctx.of_kind("nameserver")
                   if f.get("origin") == "systemd-resolved" and not f.get("stub")]
    unique = {(s.ip, s.port): s for s in servers}
    return mode, list(unique.values())


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _ask_over_tls(server: DotServer, wire: bytes, timeout: float) -> bytes:
    watch = Stopwatch()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        server.ip, server.port, ssl=_unverified(), server_hostname=server.name or None,
        ssl_handshake_timeout=timeout), timeout)
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2),
                                                          watch.remaining(timeout)))[0]
        return await asyncio.wait_for(reader.readexactly(size), watch.remaining(timeout))
    finally:
        writer.transport.abort()


async def probe_dot(server: DotServer, mode: str, timeout: float) -> Fact:
    """DNS over TLS to ``server``: did a DNS answer come back?"""
    watch = Stopwatch()
    query = dns.message.make_query(".", "NS")
    outcome, error, rcode = O.ERROR, None, None
    try:
        response = dns.message.from_wire(await _ask_over_tls(server, query.to_wire(), timeout))
        outcome, rcode = O.ANSWERED, dns.rcode.to_text(response.rcode())
    except asyncio.TimeoutError:
        outcome, error = O.TIMEOUT, f"no answer on {server.where} within {timeout:g}s"
    except ssl.SSLError as exc:
        outcome, error = O.NOT_TLS, f"TLS handshake failed: {describe_exception(exc)}"
    except (OSError, asyncio.IncompleteReadError) as exc:
        outcome, error = _socket_failure(exc)
    except dns.exception.DNSException as exc:
        error = describe_exception(exc)
    return probe_fact(
        "probe_dns_transport", f"probe_dns_transport:{server.where}:dot",
        f"dns over tls . NS @{server.where}" + (f" (sni {server.name})" if server.name else ""),
        target=f"resolver {server.ip}", layer="name", outcome=outcome, elapsed_ms=watch.ms(),
        error=error, via=server.ip, port=server.port, transport="dot", sni=server.name,
        rcode=rcode, dns_over_tls=mode, url=None,
    )


async def probe_plain(server: DotServer, mode: str | None, timeout: float) -> Fact:
    """Plain DNS to the same server on port 53."""
    watch = Stopwatch()
    answer = await _ask(".", server.ip, 53, "NS", timeout)
    outcome = O.ANSWERED if answer.rcode is not None else answer.outcome
    return probe_fact(
        "probe_dns_transport", f"probe_dns_transport:{server.ip}:plain",
        f"dns . NS @{server.ip}:53 (plain)", target=f"resolver {server.ip}", layer="name",
        outcome=outcome, elapsed_ms=watch.ms(),
        error=None if outcome == O.ANSWERED else answer.error, via=server.ip, port=53,
        transport=answer.transport, sni=None, rcode=answer.rcode, dns_over_tls=mode, url=None,
    )


async def probe_dns_transports(ctx: ProbeContext) -> list[Fact]:
    """Both transports for every DNS-over-TLS server; nothing when DNS over TLS is off."""
    mode, servers = dot_servers(ctx)
    if mode is None:
        return []
    jobs = [job for s in servers for job in (probe_dot(s, mode, ctx.timeout),
                                             probe_plain(s, mode, ctx.timeout))]
    return list(await asyncio.gather(*jobs))


# --- DNS over HTTPS, to a URL the user names ----------------------------------------------------

class DohUrlError(ValueError):
    """A DNS-over-HTTPS URL whynet cannot use."""


@dataclass(frozen=True)
class DohUrl:
    url: str
    host: str
    port: int
    path: str


def parse_doh_url(text: str) -> DohUrl:
    """``https://dns.example/dns-query`` -> its parts; a clear error otherwise."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise DohUrlError(f"--doh {text!r}: {exc}") from None
    if parts.scheme != "https" or not parts.hostname:
        raise DohUrlError(f"--doh {text!r}: expected an https:// URL (RFC 8484)")
    path = (parts.path or "/dns-query") + (f"?{parts.query}" if parts.query else "")
    return DohUrl(text.strip(), parts.hostname, port or 443, path)


async def _post_over_https(doh: DohUrl, ip: str, wire: bytes, timeout: float) -> tuple[int, bytes]:
    watch = Stopwatch()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        ip, doh.port, ssl=_unverified(), server_hostname=doh.host,
        ssl_handshake_timeout=timeout), timeout)
    try:
        host = doh.host if doh.port == 443 else f"{doh.host}:{doh.port}"
        writer.write((f"POST {doh.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: whynet\r\n"
                      "Content-Type: application/dns-message\r\n"
                      "Accept: application/dns-message\r\n"
                      f"Content-Length: {len(wire)}\r\nConnection: close\r\n\r\n").encode()
                     + wire)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), watch.remaining(timeout))
        _, status, _, headers = parse_head(head)
        length = headers.get("content-length", "")
        if status != 200 or not length.isdigit():
            return status, b""
        body = await asyncio.wait_for(reader.readexactly(int(length)), watch.remaining(timeout))
        return status, body
    finally:
        writer.transport.abort()


async def probe_doh(url: str, timeout: float) -> list[Fact]:
    """DNS over HTTPS to ``url``, and plain DNS to the same address on port 53, at once."""
    watch = Stopwatch()
    doh = parse_doh_url(url)
    try:
        infos = await asyncio.wait_for(in_daemon_thread(
            socket.getaddrinfo, doh.host, doh.port, 0, socket.SOCK_STREAM), timeout)
    except (asyncio.TimeoutError, OSError) as exc:
        why = (f"no answer within {timeout:g}s" if isinstance(exc, asyncio.TimeoutError)
               else describe_exception(exc))
        return [probe_fact(
            "probe_dns_transport", f"probe_dns_transport:{doh.url}:doh", f"dns over https {url}",
            target=f"resolver {doh.host}", layer="name", outcome=O.ERROR, elapsed_ms=watch.ms(),
            error=f"cannot resolve {doh.host}: {why} (DoH clients need its address first)",
            via=None, port=doh.port, transport="doh", sni=doh.host, rcode=None,
            dns_over_tls=None, url=doh.url)]
    ip = str(infos[0][4][0])

    async def over_https() -> Fact:
        outcome, error, rcode = O.ERROR, None, None
        try:
            status, body = await _post_over_https(
                doh, ip, dns.message.make_query(".", "NS").to_wire(), watch.remaining(timeout))
            if status == 200 and body:
                outcome = O.ANSWERED
                rcode = dns.rcode.to_text(dns.message.from_wire(body).rcode())
            else:
                error = f"HTTP {status} instead of a DNS answer"
        except asyncio.TimeoutError:
            outcome, error = O.TIMEOUT, f"no answer on {ip}:{doh.port} within {timeout:g}s"
        except ssl.SSLError as exc:
            outcome, error = O.NOT_TLS, f"TLS handshake failed: {describe_exception(exc)}"
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as exc:
            outcome, error = _socket_failure(exc)
        except dns.exception.DNSException as exc:
            error = describe_exception(exc)
        return probe_fact(
            "probe_dns_transport", f"probe_dns_transport:{doh.url}:doh",
            f"dns over https . NS {doh.url} ({ip})", target=f"resolver {ip}", layer="name",
            outcome=outcome, elapsed_ms=watch.ms(), error=error, via=ip, port=doh.port,
            transport="doh", sni=doh.host, rcode=rcode, dns_over_tls=None, url=doh.url)

    plain = probe_plain(DotServer(ip, doh.port, doh.host), None, timeout)
    return list(await asyncio.gather(over_https(), plain))


def _socket_failure(exc: BaseException) -> tuple[str, str]:
    """The outcome and error of a connection that failed at the socket (both transports)."""
    name = errno_name(exc)
    outcome = (O.REFUSED if name == "ECONNREFUSED" else
               O.UNREACHABLE if name in ("ENETUNREACH", "EHOSTUNREACH") else O.ERROR)
    return outcome, describe_exception(exc)
