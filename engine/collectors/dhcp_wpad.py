"""WPAD offered by DHCP (option 252), from the lease files of ISC dhclient.

A DHCP server can hand out the PAC file's URL as option 252 ("wpad"). Clients set to detect
proxy settings automatically ask DHCP before DNS (KDE's ProxyType=3, libproxy and PacRunner
with NetworkManager, Windows): the URL a lease carries decides where their traffic goes.

Reads:   ISC dhclient's lease files: ``/var/lib/dhcp/dhclient*.leases`` (Debian, Ubuntu,
         ifupdown), ``/var/lib/dhclient/*.lease*`` (Fedora, RHEL), NetworkManager's when it
         runs dhclient (``/var/lib/NetworkManager/dhclient-*.lease``), and the file each
         running ``dhclient`` of this network namespace was given with ``-lf`` (from
         ``/proc/PID/cmdline``). At most :data:`MAX_FILES` files of :data:`MAX_BYTES` each.
         A file holds every lease the client took, oldest first: the last one per interface is
         the current one. The value is ``option wpad "URL";`` where dhclient.conf declares
         ``option wpad code 252 = text;``, else ``option unknown-252 "URL";``.
Never:   writes a lease, starts or signals a DHCP client.
Redacts: the URL's user-info (``engine.redact.redact_url``).

Facts: ``proxy_autoconfig`` per interface whose current lease carries option 252
(``proxy_autoconfig:dhcp:<interface>``), with origin ``dhcp``, ``interface``, ``url``,
``mode`` ``wpad``, ``uses_pac`` False and ``auto_detect`` False (a lease only offers the URL:
it is used by clients set to detect automatically), ``expires`` (dhclient's UTC time) and
``expired``; its source is the file and the line of the option. No lease file at all:
``source_absent``; an unreadable one: ``collection_error``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from engine.collectors import base
from engine.facts import Fact, absent, make_fact, unique_ids
from engine.redact import redact_url

NAME = "dhcp_wpad"
KINDS = ("proxy_autoconfig", "collection_error", "source_absent")
MAX_FILES = 32
MAX_BYTES = 4 * 1024 * 1024  # dhclient appends a lease per renewal; files are rewritten at start
LEASE_GLOBS = (("dhcp", "dhclient*.leases"), ("dhcp", "dhclient*.lease"),
               ("dhclient", "*.lease"), ("dhclient", "*.leases"),
               ("NetworkManager", "dhclient-*.lease"))
_OPTION = re.compile(r'^option\s+(wpad|unknown-252)\s+"((?:[^"\\]|\\.)*)"\s*;')
_INTERFACE = re.compile(r'^interface\s+"([^"]*)"\s*;')
_EXPIRE = re.compile(r"^expire\s+(?:\d+\s+(\d{4}/\d{2}/\d{2}\s+\d{2}:\d{2}:\d{2})|never)")


@dataclass
class Lease:
    interface: str | None = None
    url: str | None = None
    url_line: int | None = None
    expires: str | None = None  # "2026/11/30 03:39:43" (UTC) or None (never / not said)


def parse_leases(text: str) -> list[Lease]:
    """Every ``lease { ... }`` block of a dhclient lease file, in file order."""
    leases: list[Lease] = []
    current: Lease | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("lease") and line.endswith("{"):
            current = Lease()
        elif line == "}":
            if current is not None:
                leases.append(current)
            current = None
        elif current is not None:
            if m := _INTERFACE.match(line):
                current.interface = m.group(1)
            elif m := _OPTION.match(line):
                current.url = re.sub(r"\\(.)", r"\1", m.group(2)).rstrip("\x00\n ").strip()
                current.url_line = n
            elif m := _EXPIRE.match(line):
                current.expires = m.group(1)
    return leases


def current_leases(leases: Iterable[Lease]) -> dict[str, Lease]:
    """The last lease of each interface: the one in force."""
    found: dict[str, Lease] = {}
    for lease in leases:
        found[lease.interface or "?"] = lease
    return found


def is_expired(expires: str | None, now: datetime) -> bool:
    if expires is None:
        return False
    try:
        when = datetime.strptime(expires, "%Y/%m/%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return False
    return when <= now


def wpad_facts(text: str, path: str, now: datetime) -> list[Fact]:
    """``proxy_autoconfig`` facts for the current leases of one file that carry option 252."""
    facts = []
    for interface, lease in current_leases(parse_leases(text)).items():
        if not lease.url:
            continue
        url = redact_url(lease.url)
        facts.append(make_fact(
            "proxy_autoconfig", f"proxy_autoconfig:dhcp:{interface}",
            {"file": path, "line": lease.url_line}, origin="dhcp", user=None, sudo_uid=None,
            mode="wpad",
            url=url, uses_pac=False, auto_detect=False, interface=interface,
            setting=f"DHCP option 252 (wpad) on {interface}: {url}",
            expires=lease.expires, expired=is_expired(lease.expires, now)))
    return facts


def _same_netns(proc: Path, pid: str) -> bool:
    """The process shares this network namespace (True too when that cannot be told)."""
    try:
        return os.readlink(proc / pid / "ns" / "net") == os.readlink(proc / "self" / "ns" / "net")
    except OSError:
        return True


def running_lease_files(proc: Path) -> list[Path]:
    """The ``-lf`` lease file of each dhclient running in this network namespace."""
    found: list[Path] = []
    try:
        pids = [p.name for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        try:
            if (proc / pid / "comm").read_text().strip() != "dhclient":
                continue
            argv = (proc / pid / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for flag, value in zip(argv, argv[1:], strict=False):
            if flag == b"-lf" and value.startswith(b"/") and _same_netns(proc, pid):
                found.append(Path(os.fsdecode(value)))
    return found


def lease_files(ctx: base.CollectContext) -> list[Path]:
    paths: list[Path] = []
    for directory, pattern in LEASE_GLOBS:
        try:
            paths += sorted((ctx.var_lib / directory).glob(pattern))
        except OSError:
            continue
    paths += running_lease_files(ctx.proc)
    unique = list(dict.fromkeys(paths))
    return unique[:MAX_FILES]


def collect(ctx: base.CollectContext, now: datetime | None = None) -> list[Fact]:
    now = now or datetime.now(timezone.utc)
    paths = lease_files(ctx)
    if not paths:
        return [absent(NAME, "leases", "no dhclient lease file (no ISC dhclient lease here)",
                       {"file": str(ctx.var_lib / "dhcp")})]
    texts, facts = base.read_present(NAME, paths, MAX_BYTES)
    for path, text in texts:
        facts += wpad_facts(text, str(path), now)
    return unique_ids(facts)
