"""Duplicate address detection for this host's own IPv4 addresses, as ``arping -D`` does (C1).

An ARP *probe* (RFC 5227: sender address 0.0.0.0, target address one of ours) asks "does
anybody else hold this address?" without announcing anything: no machine updates its neighbour
table from a probe, so it changes nothing on the network or here. Every other machine that
holds the address answers; this host itself does not (its own frames do not come back to it).

IPv6 needs no probe: the kernel runs duplicate address detection itself and marks a clashing
address ``dadfailed``, which ``collectors.links`` reads into ``address.duplicate``.

Asked for at most :data:`MAX_ADDRESSES` global IPv4 addresses on interfaces that are up and
have a MAC, all at once, each waiting at most half a second. Sending raw ARP frames needs
CAP_NET_RAW (root); without it the fact says ``not_possible`` and why.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.arp import answering_macs, ask_arp, interface_mac
from engine.probes.common import Stopwatch, probe_fact

MAX_ADDRESSES = 8
UNSPECIFIED = "0.0.0.0"
_NO_LINK_LAYER = frozenset({"loopback", "tun", "wireguard", "dummy"})


def assigned_here() -> set[tuple[str, str]]:
    """(interface, IPv4 address) pairs this machine holds right now."""
    import psutil

    return {(name, a.address) for name, addrs in psutil.net_if_addrs().items()
            for a in addrs if a.family == socket.AF_INET}


def own_ipv4_addresses(facts: Sequence[Fact]) -> list[tuple[str, str]]:
    """(interface, address) pairs worth probing: global IPv4 on an up interface with a MAC,
    and assigned to this machine now (facts from a snapshot describe another machine: its
    addresses are never probed from here)."""
    interfaces = {str(f.get("name")): f for f in facts if f.kind == "interface"}
    here = assigned_here()
    pairs: list[tuple[str, str]] = []
    for f in facts:
        if f.kind != "address" or f.get("family") != 4 or f.get("scope") != "global":
            continue
        name = str(f.get("interface"))
        link = interfaces.get(name)
        if link is None or str(link.get("state")).lower() == "down" or not link.get("mac") \
                or link.get("link_kind") in _NO_LINK_LAYER:
            continue
        pair = (name, str(f.get("ip")))
        if pair in here and pair not in pairs:
            pairs.append(pair)
    return pairs[:MAX_ADDRESSES]


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


async def probe_own_addresses(facts: Sequence[Fact], timeout: float) -> list[Fact]:
    """One ``probe_dad`` fact per own address (see :func:`own_ipv4_addresses`), in parallel."""
    pairs = own_ipv4_addresses(facts)
    return list(await asyncio.gather(*(probe_dad(i, ip, timeout) for i, ip in pairs)))
