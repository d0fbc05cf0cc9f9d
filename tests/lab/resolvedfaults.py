"""Per-link DNS routing domains (X24) with a real systemd-resolved in the lab.

systemd-resolved sends a name to the links whose domains cover it (``~corp.test``: a
routing-only domain) and every other name to the links that are a default route. A VPN client
sets ``resolvectl dns wg0 10.66.0.1``, ``resolvectl domain wg0 ~corp.test`` and
``resolvectl default-route wg0 false``: only corp.test goes to the VPN's server. A name of the
company's other zone (``build.corp-lab.test``) then goes to the LAN's resolver, which does not
know it (NXDOMAIN), although the VPN's server, asked directly, does.

The resolver is the real one: the Debian ``systemd-resolved`` and ``libsystemd-shared``
packages extracted (never installed: that would take over the machine's /etc/resolv.conf) by
``tests/lab/fetch_resolved.sh`` into ``/var/cache/whynet-lab/resolved`` (or
``$WHYNET_LAB_RESOLVED``). It runs in the client's network namespace and a private mount
namespace (:meth:`netlab.Namespace.private_mounts`): a tmpfs ``/run`` (its
``/run/systemd/resolve`` and the D-Bus socket), a private D-Bus system bus, ``/etc/passwd``
and ``/etc/group`` with its ``systemd-resolve`` user, and the namespace's resolv.conf naming
only its stub 127.0.0.53. whynet runs in the same namespaces, with the extracted
``resolvectl`` on its PATH, as on an Ubuntu or Fedora desktop.

The network is :func:`healthy.split_tunnel`'s (client 10.20.0.10 on the LAN, a WireGuard-like
``wg0`` to the VPN concentrator 10.66.0.1, the intranet 10.99.1.0/24 behind it); the LAN's
resolver 10.20.0.53 knows only public names (NXDOMAIN for every other ``.test`` name), the
VPN's 10.66.0.1 the company's two zones.

``FAULTS`` and ``HEALTHY`` list every builder by scenario name (the lab's counter reads them).
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .healthy import (
    INTRANET,
    INTRANET_IP,
    RESOLVED_HEADER,
    RESOLVED_STUB,
    VPN_GW_IP,
    WEB_NAME,
    _public_office,
    split_tunnel,
)
from .netlab import CLEAN_PATH, Lab, LabError, Namespace, Server, fetched_paths
from .scenarios import APP, DNS_IP, SERVER_IP, Scenario

#: Where tests/lab/fetch_resolved.sh extracts systemd-resolved (its default destination).
RESOLVED_DIR = Path(os.environ.get("WHYNET_LAB_RESOLVED", "/var/cache/whynet-lab/resolved"))
FETCH_SCRIPT = "tests/lab/fetch_resolved.sh"

ROUTED_ZONE = "corp.test"                 # the VPN link's routing domain
ROUTED_NAME = f"wiki.{ROUTED_ZONE}"       # answered by the VPN's server, routed to it
UNROUTED_NAME = "build.corp-lab.test"     # also the VPN server's, but in a zone not routed
BUILD_IP = f"{INTRANET}.30"
LAN_IF, VPN_IF = "eth0", "wg0"
TUNNEL_FAR_END = "tun-client"  # healthy._tunnel's name for wg0's peer on the concentrator

#: The private system bus's configuration (shared with the fixtures' record scripts).
BUS_CONF = Path(__file__).resolve().parent / "resolved-bus.conf"


@dataclass(frozen=True)
class ResolvedFiles:
    """The extracted systemd-resolved: the daemon, its CLI, and the lib dir both must load
    libsystemd-shared from (the installed one may be of another version)."""

    daemon: Path
    resolvectl: Path
    libdir: Path


def extracted_resolved(directory: Path = RESOLVED_DIR) -> ResolvedFiles | None:
    """What fetch_resolved.sh left in ``directory`` (its ``env`` file), or None."""
    paths = fetched_paths(directory, "RESOLVED", "RESOLVECTL", "LIBDIR")
    if paths is None:
        return None
    files = ResolvedFiles(*paths)
    if not (files.daemon.is_file() and files.resolvectl.is_file() and files.libdir.is_dir()):
        return None
    return files


def missing_reason() -> str | None:
    """Why systemd-resolved cannot run in this lab, or None."""
    if extracted_resolved() is None:
        return (f"no extracted systemd-resolved in {RESOLVED_DIR}: run {FETCH_SCRIPT} as root "
                "(CI's .ci/run does)")
    for tool in ("dbus-daemon", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (systemd-resolved needs a private D-Bus and mounts)"
    return None


@dataclass
class Resolved:
    """systemd-resolved running in ``ns`` (and its private mounts), driven by resolvectl."""

    ns: Namespace
    files: ResolvedFiles
    holder: Server

    @property
    def env(self) -> dict[str, str]:
        """The environment whynet needs to find and run this resolvectl."""
        return {"PATH": f"{self.files.resolvectl.parent}:{CLEAN_PATH}",
                "LD_LIBRARY_PATH": str(self.files.libdir)}

    def ctl(self, *args: str, check: bool = True) -> str:
        """``resolvectl ARGS`` inside; its stdout."""
        return self.ns.exec("env", f"LD_LIBRARY_PATH={self.files.libdir}",
                            str(self.files.resolvectl), *args, check=check).stdout


def _free_id(*files: str) -> int:
    """A system id no line of these files (/etc/passwd, /etc/group) uses: the private
    systemd-resolve user's uid and gid."""
    taken = set()
    for path in files:
        for line in Path(path).read_text().splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[2].isdigit():
                taken.add(int(fields[2]))
    return next(i for i in range(990, 100, -1) if i not in taken)


