"""Interfaces and their IP addresses, from iproute2's JSON output.

Reads: ``ip -j -d link show`` and ``ip -j addr show`` (netlink dumps of this network namespace),
whether ``/sys/class/net/NAME/device`` exists (a physical NIC has a bus device behind it), and
which ``/run/netns`` name, if any, is the namespace it runs in.
Never reads: packet counters, driver or firmware details, anything remote; sends no traffic.
Produces: ``interface`` (one per link) and ``address`` (one per address) facts. ``ip`` missing,
failing, timing out or printing something that is not JSON gives a ``collection_error``.

``interface.link_kind`` (the interface's kind; ``kind`` is the fact's own) is classified in
this order: ``loopback``; ``vm`` (virbr*, vboxnet*, vmnet*) and ``container`` (docker*, br-*,
cni*, podman*, flannel*, cali*) by name; the link's ``linkinfo.info_kind`` (veth, bridge,
bond, vlan, wireguard, dummy, tun or tap); ``physical`` when the kernel shows a device behind
it; anything else (vxlan, macvlan, ifb...) is ``virtual``.
``address.network`` is the subnet of the address, or for a point-to-point address the peer's
prefix (that is the route the kernel installs). ``address.dynamic`` is true when the address
has a finite valid lifetime (DHCP, SLAAC, or added with ``valid_lft``); ``address.duplicate``
when IPv6 duplicate address detection failed (``dadfailed``: another host has it).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.collectors import base
from engine.collectors.base import CollectContext
from engine.facts import Fact, absent, collection_error, make_fact, unique_ids

NAME = "links"
KINDS = ("interface", "address")

LINK_COMMAND = ("ip", "-j", "-d", "link", "show")
ADDR_COMMAND = ("ip", "-j", "addr", "show")
SYS_CLASS_NET = Path("/sys/class/net")
RUN_NETNS = Path("/run/netns")

# The kernel's "infinite" address lifetime (INFINITY_LIFE_TIME).
FOREVER = 0xFFFFFFFF

VM_NAME_PREFIXES = ("virbr", "vboxnet", "vmnet")
CONTAINER_NAME_PREFIXES = ("docker", "br-", "cni", "podman", "flannel", "cali")
# linkinfo.info_kind values that map to a kind of their own; tun is split into tun and tap.
KIND_BY_INFO_KIND = {
    "veth": "veth", "bridge": "bridge", "bond": "bond", "vlan": "vlan",
    "wireguard": "wireguard", "dummy": "dummy",
}
FAMILY_BY_NAME = {"inet": 4, "inet6": 6}
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})+$")


def command_text(argv: Iterable[str]) -> str:
    return " ".join(argv)


def load_ip_json(text: str, collector: str, command: str) -> list[dict[str, Any]] | Fact:
    """The list of objects ``ip -j`` printed, or a collection_error saying why not.

    Shared by the links and routes collectors: every ``ip -j`` dump is a JSON array of objects.
    An empty output (some iproute2 versions print nothing for an empty table) is an empty list.
    """
    if not text.strip():
        return []
    try:
        # strict=False: iproute2 prints control characters in names raw inside JSON strings
        # (a link named $'a\x01b'); one odd name must not lose every interface.
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        return collection_error(
            collector, f"{command}: output is not JSON ({exc.msg} at line {exc.lineno})",
            {"command": command},
        )
    if not isinstance(data, list):
        return collection_error(
            collector, f"{command}: expected a JSON array, got {type(data).__name__}",
            {"command": command},
        )
    return [item for item in data if isinstance(item, dict)]


def ip_missing_error(collector: str, argv: tuple[str, ...]) -> Fact:
    return collection_error(
        collector, "ip: command not found (iproute2 is not installed or not on PATH)",
        {"command": command_text(argv)},
    )


# --- interfaces ------------------------------------------------------------------------------

def classify_interface(link: dict[str, Any], physical_names: frozenset[str]) -> str:
    """One of the ``interface.link_kind`` values for a link object of ``ip -j -d link show``."""
    name = str(link.get("ifname", ""))
    if link.get("link_type") == "loopback" or "LOOPBACK" in (link.get("flags") or []):
        return "loopback"
    if name.startswith(VM_NAME_PREFIXES):
        return "vm"
    if name.startswith(CONTAINER_NAME_PREFIXES):
        return "container"
    linkinfo = link.get("linkinfo") or {}
    info_kind = linkinfo.get("info_kind")
    if info_kind == "tun":
        info_data = linkinfo.get("info_data") or {}
        return "tap" if info_data.get("type") == "tap" else "tun"
    if info_kind in KIND_BY_INFO_KIND:
        return KIND_BY_INFO_KIND[info_kind]
    if info_kind is None and name in physical_names:
        return "physical"
    return "virtual"


def mac_address(link: dict[str, Any]) -> str | None:
    """The link-layer address when it is one (tunnels show an IP there, tun shows none)."""
    address = link.get("address")
    if isinstance(address, str) and _MAC.match(address):
        return address.lower()
    return None


def interface_fact(
    link: dict[str, Any], physical_names: frozenset[str], netns: str | None, command: str,
) -> Fact | None:
    name = link.get("ifname")
    if not isinstance(name, str) or not name:
        return None
    mtu = link.get("mtu")
    return make_fact(
        "interface", f"interface:{name}", {"command": command},
        name=name,
        mac=mac_address(link),
        state=str(link.get("operstate", "unknown")).lower(),
        mtu=mtu if isinstance(mtu, int) else None,
        link_kind=classify_interface(link, physical_names),
        flags=[str(f) for f in link.get("flags") or []],
        master=link.get("master"),
        slave_kind=(link.get("linkinfo") or {}).get("info_slave_kind"),
        netns=netns,
    )


def parse_links(
    text: str,
    physical_names: Iterable[str] = (),
    netns: str | None = None,
    command: str = command_text(LINK_COMMAND),
) -> list[Fact]:
    """``interface`` facts from the output of ``ip -j -d link show``.

    ``physical_names`` are the interfaces with a ``/sys/class/net/NAME/device`` (see
    :func:`physical_interface_names`); ``netns`` the namespace name, when known.
    """
    links = load_ip_json(text, NAME, command)
    if isinstance(links, Fact):
        return [links]
    physical = frozenset(physical_names)
    facts: list[Fact | None] = []
    for link in links:
        try:
            facts.append(interface_fact(link, physical, netns, command))
        except (TypeError, ValueError, AttributeError) as exc:  # one odd link, not all of them
            facts.append(collection_error(
                NAME, f"{command}: link {str(link.get('ifname'))!r} skipped: "
                f"{exc.__class__.__name__}: {exc}", {"command": command}))
    return unique_ids(f for f in facts if f is not None)


def physical_interface_names(sys_class_net: Path = SYS_CLASS_NET) -> frozenset[str]:
    """Interfaces whose sysfs entry has a ``device`` link (a NIC on a bus: PCI, USB, virtio)."""
    try:
        entries = list(sys_class_net.iterdir())
    except OSError:
        return frozenset()
    return frozenset(e.name for e in entries if (e / "device").exists())


def current_netns_name(proc: Path = Path("/proc"), run_netns: Path = RUN_NETNS) -> str | None:
    """The ``ip netns`` name of the namespace this process is in, or None (unnamed, e.g. the
    host's own namespace)."""
    try:
        own = os.stat(proc / "self" / "ns" / "net")
        candidates = list(run_netns.iterdir())
    except OSError:
        return None
    for candidate in sorted(candidates):
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino):
            return candidate.name
    return None


