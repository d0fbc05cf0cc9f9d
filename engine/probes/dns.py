"""Name resolution two ways (checklist B5, D1, D2, R5).

1. The **system resolver** (``getaddrinfo``, what most programs use), and whether its answer came
   from the hosts file: the hosts file is read here for that name and consulted as nsswitch does
   (``files`` before ``dns``); ``from_hosts`` is true when ``files`` comes first in the
   ``hosts:`` line, the file names the host and every address the system gave is on those lines.
   One ``probe_resolve`` fact with ``via: system``, ``rdtype: ANY`` (both families).
2. **Each configured nameserver directly** with dnspython, A and AAAA: UDP first, TCP when UDP
   times out (after 60% of the budget) or the answer is truncated (``fallback`` says which).
   One fact per server and type, ``via`` = the server's address. A server that gave no answer
   at all also gets ``route_interface``, the interface the route to it leaves on (one
   ``ip route get``, only then), so strict reverse-path filtering of replies that come back
   on another interface can be named (X40).

Names with fewer dots than ``ndots`` are tried with the search domains first, as the system
resolver does; ``qname`` is the name that was finally asked. When that is a search-domain
expansion of a name with a dot in it (``example.org`` answered as ``example.org.corp.test``:
ndots:5 as in Kubernetes pods, or a wildcard record in a search domain), the name as typed is
asked too and its answer kept (``as_typed_outcome``, ``as_typed_addresses``): the two may lead
to different hosts. The system resolver's own canonical name (``AI_CANONNAME``) says which
expansion it used (``expanded_by``).

3. **A name that cannot exist**, once per run and per nameserver (:func:`probe_nxdomain`): a
   random label under ``.com``. A server that answers it with an address rewrites NXDOMAIN
   (an ISP's "search assist" page): every mistyped or missing name then "resolves".

An address target is not resolved: no ``probe_resolve`` fact is made for it (the layer summary
marks the name layer ``skipped``).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from engine import files
from engine.collectors.hosts import MAX_FILE_BYTES as HOSTS_READ_LIMIT
from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import (
    Stopwatch,
    describe_exception,
    errno_name,
    in_daemon_thread,
    probe_fact,
)
from engine.probes.common import unique as _unique
from engine.probes.context import ProbeContext
from engine.probes.route import route_interface

UDP_SHARE = 0.6  # of the timeout given to UDP before falling back to TCP
_EAI_NODATA = getattr(socket, "EAI_NODATA", -5)
_GAI_OUTCOMES = {
    socket.EAI_NONAME: O.NXDOMAIN, _EAI_NODATA: O.NO_ANSWER, socket.EAI_AGAIN: O.TEMPORARY_FAILURE,
}


@dataclass(frozen=True)
class HostsMatch:
    line: int
    ip: str


def hosts_lookup(name: str, path: Path) -> list[HostsMatch]:
    """Lines of the hosts file that name ``name`` (case-insensitive), in file order."""
    try:
        text = files.read_head(path, HOSTS_READ_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        return []
    wanted = name.lower().rstrip(".")
    found: list[HostsMatch] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and wanted in (n.lower().rstrip(".") for n in fields[1:]):
            found.append(HostsMatch(number, fields[0]))
    return found


def answered_from_hosts(
    addresses: Sequence[str], matches: Sequence[HostsMatch], nsswitch: Sequence[str],
) -> bool:
    """True when nsswitch consults ``files`` before ``dns`` and the hosts file gave every address."""
    if not addresses or not matches or "files" not in nsswitch:
        return False
    if "dns" in nsswitch and nsswitch.index("dns") < nsswitch.index("files"):
        return False
    return set(addresses) <= {m.ip for m in matches}


async def resolve_system(target: str, host: str, ctx: ProbeContext) -> tuple[Fact, list[str]]:
    """getaddrinfo (in a thread, bounded by the timeout) -> the fact and the addresses, in order."""
    watch = Stopwatch()
    outcome, error, addresses, canonical = O.RESOLVED, None, [], None
    try:
        infos = await asyncio.wait_for(
            in_daemon_thread(socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM, 0,
                             socket.AI_CANONNAME), ctx.timeout)
        addresses = _unique(str(info[4][0]) for info in infos)
        canonical = next((str(info[3]) for info in infos if info[3]), None)
    except asyncio.TimeoutError:
        outcome, error = O.TIMEOUT, f"getaddrinfo gave no answer within {ctx.timeout:g}s"
    except socket.gaierror as exc:
        outcome, error = _GAI_OUTCOMES.get(exc.errno, O.ERROR), describe_exception(exc)
    except (OSError, UnicodeError) as exc:
        outcome, error = O.ERROR, describe_exception(exc)
    matches = hosts_lookup(host, ctx.hosts_path)
    from_hosts = answered_from_hosts(addresses, matches, ctx.nsswitch_hosts)
    fact = probe_fact(
        "probe_resolve", f"probe_resolve:{target}:system", f"getaddrinfo {host}",
        target=target, layer="name", outcome=outcome, elapsed_ms=watch.ms(), error=error,
        host=host, via="system", transport="system", rdtype="ANY", qname=host,
        addresses=addresses, from_hosts=from_hosts,
        hosts_line=matches[0].line if from_hosts else None,
        hosts_addresses=[m.ip for m in matches], nsswitch_hosts=list(ctx.nsswitch_hosts),
        rcode=None, fallback=None, canonical=canonical,
        expanded_by=expanded_by(host, canonical, ctx.search_domains),
    )
    return fact, addresses


def expanded_by(host: str, canonical: str | None, search: Sequence[str]) -> str | None:
    """The search domain the system resolver appended to ``host``, read from the canonical
    name it answered for (``app`` -> ``app.corp.test``: ``corp.test``), or None (the name as
    typed, or a CNAME that hides which name was asked)."""
    if not canonical or host.endswith("."):
        return None
    answered = canonical.lower().rstrip(".")
    for domain in search:
        if answered == f"{host.lower()}.{domain.lower().rstrip('.')}":
            return domain
    return None


def query_names(host: str, search: Sequence[str], ndots: int) -> list[str]:
    """The names the system resolver would try, in order (resolv.conf ``search``/``ndots``)."""
    if host.endswith("."):
        return [host]
    searched = [f"{host}.{domain}" for domain in search if domain]
    return [host, *searched] if host.count(".") >= ndots else [*searched, host]


@dataclass
class _Answer:
    outcome: str
    transport: str
    addresses: list[str]
    rcode: str | None = None
    error: str | None = None
    fallback: str | None = None


async def resolve_via_nameserver(
    host: str, server: str, *, rdtype: str = "A", port: int = 53, timeout: float = 3.0,
    target: str | None = None, search: Sequence[str] = (), ndots: int = 1,
) -> Fact:
    """Ask ``server`` (at ``port``) directly for ``host``'s ``rdtype`` records: a probe_resolve."""
    watch = Stopwatch()
    answer, qname = _Answer(O.ERROR, "udp", [], error="no name to ask"), host
    tried: dict[str, _Answer] = {}
    for qname in query_names(host, search, ndots):
        answer = tried[qname] = await _ask(qname, server, port, rdtype, watch.remaining(timeout))
        if answer.outcome != O.NXDOMAIN:
            break
    as_typed: _Answer | None = None
    expanded = qname != host and answer.outcome == O.RESOLVED
    if expanded and "." in host.rstrip("."):
        # A qualified-looking name answered through a search domain: what does the name as
        # typed lead to? (asked only in this case, so a healthy run asks nothing more)
        as_typed = tried.get(host) or await _ask(host, server, port, rdtype,
                                                 watch.remaining(timeout))
    # No answer at all: which interface do the queries leave on? Replies that come back on
    # another one meet reverse-path filtering (X40). Looked up only then: a run whose servers
    # answer runs no extra command.
    out_interface = (await route_interface(server, timeout) if answer.outcome == O.TIMEOUT
                     else None)
    via = server if port == 53 else f"{server}:{port}"
    where = f"[{server}]:{port}" if ":" in server else f"{server}:{port}"
    return probe_fact(
        "probe_resolve", f"probe_resolve:{target or host}:{via}:{rdtype}",
        f"dns query {qname} {rdtype} @{where}", target=target or host, layer="name",
        outcome=answer.outcome, elapsed_ms=watch.ms(), error=answer.error, host=host, via=via,
        transport=answer.transport, rdtype=rdtype, qname=qname.rstrip("."),
        addresses=answer.addresses, from_hosts=False, hosts_line=None, rcode=answer.rcode,
        fallback=answer.fallback, expanded=expanded,
        as_typed_outcome=as_typed.outcome if as_typed else None,
        as_typed_addresses=as_typed.addresses if as_typed else None,
        route_interface=out_interface,
    )


