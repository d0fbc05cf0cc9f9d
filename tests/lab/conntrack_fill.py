"""Fill this network namespace's connection-tracking table with real, assured UDP entries.

Run inside a lab namespace (``python conntrack_fill.py --count N --dev IF``): it sends, through
a raw socket, UDP packets between made-up addresses routed out of ``IF`` (a dummy interface,
which discards them), in three passes: each flow's first packet, its reply (source and
destination swapped), and, two seconds later, its second packet. The kernel's connection
tracking sees a flow with traffic both ways that is still alive after two seconds, marks the
entry assured, and keeps it for nf_conntrack_udp_timeout_stream (120 s). Assured entries are
never evicted to make room, so once the namespace holds nf_conntrack_max of them, every new
connection is dropped: the real "nf_conntrack: table full, dropping packet".

Flows: 10.66.x.y:4000 -> 10.67.0.1..:P; ``count`` of them, each a distinct tuple. The entries
count against this namespace only (the count is per namespace, the limit the kernel's) and go
when the namespace is deleted. Prints ``READY <entries>`` when done.
"""

from __future__ import annotations

import argparse
import socket
import struct
import time

SRC_NET, DST_NET = (10, 66), (10, 67)
SPORT = 4000


def flows(count: int) -> list[tuple[bytes, bytes]]:
    """(first packet, reply) of ``count`` distinct flows: 64 000 ports per destination."""
    src = socket.inet_aton(f"{SRC_NET[0]}.{SRC_NET[1]}.0.1")
    out = []
    for i in range(count):
        n = i // 64000
        dst = socket.inet_aton(f"{DST_NET[0]}.{DST_NET[1]}.{n // 250}.{n % 250 + 1}")
        dport = 1024 + i % 64000
        out.append((packet(src, dst, SPORT, dport), packet(dst, src, dport, SPORT)))
    return out


def packet(src: bytes, dst: bytes, sport: int, dport: int) -> bytes:
    """An IPv4 header (checksum, total length and id filled in by the kernel) and a UDP header
    with no data and checksum 0 (none, allowed over IPv4)."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, socket.IPPROTO_UDP, 0, src, dst)
    return ip + struct.pack("!HHHH", sport, dport, 8, 0)


def send_pass(sock: socket.socket, packets: list[bytes]) -> None:
    # With IP_HDRINCL the header's own addresses go on the wire and connection tracking reads
    # them; the address given here only picks the route (every flow takes the same one).
    route = (f"{DST_NET[0]}.{DST_NET[1]}.0.1", 0)
    send = sock.sendto
    for data in packets:
        send(data, route)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    pairs = flows(args.count)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    started = time.monotonic()
    first, replies = [p for p, _ in pairs], [r for _, r in pairs]
    send_pass(sock, first)
    send_pass(sock, replies)
    time.sleep(max(0.0, 2.2 - (time.monotonic() - started)))  # a "stream": alive after 2 s
    send_pass(sock, first)
    with open("/proc/sys/net/netfilter/nf_conntrack_count") as f:
        print(f"READY {f.read().strip()} {time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    main()