# --- addresses -------------------------------------------------------------------------------

def address_network(info: dict[str, Any]) -> str | None:
    """The subnet an address is on; for a point-to-point address, the peer's prefix."""
    base_ip = info.get("address") or info.get("local")
    try:
        return str(ipaddress.ip_network(f"{base_ip}/{info.get('prefixlen')}", strict=False))
    except ValueError:
        return None


def is_dynamic(info: dict[str, Any]) -> bool:
    lifetime = info.get("valid_life_time")
    return isinstance(lifetime, int) and lifetime != FOREVER


def address_fact(ifname: str, info: dict[str, Any], command: str) -> Fact | None:
    family = FAMILY_BY_NAME.get(str(info.get("family")))
    ip = info.get("local")
    prefix = info.get("prefixlen")
    if family is None or not isinstance(ip, str) or not isinstance(prefix, int):
        return None
    return make_fact(
        "address", f"address:{ifname}:{ip}/{prefix}", {"command": command},
        interface=ifname,
        ip=ip,
        prefix=prefix,
        family=family,
        scope=str(info.get("scope", "global")),
        network=address_network(info),
        dynamic=is_dynamic(info),
        duplicate=info.get("dadfailed") is True,
    )


def parse_addresses(text: str, command: str = command_text(ADDR_COMMAND)) -> list[Fact]:
    """``address`` facts from the output of ``ip -j addr show`` (IPv4 and IPv6 only)."""
    links = load_ip_json(text, NAME, command)
    if isinstance(links, Fact):
        return [links]
    facts: list[Fact] = []
    for link in links:
        ifname = str(link.get("ifname", "?"))
        infos = link.get("addr_info")
        for info in infos if isinstance(infos, list) else []:
            try:
                fact = address_fact(ifname, info, command) if isinstance(info, dict) else None
            except (TypeError, ValueError, AttributeError) as exc:  # one odd address only
                fact = collection_error(
                    NAME, f"{command}: an address of {ifname!r} skipped: "
                    f"{exc.__class__.__name__}: {exc}", {"command": command})
            if fact is not None:
                facts.append(fact)
    return unique_ids(facts)


# --- collect ---------------------------------------------------------------------------------

def command_failed(collector: str, result: base.CommandResult) -> Fact:
    return collection_error(
        collector, f"{result.command}: {result.failure()}", {"command": result.command},
    )


def collect(ctx: CollectContext) -> list[Fact]:
    if base.which("ip") is None:
        return [ip_missing_error(NAME, LINK_COMMAND)]
    facts: list[Fact] = []
    links = base.run_command(list(LINK_COMMAND), timeout=ctx.timeout)
    if links.ok:
        physical = physical_interface_names()
        if not physical and not SYS_CLASS_NET.is_dir():
            facts.append(absent(
                NAME, "sysfs", "/sys/class/net is not mounted: physical NICs show as virtual",
                {"file": str(SYS_CLASS_NET)},
            ))
        facts.extend(parse_links(links.stdout, physical, current_netns_name(ctx.proc)))
    else:
        facts.append(command_failed(NAME, links))
    addresses = base.run_command(list(ADDR_COMMAND), timeout=ctx.timeout)
    facts.extend(parse_addresses(addresses.stdout) if addresses.ok
                 else [command_failed(NAME, addresses)])
    return unique_ids(facts)