async def _ask(qname: str, server: str, port: int, rdtype: str, budget: float) -> _Answer:
    query = dns.message.make_query(qname if qname.endswith(".") else f"{qname}.", rdtype)
    watch = Stopwatch()
    fallback = None
    try:
        response = await dns.asyncquery.udp(
            query, server, timeout=budget * UDP_SHARE, port=port, raise_on_truncation=True)
        return _read_response(response, rdtype, "udp")
    except dns.message.Truncated:
        fallback = "udp answer truncated"
    except dns.exception.Timeout:
        fallback = f"no udp answer within {budget * UDP_SHARE:.1f}s"
    except OSError as exc:
        return _answer_for_oserror(exc, "udp")
    except dns.exception.DNSException as exc:
        return _Answer(O.ERROR, "udp", [], error=describe_exception(exc))
    try:
        response = await dns.asyncquery.tcp(query, server, timeout=watch.remaining(budget),
                                            port=port)
    except (dns.exception.Timeout, asyncio.TimeoutError):
        return _Answer(O.TIMEOUT, "tcp", [], error=f"{fallback}; no tcp answer either",
                       fallback=fallback)
    except OSError as exc:
        answer = _answer_for_oserror(exc, "tcp")
        answer.error, answer.fallback = f"{fallback}; tcp: {answer.error}", fallback
        return answer
    except dns.exception.DNSException as exc:
        return _Answer(O.ERROR, "tcp", [], error=describe_exception(exc), fallback=fallback)
    answer = _read_response(response, rdtype, "tcp")
    answer.fallback = fallback
    return answer


