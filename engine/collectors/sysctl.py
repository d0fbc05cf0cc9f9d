"""Kernel network settings that decide whether a port, a ping or a forwarded packet works.

Reads: a fixed list of files under ``/proc/sys/net`` (``ctx.proc``): the unprivileged port
floor, IPv4/IPv6 forwarding, the ping group range, IPv6 switched off, and reverse-path
filtering for ``all``, ``default`` and every interface in ``/proc/sys/net/ipv4/conf``.
Never reads: any other sysctl, never writes one.
Produces: one ``sysctl`` fact per setting (``id`` ``sysctl:NAME``, source
``{"file": path, "sysctl": NAME}``) with the value as text (blanks collapsed to one space:
``ping_group_range`` reads ``0 2147483647``) and its first integer; ``source_absent`` for a
setting this kernel does not have (no IPv6, an old kernel); ``collection_error`` for one it
cannot read.

Names follow sysctl(8): an interface called ``eth0.100`` is ``net.ipv4.conf.eth0/100.rp_filter``
(its directory is ``/proc/sys/net/ipv4/conf/eth0.100``).
"""

from __future__ import annotations

from pathlib import Path

from engine.collectors.base import CollectContext
from engine.facts import Fact, absent, collection_error, make_fact, unique_ids

NAME = "sysctl"
KINDS = ("sysctl",)

# Read on every host, in this order; per-interface rp_filter follows.
SETTINGS = (
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv4.ping_group_range",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.all.disable_ipv6",
)
CONF_NOT_INTERFACES = frozenset({"all", "default"})


def sysctl_path(name: str) -> str:
    """``net.ipv4.conf.eth0/100.rp_filter`` -> ``sys/net/ipv4/conf/eth0.100/rp_filter``."""
    return "sys/" + "/".join(part.replace("/", ".") for part in name.split("."))


def interface_setting(interface_dir: str, setting: str) -> str:
    return f"net.ipv4.conf.{interface_dir.replace('.', '/')}.{setting}"


def first_int(value: str) -> int | None:
    token = value.split(" ", 1)[0]
    try:
        return int(token)
    except ValueError:
        return None


def sysctl_fact(name: str, raw: str, path: str) -> Fact:
    value = " ".join(raw.split())
    return make_fact(
        "sysctl", f"sysctl:{name}", {"file": path, "sysctl": name},
        name=name, value=value, int_value=first_int(value),
    )


def read_setting(proc: Path, name: str) -> Fact:
    path = proc / sysctl_path(name)
    source = {"file": str(path), "sysctl": name}
    try:
        raw = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return absent(NAME, name, f"{path} does not exist in this kernel", source)
    except OSError as exc:
        return collection_error(NAME, f"{path}: cannot read ({exc.strerror or exc})", source)
    return sysctl_fact(name, raw, str(path))


def interface_names(proc: Path) -> list[str]:
    """Setting names of per-interface rp_filter, from the directories of ipv4/conf."""
    conf = proc / "sys" / "net" / "ipv4" / "conf"
    try:
        dirs = sorted(d.name for d in conf.iterdir() if d.name not in CONF_NOT_INTERFACES)
    except OSError:
        return []
    return [interface_setting(d, "rp_filter") for d in dirs]


def collect(ctx: CollectContext) -> list[Fact]:
    names = [*SETTINGS, *interface_names(ctx.proc)]
    return unique_ids(read_setting(ctx.proc, name) for name in names)
