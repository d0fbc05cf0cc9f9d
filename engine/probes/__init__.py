"""Probes: test each target the user names and return ``probe_*`` facts (see engine/kinds.py).

For every target, concurrently with every other target:

1. ``probe_target`` (how it was parsed: host, port and why that port);
2. ``probe_proxy`` (does the environment send it through a proxy; does the proxy answer) —
   started at once, in parallel with the rest; with a PAC file configured, ``probe_pac``
   (where FindProxyForURL sends it, against the variables; ``probes.pac``) alongside;
3. ``probe_resolve``: the system resolver and each configured nameserver (names only);
4. for each address (at most :data:`MAX_ADDRESSES`), in parallel: ``probe_route`` then
   ``probe_arp`` for its next hop, ``probe_icmp`` and, when there is a port, ``probe_tcp``
   with ``probe_udp`` to the same port sent once the handshake has gone unanswered for half the
   timeout (kept if TCP times out), or, if it is open and the target is TLS, ``probe_tls``
   (at most :data:`MAX_TLS_ADDRESSES` addresses), and ``probe_pmtu`` when that handshake got
   no answer (a path-MTU black hole?); one ARP question per next hop in a run;
5. ``probe_path_quality`` for the first address, alongside step 4 once that address's ping
   has answered (or a moment has passed): a short train of ICMP echoes for loss, latency and
   jitter (``probes.quality``);
6. when a proxy carries the target: ``probe_tls`` through the proxy's tunnel; for http(s) URLs
   ``probe_http`` (through the proxy when one applies, else to the first open address); for a
   direct target without TLS, ``probe_pmtu`` to that address alongside (an ``http://`` GET at
   the default and a clamped MSS; for other ports a ``not_possible`` record), and for a direct
   ``https://`` target whose handshake completed, the same GET over TLS when that handshake
   came in small segments only (a small certificate flight proves nothing about the body), and
   for both schemes the GET padded to fill full-size segments from this host (the upload
   direction; over TLS for ``https://``).

Plus, when a target is a name, one ``probe_nxdomain`` per nameserver (does it rewrite
NXDOMAIN? see ``probes.dns``) and, when systemd-resolved is set to DNS over TLS, one
``probe_dns_transport`` per server and transport (TLS on 853, plain on 53: ``probes.dot``;
also for the DNS-over-HTTPS URL the user named);
one ``probe_listen`` per ``--listen`` port; one ``probe_dad`` per IPv4 source address the
targets' routes use (does another machine hold it? see ``probes.dad``); one ``probe_stun`` per
STUN server the user named (the public address, ``probes.stun``); and one ``probe_portal`` for
the known-answer URL the user named (a captive portal, ``probes.portal``).
Every step is bounded by ``timeout``, so a target costs at most about four timeouts (resolve,
connect, TLS, HTTP) however many targets there are. Nothing here needs root; what does (raw
ICMP, ARP) says so in its fact's error.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engine.facts import Fact, unique_ids
from engine.probes import outcomes as O
from engine.probes.arp import probe_arp
from engine.probes.common import finish_leftover_tasks, probe_fact
from engine.probes.context import ProbeContext
from engine.probes.dad import OwnAddressProbes
from engine.probes.dns import probe_dns, probe_nxdomain
from engine.probes.dot import probe_dns_transports, probe_doh
from engine.probes.http import probe_http
from engine.probes.icmp import probe_icmp
from engine.probes.listen import probe_listen
from engine.probes.pac import PacBatch, probe_pac
from engine.probes.pmtu import probe_pmtu
from engine.probes.portal import probe_portal
from engine.probes.proxy import probe_proxy, tunnel_connector
from engine.probes.proxy_env import ProxyDecision
from engine.probes.quality import probe_path_quality
from engine.probes.route import probe_route
from engine.probes.stun import probe_stun
from engine.probes.target import Target, TargetError, parse_target
from engine.probes.tcp import probe_tcp
from engine.probes.tls import probe_tls
from engine.probes.udp import probe_udp

__all__ = ["Target", "TargetError", "parse_target", "run_probes", "probe", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 3.0
MAX_ADDRESSES = 8
MAX_TLS_ADDRESSES = 2
_TUNNEL_SCHEMES = ("http", "socks5", "socks5h")
_HANDSHAKE_DONE = frozenset({O.TLS_OK, O.TLS_UNTRUSTED, O.TLS_NAME_MISMATCH})


async def run_probes(
    targets: Sequence[Target], facts: Sequence[Fact], *, timeout: float,
    env: Mapping[str, str], listen_ports: Sequence[int] = (), stun_servers: Sequence[str] = (),
    on_target_done: Callable[[str], None] | None = None,
    portal_check: str | None = None, portal_expect: str | None = None,
    pac_url: str | None = None, doh_url: str | None = None,
) -> list[Fact]:
    """Probe every target and listen port at once; the facts in a stable order, unique ids.
    ``on_target_done`` hears each target (as typed) when its probes are over.
    ``portal_check``: a known-answer URL to fetch (captive portal, ``probes.portal``);
    ``doh_url``: a DNS-over-HTTPS server to compare with plain DNS (``probes.dot``)."""
    ctx = ProbeContext(timeout=timeout, env=dict(env), facts=list(facts), pac_url=pac_url)
    # What depends on no target starts at once, in parallel with the targets.
    stun = asyncio.gather(*(probe_stun(s, timeout) for s in stun_servers))
    portal = asyncio.gather(*(probe_portal(url, portal_expect, timeout)
                              for url in ([portal_check] if portal_check else [])))
    listens = asyncio.gather(*(probe_listen(p, ctx) for p in listen_ports))
    own = OwnAddressProbes(timeout)
    pac = PacBatch(targets, ctx)  # one PAC evaluation for every web target, if a PAC is set
    # Does a resolver rewrite NXDOMAIN? Does DNS over TLS get through where it is configured?
    # Asked once per run, only when a name is looked up.
    names = any(not t.is_ip for t in targets)
    rewriting = asyncio.ensure_future(probe_nxdomain(ctx) if names else _nothing())
    transports = asyncio.ensure_future(probe_dns_transports(ctx) if names else _nothing())
    doh = asyncio.ensure_future(probe_doh(doh_url, timeout) if doh_url else _nothing())

    async def one_target(target: Target) -> list[Fact]:
        found = await probe_one_target(target, ctx, own.route_found, pac)
        if on_target_done is not None:
            on_target_done(target.raw)
        return found

    per_target = await asyncio.gather(*(one_target(t) for t in targets))
    probed = [f for group in per_target for f in group]
    return unique_ids(probed + list(await listens) + await own.results() + list(await stun)
                      + await rewriting + await transports + await doh + list(await portal))


async def _nothing() -> list[Fact]:
    return []


def probe(
    targets: Sequence[Target], facts: Sequence[Fact], *, timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None, listen_ports: Sequence[int] = (),
    on_target_done: Callable[[str], None] | None = None,
    stun_servers: Sequence[str] = (),
    portal_check: str | None = None, portal_expect: str | None = None,
    pac_url: str | None = None, doh_url: str | None = None,
) -> list[Fact]:
    """Synchronous :func:`run_probes` for the CLI.

    Uses its own event loop and thread pool and does not wait for stuck threads at the end
    (a ``getaddrinfo`` that ignores the timeout cannot hold the run).
    """
    loop = asyncio.new_event_loop()
    executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="whynet-probe")
    loop.set_default_executor(executor)
    try:
        return loop.run_until_complete(run_probes(
            targets, facts, timeout=timeout, env=os.environ if env is None else env,
            listen_ports=listen_ports, on_target_done=on_target_done,
            stun_servers=stun_servers, portal_check=portal_check, portal_expect=portal_expect,
            pac_url=pac_url, doh_url=doh_url))
    finally:
        finish_leftover_tasks(loop)
        executor.shutdown(wait=False, cancel_futures=True)
        loop.close()


def target_fact(target: Target) -> Fact:
    return probe_fact(
        "probe_target", f"probe_target:{target.raw}", f"parse target {target.raw}",
        target=target.raw, layer="transport", outcome=O.PARSED, elapsed_ms=0, error=None,
        host=target.host, port=target.port, port_reason=target.port_reason,
        port_text=target.port_text, scheme=target.scheme, is_ip=target.is_ip, tls=target.tls,
        path=target.shown_path,
    )


async def probe_one_target(target: Target, ctx: ProbeContext,
                           on_route: Callable[[Fact], None] | None = None,
                           pac: PacBatch | None = None) -> list[Fact]:
    """Every probe for one target, in the order of the module docstring. ``on_route`` hears
    each route found (what the own-address probes start from); ``pac``: the run's PAC batch."""
    facts = [target_fact(target)]
    proxy_job = (asyncio.ensure_future(probe_proxy(target, ctx))
                 if target.port is not None else None)
    pac_job = asyncio.ensure_future(probe_pac(target, ctx, pac))
    if target.is_ip:
        addresses = [target.host]
    else:
        name_facts, addresses = await probe_dns(target.raw, target.host, ctx)
        facts += name_facts
    # Loss, latency and jitter: one echo train to the address programs try first, while
    # the per-address probes run.
    first_ping = (asyncio.ensure_future(probe_icmp(target.raw, addresses[0], ctx))
                  if addresses else None)
    quality = (asyncio.ensure_future(probe_path_quality(target.raw, addresses[0], ctx,
                                                        first_ping))
               if addresses else None)
    per_address = await asyncio.gather(*(
        _probe_address(target, ip, ctx, on_route, tls_allowed=i < MAX_TLS_ADDRESSES,
                       ping=first_ping if i == 0 else None)
        for i, ip in enumerate(addresses[:MAX_ADDRESSES])))
    for group in per_address:
        facts += group
    if quality is not None:
        facts.append(await quality)
    if proxy_job is not None:
        proxy_fact, decision = await proxy_job
        facts.append(proxy_fact)
        facts += await _after_proxy(target, ctx, proxy_fact, decision, _answering_ip(per_address))
    pac_fact = await pac_job
    return facts if pac_fact is None else [*facts, pac_fact]


