"""What a server says before the client says anything: the wrong service on a port (X30).

HTTP and TLS servers wait for the client to speak first. SSH, SMTP, FTP, POP3, IMAP, MySQL
and VNC servers greet the client as soon as it connects (RFC 4253 section 4.2, RFC 5321
section 4.2, RFC 959, RFC 1939, RFC 3501...). So when a TLS handshake or an HTTP request gets
an answer that is not TLS or HTTP, the first bytes the server sends on a fresh connection, with
nothing sent, name the service that really listens there.

:func:`read_greeting` reads at most :data:`MAX_GREETING` bytes, up to the first line end,
within its timeout; :func:`identify` names the protocol from :data:`SIGNATURES`. The text kept
is printable ASCII only, cut to :data:`SHOWN` characters (a greeting is a product banner and a
host name, never a secret, but it comes from the network and is shown to people).
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable

MAX_GREETING = 512
SHOWN = 120

#: (pattern over the first bytes, protocol named). First match wins; patterns are anchored at
#: the start of what the server sent.
SIGNATURES: tuple[tuple[re.Pattern[bytes], str], ...] = (
    (re.compile(rb"SSH-\d\.\d+-"), "SSH"),
    (re.compile(rb"220[ -][^\r\n]*\bE?SMTP\b", re.IGNORECASE), "SMTP"),
    (re.compile(rb"220[ -][^\r\n]*\b(FTP|FileZilla|vsFTPd|ProFTPD|Pure-FTPd)", re.IGNORECASE),
     "FTP"),
    (re.compile(rb"220[ -]"), "SMTP or FTP"),  # both greet with 220; no product word given
    (re.compile(rb"\+OK\b"), "POP3"),
    (re.compile(rb"\* (OK|PREAUTH)\b"), "IMAP"),
    (re.compile(rb"RFB \d{3}\.\d{3}"), "VNC (RFB)"),
    (re.compile(rb"HTTP/\d(\.\d)? \d{3}"), "HTTP"),
    # MySQL/MariaDB: a 3-byte length, sequence 0, protocol version 10, a version string.
    (re.compile(rb"[\s\S]{3}\x00\x0a\d+\.\d+\.\d+[\x00-]", re.DOTALL), "MySQL/MariaDB"),
    (re.compile(rb"\x16\x03[\x00-\x04]"), "TLS"),
)

OpenSocket = Callable[[float], Awaitable[socket.socket]]


def identify(data: bytes) -> str | None:
    """The protocol ``data`` (the first bytes a server sent) belongs to, or None.

    >>> identify(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n")
    'SSH'
    >>> identify(b"220 mail.example.com ESMTP Postfix (Debian/GNU)\\r\\n")
    'SMTP'
    >>> identify(b"hello") is None
    True
    """
    for pattern, protocol in SIGNATURES:
        if pattern.match(data):
            return protocol
    return None


def printable(data: bytes) -> str:
    """The first line of ``data`` as printable ASCII (others as ``.``), at most SHOWN chars."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in line[:SHOWN])
    return text + ("..." if len(line) > SHOWN else "")


async def read_greeting(open_socket: OpenSocket, timeout: float) -> bytes | None:
    """Connect, send nothing, and return what the server says first (up to the first line
    end or MAX_GREETING bytes, or what came before ``timeout``); b"" when it says nothing or
    closes at once; None when the connection itself fails (``open_socket`` raised). Never
    raises."""
    received = bytearray()
    try:
        sock = await asyncio.wait_for(open_socket(timeout), timeout)
    except Exception:  # noqa: BLE001 - any failure to connect means: no greeting to read
        return None
    try:
        await asyncio.wait_for(_read(sock, received), timeout)
    except (asyncio.TimeoutError, OSError, EOFError):
        pass  # silence, or a reset after the greeting: what came is the answer
    return bytes(received)


async def _read(sock: socket.socket, received: bytearray) -> None:
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    try:
        while len(received) < MAX_GREETING and b"\n" not in received:
            chunk = await loop.sock_recv(sock, MAX_GREETING - len(received))
            if not chunk:
                return
            received += chunk
    finally:
        sock.close()
