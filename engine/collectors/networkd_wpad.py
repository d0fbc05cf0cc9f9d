"""WPAD offered by DHCP (option 252), from the lease files of systemd's DHCP client (sd-dhcp).

``dhcp_wpad`` reads ISC dhclient's leases; most Linux machines today take their DHCPv4 lease
with systemd-networkd instead (servers, cloud images, many desktops), whose lease files are a
different source in a different format, read here.

Reads:   systemd-networkd's ``/run/systemd/netif/leases/IFINDEX`` (one file per interface, the
         lease in force: networkd rewrites it on each change and removes it when the lease is
         lost), and NetworkManager's ``internal-UUID-IFACE.lease`` in ``/var/lib/NetworkManager``
         and ``/run/NetworkManager``, which NetworkManager 1.20 and older wrote with the same
         sd-dhcp code. At most :data:`MAX_FILES` files of :data:`MAX_BYTES` each.
         The format (systemd's ``sd-dhcp-lease.c``, ``dhcp_lease_save``): ``KEY=VALUE`` lines
         after ``# This is private data. Do not parse.``; the options of the private range
         224..254 the server sent are saved as ``OPTION_<code>=<hex bytes>``, so WPAD is
         ``OPTION_252=687474703a2f2f...``. networkd asks for option 252 only when its
         ``.network`` file says ``RequestOptions=252`` in ``[DHCPv4]``; a server that sends it
         unasked (dnsmasq's ``dhcp-option-force``) still gets it saved. The lease keeps no
         expiry time, only ``LIFETIME=`` seconds: it expired at the latest ``LIFETIME`` seconds
         after the file was last written. systemd's development sources also have a JSON
         lease file (``"Private_Options": [{"Option": 252, "Data": "<hex>"}]``); it is read
         the same way.
Not here: NetworkManager 1.22 and later (its ``internal`` client is n-dhcp4) write only
         ``ADDRESS=`` to that file: their option 252 is on D-Bus (``nmcli -f DHCP4 device
         show``: ``wpad = URL``), not in any file.
Never:   writes a lease, starts or signals networkd or NetworkManager.
Redacts: the URL's user-info (``engine.redact.redact_url``).

Facts: the same ``proxy_autoconfig`` facts as ``dhcp_wpad`` (``proxy_autoconfig:dhcp:<iface>``,
origin ``dhcp``, mode ``wpad``, ``url``, ``interface``, ``uses_pac`` and ``auto_detect`` False,
``expires`` null, ``expired``), their source the file and the line of ``OPTION_252``, for
each lease whose ``ADDRESS`` is one of this network namespace's (else the file is not in
force here: left from an earlier connection, or another namespace's networkd). An
option 252 that is not hex, or whose bytes are no URL text: ``collection_error`` naming the
file and line. No such lease file at all: ``source_absent``; an unreadable one:
``collection_error``.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from engine.collectors import base
from engine.facts import Fact, absent, collection_error, make_fact, unique_ids
from engine.redact import redact_url

NAME = "networkd_wpad"
KINDS = ("proxy_autoconfig", "collection_error", "source_absent")
MAX_FILES = 64
MAX_BYTES = 64 * 1024  # a lease is a few hundred bytes; private options add at most 31 x 255
WPAD_OPTION = 252
NETWORKD_LEASES = Path("systemd/netif/leases")  # under /run
NM_DIR = "NetworkManager"  # under /var/lib and /run
_ENV_LINE = re.compile(r"^([A-Za-z0-9_]+)=(.*)$")
# NetworkManager's file name: internal-<connection uuid>-<interface>.lease (DHCPv4 only; the
# DHCPv6 one is internal6-...).
_NM_NAME = re.compile(r"^internal-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}-(.+)\.lease$")


class LeaseError(ValueError):
    """A lease file whose option 252 cannot be read; ``line`` is where (or None)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class Wpad:
    """Option 252 of one lease: the URL, the line it is on, the lease's lifetime (seconds) and
    the address it leased."""

    url: str
    line: int | None
    lifetime: int | None
    address: str | None = None


def decode_url(hex_text: str, line: int | None) -> str:
    """The URL in option 252's hex bytes. A server may end the string with NUL bytes (some do:
    a C string), which are dropped; any other NUL, control character or byte that is not
    UTF-8 means the option holds no URL text (LeaseError).

    >>> decode_url("687474703a2f2f7770616400", 3)
    'http://wpad'
    """
    text = hex_text.strip()
    if len(text) % 2:
        raise LeaseError(f"OPTION_{WPAD_OPTION} has an odd number of hex digits ({len(text)}):"
                         " the file is cut or damaged", line)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise LeaseError(f"OPTION_{WPAD_OPTION} is not hex", line) from None
    raw = raw.rstrip(b"\x00")
    try:
        url = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LeaseError(f"OPTION_{WPAD_OPTION} is not UTF-8 text", line) from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise LeaseError(f"OPTION_{WPAD_OPTION} holds control characters, not a URL", line)
    return url.strip()


