"""Lab scenarios for DHCP option 252 (WPAD) taken by a real systemd-networkd (P2): the
networkd twin of ``pacfaults``'s dhclient case, for the machines that take their lease with
networkd rather than dhclient.

The client's ``eth0`` is managed by the installed ``/lib/systemd/systemd-networkd`` (systemd
252 here), run in the client's network namespace and a private mount namespace
(:meth:`netlab.Namespace.private_mounts`): a tmpfs ``/run`` (so its
``/run/systemd/netif/leases/IFINDEX`` is the lab's own) whose ``/run/systemd/network`` holds
one ``.network`` file for ``eth0``, every other directory of ``.network`` files hidden behind
an empty one (neither the host's nor a stock file applies), and ``/sys`` read-only, as in a
container, so networkd does not wait for a udev that does not run there. It needs no D-Bus
(it waits for one, and works without). It only sees the namespace's links, and dies with the
namespace's processes when the lab ends (``test_leasefaults.test_networkd_stays_in_the_lab``
proves both). whynet runs in the same namespaces, as on a networkd machine.

The ``.network`` file asks for option 252 (``RequestOptions=252``: networkd does not by
default) and takes the rest of the lease as a machine would: its address is added beside the
client's static 10.20.0.10, its default route through the same gateway 10.20.0.1 (metric 1024,
behind the static one). The DHCP server is pacfaults' dnsmasq on the proxy host, offering the
gateway, the resolver and the WPAD URL.

``FAULTS`` and ``HEALTHY`` list every builder by scenario name (the lab's counter reads them).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .netlab import Lab, LabError, Namespace, Server
from .pacfaults import DHCP_RANGE, PAC_DEAD_PROXY, WPAD_URL, kde_settings, pac_host
from .pkfaults import PAC_ALL_PROXIED
from .scenarios import (
    APP,
    DNS_IP,
    GW_IP,
    PROXY_IP,
    PROXY_PORT,
    SERVER_IP,
    Scenario,
    _egress_only_from_proxy,
    _proxy_env,
    office,
)

NETWORKD = Path("/lib/systemd/systemd-networkd")
LEASES = Path("/run/systemd/netif/leases")
# Where networkd looks for .network files besides /run/systemd/network (systemd.network(5)).
CONFIG_DIRS = ("/etc/systemd/network", "/usr/local/lib/systemd/network",
               "/usr/lib/systemd/network", "/lib/systemd/network")
# What a networkd machine that wants WPAD from DHCP says (systemd.network(5), [DHCPv4]);
# UseHostname=no: the lab's namespaces share the host's hostname.
NETWORK_FILE = """\
[Match]
Name={ifname}

[Network]
DHCP=ipv4
IPv6AcceptRA=no

[DHCPv4]
RequestOptions=252
UseHostname=no
"""


class Networkd:
    """systemd-networkd running in ``ns`` (and its private mounts)."""

    def __init__(self, ns: Namespace, holder: Server, ifname: str) -> None:
        self.ns, self.holder, self.ifname = ns, holder, ifname

    def lease_file(self) -> Path:
        index = self.ns.ip_json("link", "show", "dev", self.ifname)[0]["ifindex"]
        return LEASES / str(index)

    def lease(self) -> str:
        """The lease file as networkd wrote it (read inside its mount namespace), or ''."""
        done = self.ns.exec("cat", str(self.lease_file()), check=False)
        return done.stdout if done.returncode == 0 else ""

    def pids(self) -> list[int]:
        """The networkd processes of the namespace."""
        out = self.ns.exec("sh", "-c", "for p in /proc/[0-9]*; do "
                           "[ \"$(cat $p/comm 2>/dev/null)\" = systemd-network ] && "
                           "echo ${p#/proc/}; done; true").stdout
        return [int(p) for p in out.split()]


def start_networkd(ns: Namespace, ifname: str, timeout: float = 20.0) -> Networkd:
    """networkd managing ``ifname`` in ``ns`` with :data:`NETWORK_FILE`; returns once its
    lease file holds a lease."""
    if not NETWORKD.exists():
        pytest.skip(f"{NETWORKD} is not installed (the systemd package)")
    work = ns.lab.workdir / f"networkd-{ns.role}"
    (work / "empty").mkdir(parents=True)
    network_file = work / f"50-{ifname}.network"
    network_file.write_text(NETWORK_FILE.format(ifname=ifname))
    q = shlex.quote
    # The .network file goes to /run/systemd/network (the private /run); every other
    # directory networkd reads them from is hidden behind an empty one, when it exists.
    hide = "\n".join(f"[ ! -d {d} ] || mount --bind {q(str(work / 'empty'))} {d}"
                     for d in CONFIG_DIRS)
    setup = f"""
