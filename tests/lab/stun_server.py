"""A minimal STUN server for the lab (RFC 5389 Binding only): answers each Binding request
with the source address and port it saw, as XOR-MAPPED-ADDRESS and MAPPED-ADDRESS.

    python stun_server.py --host 203.0.113.50 --port 3478

Prints ``READY host port`` once bound (as serve.py does), then serves until killed.
"""

from __future__ import annotations

import argparse
import socket
import struct

MAGIC = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS = 0x0001, 0x0101
MAPPED_ADDRESS, XOR_MAPPED_ADDRESS = 0x0001, 0x0020


def attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def binding_success(transaction: bytes, ip: str, port: int) -> bytes:
    raw_ip = socket.inet_aton(ip)
    xor_ip = bytes(a ^ b for a, b in zip(raw_ip, struct.pack("!I", MAGIC), strict=True))
    body = (attribute(XOR_MAPPED_ADDRESS, struct.pack("!BBH", 0, 1, port ^ (MAGIC >> 16)) + xor_ip)
            + attribute(MAPPED_ADDRESS, struct.pack("!BBH", 0, 1, port) + raw_ip))
    return struct.pack("!HHI", BINDING_SUCCESS, len(body), MAGIC) + transaction + body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=3478)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.host, args.port))
    print(f"READY {args.host} {sock.getsockname()[1]}", flush=True)
    while True:
        data, (ip, port) = sock.recvfrom(2048)
        if len(data) < 20:
            continue
        kind, _length, magic = struct.unpack_from("!HHI", data)
        if kind == BINDING_REQUEST and magic == MAGIC:
            sock.sendto(binding_success(data[8:20], ip, port), (ip, port))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
