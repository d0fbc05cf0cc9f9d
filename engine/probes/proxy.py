"""Does a target go through a proxy, and does that proxy answer? (checklist P2, P3)

Which proxy applies is decided in :mod:`engine.probes.proxy_env` (variables, NO_PROXY).

**The test.** When a proxy applies: resolve it, TCP connect, then for an https target an HTTP
``CONNECT host:port`` (for an http target a ``HEAD`` in absolute form, since many proxies refuse
CONNECT to port 80), all within the timeout. SOCKS5 proxies get a SOCKS5 CONNECT instead
(``connect_status`` is then the SOCKS reply code, 0 = success). Status 2xx -> ``proxied_ok``;
403/407/other 4xx -> ``proxy_refused``; 502/503/504 -> ``proxy_upstream_error``. Proxy
credentials are sent as the client would, and never appear in a fact (``redact_url``).

**Who resolves the name** (``name_resolved_by``). An HTTP proxy, and a ``socks5h://`` one, get
the target's name and resolve it themselves. A ``socks5://`` proxy gets an address: the client
(curl, requests with PySocks, git, ...) resolves the name with this host's resolver first, as
this probe does (``sent_address``); a name that does not resolve here fails with
``local_name_failed`` before the proxy is asked. Because the two schemes differ only in that,
a name target through a SOCKS5 proxy is also tried the other way, at the same time
(``other_scheme``, ``other_outcome``, ``other_status``): when one way works and the other does
not, which side can resolve (or reach) the name is the fault.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import socket
import ssl
import struct
from collections.abc import Mapping

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import (
    Stopwatch,
    describe_exception,
    host_for_url,
    in_daemon_thread,
    probe_fact,
)
from engine.probes.context import ProbeContext
from engine.probes.proxy_env import Proxy, ProxyDecision, decide, ip_or_none, request_scheme
from engine.probes.target import Target
from engine.probes.tcp import connect
from engine.probes.tls import ConnectFailed, Connector, default_context

MAX_HEAD = 64 * 1024


class LocalNameFailed(ConnectFailed):
    """socks5:// resolves the target's name on this host, and it does not resolve here."""

    def __init__(self, message: str) -> None:
        super().__init__(O.LOCAL_NAME_FAILED, message)


class ProxyAnswered(Exception):
    """The proxy answered, but not with success."""

    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status, self.outcome = status, outcome


def outcome_for_status(status: int) -> str:
    if 200 <= status < 300:
        return O.PROXIED_OK
    if status in (502, 503, 504):
        return O.PROXY_UPSTREAM_ERROR
    if 400 <= status < 600:
        return O.PROXY_REFUSED
    return O.ERROR


async def open_proxy_socket(proxy: Proxy, timeout: float) -> socket.socket:
    """A TCP connection to the proxy (raises ConnectFailed with proxy_dead or timeout)."""
    watch = Stopwatch()
    try:
        infos = await asyncio.wait_for(
            in_daemon_thread(socket.getaddrinfo, proxy.host, proxy.port, 0, socket.SOCK_STREAM),
            timeout)
    except asyncio.TimeoutError:
        raise ConnectFailed(O.TIMEOUT, f"the proxy's name {proxy.host} did not resolve in time"
                            ) from None
    except OSError as exc:
        raise ConnectFailed(O.PROXY_DEAD, f"the proxy's name {proxy.host} does not resolve: "
                            f"{describe_exception(exc)}") from None
    conn = await connect(str(infos[0][4][0]), proxy.port, watch.remaining(timeout), keep=True)
    if conn.sock is None:
        outcome = O.TIMEOUT if conn.outcome == O.TIMEOUT else O.PROXY_DEAD
        raise ConnectFailed(outcome, f"tcp connect to the proxy {proxy.url}: {conn.error}")
    return conn.sock


