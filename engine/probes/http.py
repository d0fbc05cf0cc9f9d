"""One HTTP request to an ``http://`` or ``https://`` URL target: the application layer.

``GET <path>`` with ``Connection: close``; only the response head is read. TLS verification is
off here (the TLS probe judges the chain; this one asks "does the application answer?").
When the proxy probe says the target goes through a proxy, the request goes through it too
(absolute-form for http, a CONNECT tunnel for https), as the client's would.
Outcome ``http_ok`` (status < 400), ``http_error`` (>= 400), ``not_http``, ``refused``,
``timeout``, ``error``.

The server's ``Date`` header against this host's clock at the moment the answer came gives
``clock_offset_s`` (positive: the server's clock is ahead; the header has one-second
resolution, so a few seconds mean nothing; a cache's ``Age`` is added back): clock skew, on
either side (X31). When the answer
is not HTTP, or none comes, the first bytes the server sent (``greeting``) name what listens
instead (``greeting_protocol``: an SSH or SMTP banner, X30).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import re
import socket
import ssl

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import Stopwatch, describe_exception, probe_fact
from engine.probes.context import ProbeContext
from engine.probes.greeting import identify, printable
from engine.probes.proxy import open_proxy_socket, tunnel_connector
from engine.probes.proxy_env import Proxy
from engine.probes.target import SCHEMES, Target
from engine.probes.tls import ConnectFailed, Connector, direct_connector, unverified_context

MAX_HEAD = 64 * 1024
HTTP_SCHEMES = frozenset({"http", "https"})


def request_bytes(target: Target, *, absolute: bool = False,
                  proxy_authorization: str | None = None) -> bytes:
    default = SCHEMES[target.scheme or "http"].port
    host = target.hostport if target.port != default else target.hostport.rsplit(":", 1)[0]
    where = f"{target.scheme}://{target.hostport}{target.path}" if absolute else target.path
    lines = [f"GET {where} HTTP/1.1", f"Host: {host}", "User-Agent: whynet", "Accept: */*",
             "Connection: close"]
    if proxy_authorization:
        lines.append(f"Proxy-Authorization: {proxy_authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def parse_head(head: bytes) -> tuple[str, int, str, dict[str, str]]:
    """(HTTP version, status, reason, lower-cased headers); ValueError when it is not HTTP."""
    text = head.decode("latin-1")
    first, _, rest = text.partition("\r\n")
    match = re.match(r"(HTTP/\d(?:\.\d)?) (\d{3})(?: (.*))?$", first)
    if not match:
        raise ValueError(f"not an HTTP answer: {first[:60]!r}")
    headers: dict[str, str] = {}
    for line in rest.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return match.group(1), int(match.group(2)), (match.group(3) or "").strip(), headers


def clock_offset(date_header: str | None, client_now: dt.datetime,
                 age_header: str | None = None) -> int | None:
    """Seconds the server's ``Date`` is ahead of ``client_now`` (negative: behind), or None
    when the header is missing or unreadable. A cache (a CDN, a proxy) serves a stored answer
    with the origin's Date and an ``Age`` header saying how long it has kept it (RFC 9111
    section 5.1): the Date is then that much older, and is corrected by it.

    >>> clock_offset("Sun, 29 Nov 2026 23:00:00 GMT",
    ...              dt.datetime(2026, 11, 29, 21, 0, tzinfo=dt.timezone.utc))
    7200
    """
    if not date_header:
        return None
    try:
        server = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if server.tzinfo is None:
        server = server.replace(tzinfo=dt.timezone.utc)
    age = int(age_header) if age_header and age_header.strip().isdigit() else 0
    return round((server - client_now).total_seconds()) + age


async def _exchange(connector: Connector, target: Target, request: bytes, tls: bool,
                    timeout: float, received: bytearray) -> bytes:
    watch = Stopwatch()
    sock = await connector(timeout)
    try:
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=unverified_context() if tls else None,
            server_hostname=target.host if tls else None,
            ssl_handshake_timeout=watch.remaining(timeout) if tls else None, limit=MAX_HEAD)
    except BaseException:
        sock.close()
        raise
    try:
        writer.write(request)
        # Read by hand, keeping every byte in ``received``: when the answer is not HTTP or
        # never ends, what the server did say names the service.
        while b"\r\n\r\n" not in received:
            chunk = await reader.read(4096)
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(received), None)
            received += chunk
            if len(received) > MAX_HEAD:
                raise asyncio.LimitOverrunError("no end of the HTTP head", len(received))
        return bytes(received).split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    finally:
        writer.transport.abort()


async def probe_http(target: Target, ip: str | None, ctx: ProbeContext, *,
                     proxy: Proxy | None = None) -> Fact | None:
    """One ``probe_http`` fact, or None when the target is not an HTTP(S) URL (or the proxy
    is of a kind this probe cannot talk through)."""
    if target.scheme not in HTTP_SCHEMES or target.port is None:
        return None
    tls = target.scheme == "https"
    if proxy is not None and proxy.scheme not in ("http", "socks5", "socks5h"):
        return None
    watch = Stopwatch()
    connector, request = _route(target, ip, tls, proxy)
    fields: dict[str, object] = {
        "ip": ip, "port": target.port, "url": f"{target.scheme}://{target.hostport}{target.shown_path}",
        "status": None, "reason": None, "http_version": None, "server": None, "location": None,
        "via": None, "via_proxy": proxy is not None, "date": None, "clock_offset_s": None,
        "greeting": None, "greeting_protocol": None,
    }
    outcome, error = O.ERROR, None
    received = bytearray()
    try:
        head = await asyncio.wait_for(
            _exchange(connector, target, request, tls, ctx.timeout, received), ctx.timeout)
        answered_at = dt.datetime.now(dt.timezone.utc)
        version, status, reason, headers = parse_head(head)
    except asyncio.TimeoutError:
        outcome, error = O.TIMEOUT, f"no HTTP answer within {ctx.timeout:g}s"
    except ConnectFailed as exc:
        outcome = exc.outcome if exc.outcome in (O.REFUSED, O.TIMEOUT) else O.ERROR
        error = str(exc)
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        outcome, error = O.NOT_HTTP, describe_exception(exc)
    except (OSError, ssl.SSLError, EOFError) as exc:
        outcome, error = O.ERROR, describe_exception(exc)
    else:
        outcome = O.HTTP_OK if status < 400 else O.HTTP_ERROR
        error = None if status < 400 else f"HTTP {status} {reason}".strip()
        fields.update(status=status, reason=reason, http_version=version,
                      server=headers.get("server"), location=headers.get("location"),
                      via=headers.get("via"), date=headers.get("date"),
                      clock_offset_s=clock_offset(headers.get("date"), answered_at,
                                                  headers.get("age")))
    if outcome in (O.NOT_HTTP, O.TIMEOUT) and received:
        fields.update(greeting=printable(bytes(received)),
                      greeting_protocol=identify(bytes(received)))
    where = "proxy" if proxy is not None else ip
    return probe_fact(
        "probe_http", f"probe_http:{target.raw}:{where}", f"http GET {fields['url']}"
        + (f" via {proxy.url}" if proxy else ""), target=target.raw, layer="application",
        outcome=outcome, elapsed_ms=watch.ms(), error=error, **fields,
    )


def _route(target: Target, ip: str | None, tls: bool, proxy: Proxy | None
           ) -> tuple[Connector, bytes]:
    """How to reach the target (direct, proxy, tunnel) and what to send."""
    assert target.port is not None
    if proxy is None:
        assert ip is not None
        return direct_connector(ip, target.port), request_bytes(target)
    if proxy.scheme == "http" and not tls:
        async def to_proxy(timeout: float) -> socket.socket:
            return await open_proxy_socket(proxy, timeout)
        return to_proxy, request_bytes(target, absolute=True,
                                       proxy_authorization=proxy.authorization())
    return tunnel_connector(proxy, target.host, target.port), request_bytes(target)