async def _probe_address(target: Target, ip: str, ctx: ProbeContext,
                         on_route: Callable[[Fact], None] | None, *,
                         tls_allowed: bool, ping: asyncio.Future[Fact] | None = None
                         ) -> list[Fact]:
    """The probes of one address; ``ping``: its ``probe_icmp``, when already started."""
    route, icmp, transport = await asyncio.gather(
        _route_and_next_hop(target, ip, ctx, on_route),
        ping if ping is not None else probe_icmp(target.raw, ip, ctx),
        _transport(target, ip, ctx, tls_allowed))
    return [*route, icmp, *transport]


async def _route_and_next_hop(target: Target, ip: str, ctx: ProbeContext,
                              on_route: Callable[[Fact], None] | None) -> list[Fact]:
    """The route, then who answers ARP for its next hop (a duplicate IP shows only there)."""
    route = await probe_route(target.raw, ip, ctx)
    if on_route is not None:
        on_route(route)
    interface, src = route.get("interface"), route.get("src")
    if route.get("outcome") != O.ROUTED or not interface or not src:
        return [route]
    hop = str(route.get("gateway") or ip)
    arp = await probe_arp(target.raw, hop, str(interface), str(src), ctx.timeout)
    return [route] if arp is None else [route, arp]


async def _transport(target: Target, ip: str, ctx: ProbeContext, tls_allowed: bool
                     ) -> list[Fact]:
    if target.port is None:
        return []
    tcp_job = asyncio.ensure_future(probe_tcp(target.raw, ip, target.port, ctx))
    # Does UDP to the same port get through where TCP does not (F3)? A handshake still
    # unanswered after half the timeout is most likely dropped, so the datagram goes out then
    # and its answer is awaited while TCP waits out the rest: a silent drop costs the timeout,
    # not the timeout plus the UDP wait. Its fact is kept only if TCP does time out.
    done, _ = await asyncio.wait({tcp_job}, timeout=ctx.timeout / 2)
    udp_job = (None if done else
               asyncio.ensure_future(probe_udp(target.raw, ip, target.port, ctx.timeout)))
    tcp = await tcp_job
    if udp_job is not None and tcp.get("outcome") == O.TIMEOUT:
        return [tcp, await udp_job]
    if udp_job is not None:
        udp_job.cancel()
    if tcp.get("outcome") == O.OPEN and target.tls and tls_allowed:
        tls = await probe_tls(target, ip, ctx)
        if tls.get("outcome") != O.TIMEOUT:
            return [tcp, tls]
        # Connected, and the handshake got no answer: do small segments pass where full-size
        # ones vanish (a path-MTU black hole)?
        return [tcp, tls, await probe_pmtu(target, ip, ctx)]
    return [tcp]


