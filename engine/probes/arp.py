"""ARP for the next hop: does more than one machine answer for one address? (checklist C1)

The kernel's neighbour table keeps one MAC per address, so a duplicate IP (an old server
powered up again, a static address inside a DHCP pool) never shows there: the entry just flips
between the two machines. One broadcast ARP request shows it: every machine that holds the
address answers, each with its own MAC.

Only IPv4 next hops on Ethernet-like links are asked (the target itself when it is on the link,
else the gateway). Sending a raw ARP frame needs CAP_NET_RAW (root); without it the fact says
``not_possible`` and why. The request is the same one the kernel sends before any connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import time
from pathlib import Path

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import Stopwatch, once_per_run, probe_fact

ETH_P_ARP = 0x0806
SYS_NET = Path("/sys/class/net")


IFF_NOARP = 0x80  # <linux/if.h>
PROXY_ARP_PATIENCE = 1.0  # s: Linux's proxy_delay (0.8 s) and a margin


def interface_mac(interface: str) -> str | None:
    """The interface's MAC, or None where ARP does not apply: no link-layer address (loopback,
    tun, wireguard) or ARP switched off (``ip link set X arp off``, NOARP tunnels and
    point-to-point links): the kernel never asks ARP there, so silence would prove nothing."""
    try:
        mac = (SYS_NET / interface / "address").read_text().strip()
        flags = int((SYS_NET / interface / "flags").read_text().strip(), 16)
    except (OSError, ValueError):
        return None
    if flags & IFF_NOARP:
        return None
    return mac if mac and mac != "00:00:00:00:00:00" else None


def arp_request_frame(my_mac: str, my_ip: str, target_ip: str) -> bytes:
    mac = bytes.fromhex(my_mac.replace(":", ""))
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, socket.inet_aton(my_ip),
                      b"\0" * 6, socket.inet_aton(target_ip))
    return b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP) + arp


def answering_macs(frames: list[bytes], target_ip: str) -> list[str]:
    """The distinct sender MACs of ARP replies for ``target_ip``, in order of arrival."""
    seen: list[str] = []
    for frame in frames:
        if len(frame) < 42:
            continue
        op, sha, spa = struct.unpack("!6xH6s4s", frame[14:32])
        if op == 2 and socket.inet_ntoa(spa) == target_ip:
            mac = sha.hex(":")
            if mac not in seen:
                seen.append(mac)
    return seen


def ask_arp(interface: str, my_mac: str, my_ip: str, target_ip: str, wait: float,
            patience: float | None = None) -> list[bytes]:
    """Send one ARP request, collect the frames that come back for ``wait`` seconds (every
    holder, a second holder of a duplicate address too, answers within milliseconds on a LAN).
    When nobody has answered by then, listen on up to ``patience`` seconds in all: a Linux
    router answering by proxy ARP delays its reply by up to ``proxy_delay`` (0.8 s)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind((interface, ETH_P_ARP))
        sock.send(arp_request_frame(my_mac, my_ip, target_ip))
        frames: list[bytes] = []
        start = time.monotonic()
        longest = max(wait, patience or 0.0)
        while True:
            answered = bool(answering_macs(frames, target_ip))
            left = start + (wait if answered else longest) - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                frames.append(sock.recv(2048))
            except TimeoutError:
                break
        return frames
    finally:
        sock.close()


async def probe_arp(target: str, ip: str, interface: str, src: str, timeout: float) -> Fact | None:
    """Ask who has ``ip`` on ``interface``; None when ARP does not apply (IPv6, no MAC)."""
    try:
        if ipaddress.ip_address(ip).version != 4 or ipaddress.ip_address(src).version != 4:
            return None
    except ValueError:
        return None
    my_mac = interface_mac(interface)
    if my_mac is None:
        return None  # loopback, tun, wireguard: no link-layer addresses to clash
    watch = Stopwatch()
    wait = min(0.5, timeout)  # every holder answers within a few ms on a LAN...
    patience = min(PROXY_ARP_PATIENCE, timeout)  # ...a proxy-ARP router up to 0.8 s late
    fid = f"probe_arp:{target}:{ip}"
    what = f"arp who-has {ip} on {interface}"
    try:
        frames = await once_per_run(("arp", interface, src, ip), lambda: asyncio.wait_for(
            asyncio.to_thread(ask_arp, interface, my_mac, src, ip, wait, patience),
            patience + 1.0))
    except PermissionError:
        return probe_fact("probe_arp", fid, what, target=target, layer="address",
                          outcome=O.NOT_POSSIBLE, elapsed_ms=watch.ms(), ip=ip,
                          interface=interface, macs=[],
                          error="sending raw ARP needs root (CAP_NET_RAW)")
    except (OSError, asyncio.TimeoutError) as exc:
        return probe_fact("probe_arp", fid, what, target=target, layer="address",
                          outcome=O.ERROR, elapsed_ms=watch.ms(), ip=ip, interface=interface,
                          macs=[], error=str(exc) or exc.__class__.__name__)
    macs = answering_macs(frames, ip)
    outcome = O.DUPLICATE if len(macs) > 1 else O.SINGLE if macs else O.NO_ANSWER
    return probe_fact("probe_arp", fid, what, target=target, layer="address", outcome=outcome,
                      elapsed_ms=watch.ms(), error=None, ip=ip, interface=interface, macs=macs)