def require_resolved() -> ResolvedFiles:
    """The extracted systemd-resolved; skips the test, naming the script to run, without it
    (builders call it first: no network is built for nothing)."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    files = extracted_resolved()
    assert files is not None
    return files


def start_resolved(ns: Namespace) -> Resolved:
    """systemd-resolved in ``ns``: private mounts, a private system bus, resolv.conf naming
    its stub."""
    files = require_resolved()
    work = ns.lab.workdir / f"resolved-{ns.role}"
    work.mkdir()
    ident = _free_id("/etc/passwd", "/etc/group")
    users = [line for line in Path("/etc/passwd").read_text().splitlines()
             if not line.startswith("systemd-resolve:")]
    groups = [line for line in Path("/etc/group").read_text().splitlines()
              if not line.startswith("systemd-resolve:")]
    (work / "passwd").write_text("\n".join(
        [*users, f"systemd-resolve:x:{ident}:{ident}:systemd Resolver:/:/usr/sbin/nologin"]) + "\n")
    (work / "group").write_text("\n".join([*groups, f"systemd-resolve:x:{ident}:"]) + "\n")
    for path in work.iterdir():
        path.chmod(0o644)
    ns.write_etc("resolv.conf", RESOLVED_HEADER + f"nameserver {RESOLVED_STUB}\n"
                 "options edns0 trust-ad\n")
    q = shlex.quote
    resolvectl = f"LD_LIBRARY_PATH={q(str(files.libdir))} {q(str(files.resolvectl))}"
    setup = f"""
mount -t tmpfs -o mode=0755 tmpfs /run
mount --bind {q(str(work / 'passwd'))} /etc/passwd
mount --bind {q(str(work / 'group'))} /etc/group
mkdir -p /run/dbus /run/systemd
dbus-daemon --config-file={q(str(BUS_CONF))} --nofork --nopidfile >&2 &
i=0
until [ -S /run/dbus/system_bus_socket ]; do
    i=$((i + 1)); [ "$i" -lt 200 ] || {{ echo "no D-Bus socket" >&2; exit 1; }}; sleep 0.05
done
SYSTEMD_LOG_TARGET=console LD_LIBRARY_PATH={q(str(files.libdir))} \
    {q(str(files.daemon))} >&2 &