def _read_response(response: dns.message.Message, rdtype: str, transport: str) -> _Answer:
    rcode = dns.rcode.to_text(response.rcode())
    if response.rcode() == dns.rcode.NXDOMAIN:
        return _Answer(O.NXDOMAIN, transport, [], rcode, "the server says the name does not exist")
    if response.rcode() == dns.rcode.SERVFAIL:
        return _Answer(O.SERVFAIL, transport, [], rcode, "the server failed (SERVFAIL)")
    if response.rcode() == dns.rcode.REFUSED:
        return _Answer(O.REFUSED, transport, [], rcode,
                       "the server refused the query (REFUSED: not serving this client or zone)")
    if response.rcode() != dns.rcode.NOERROR:
        return _Answer(O.ERROR, transport, [], rcode, f"the server answered {rcode}")
    wanted = dns.rdatatype.from_text(rdtype)
    addresses = [rd.to_text() for rrset in response.answer if rrset.rdtype == wanted for rd in rrset]
    if not addresses:
        return _Answer(O.NO_ANSWER, transport, [], rcode, f"the name has no {rdtype} record")
    return _Answer(O.RESOLVED, transport, _unique(addresses), rcode)


def _answer_for_oserror(exc: OSError, transport: str) -> _Answer:
    name = errno_name(exc)
    if name == "ECONNREFUSED":
        return _Answer(O.UNREACHABLE, transport, [],
                       error=f"nothing answers on the DNS port ({describe_exception(exc)})")
    if name in ("ENETUNREACH", "EHOSTUNREACH", "EACCES", "EPERM"):
        return _Answer(O.UNREACHABLE, transport, [], error=describe_exception(exc))
    return _Answer(O.ERROR, transport, [], error=describe_exception(exc))


def is_localhost_name(host: str) -> bool:
    """``localhost`` and names under it (RFC 6761 section 6.3): resolvers answer them with the
    loopback address themselves and should never send them to a DNS server."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


async def probe_dns(target: str, host: str, ctx: ProbeContext) -> tuple[list[Fact], list[str]]:
    """System resolution plus every nameserver, A and AAAA, all at once; returns the system's
    addresses (the ones programs would connect to). A localhost name is the system's alone:
    what a DNS server says of it (NXDOMAIN, REFUSED, an address) concerns no program."""
    servers = [] if is_localhost_name(host) else ctx.nameservers
    direct = [
        resolve_via_nameserver(host, server, rdtype=rdtype, timeout=ctx.timeout, target=target,
                               search=ctx.search_domains, ndots=ctx.ndots)
        for server in servers for rdtype in ("A", "AAAA")
    ]
    results = await asyncio.gather(resolve_system(target, host, ctx), *direct)
    # gather types a mix of awaitables passed through *args as list[object]: the first result is
    # resolve_system's (fact, addresses), the others are resolve_via_nameserver's facts.
    system_fact, addresses = cast("tuple[Fact, list[str]]", results[0])
    direct_facts = cast("list[Fact]", results[1:])
    return [system_fact, *direct_facts], addresses


NX_PARENT = "com"  # a real TLD: a rewriting resolver sees the upstream's NXDOMAIN and replaces it


def nonexistent_name() -> str:
    """A random label no one registered (64 bits of randomness), under a real top-level domain."""
    return f"whynet-nx-{secrets.token_hex(8)}.{NX_PARENT}"


async def probe_nxdomain(ctx: ProbeContext, port: int = 53) -> list[Fact]:
    """Ask every configured nameserver for a name that cannot exist: one ``probe_nxdomain``
    fact each. ``resolved`` means the server rewrites NXDOMAIN into an address."""
    name = nonexistent_name()

    async def one(server: str) -> Fact:
        watch = Stopwatch()
        answer = await _ask(name, server, port, "A", ctx.timeout)
        where = f"[{server}]:{port}" if ":" in server else f"{server}:{port}"
        return probe_fact(
            "probe_nxdomain", f"probe_nxdomain:{server}", f"dns query {name} A @{where}",
            target=f"resolver {server}", layer="name", outcome=answer.outcome,
            elapsed_ms=watch.ms(), error=answer.error, via=server, qname=name,
            transport=answer.transport, addresses=answer.addresses, rcode=answer.rcode,
        )

    return list(await asyncio.gather(*(one(s) for s in ctx.nameservers)))
