"""Two tun devices in two namespaces, joined by this process: an overlay's userspace daemon.

A Tailscale-style overlay is a tun interface whose packets a userspace daemon (tailscaled,
openvpn, wireguard-go) reads, carries to the peer, and writes into the peer's tun. The lab
needs the interface to be a real tun (``link_kind`` tun, carrier only while a process holds
it) and traffic to flow, so this process plays the daemon with no encryption and no UDP:
it creates (or attaches to) ``--left-dev`` inside ``--left-netns`` and ``--right-dev``
inside ``--right-netns`` (``TUNSETIFF`` makes a device in the namespace the process is in
at that moment, so it enters each namespace in turn), then copies every packet from one to
the other until it is killed. Standard library only.

``python tun_relay.py --left-netns A --left-dev tailscale0 --right-netns B --right-dev tun0``
prints ``READY 0.0.0.0 0`` once both devices are attached, as ``serve.py`` does.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import select
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MAX_PACKET = 65535


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(netns: str) -> None:
    """Enter ``netns`` (os.setns exists from Python 3.12 only)."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({netns}): {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tun(netns: str, dev: str) -> int:
    """A tun file descriptor for ``dev`` in ``netns`` (the device is made there if new)."""
    _setns(netns)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--left-netns", required=True)
    parser.add_argument("--left-dev", required=True)
    parser.add_argument("--right-netns", required=True)
    parser.add_argument("--right-dev", required=True)
    args = parser.parse_args()
    left = open_tun(args.left_netns, args.left_dev)
    right = open_tun(args.right_netns, args.right_dev)
    other = {left: right, right: left}
    print("READY 0.0.0.0 0", flush=True)
    while True:
        readable, _, _ = select.select([left, right], [], [])
        for fd in readable:
            try:
                packet = os.read(fd, MAX_PACKET)
                os.write(other[fd], packet)
            except OSError as exc:  # the far device down for a moment: drop, as a link does
                print(f"tun_relay: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