i=0
until {resolvectl} status --no-pager >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 200 ] || {{ echo "resolved not on the bus" >&2; exit 1; }}; sleep 0.05
done
"""
    holder = ns.private_mounts(setup, what="systemd-resolved", timeout=30.0)
    return Resolved(ns, files, holder)


# --- the network --------------------------------------------------------------------------------

def vpn_with_routing_domain(lab: Lab, name: str, target: str, *, vpn_dns: bool = True,
                            carrier: bool = True, **kw: object) -> Scenario:
    """The split tunnel with systemd-resolved on the client: the LAN link's server
    10.20.0.53 (public names only), the VPN link's 10.66.0.1 (``wiki.corp.test`` and
    ``build.corp-lab.test``) routed ``~corp.test`` and not a default route, as a VPN client
    sets it. ``vpn_dns=False``: nothing serves DNS on 10.66.0.1. ``carrier=False``: then the
    tunnel's far end goes away (the concentrator's end set down), so ``wg0`` has no carrier
    and keeps its DNS settings."""
    require_resolved()
    base = split_tunnel(lab)
    client, vpn, intranet = base.client, base.nodes["vpn"], base.nodes["intranet"]
    base.servers["dns"].stop()
    lan_dns = base.nodes["dns"].dnsmasq(DNS_IP, {WEB_NAME: SERVER_IP},
                                        local_zones=("test", "example.com"))
    servers = {**base.servers, "dns": lan_dns}
    if vpn_dns:
        servers["vpn_dns"] = vpn.dnsmasq(VPN_GW_IP, {ROUTED_NAME: INTRANET_IP,
                                                      UNROUTED_NAME: BUILD_IP,
                                                      APP: SERVER_IP})
    intranet.add_address("eth0", f"{BUILD_IP}/24")
    servers["build"] = intranet.http_server(BUILD_IP, 80)
    resolved = start_resolved(client)
    resolved.ctl("dns", LAN_IF, DNS_IP)
    resolved.ctl("dns", VPN_IF, VPN_GW_IP)
    resolved.ctl("domain", VPN_IF, f"~{ROUTED_ZONE}")
    resolved.ctl("default-route", VPN_IF, "false")
    servers["resolved"] = resolved.holder
    if not carrier:
        vpn.ip("link", "set", TUNNEL_FAR_END, "down")
        wait_for_scopes(resolved, VPN_IF, "none")
    return Scenario(name, client, target, env=resolved.env, nodes=base.nodes, servers=servers,
                    info={"resolved": resolved}, **kw)  # type: ignore[arg-type]


def current_scopes(resolved: Resolved, link: str) -> str:
    """What ``resolvectl status LINK`` says resolved uses the link for ("DNS LLMNR/IPv4",
    "none")."""
    for line in resolved.ctl("status", "--no-pager", link).splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "Current Scopes":
            return value.strip()
    return ""


def wait_for_scopes(resolved: Resolved, link: str, first: str, timeout: float = 10.0) -> None:
    """Until resolved has taken in a link's change (it follows rtnetlink, asynchronously):
    the link's scopes start with ``first`` ("none", "DNS")."""
    deadline = time.monotonic() + timeout
    while not (now := current_scopes(resolved, link)).startswith(first):
        if time.monotonic() > deadline:
            raise LabError(f"resolved's scopes on {link}: {now!r}, not {first!r}...")
        time.sleep(0.05)


def resolved_of(sc: Scenario) -> Resolved:
    """The systemd-resolved a scenario of this module runs on its client."""
    resolved = sc.info["resolved"]
    assert isinstance(resolved, Resolved)
    return resolved


def _build(name: str, target: str, **kw: object) -> Callable[[Lab], Scenario]:
    def build(lab: Lab) -> Scenario:
        return vpn_with_routing_domain(lab, name, target, **kw)
    build.__name__ = name.replace("-", "_")
    return build


def single_link(lab: Lab) -> Scenario:
    """The ordinary desktop: systemd-resolved with one link (the LAN) and its one server,
    which answers both names asked."""
    require_resolved()
    o = _public_office(lab, {WEB_NAME: SERVER_IP})
    web = o.server.http_server(SERVER_IP, 80)
    resolved = start_resolved(o.client)
    resolved.ctl("dns", LAN_IF, DNS_IP)
    return o.scenario("resolved-single-link", f"http://{APP}/", args=(f"http://{WEB_NAME}/",),
                      env=resolved.env, servers={"web": web, "resolved": resolved.holder},
                      info={"resolved": resolved})


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    # X24: a name of the company's second zone; the VPN routes only corp.test, so resolved
    # asks the LAN's server, which says NXDOMAIN.
    "resolved-routing-domain-misses-zone": _build(
        "resolved-routing-domain-misses-zone", f"http://{UNROUTED_NAME}/",
        checklist=("D2", "X24"), layer="name", expect="name.routing-domain-misses-name"),
    # The routed name, but nothing serves DNS on the VPN's 10.66.0.1: resolved asks no one
    # else for corp.test, and its stub waits on the dead server.
    "resolved-routed-server-dead": _build(
        "resolved-routed-server-dead", f"http://{ROUTED_NAME}/", vpn_dns=False,
        checklist=("D1", "X24"), layer="name",
        expect="name.routing-domain-server-not-answering"),
    # The routed name while wg0 has lost its carrier (the tunnel's far end is gone) and kept
    # its DNS settings: resolved drops the link, and corp.test goes to the LAN's server.
    "resolved-routed-link-down": _build(
        "resolved-routed-link-down", f"http://{ROUTED_NAME}/", carrier=False,
        checklist=("D1", "X24"), layer="name", expect="name.routing-domain-link-down"),
}

HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    # The routed name, answered through the VPN link.
    "resolved-routed-name": _build("resolved-routed-name", f"http://{ROUTED_NAME}/"),
    "resolved-single-link": single_link,
}