async def open_tunnel(proxy: Proxy, host: str, port: int, timeout: float
                      ) -> tuple[socket.socket, int]:
    """A socket tunnelled through the proxy to ``host:port`` (HTTP CONNECT or SOCKS5), and the
    proxy's status (HTTP status, or SOCKS5 reply code).

    Raises ConnectFailed (proxy not reachable) or ProxyAnswered (it said no).
    """
    if proxy.scheme not in ("http", "socks5", "socks5h"):
        raise ConnectFailed(O.ERROR, f"tunnelling through a {proxy.scheme} proxy is not "
                            "probed (http and socks5 only)")
    watch = Stopwatch()
    if resolves_here(proxy) and ip_or_none(host) is None:
        host = await resolve_here(host, port, timeout)
    sock = await open_proxy_socket(proxy, watch.remaining(timeout))
    try:
        if proxy.scheme == "http":
            request = _connect_request(proxy, host, port)
            status = await asyncio.wait_for(_http_exchange(sock, request),
                                            watch.remaining(timeout))
        else:
            status = await asyncio.wait_for(_socks5_connect(sock, proxy, host, port),
                                            watch.remaining(timeout))
    except BaseException:
        sock.close()
        raise
    if status_outcome(proxy, status) != O.PROXIED_OK:
        sock.close()
        raise ProxyAnswered(status, status_outcome(proxy, status), f"the proxy answered {status}")
    return sock, status


def resolves_here(proxy: Proxy) -> bool:
    """socks5:// (and socks4://) have the client resolve the target's name; the others send it."""
    return proxy.scheme in ("socks5", "socks4")


def name_resolved_by(proxy: Proxy) -> str:
    return "client" if resolves_here(proxy) else "proxy"


async def resolve_here(host: str, port: int, timeout: float) -> str:
    """The first address this host's resolver gives ``host``: what a socks5:// client sends.
    Raises LocalNameFailed."""
    try:
        infos = await asyncio.wait_for(
            in_daemon_thread(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM), timeout)
    except asyncio.TimeoutError:
        raise LocalNameFailed(f"{host} did not resolve here within {timeout:g}s") from None
    except OSError as exc:
        raise LocalNameFailed(f"{host} does not resolve here: {describe_exception(exc)}"
                              ) from None
    return str(infos[0][4][0])


def status_outcome(proxy: Proxy, status: int) -> str:
    """The outcome an HTTP status (or, for SOCKS5, a reply code) means."""
    if proxy.scheme.startswith("socks"):
        return {0: O.PROXIED_OK, 2: O.PROXY_REFUSED}.get(status, O.PROXY_UPSTREAM_ERROR)
    return outcome_for_status(status)


def _connect_request(proxy: Proxy, host: str, port: int) -> bytes:
    hostport = f"{host_for_url(host)}:{port}"
    return _request(proxy, f"CONNECT {hostport} HTTP/1.1", hostport)


def _head_request(proxy: Proxy, target: Target) -> bytes:
    return _request(proxy, f"HEAD {target.scheme or 'http'}://{target.hostport}{target.path} "
                           f"HTTP/1.1", target.hostport, close=True)


