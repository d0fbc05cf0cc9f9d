"""One address family broken while the other works (X10), derived from the probes.

A dual-stack name (A and AAAA) is probed on every address it resolves to (``engine.probes``
connects to each, IPv4 and IPv6 alike). When every connection of one family fails in a way
that costs time (no answer at all, or an ICMP error from the path) while a connection of the
other family opens, programs see very different things depending on how they connect:

* The system resolver (``getaddrinfo``) sorts the addresses by RFC 6724 (glibc: destination
  address selection, tunable in ``/etc/gai.conf``): a host with a global IPv6 source address
  gets the AAAA first, a host with only a ULA or link-local IPv6 source, or none, gets the A
  first. The order whynet saw is the order the ``probe_resolve`` fact of the system resolver
  lists.
* Programs that race the families (Happy Eyeballs, RFC 8305: browsers, curl, Go's net.Dial,
  systemd's tools) connect after a short delay whichever family is broken.
* Programs that try the addresses one after the other in that order (Python's
  ``socket.create_connection`` and urllib3/requests, OpenSSH, many Java clients) wait for
  their connect timeout on each address of the broken family before they try the other one;
  a program that takes only the first address fails outright.

The derived ``family_split`` fact records both sides and the resolver order, so a rule can
say which of these the user meets. It is read from probe facts only: a report or snapshot
derives the same.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from engine.facts import Fact, make_fact
from engine.probes import outcomes as O

#: Outcomes that cost a connecting program time or an error while the path should work: no
#: answer, or an ICMP error from the path. ``no_route`` (this host has no route for the family,
#: ENETUNREACH at once) and ``refused`` (the target answers) are not a broken family.
BROKEN_OUTCOMES = frozenset({O.TIMEOUT, O.UNREACHABLE})


def family(ip: object) -> int | None:
    """4 or 6 for an address (a zone index allowed), None for anything else."""
    try:
        return ipaddress.ip_address(str(ip).split("%")[0]).version
    except ValueError:
        return None


def _label(target: Any) -> str:
    return str(getattr(target, "raw", target))


def family_splits(targets: Sequence[Any], facts: Sequence[Fact]) -> list[Fact]:
    """One ``family_split`` fact per target whose connections work over one family only."""
    by_target: dict[str, dict[str, list[Fact]]] = {}
    for f in facts:
        if f.kind in ("probe_tcp", "probe_route", "probe_resolve") and not f.get("via_proxy"):
            by_target.setdefault(str(f.get("target")), {}).setdefault(f.kind, []).append(f)
    out: list[Fact] = []
    for target in targets:
        label = _label(target)
        found = by_target.get(label, {})
        split = _split(label, found.get("probe_tcp", []), found.get("probe_route", []),
                       found.get("probe_resolve", []))
        if split is not None:
            out.append(split)
    return out


def _split(target: str, tcp: list[Fact], routes: list[Fact], resolves: list[Fact]
           ) -> Fact | None:
    per_family: dict[int, list[Fact]] = {}
    for f in tcp:
        fam = family(f.get("ip"))
        if fam is not None:
            per_family.setdefault(fam, []).append(f)
    if set(per_family) != {4, 6}:
        return None
    working = [fam for fam, fs in per_family.items()
               if any(f.get("outcome") == O.OPEN for f in fs)]
    if len(working) != 1:
        return None
    good, bad = working[0], 10 - working[0]
    broken = per_family[bad]
    if not all(f.get("outcome") in BROKEN_OUTCOMES for f in broken):
        return None
    routed = {str(r.get("ip")) for r in routes if r.get("outcome") == O.ROUTED}
    if not any(str(f.get("ip")) in routed for f in broken):
        return None  # this host does not route that family: nothing is tried over it
    system = [r for r in resolves if r.get("via") == "system"]
    order = [str(a) for a in (system[0].get("addresses") or [])] if system else []
    probed = [str(f.get("ip")) for f in tcp]
    order = [a for a in order if a in probed] or probed
    first_ip = order[0]
    first_family = family(first_ip)
    opened = [f for f in per_family[good] if f.get("outcome") == O.OPEN]
    slowest = max(broken, key=lambda f: int(f.get("elapsed_ms") or 0))
    outcomes = sorted({str(f.get("outcome")) for f in broken})
    return make_fact(
        "family_split", f"family_split:{target}", {"derived_from": "probe facts (engine.families)"},
        target=target, port=broken[0].get("port"),
        broken_family=bad, working_family=good,
        broken_ips=[str(f.get("ip")) for f in broken],
        working_ips=[str(f.get("ip")) for f in opened],
        broken_outcome=outcomes[0] if len(outcomes) == 1 else "/".join(outcomes),
        broken_error=slowest.get("error"), broken_ms=int(slowest.get("elapsed_ms") or 0),
        icmp=next((f.get("icmp") for f in broken if f.get("icmp")), None),
        icmp_from=next((f.get("icmp_from") for f in broken if f.get("icmp_from")), None),
        order=order, first_ip=first_ip, first_family=first_family,
        broken_first=first_family == bad,
        resolver_order_known=bool(system),
    )
