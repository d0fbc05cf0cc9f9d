"""TCP connect to one address and port, and what exactly answered (checklist B1, F5).

The outcome says who most likely produced the result:

=============  ================================================================================
open           the handshake completed
refused        ECONNREFUSED. With ``icmp`` null it was a TCP RST: nothing listens on the port,
               or a firewall ``reject with tcp-reset`` (the two look identical to the client).
               With ``icmp: port-unreachable`` it was an ICMP error, which TCP stacks never send
               for a closed port: a firewall's ``reject`` rule (at ``icmp_from``).
timeout        silence: a dropping firewall on the path or at the target, or a dead host
unreachable    an ICMP error came back (``icmp``: host-unreachable, admin-prohibited,
               net-prohibited...; ``icmp_from``: who sent it). When ``icmp_from`` is one of this
               host's addresses, it was generated here: the local firewall's output chain, or
               no ARP/NDP answer from the next hop. EACCES/EPERM without ICMP: blocked locally.
no_route       this host has no route (ENETUNREACH), or an ``unreachable``/``blackhole`` route
error          anything else (``error`` has the OS text)
=============  ================================================================================

What Linux reports (measured with nft rules in network namespaces, kernel 6.x):

* closed port, ``reject with tcp reset``          -> ECONNREFUSED, nothing queued
* ``reject with icmp type port-unreachable``      -> ECONNREFUSED, ICMP 3/3 from the rejecter
* ``... admin-prohibited`` / ``host-prohibited``  -> EHOSTUNREACH, ICMP 3/13 / 3/10
* ``... host-unreachable``                        -> EHOSTUNREACH, ICMP 3/1
* ``... net-unreachable`` / ``net-prohibited``    -> ENETUNREACH, ICMP 3/0 / 3/9
* ICMPv6 ``admin-prohibited`` (1/1), ``policy-fail`` (1/5), ``reject-route`` (1/6) -> EACCES;
  ``no-route`` (1/0) -> ENETUNREACH; ``addr-unreachable`` (1/3) -> EHOSTUNREACH;
  ``port-unreachable`` (1/4) -> ECONNREFUSED
* ``drop`` (input or output chain)                -> no answer: timeout
* no ARP answer on the link                       -> EHOSTUNREACH after ~3 s, ICMP 3/1 *from
  this host's own address*
* no route -> ENETUNREACH at once; ``unreachable`` route -> EHOSTUNREACH at once; ``prohibit``
  route -> EACCES at once; ``blackhole`` route -> EINVAL at once (nothing queued for any)

A rejecting host rate-limits the ICMP errors it sends each peer (``net.ipv4.icmp_ratelimit``: a
burst of about 6, then one a second), so a burst of rejected connections can end in timeouts
that a single one would not show.
"""

from __future__ import annotations

import asyncio
import errno as _errno
import ipaddress
import socket
from dataclasses import dataclass

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import (
    Stopwatch,
    describe_exception,
    errno_name,
    host_for_url,
    probe_fact,
)
from engine.probes.context import ProbeContext
from engine.probes.sockerr import QueuedError, enable_recverr, read_queued_error

_NO_ROUTE_ERRNOS = {_errno.ENETUNREACH: "no route to the network in the routing table",
                    _errno.EHOSTUNREACH: "an 'unreachable' route (or neighbour failure)",
                    _errno.EINVAL: "a 'blackhole' route"}
_LOCAL_BLOCK_ERRNOS = {_errno.EACCES, _errno.EPERM}


@dataclass
class Connection:
    """The result of one connect attempt; ``sock`` is kept open only when asked for."""

    outcome: str
    elapsed_ms: int
    errno: str | None = None
    icmp: str | None = None
    icmp_from: str | None = None
    src: str | None = None
    error: str | None = None
    sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def family_of(ip: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(ip.split("%")[0]).version == 6 else socket.AF_INET


async def connect(ip: str, port: int, timeout: float, *, keep: bool = False) -> Connection:
    """Connect to ``ip:port`` within ``timeout``; read the ICMP error queue when it fails."""
    watch = Stopwatch()
    sock = socket.socket(family_of(ip), socket.SOCK_STREAM)
    sock.setblocking(False)
    enable_recverr(sock)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (ip, port)), timeout)
    except asyncio.TimeoutError:
        result = Connection(O.TIMEOUT, watch.ms(), src=_local_ip(sock),
                            error=f"no answer within {timeout:g}s (packets silently dropped?)")
    except OSError as exc:
        result = _classify_failure(exc, read_queued_error(sock), watch.ms(), _local_ip(sock))
    else:
        result = Connection(O.OPEN, watch.ms(), src=_local_ip(sock))
        if keep:
            result.sock = sock
            return result
    sock.close()
    return result


def _classify_failure(
    exc: OSError, queued: QueuedError | None, elapsed_ms: int, src: str | None,
) -> Connection:
    name = errno_name(exc)
    base = Connection(O.ERROR, elapsed_ms, errno=name, src=src, error=describe_exception(exc))
    if queued is not None and queued.name is not None:
        base.icmp, base.icmp_from = queued.name, queued.offender
        base.error = f"{base.error}: ICMP {queued.name} from {queued.offender}"
        base.outcome = O.REFUSED if exc.errno == _errno.ECONNREFUSED else O.UNREACHABLE
        return base
    if exc.errno == _errno.ECONNREFUSED:
        base.outcome = O.REFUSED
        base.error = (f"{base.error}: TCP reset (nothing listens on the port, or a firewall "
                      "rejects with tcp-reset)")
    elif exc.errno == _errno.ETIMEDOUT:
        base.outcome = O.TIMEOUT
    elif exc.errno in _NO_ROUTE_ERRNOS:
        base.outcome = O.NO_ROUTE
        base.error = f"{base.error}: {_NO_ROUTE_ERRNOS[exc.errno]}"
    elif exc.errno in _LOCAL_BLOCK_ERRNOS:
        base.outcome = O.UNREACHABLE
        base.error = f"{base.error}: blocked on this host ('prohibit' route or a local policy)"
    return base


def _local_ip(sock: socket.socket) -> str | None:
    try:
        ip = sock.getsockname()[0]
    except OSError:
        return None
    return None if ip in ("0.0.0.0", "::") else ip


async def probe_tcp(target: str, ip: str, port: int, ctx: ProbeContext) -> Fact:
    """One ``probe_tcp`` fact for ``ip:port``."""
    conn = await connect(ip, port, ctx.timeout)
    icmp_local = None
    if conn.icmp_from is not None:
        icmp_local = conn.icmp_from == conn.src or ctx.is_local_address(conn.icmp_from)
    return probe_fact(
        "probe_tcp", f"probe_tcp:{target}:{ip}:{port}", f"tcp connect {host_for_url(ip)}:{port}",
        target=target, layer="transport", outcome=conn.outcome, elapsed_ms=conn.elapsed_ms,
        error=conn.error, ip=ip, port=port, errno=conn.errno, icmp=conn.icmp,
        icmp_from=conn.icmp_from, icmp_local=icmp_local, src=conn.src, via_proxy=False,
    )