def _request(proxy: Proxy, first_line: str, host: str, close: bool = False) -> bytes:
    lines = [first_line, f"Host: {host}", "User-Agent: whynet"]
    auth = proxy.authorization()
    if auth:
        lines.append(f"Proxy-Authorization: {auth}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


async def _http_exchange(sock: socket.socket, request: bytes) -> int:
    """Send ``request``, read the response head, return its status code."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, request)
    head = b""
    while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            break
        head += chunk
    return parse_status_line(head)


def parse_status_line(head: bytes) -> int:
    """The status code of an HTTP response head (raises ValueError when it is not HTTP)."""
    first = head.split(b"\r\n", 1)[0].decode("latin-1")
    match = re.match(r"HTTP/\d(?:\.\d)? (\d{3})", first)
    if not match:
        raise ValueError(f"not an HTTP answer: {first[:60]!r}" if first else "no answer")
    return int(match.group(1))


async def _socks5_connect(sock: socket.socket, proxy: Proxy, host: str, port: int) -> int:
    """SOCKS5 (RFC 1928, 1929) CONNECT; returns the reply code (0 = succeeded)."""
    loop = asyncio.get_running_loop()
    methods = b"\x00\x02" if proxy.username is not None else b"\x00"
    await loop.sock_sendall(sock, b"\x05" + bytes([len(methods)]) + methods)
    version, method = await _recv_exact(sock, 2)
    if version != 5 or method == 0xFF:
        raise ValueError("the SOCKS5 proxy accepts none of our authentication methods")
    if method == 2:
        user, password = (proxy.username or "").encode(), (proxy.password or "").encode()
        await loop.sock_sendall(sock, b"\x01" + bytes([len(user)]) + user
                                + bytes([len(password)]) + password)
        if (await _recv_exact(sock, 2))[1] != 0:
            return 2  # "connection not allowed by ruleset": the credentials were refused
    await loop.sock_sendall(sock, b"\x05\x01\x00" + _socks_address(host) + struct.pack("!H", port))
    reply = await _recv_exact(sock, 4)
    address_len = {1: 4, 4: 16}.get(reply[3])
    if address_len is None:
        address_len = (await _recv_exact(sock, 1))[0]
    await _recv_exact(sock, address_len + 2)
    return reply[1]


def _socks_address(host: str) -> bytes:
    address = ip_or_none(host)
    if address is None:
        name = host.encode("idna")
        return b"\x03" + bytes([len(name)]) + name
    return (b"\x01" if address.version == 4 else b"\x04") + address.packed


async def _recv_exact(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise ValueError("the proxy closed the connection")
        data += chunk
    return data


# --- the probe ------------------------------------------------------------------------------

async def probe_proxy(target: Target, ctx: ProbeContext) -> tuple[Fact, ProxyDecision]:
    """One ``probe_proxy`` fact (and the decision, which the TLS and HTTP probes follow)."""
    watch = Stopwatch()
    decision = decide(target, ctx.env)
    fields: dict[str, object] = {
        "proxy": decision.proxy.url if decision.proxy else None, "variable": decision.variable,
        "bypassed": decision.bypassed, "no_proxy_match": decision.no_proxy_match,
        "no_proxy_variable": decision.no_proxy_variable,
        "proxy_reachable": None, "connect_status": None, "caveats": list(decision.caveats),
        "request_scheme": decision.request_scheme,
    }
    if decision.error is not None:
        return _fact(target, watch, O.ERROR, decision.error, fields), decision
    if decision.proxy is None or decision.bypassed:
        outcome = O.BYPASSED if decision.bypassed else O.DIRECT
        return _fact(target, watch, outcome, None, fields), decision
    proxy = decision.proxy
    fields["name_resolved_by"] = name_resolved_by(proxy)
    other = _other_socks_scheme(proxy, target)
    attempts = [try_proxy(target, proxy, ctx.timeout)]
    if other is not None:
        attempts.append(try_proxy(target, other, ctx.timeout))
    first, *rest = await asyncio.gather(*attempts)
    fields.update(proxy_reachable=first.reachable, connect_status=first.status,
                  sent_address=first.sent_address)
    if rest and other is not None:
        fields.update(other_scheme=other.scheme, other_outcome=rest[0].outcome,
                      other_status=rest[0].status)
    return _fact(target, watch, first.outcome, first.error, fields), decision


def _other_socks_scheme(proxy: Proxy, target: Target) -> Proxy | None:
    """The same SOCKS5 proxy with the other name resolution (socks5 <-> socks5h), for a target
    named by a host name; None otherwise (an address needs no resolving)."""
    swap = {"socks5": "socks5h", "socks5h": "socks5"}
    if proxy.scheme not in swap or ip_or_none(target.host) is not None:
        return None
    scheme = swap[proxy.scheme]
    return dataclasses.replace(proxy, scheme=scheme,
                               url=scheme + proxy.url[len(proxy.scheme):])


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One request through a proxy: its outcome and what it showed."""

    outcome: str
    error: str | None = None
    reachable: bool | None = None
    status: int | None = None
    sent_address: str | None = None  # socks5://: the address this host resolved and sent


async def try_proxy(target: Target, proxy: Proxy, timeout: float) -> Attempt:
    """One request through the proxy."""
    assert target.port is not None
    watch = Stopwatch()
    sent: str | None = None
    try:
        if proxy.scheme in ("http", "https") and request_scheme(target) == "http":
            status = await _head_through(proxy, target, timeout)
        elif proxy.scheme == "https":
            status = await _https_proxy_connect(proxy, target, timeout)
        else:
            host = target.host
            if resolves_here(proxy) and ip_or_none(host) is None:
                host = sent = await resolve_here(host, target.port, timeout)
            sock, status = await open_tunnel(proxy, host, target.port, watch.remaining(timeout))
            sock.close()
    except ConnectFailed as exc:
        reachable = None if exc.outcome in (O.ERROR, O.LOCAL_NAME_FAILED) else False
        return Attempt(exc.outcome, str(exc), reachable, None, sent)
    except ProxyAnswered as exc:
        return Attempt(exc.outcome, str(exc), True, exc.status, sent)
    except asyncio.TimeoutError:
        return Attempt(O.TIMEOUT, f"the proxy did not answer within {timeout:g}s", True, None,
                       sent)
    except (OSError, ValueError, ssl.SSLError) as exc:
        return Attempt(O.ERROR, describe_exception(exc), True, None, sent)
    outcome = status_outcome(proxy, status)
    error = None if outcome == O.PROXIED_OK else f"the proxy answered {status}"
    return Attempt(outcome, error, True, status, sent)


async def _head_through(proxy: Proxy, target: Target, timeout: float) -> int:
    watch = Stopwatch()
    sock = await open_proxy_socket(proxy, timeout)
    try:
        if proxy.scheme == "https":
            return await asyncio.wait_for(
                _stream_exchange(sock, proxy, _head_request(proxy, target), timeout),
                watch.remaining(timeout))
        return await asyncio.wait_for(_http_exchange(sock, _head_request(proxy, target)),
                                      watch.remaining(timeout))
    finally:
        sock.close()


async def _https_proxy_connect(proxy: Proxy, target: Target, timeout: float) -> int:
    assert target.port is not None
    watch = Stopwatch()
    sock = await open_proxy_socket(proxy, timeout)
    try:
        return await asyncio.wait_for(
            _stream_exchange(sock, proxy, _connect_request(proxy, target.host, target.port),
                             timeout), watch.remaining(timeout))
    finally:
        sock.close()


async def _stream_exchange(sock: socket.socket, proxy: Proxy, request: bytes,
                           timeout: float) -> int:
    """One request to an ``https://`` proxy (TLS to the proxy itself, verified)."""
    # OpenSSL's defaults, but its certificate directory read safely (a FIFO there would block).
    context, _description, _errors = default_context(os.environ)
    reader, writer = await asyncio.open_connection(
        sock=sock, ssl=context, server_hostname=proxy.host,
        ssl_handshake_timeout=timeout)
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.transport.abort()
    return parse_status_line(head)


def _fact(target: Target, watch: Stopwatch, outcome: str, error: str | None,
          fields: Mapping[str, object]) -> Fact:
    proxy = fields.get("proxy")
    probe = f"proxy check for {target.hostport}" + (f" via {proxy}" if proxy else "")
    return probe_fact("probe_proxy", f"probe_proxy:{target.raw}", probe, target=target.raw,
                      layer="proxy", outcome=outcome, elapsed_ms=watch.ms(), error=error,
                      **fields)


def tunnel_connector(proxy: Proxy, host: str, port: int) -> Connector:
    """A connector (for the TLS and HTTP probes) that tunnels through ``proxy``."""
    async def open_socket(timeout: float) -> socket.socket:
        try:
            sock, _status = await open_tunnel(proxy, host, port, timeout)
        except LocalNameFailed as exc:  # the proxy probe reports it; here it is just an error
            raise ConnectFailed(O.ERROR, f"through the proxy {proxy.url}: {exc}") from None
        except ProxyAnswered as exc:
            raise ConnectFailed(exc.outcome, f"through the proxy {proxy.url}: {exc}") from None
        except (OSError, ValueError) as exc:
            raise ConnectFailed(O.ERROR, f"through the proxy {proxy.url}: "
                                f"{describe_exception(exc)}") from None
        return sock
    return open_socket
