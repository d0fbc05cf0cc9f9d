"""Targets as the user writes them: ``host``, ``host:port``, ``ip``, ``[v6]:port``, bare ``v6``,
and URLs (``https://h:8443/p``, ``smb://h``, ``postgres://user:pass@h/db``).

A URL's scheme gives the port when none is written (checklist R6), from the one table
:data:`SCHEMES`; the reason is kept, so a report can say "port 445 (smb default)".

* Credentials in a URL (``user:pass@``, ``?token=...``) never survive parsing: :attr:`Target.raw`
  is the text with the user-info replaced by ``***`` and secret query values by ``<redacted>``
  (:func:`engine.redact.redact_text`); :attr:`Target.path` keeps the real query for the request
  and :attr:`Target.shown_path` is the one to record.
* A bare host or address with no port and no scheme has **no port**: only the name, route and
  ICMP probes run for it, never TCP, TLS or HTTP.
* An unknown scheme is fine with an explicit port (``foo://h:1234``) and an error without one.
* Bad input raises :class:`TargetError`, a ``ValueError`` with one clear line.

>>> parse_target("https://example.org/p").port_text
'port 443 (https default)'
>>> parse_target("[2001:db8::1]:22").host
'2001:db8::1'
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from engine.redact import redact_path, redact_text


class TargetError(ValueError):
    """A target whynet cannot understand; the message is one line for the user."""


@dataclass(frozen=True)
class Scheme:
    port: int
    tls: bool = False


# THE table of default ports (checklist R6). tls: the connection starts with a TLS handshake
# (implicit TLS); STARTTLS protocols (smtp, imap, postgres, ldap...) are not marked.
SCHEMES: dict[str, Scheme] = {
    "http": Scheme(80), "https": Scheme(443, tls=True),
    "ws": Scheme(80), "wss": Scheme(443, tls=True),
    "ssh": Scheme(22), "sftp": Scheme(22), "scp": Scheme(22), "git": Scheme(9418),
    "ftp": Scheme(21), "ftps": Scheme(990, tls=True), "telnet": Scheme(23),
    "smb": Scheme(445), "cifs": Scheme(445), "rdp": Scheme(3389), "vnc": Scheme(5900),
    "dns": Scheme(53), "kerberos": Scheme(88), "nfs": Scheme(2049), "rsync": Scheme(873),
    "ldap": Scheme(389), "ldaps": Scheme(636, tls=True),
    "smtp": Scheme(25), "submission": Scheme(587), "smtps": Scheme(465, tls=True),
    "imap": Scheme(143), "imaps": Scheme(993, tls=True),
    "pop3": Scheme(110), "pop3s": Scheme(995, tls=True),
    "postgres": Scheme(5432), "postgresql": Scheme(5432),
    "mysql": Scheme(3306), "mariadb": Scheme(3306),
    "mssql": Scheme(1433), "sqlserver": Scheme(1433), "oracle": Scheme(1521),
    "redis": Scheme(6379), "rediss": Scheme(6380, tls=True),
    "mongodb": Scheme(27017), "memcached": Scheme(11211), "cassandra": Scheme(9042),
    "amqp": Scheme(5672), "amqps": Scheme(5671, tls=True),
    "mqtt": Scheme(1883), "mqtts": Scheme(8883, tls=True),
    "kafka": Scheme(9092), "nntp": Scheme(119), "xmpp": Scheme(5222),
    "irc": Scheme(6667), "ircs": Scheme(6697, tls=True), "sips": Scheme(5061, tls=True),
    "socks": Scheme(1080), "socks5": Scheme(1080),
}

# Ports that imply TLS when no scheme says otherwise (``host:443``).
TLS_PORTS = frozenset({443, 465, 636, 853, 990, 993, 995, 4443, 5061, 6697, 8443, 8883, 9443})

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Target:
    """One thing to probe, as parsed.

    ``raw`` is what the user wrote, credentials removed; every probe fact's ``target`` field is it.
    ``path`` is the real path and query, sent in requests and never recorded (``shown_path``).
    """

    raw: str
    host: str
    port: int | None
    port_reason: str | None  # "explicit", "<scheme> default", or None when there is no port
    scheme: str | None
    is_ip: bool
    tls: bool
    path: str = field(default="/", repr=False)  # may hold a token: see shown_path

    @property
    def family(self) -> int | None:
        """4 or 6 when the host is an address, else None."""
        return ipaddress.ip_address(self.host).version if self.is_ip else None

    @property
    def port_text(self) -> str:
        """``port 443 (https default)``, ``port 8443 (explicit)`` or the no-port sentence."""
        if self.port is None:
            return "no port (name, route and ICMP probes only)"
        return f"port {self.port} ({self.port_reason})"

    @property
    def shown_path(self) -> str:
        """:attr:`path` as a fact or report may show it: secret query values redacted
        (``/x?token=<redacted>``); the request itself is sent with :attr:`path`."""
        return redact_path(self.path)

    def to_json(self) -> dict[str, Any]:
        """The parsed target for a report's ``targets`` list (``port_text`` included)."""
        return {**asdict(self), "path": self.shown_path, "port_text": self.port_text}

    @property
    def hostport(self) -> str:
        """``host:port`` with IPv6 in brackets (what CONNECT and Host: headers want)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def parse_target(text: str) -> Target:
    """Parse one target; raise :class:`TargetError` with one line when it makes no sense."""
    stripped = text.strip()
    if not stripped:
        raise TargetError("empty target: give a host, host:port, an address or a URL")
    if "://" in stripped:
        return _parse_url(stripped)
    return _parse_plain(stripped)


def _parse_url(text: str) -> Target:
    shown = redact_text(text)
    try:
        parts = urlsplit(text)
        explicit_port = parts.port
    except ValueError as exc:
        raise TargetError(f"bad target {shown!r}: {_port_message(exc)}") from None
    scheme = parts.scheme.lower()
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        raise TargetError(f"bad target {shown!r}: {scheme!r} is not a URL scheme")
    if parts.hostname is None or not parts.hostname:
        raise TargetError(f"bad target {shown!r}: the URL has no host")
    host, is_ip = _check_host(parts.hostname, shown)
    known = SCHEMES.get(scheme)
    if explicit_port is not None:
        port, reason = _check_port(explicit_port, shown), "explicit"
    elif known is not None:
        port, reason = known.port, f"{scheme} default"
    else:
        raise TargetError(
            f"bad target {shown!r}: unknown scheme {scheme!r} and no port; "
            f"write the port ({scheme}://host:PORT)"
        )
    tls = known.tls if known is not None else port in TLS_PORTS
    return Target(
        raw=shown, host=host, port=port, port_reason=reason, scheme=scheme, is_ip=is_ip, tls=tls,
        path=_path_of(parts.path, parts.query),
    )


def _parse_plain(text: str) -> Target:
    shown = text
    if "@" in text:  # ssh-style user@host: keep no user name either
        text = text.rsplit("@", 1)[1]
        shown = f"***@{text}"
    host_text, port_text = _split_host_port(text, shown)
    host, is_ip = _check_host(host_text, shown)
    if text.startswith("[") and ":" not in host:
        raise TargetError(f"bad target {shown!r}: {host_text!r} in brackets is not an IPv6 address")
    port = None
    if port_text is not None:
        if not port_text.isdigit():
            raise TargetError(f"bad target {shown!r}: port {port_text!r} is not a number")
        port = _check_port(int(port_text), shown)
    return Target(
        raw=shown, host=host, port=port, port_reason="explicit" if port is not None else None,
        scheme=None, is_ip=is_ip, tls=port in TLS_PORTS,
    )


def _split_host_port(text: str, shown: str) -> tuple[str, str | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise TargetError(f"bad target {shown!r}: '[' without a closing ']'")
        rest = text[end + 1:]
        if rest and not rest.startswith(":"):
            raise TargetError(f"bad target {shown!r}: unexpected {rest!r} after ']'")
        return text[1:end], (rest[1:] if rest else None)
    if text.count(":") > 1:  # a bare IPv6 address: no port possible without brackets
        return text, None
    if ":" in text:
        host, port = text.split(":", 1)
        return host, port
    return text, None


def _check_host(host: str, shown: str) -> tuple[str, bool]:
    if not host:
        raise TargetError(f"bad target {shown!r}: empty host")
    if ":" in host and "%25" in host:
        # A URL writes an IPv6 zone index percent-encoded (RFC 6874: http://[fe80::1%25eth0]/);
        # sockets and `ip route get` want it plain (fe80::1%eth0).
        host = host.replace("%25", "%", 1)
    try:
        return str(ipaddress.ip_address(host)), True
    except ValueError:
        pass
    if ":" in host or host.startswith("["):
        raise TargetError(f"bad target {shown!r}: {host!r} is not a valid IPv6 address")
    name = host.lower().rstrip(".")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise TargetError(f"bad target {shown!r}: {host!r} is not a valid host name") from None
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise TargetError(f"bad target {shown!r}: {host!r} is not a valid host name")
    if all(label.isdigit() for label in labels):
        raise TargetError(f"bad target {shown!r}: {host!r} is not a valid IPv4 address")
    return name, False


def _check_port(port: int, shown: str) -> int:
    if not 1 <= port <= 65535:
        raise TargetError(f"bad target {shown!r}: port {port} is out of range (1-65535)")
    return port


def _port_message(exc: ValueError) -> str:
    text = str(exc)
    if "out of range" in text:
        return "port is out of range (1-65535)"
    if "Port could not be cast" in text or "invalid literal" in text:
        return "the port is not a number"
    return text


def _path_of(path: str, query: str) -> str:
    path = path or "/"
    return f"{path}?{query}" if query else path