def _unquote(value: str) -> str:
    """An env-file value as systemd's parser reads it: quotes around it are not part of it."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_env_lease(text: str) -> Wpad | None:
    """Option 252 of a ``KEY=VALUE`` lease file (the last assignment wins, as in systemd's
    parser), or None when the lease has none (or an empty one)."""
    found: tuple[str, int] | None = None
    lifetime: int | None = None
    address: str | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        m = _ENV_LINE.match(raw.strip())
        if not m:
            continue
        key, value = m.group(1), _unquote(m.group(2))
        if key == f"OPTION_{WPAD_OPTION}":
            found = (value, n)
        elif key == "LIFETIME":
            lifetime = int(value) if value.isdigit() else None
        elif key == "ADDRESS":
            address = value
    if found is None or not found[0]:
        return None
    url = decode_url(*found)
    return Wpad(url, found[1], lifetime, address) if url else None


def parse_json_lease(text: str) -> Wpad | None:
    """Option 252 of a JSON lease file (``Private_Options``), or None."""
    try:
        lease = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past the stack
        raise LeaseError(f"not a JSON lease: {exc}", getattr(exc, "lineno", None)) from None
    options = lease.get("Private_Options") if isinstance(lease, dict) else None
    if options is None:
        return None
    if not isinstance(options, list):
        raise LeaseError("Private_Options is not a list", None)
    for option in options:
        if isinstance(option, dict) and option.get("Option") == WPAD_OPTION:
            data = option.get("Data")
            if not isinstance(data, str):
                raise LeaseError(f"option {WPAD_OPTION}'s Data is not a hex string", None)
            at = text.find(f'"{data}"')
            line = text.count("\n", 0, at) + 1 if at >= 0 else None
            url = decode_url(data, line)
            octets = lease.get("Address")
            address = ".".join(map(str, octets)) if isinstance(octets, list) else None
            return Wpad(url, line, None, address) if url else None
    return None


def parse_lease(text: str) -> Wpad | None:
    """Option 252 of an sd-dhcp lease file in either format (raises LeaseError)."""
    if text.lstrip().startswith("{"):
        return parse_json_lease(text)
    return parse_env_lease(text)


def is_expired(lifetime: int | None, written: datetime | None, now: datetime) -> bool:
    """Expired for certain: even counted from the file's last write, the lifetime is over.
    (networkd also rewrites the file for other changes, so the lease may have ended sooner;
    but networkd removes the file of a lost lease.)"""
    if lifetime is None or written is None:
        return False
    return written + timedelta(seconds=lifetime) <= now


def is_local(address: str) -> bool:
    """``address`` is one of this network namespace's own (a socket can be bound to it: no
    packet is sent, nothing is changed)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
    except (OSError, ValueError):
        return False
    return True


def wpad_facts(text: str, path: str, interface: str, now: datetime,
               written: datetime | None = None,
               local: Callable[[str], bool] | None = None) -> list[Fact]:
    """The ``proxy_autoconfig`` fact of one lease file carrying option 252, or a
    ``collection_error`` when that option cannot be read; none without the option. With
    ``local``, none either for a lease whose address this machine does not have: the file is
    not in force here (a lease file left from an earlier connection, or a networkd of another
    network namespace, whose interface numbers mean other interfaces here)."""
    try:
        wpad = parse_lease(text)
    except LeaseError as exc:
        return [collection_error(NAME, f"{path}: {exc}", {"file": path, "line": exc.line},
                                 what=path)]
    if wpad is None or (local is not None and not (wpad.address and local(wpad.address))):
        return []
    url = redact_url(wpad.url)
    return [make_fact(
        "proxy_autoconfig", f"proxy_autoconfig:dhcp:{interface}",
        {"file": path, "line": wpad.line}, origin="dhcp", user=None, sudo_uid=None,
        mode="wpad", url=url, uses_pac=False, auto_detect=False, interface=interface,
        setting=f"DHCP option 252 (wpad) on {interface}: {url}",
        expires=None, expired=is_expired(wpad.lifetime, written, now))]


def interface_name(index: int) -> str:
    """The name of interface ``index`` in this network namespace, ``ifindex N`` when it is
    gone (a lease file networkd has not removed yet)."""
    try:
        return socket.if_indextoname(index)
    except OSError:
        return f"ifindex {index}"


def lease_files(ctx: base.CollectContext,
                name_of: Callable[[int], str] = interface_name) -> list[tuple[Path, str]]:
    """(lease file, interface) of networkd's and NetworkManager's sd-dhcp lease files."""
    found: list[tuple[Path, str]] = []
    try:
        networkd = sorted((ctx.run / NETWORKD_LEASES).iterdir())
    except OSError:
        networkd = []
    for path in networkd:
        if path.name.isdigit():
            found.append((path, name_of(int(path.name))))
    for directory in (ctx.var_lib / NM_DIR, ctx.run / NM_DIR):
        try:
            names = sorted(directory.glob("internal-*.lease"))
        except OSError:
            continue
        for path in names:
            if m := _NM_NAME.match(path.name):
                found.append((path, m.group(1)))
    return found[:MAX_FILES]


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    except OSError:
        return None


def collect(ctx: base.CollectContext, now: datetime | None = None,
            name_of: Callable[[int], str] = interface_name,
            local: Callable[[str], bool] = is_local) -> list[Fact]:
    now = now or datetime.now(timezone.utc)
    files = lease_files(ctx, name_of)
    if not files:
        return [absent(NAME, "leases", "no systemd-networkd or NetworkManager internal DHCP "
                       "lease file", {"file": str(ctx.run / NETWORKD_LEASES)})]
    interfaces = dict(files)
    texts, facts = base.read_present(NAME, interfaces, MAX_BYTES)
    for path, text in texts:
        facts += wpad_facts(text, str(path), interfaces[path], now, _mtime(path), local)
    return unique_ids(facts)
