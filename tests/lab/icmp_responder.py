"""A slow host for the lab: answers ICMP echo requests itself, each after a delay.

The kernel in this lab has no netem, so latency and jitter are made here: run in a namespace
whose kernel echo is off (``net.ipv4.icmp_echo_ignore_all=1``, or for an IPv6 ``--host``
``net.ipv6.icmp.echo_ignore_all=1``), it reads every echo request addressed to ``--host`` on a
raw socket and sends the echo reply after ``--delay-ms`` plus, per request, a draw from
``--jitter-ms``: ``uniform:N`` (0..N ms, from a generator seeded with
``--seed``) or ``alternate:N`` (0 and N ms in turn: a queue that fills and drains). A client
measures the round trip exactly as it would over a slow path.

Prints ``READY <ip> 0`` once bound (the lab waits for that line).
"""

from __future__ import annotations

import argparse
import heapq
import random
import socket
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from the lab
from engine.probes.icmp import checksum  # noqa: E402 - after the path is set


def reply_for_v6(message: bytes) -> bytes | None:
    """The echo reply for an ICMPv6 message (a raw ICMPv6 socket gets no IP header; the kernel
    fills in the checksum, RFC 3542), or None when it is not an echo request."""
    if len(message) < 8 or message[0] != 128:
        return None
    return bytes([129, 0, 0, 0]) + message[4:]


def reply_for(packet: bytes, host: str) -> tuple[bytes, str] | None:
    """The echo reply for an IPv4 packet carrying an echo request to ``host``, and its sender."""
    header = (packet[0] & 0x0F) * 4
    if len(packet) < header + 8 or socket.inet_ntoa(packet[16:20]) != host:
        return None
    icmp = packet[header:]
    if icmp[0] != 8:  # echo request only
        return None
    body = bytes([0, 0, 0, 0]) + icmp[4:]
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:], socket.inet_ntoa(packet[12:16])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", default="uniform:0")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    shape, _, spread = args.jitter_ms.partition(":")
    rng = random.Random(args.seed)
    v6 = ":" in args.host
    if v6:
        # Bound to the address: the kernel hands this socket only what is sent to it.
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        sock.bind((args.host, 0))
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    due: list[tuple[float, int, bytes, str]] = []
    lock = threading.Condition()

    def sender() -> None:
        while True:
            with lock:
                while not due or due[0][0] > time.monotonic():
                    lock.wait(timeout=(due[0][0] - time.monotonic()) if due else None)
                _, _, reply, to = heapq.heappop(due)
            sock.sendto(reply, (to, 0))

    threading.Thread(target=sender, daemon=True).start()
    print(f"READY {args.host} 0", flush=True)
    count = 0
    while True:
        packet, peer = sock.recvfrom(65535)
        if v6:
            reply = reply_for_v6(packet)
            answer = None if reply is None else (reply, str(peer[0]))
        else:
            answer = reply_for(packet, args.host)
        if answer is None:
            continue
        count += 1
        extra = (float(spread) * (count % 2) if shape == "alternate"
                 else rng.uniform(0, float(spread or 0)))
        with lock:
            heapq.heappush(due, (time.monotonic() + (args.delay_ms + extra) / 1000, count,
                                 *answer))
            lock.notify()
        print(f"echo {count} from {answer[1]} +{args.delay_ms + extra:.0f} ms", file=sys.stderr,
              flush=True)


if __name__ == "__main__":
    main()