mount -t tmpfs -o mode=0755 tmpfs /run
{hide}
mkdir -p /run/systemd/network
cp {q(str(network_file))} /run/systemd/network/
mount -o remount,bind,ro /sys
SYSTEMD_LOG_TARGET=console {q(str(NETWORKD))} >&2 &
"""
    networkd = Networkd(ns, ns.private_mounts(setup, what="systemd-networkd"), ifname)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "ADDRESS=" in networkd.lease():
            return networkd
        time.sleep(0.2)
    raise LabError(f"systemd-networkd on {ifname} in {ns.role} took no lease within {timeout}s:"
                   f"\n{networkd.holder.log_text()[-2000:]}")


def networkd_wpad(lab: Lab, case: str) -> Scenario:
    """The office, the proxy host serving a PAC file, a DHCP server offering that file's URL
    as option 252, the client's networkd holding the lease, and KDE set to detect the proxy
    (ProxyType=3). The cases:

    * ``variables-unset``: the PAC file sends everything to the proxy, the only way out of the
      LAN; no proxy variable: the browser (following the lease's PAC file) works, curl times
      out.
    * ``dead-proxy``: the PAC file sends everything to a proxy port where nothing listens (a
      stale file); no variable, and direct works: curl works, the browser does not.
    * ``agrees`` (control): the PAC file and the variables name the same proxy, the only way
      out.
    """
    o = office(lab)
    web = o.server.http_server(SERVER_IP, 80)
    script = PAC_DEAD_PROXY if case == "dead-proxy" else PAC_ALL_PROXIED
    proxy, proxy_if, servers = pac_host(lab, o, script)
    servers["dhcp"] = proxy.dhcp_server(proxy_if, *DHCP_RANGE, options=[
        f"3,{GW_IP}", f"6,{DNS_IP}", f"252,{WPAD_URL}"])
    networkd = start_networkd(o.client, "eth0")
    kde_settings(lab, 3)
    common = {"nodes": {"proxy": proxy}, "servers": {"web": web, **servers},
              "info": {"pac": script, "url": WPAD_URL, "networkd": networkd}}
    target = f"http://{APP}/"
    if case == "dead-proxy":
        return o.scenario("networkd-wpad-names-dead-proxy", target, layer=None,
                          checklist=("P2",), expect="proxy.pac-proxy-fails-variables-go-direct",
                          **common)
    _egress_only_from_proxy(o)
    if case == "variables-unset":
        return o.scenario("networkd-wpad-proxies-variables-unset", target, layer="transport",
                          checklist=("P2",), expect="proxy.pac-proxy-but-variables-go-direct",
                          **common)
    return o.scenario("networkd-wpad-agrees-with-variables", target,
                      env=_proxy_env(f"http://{PROXY_IP}:{PROXY_PORT}"), **common)


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "networkd-wpad-proxies-variables-unset": lambda lab: networkd_wpad(lab, "variables-unset"),
    "networkd-wpad-names-dead-proxy": lambda lab: networkd_wpad(lab, "dead-proxy"),
}

HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "networkd-wpad-agrees-with-variables": lambda lab: networkd_wpad(lab, "agrees"),
}