def _answering_ip(per_address: list[list[Fact]]) -> str | None:
    """The first address whose port is open and, for TLS, whose handshake completed."""
    for group in per_address:
        tcp = [f for f in group if f.kind == "probe_tcp" and f.get("outcome") == O.OPEN]
        tls = [f for f in group if f.kind == "probe_tls"]
        if tcp and all(f.get("outcome") in _HANDSHAKE_DONE for f in tls):
            return str(tcp[0].get("ip"))
    return None


async def _after_proxy(target: Target, ctx: ProbeContext, proxy_fact: Fact,
                       decision: ProxyDecision, answering_ip: str | None) -> list[Fact]:
    """TLS through the proxy's tunnel and the HTTP request, once the proxy's fate is known."""
    proxied = decision.proxy is not None and not decision.bypassed
    jobs: list[Coroutine[Any, Any, Fact | None]] = []
    if (proxied and decision.proxy is not None and target.tls and target.port is not None
            and proxy_fact.get("outcome") == O.PROXIED_OK
            and decision.proxy.scheme in _TUNNEL_SCHEMES):
        connector = tunnel_connector(decision.proxy, target.host, target.port)
        jobs.append(probe_tls(target, None, ctx, connector=connector, via_proxy=True))
    if proxied and proxy_fact.get("outcome") == O.PROXIED_OK:
        jobs.append(probe_http(target, None, ctx, proxy=decision.proxy))
    elif not proxied and answering_ip is not None:
        jobs.append(probe_http(target, answering_ip, ctx))
    if not proxied and answering_ip is not None and (not target.tls
                                                     or target.scheme == "https"):
        # Do full-size segments arrive, the target's and this host's (X11)? For http:// a GET
        # read to its end, alongside the HTTP probe; for https:// the same over TLS, unless
        # the handshake itself already carried a full-size segment; this host's, a padded GET
        # (over TLS for https://). For a port whynet does not speak, a record that nothing
        # large could be asked for.
        jobs.append(probe_pmtu(target, answering_ip, ctx, handshake_done=target.tls))
    results = await asyncio.gather(*jobs)
    return [f for f in results if f is not None]
