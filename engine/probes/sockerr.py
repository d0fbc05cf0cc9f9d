"""Reading the ICMP error behind a failed connect: Linux ``IP_RECVERR`` and the error queue.

With ``IP_RECVERR`` (``IPV6_RECVERR``) set on a socket, Linux queues every ICMP error that
concerns it, as a ``sock_extended_err`` read with ``recvmsg(..., MSG_ERRQUEUE)``: the errno, the
origin (ICMP, ICMPv6 or local), the ICMP type and code, and the address that sent it (the
"offender"). For TCP this works during the handshake (SYN_SENT): measured on Linux 6.x, an
``icmp admin-prohibited`` reject gives EHOSTUNREACH *and* type 3 code 13 from the rejecting host;
an ``icmp port-unreachable`` reject gives ECONNREFUSED with type 3 code 3 — whereas a plain TCP
RST (a closed port, or ``reject with tcp-reset``) gives ECONNREFUSED with nothing queued.
Python's ``socket`` module does not export the constants, so they are defined here.
"""

from __future__ import annotations

import errno as _errno
import socket
import struct
from dataclasses import dataclass

IP_RECVERR = 11
IPV6_RECVERR = 25
SOL_IPV6 = 41
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

_EXTENDED_ERR = struct.Struct("=IBBBBII")

# ICMP destination-unreachable (type 3) codes, RFC 792 / RFC 1812, named as nft names them.
ICMP4_UNREACH = {
    0: "net-unreachable", 1: "host-unreachable", 2: "protocol-unreachable",
    3: "port-unreachable", 4: "fragmentation-needed", 5: "source-route-failed",
    6: "net-unknown", 7: "host-unknown", 8: "source-host-isolated", 9: "net-prohibited",
    10: "host-prohibited", 11: "net-unreachable-for-tos", 12: "host-unreachable-for-tos",
    13: "admin-prohibited", 14: "host-precedence-violation", 15: "precedence-cutoff",
}
# ICMPv6 destination-unreachable (type 1) codes, RFC 4443, named as nft names them.
ICMP6_UNREACH = {
    0: "no-route", 1: "admin-prohibited", 2: "beyond-scope", 3: "addr-unreachable",
    4: "port-unreachable", 5: "policy-fail", 6: "reject-route",
}


@dataclass(frozen=True)
class QueuedError:
    """One ``sock_extended_err`` from the error queue."""

    errno: str | None
    origin: str  # icmp, icmp6, local, none
    icmp_type: int
    icmp_code: int
    name: str | None  # admin-prohibited, port-unreachable... or None when not an ICMP error
    offender: str | None  # the address that sent the ICMP error


def enable_recverr(sock: socket.socket) -> bool:
    """Ask the kernel to queue ICMP errors for this socket; False where it cannot."""
    try:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(SOL_IPV6, IPV6_RECVERR, 1)
        else:
            sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
    except OSError:
        return False
    return True


def read_queued_error(sock: socket.socket) -> QueuedError | None:
    """The first error waiting on the socket's error queue, or None (never blocks or raises)."""
    try:
        _data, ancdata, _flags, _addr = sock.recvmsg(512, 512, socket.MSG_ERRQUEUE | _dontwait())
    except (OSError, ValueError):
        return None
    for level, kind, payload in ancdata:
        if (level, kind) in ((socket.SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)):
            return parse_extended_err(payload)
    return None


def parse_extended_err(payload: bytes) -> QueuedError | None:
    """Decode ``struct sock_extended_err`` followed by the offender's sockaddr."""
    if len(payload) < _EXTENDED_ERR.size:
        return None
    ee_errno, origin, icmp_type, icmp_code, _pad, _info, _data = _EXTENDED_ERR.unpack_from(payload)
    offender = _sockaddr_ip(payload[_EXTENDED_ERR.size:])
    origin_name = {SO_EE_ORIGIN_ICMP: "icmp", SO_EE_ORIGIN_ICMP6: "icmp6",
                   SO_EE_ORIGIN_LOCAL: "local"}.get(origin, "none")
    return QueuedError(
        errno=_errno.errorcode.get(ee_errno), origin=origin_name, icmp_type=icmp_type,
        icmp_code=icmp_code, name=icmp_error_name(origin_name, icmp_type, icmp_code),
        offender=offender,
    )


def icmp_error_name(origin: str, icmp_type: int, icmp_code: int) -> str | None:
    """``admin-prohibited`` for ICMP 3/13 or ICMPv6 1/1; ``time-exceeded``; None otherwise."""
    if origin == "icmp":
        if icmp_type == 3:
            return ICMP4_UNREACH.get(icmp_code, f"unreachable-code-{icmp_code}")
        if icmp_type == 11:
            return "time-exceeded"
        return f"icmp-type-{icmp_type}-code-{icmp_code}"
    if origin == "icmp6":
        if icmp_type == 1:
            return ICMP6_UNREACH.get(icmp_code, f"unreachable-code-{icmp_code}")
        if icmp_type == 2:
            return "packet-too-big"
        if icmp_type == 3:
            return "time-exceeded"
        return f"icmp6-type-{icmp_type}-code-{icmp_code}"
    return None


def _sockaddr_ip(raw: bytes) -> str | None:
    if len(raw) < 2:
        return None
    family = struct.unpack_from("=H", raw)[0]
    if family == socket.AF_INET and len(raw) >= 8:
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    return None


def _dontwait() -> int:
    return getattr(socket, "MSG_DONTWAIT", 0)
