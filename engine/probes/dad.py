"""Duplicate address detection for this host's own IPv4 addresses, as ``arping -D`` does (C1).

An ARP *probe* (RFC 5227: sender address 0.0.0.0, target address one of ours) asks "does
anybody else hold this address?" without announcing anything: no machine updates its neighbour
table from a probe, so it changes nothing on the network or here. Every other machine that
holds the address answers; this host itself does not (its own frames do not come back to it).

IPv6 needs no probe: the kernel runs duplicate address detection itself and marks a clashing
address ``dadfailed``, which ``collectors.links`` reads into ``address.duplicate``.

Asked for the source addresses of the targets' routes (at most :data:`MAX_ADDRESSES`), on
interfaces that do ARP, all at once, each waiting at most half a second. Sending raw ARP frames needs
CAP_NET_RAW (root); without it the fact says ``not_possible`` and why.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.arp import SYS_NET, answering_macs, ask_arp, interface_mac
from engine.probes.common import Stopwatch, probe_fact

MAX_ADDRESSES = 8
UNSPECIFIED = "0.0.0.0"
IFF_NOARP = 0x80


def assigned_here() -> set[tuple[str, str]]:
    """(interface, IPv4 address) pairs this machine holds right now."""
    import psutil

    return {(name, a.address) for name, addrs in psutil.net_if_addrs().items()
            for a in addrs if a.family == socket.AF_INET}


def own_ipv4_addresses(probed: Sequence[Fact],
                       here: set[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """(interface, address) pairs worth probing: the IPv4 source addresses the targets' routes
    use, on interfaces with a link layer, and assigned to this machine now (``here``, default
    :func:`assigned_here`). A loopback target asks nothing on any network; facts from a
    snapshot describe another machine, whose addresses are never probed from here."""
    here = assigned_here() if here is None else here
    pairs: list[tuple[str, str]] = []
    for f in probed:
        if f.kind != "probe_route" or f.get("outcome") != O.ROUTED:
            continue
        pair = (str(f.get("interface")), str(f.get("src")))
        if pair in here and pair not in pairs and pair[0] != "lo" \
                and interface_mac(pair[0]) is not None and not _no_link_layer(pair[0]):
            pairs.append(pair)
    return pairs[:MAX_ADDRESSES]


def _no_link_layer(interface: str) -> bool:
    """tun, wireguard and the like: nobody else can answer ARP there."""
    try:
        flags = int((SYS_NET / interface / "flags").read_text(), 16)
    except (OSError, ValueError):
        return True
    return bool(flags & IFF_NOARP)


async def probe_dad(interface: str, ip: str, timeout: float) -> Fact:
    """Send one ARP probe for our own ``ip`` on ``interface``; who else answers?"""
    watch = Stopwatch()
    wait = min(0.5, timeout)
    fid = f"probe_dad:{interface}:{ip}"
    what = f"arp probe (duplicate address detection) for {ip} on {interface}"
    common = {"target": f"this host's {ip}", "layer": "address", "ip": ip,
              "interface": interface}
    my_mac = interface_mac(interface)
    if my_mac is None:
        return probe_fact("probe_dad", fid, what, outcome=O.ERROR, elapsed_ms=0, macs=[],
                          error=f"{interface} has no link-layer address", **common)
    try:
        frames = await asyncio.wait_for(
            asyncio.to_thread(ask_arp, interface, my_mac, UNSPECIFIED, ip, wait), wait + 1.0)
    except PermissionError:
        return probe_fact("probe_dad", fid, what, outcome=O.NOT_POSSIBLE,
                          elapsed_ms=watch.ms(), macs=[],
                          error="sending raw ARP needs root (CAP_NET_RAW)", **common)
    except (OSError, asyncio.TimeoutError) as exc:
        return probe_fact("probe_dad", fid, what, outcome=O.ERROR, elapsed_ms=watch.ms(),
                          macs=[], error=str(exc) or exc.__class__.__name__, **common)
    others = [mac for mac in answering_macs(frames, ip) if mac != my_mac]
    return probe_fact("probe_dad", fid, what, outcome=O.DUPLICATE if others else O.UNIQUE,
                      elapsed_ms=watch.ms(), error=None, macs=others, **common)


async def probe_own_addresses(probed: Sequence[Fact], timeout: float) -> list[Fact]:
    """One ``probe_dad`` fact per own address the targets' routes use
    (see :func:`own_ipv4_addresses`), in parallel."""
    pairs = own_ipv4_addresses(probed)
    return list(await asyncio.gather(*(probe_dad(i, ip, timeout) for i, ip in pairs)))


class OwnAddressProbes:
    """:func:`probe_own_addresses`, started route by route: each own address is probed as soon
    as a target's route names it, alongside that target's other probes rather than after all
    of them (so duplicate address detection adds nothing to a run's length)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._here: set[tuple[str, str]] | None = None
        self._jobs: dict[tuple[str, str], asyncio.Future[Fact]] = {}

    def route_found(self, route: Fact) -> None:
        if self._here is None:
            self._here = assigned_here()
        for pair in own_ipv4_addresses([route], self._here):
            if pair not in self._jobs and len(self._jobs) < MAX_ADDRESSES:
                self._jobs[pair] = asyncio.ensure_future(probe_dad(*pair, self.timeout))

    async def results(self) -> list[Fact]:
        return list(await asyncio.gather(*self._jobs.values()))
