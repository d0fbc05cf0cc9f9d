"""Healthy hosts of shapes the rest of the corpus lacks: whynet must stay quiet on each.

``healthy.py`` holds the VPN, container, proxy and firewall set-ups; these are the ordinary
machines around them, built for real the way their own software builds them:

* ``jumbo-frames-lan``: MTU 9000 on the LAN (a storage or HPC network), 1500 beyond the
  router; path MTU discovery works (the router sends "fragmentation needed"), both to a
  1500-byte server and to a jumbo-framed origin behind the 1500-byte hop;
* ``vlan-subinterface``: the LAN address and default route on ``eth0.100``, the parent with no
  address (a trunk port, as on servers and many VMs);
* ``macvlan-container-host``: Docker's macvlan network: a container with its own MAC on the
  LAN, and the host's ``macvlan-shim`` (an address and a route to the container range) so
  host and container can talk, which macvlan's parent cannot;
* ``ipvlan-guest``: a guest whose only interface is an ipvlan (L2) slave of its host's NIC:
  the guest's MAC is the host NIC's;
* ``ipv6-slaac-privacy``: IPv6 learned from router advertisements (dnsmasq's RA on the
  gateway): two prefixes on one link (a ULA and a global one), each with a stable
  ``mngtmpaddr`` address and temporary (privacy) addresses, the default route via the
  router's link-local address; the target is reached over IPv6;
* ``tailscale-like``: a tun ``tailscale0`` with an address in 100.64.0.0/10, its routes in
  table 52 chosen by Tailscale's ``ip rule`` set (with a ``suppress_prefixlength 0`` main
  rule before it), Tailscale's iptables chains, and MagicDNS at 100.100.100.100 (a dnsmasq
  across the overlay) as the only nameserver; one target on the LAN's far side, one across
  the overlay;
* ``debian-resolver-files``: resolv.conf with ``options edns0 trust-ad rotate timeout:1
  attempts:2`` over two nameservers and Debian's default /etc/hosts (``127.0.1.1`` for the
  host name, the ``ff02::1`` ... lines);
* ``workstation-bridges-and-vpn``: libvirt's ``virbr0`` (192.168.122.1/24, no VM: no
  carrier), an idle ``docker0`` (no container: no carrier) and a WireGuard-style split tunnel
  at once, with Docker's and libvirt's iptables rules;
* ``networkmanager-laptop``: wired and Wi-Fi both up, the Wi-Fi connection ``never-default``
  (its subnet, no gateway), routes with NetworkManager's metrics and ``proto dhcp``, and the
  ``169.254.0.0/16 dev wlp2s0 metric 1000`` link-local route NetworkManager adds.

And more of the same kind: a GCE-style /32 lease (``cloud-slash32``), a hoster's on-link
gateway outside the host's /32 with IPv6 via ``fe80::1`` (``onlink-gateway``), IPv6 switched
off or absent while the name has an AAAA (``ipv6-disabled-host``,
``ipv4-only-lan-aaaa-name``), PPPoE's MTU 1492, a server that ignores ping, a local DNS cache
with a 40,000-line block list, a KVM host's ``br0``, source-based policy routing for a second
uplink, ``nameserver fe80::1%eth0`` and a router page at ``[fe80::1%25eth0]``, an IPv4
link-local cable to a device, OpenVPN's ``redirect-gateway def1`` and libvirt's isolated
(host-only) network with forwarding off.

Each builder returns a :class:`~scenarios.Scenario` with no checklist and ``info["reach"]``,
the ``(ip, port)`` pairs a plain socket in the client must reach first; ``test_hostvariety.py``
proves them, then runs whynet and asserts no finding at warning or above.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from pathlib import Path

from .healthy import (
    DOCKER_RULES,
    INTRANET,
    INTRANET_IP,
    _bridge,
    _container,
    _healthy,
    _tunnel,
    _vpn_concentrator,
    _wait_ipv6_ready,
)
from .netlab import Lab, LabError, Namespace, Server
from .scenarios import APP, BENCH, DNS_IP, GW_IP, INTERNET, LAN, SERVER_IP, Scenario, office

JUMBO_MTU = 9000
#: A page of about 12 KB: with a 9000-byte MSS it leaves in two segments the 1500-byte hop must
#: shrink, so the GET completes only if path MTU discovery works.
PAGE = "whynet jumbo lab page\n" * 560
HERE = Path(__file__).resolve().parent
TUN_RELAY_PY = HERE / "tun_relay.py"


def _jumbo(ns: Namespace, ifname: str) -> None:
    ns.ip("link", "set", ifname, "mtu", str(JUMBO_MTU))


# --- links ------------------------------------------------------------------------------------

def jumbo_frames_lan(lab: Lab) -> Scenario:
    """A LAN at MTU 9000 (every port of the switch, the client, the resolver and the
    gateway's LAN side), a 1500-byte link from the gateway to the server and to a second
    router, and behind that router an origin on a jumbo segment again: TCP to the server
    agrees on a 1460-byte MSS, TCP to the origin agrees on 8960 and shrinks by path MTU
    discovery when the gateway answers the client's 9000-byte packets with "fragmentation
    needed" (nothing filters ICMP)."""
    o = office(lab)
    for port in o.lan.ns.ip_json("link", "show", "master", o.lan.bridge):
        _jumbo(o.lan.ns, port["ifname"])
    _jumbo(o.lan.ns, o.lan.bridge)
    _jumbo(o.client, "eth0")
    _jumbo(o.dns, "eth0")
    _jumbo(o.gw, o.gw_lan_if)
    wan, origin = lab.router("wan"), lab.host("origin")
    lab.link(o.gw, wan, "10.40.0.1/30", "10.40.0.2/30")  # 1500, as the rest beyond the gateway
    wan_out, origin_if = lab.link(wan, origin, "203.0.113.1/24", "203.0.113.80/24")
    _jumbo(wan, wan_out)
    _jumbo(origin, origin_if)
    o.gw.add_route("203.0.113.0/24", via="10.40.0.2")
    wan.default_route("10.40.0.1")
    origin.default_route("203.0.113.1")
    o.dns_server.stop()
    o.records["nas.corp.test"] = "203.0.113.80"
    o.dns_server = o.dns.dnsmasq(DNS_IP, o.records)
    web = o.server.http_server(SERVER_IP, 80, body=PAGE, one_write=True)
    nas = origin.http_server("203.0.113.80", 80, body=PAGE, one_write=True)
    return _healthy(o.scenario, "jumbo-frames-lan", f"http://{APP}/",
                    [(SERVER_IP, 80), ("203.0.113.80", 80)],
                    "jumbo frames on the LAN, 1500 beyond it; PMTUD works",
                    args=("http://nas.corp.test/",), servers={"web": web, "nas": nas},
                    nodes={"wan": wan, "origin": origin}, info={"large": True})


def _add_link_or_skip(ns: Namespace, kind: str, *argv: str) -> None:
    """``ip link add ARGV type KIND ...``; skips the test where the kernel cannot make a
    ``kind`` link (no 8021q or ipvlan driver), as ``healthy.bonded_nic`` does for bonds."""
    try:
        ns.ip("link", "add", *argv)
    except LabError as exc:
        import pytest

        pytest.skip(f"this kernel cannot make a {kind} link: {exc}")


def _move_to_vlan(ns: Namespace, parent: str, vid: int, cidr: str) -> str:
    """``parent``'s address moves to the tagged sub-interface ``parent.vid`` (the parent keeps
    no address, as on a trunk port); returns the sub-interface's name."""
    sub = f"{parent}.{vid}"
    _add_link_or_skip(ns, "vlan", "link", parent, "name", sub, "type", "vlan", "id", str(vid))
    ns.ip("addr", "flush", "dev", parent)
    ns.ip("link", "set", sub, "up")
    ns.add_address(sub, cidr)
    return sub


def vlan_subinterface(lab: Lab) -> Scenario:
    """A server on a trunk port: VLAN 100 tagged on eth0, ``eth0.100`` holds 10.20.0.10/24
    and the default route, ``eth0`` itself has no address; the gateway and the resolver sit
    on VLAN 100 too (the switch passes tagged frames)."""
    o = office(lab, client_route=False)
    vlan = 100
    sub = _move_to_vlan(o.client, "eth0", vlan, f"{LAN}.10/24")
    o.client.default_route(GW_IP, dev=sub)
    gw_sub = _move_to_vlan(o.gw, o.gw_lan_if, vlan, f"{GW_IP}/24")
    _move_to_vlan(o.dns, "eth0", vlan, f"{DNS_IP}/24")
    o.dns.default_route(GW_IP)
    o.dns_server.stop()
    o.dns_server = o.dns.dnsmasq(DNS_IP, o.records)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "vlan-subinterface", f"http://{APP}/", [(SERVER_IP, 80)],
                    f"everything over {sub}; the parent carries only tagged frames",
                    args=(SERVER_IP,), servers={"web": web}, info={"gw_if": gw_sub})


MACVLAN_RANGE = f"{LAN}.192/27"
MACVLAN_CTR_IP = f"{LAN}.195"
MACVLAN_SHIM_IP = f"{LAN}.222"


def macvlan_container_host(lab: Lab) -> Scenario:
    """``docker network create -d macvlan --subnet 10.20.0.0/24 --ip-range 10.20.0.192/27
    --gateway 10.20.0.1 -o parent=eth0``: the container's eth0 is a macvlan (bridge mode) of
    the host's eth0, with its own MAC on the LAN. A macvlan's parent cannot reach its own
    children, so the host gets the usual shim: ``macvlan-shim`` (macvlan of eth0 in the host)
    with a /32 and a route to the container range through it. whynet runs on the host and
    asks for the world and for the container."""
    o = office(lab)
    host = o.client
    ctr = lab.host("ctr")
    host.ip("link", "add", "mv-ctr", "link", "eth0", "type", "macvlan", "mode", "bridge")
    host.ip("link", "set", "mv-ctr", "netns", ctr.netns)
    ctr.ip("link", "set", "mv-ctr", "name", "eth0")
    ctr.ip("link", "set", "eth0", "up")
    ctr.add_address("eth0", f"{MACVLAN_CTR_IP}/24")
    ctr.default_route(GW_IP)
    host.ip("link", "add", "macvlan-shim", "link", "eth0", "type", "macvlan", "mode", "bridge")
    host.ip("link", "set", "macvlan-shim", "up")
    host.add_address("macvlan-shim", f"{MACVLAN_SHIM_IP}/32")
    host.add_route(MACVLAN_RANGE, dev="macvlan-shim")
    app = ctr.http_server(MACVLAN_CTR_IP, 80)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "macvlan-container-host", f"http://{APP}/",
                    [(SERVER_IP, 80), (MACVLAN_CTR_IP, 80)],
                    "the host reaches the world on eth0 and its macvlan container by the shim",
                    args=(f"http://{MACVLAN_CTR_IP}/",), servers={"web": web, "app": app},
                    nodes={"ctr": ctr}, info={"listen": ["80"]})


def ipvlan_guest(lab: Lab) -> Scenario:
    """A guest (a container with ``--network ipvlan``, or a VM-like sandbox) whose only
    interface is an ipvlan L2 slave of its host's NIC: same MAC as the host's eth0, its own
    address on the LAN. whynet runs in the guest."""
    o = office(lab, client_route=False)
    guest = lab.host("guest")
    _add_link_or_skip(o.client, "ipvlan", "ipvl0", "link", "eth0", "type", "ipvlan", "mode", "l2")
    o.client.ip("link", "set", "ipvl0", "netns", guest.netns)
    guest.ip("link", "set", "ipvl0", "name", "eth0")
    guest.ip("link", "set", "eth0", "up")
    guest.add_address("eth0", f"{LAN}.30/24")
    guest.default_route(GW_IP)
    guest.write_resolv_conf([DNS_IP])
    web = o.server.http_server(SERVER_IP, 80)
    sc = _healthy(o.scenario, "ipvlan-guest", f"http://{APP}/", [(SERVER_IP, 80)],
                  "the guest's ipvlan shares its host's MAC and reaches the world",
                  args=(GW_IP,), servers={"web": web}, nodes={"host": o.client})
    sc.client = guest
    return sc


# --- IPv6 ---------------------------------------------------------------------------------------

V6_ULA = "fd20:0:0:20::"
V6_GLOBAL = "2001:db8:20::"
V6_FAR = "2001:db8:51::"
SERVER_V6 = f"{V6_FAR}20"


def _in(address: dict[str, object], prefix: str) -> bool:
    return ipaddress.ip_address(str(address["local"])) in ipaddress.ip_network(prefix)


def _wait_slaac(ns: Namespace, ifname: str, prefixes: tuple[str, ...], *,
                timeout: float = 15.0) -> list[dict[str, object]]:
    """Until ``ifname`` has, for every prefix, a stable and a temporary address that are no
    longer tentative, and a default route learned from an RA; returns the addresses."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        info = ns.ip_json("-6", "addr", "show", "dev", ifname)
        seen = [a for a in info[0].get("addr_info", []) if a.get("scope") == "global"] if info else []
        ready = [a for a in seen if not a.get("tentative")]
        routes = ns.ip_json("-6", "route", "show", "default")
        if all(any(_in(a, p) and a.get("temporary") for a in ready)
               and any(_in(a, p) and a.get("mngtmpaddr") for a in ready)
               for p in prefixes) and routes:
            return seen
        time.sleep(0.2)
    raise LabError(f"SLAAC on {ifname} did not finish in {timeout}s: {seen}")


def ipv6_slaac_privacy(lab: Lab) -> Scenario:
    """A desktop on a dual-prefix IPv6 LAN, configured by the kernel from router
    advertisements: the gateway's dnsmasq advertises a ULA (fd20:0:0:20::/64) and a global
    prefix (2001:db8:20::/64), both SLAAC; the client has ``use_tempaddr=2`` (privacy
    extensions, as desktop distributions set it), so each prefix gives a stable address
    flagged ``mngtmpaddr`` and a temporary one, both ``dynamic``, beside the link-local
    ``fe80::/64`` route; the default route is ``proto ra`` via the router's link-local
    address. The name has A and AAAA; the client's global source makes the AAAA preferred, and
    a second target is the server's IPv6 address itself."""
    o = office(lab, records={APP: [SERVER_IP, SERVER_V6]})  # type: ignore[dict-item]
    c, gw = o.client, o.gw
    c.sysctl("net.ipv6.conf.eth0.use_tempaddr", 2)
    c.sysctl("net.ipv6.conf.eth0.accept_ra", 1)
    c.sysctl("net.ipv6.conf.eth0.autoconf", 1)
    gw.add_address(o.gw_lan_if, f"{V6_ULA}1/64")
    gw.add_address(o.gw_lan_if, f"{V6_GLOBAL}1/64")
    gw.add_address(o.gw_far_if, f"{V6_FAR}1/64")
    o.server.add_address("eth0", f"{SERVER_V6}/64")
    o.server.add_route("default", via=f"{V6_FAR}1")
    gw.sysctl("net.ipv6.conf.all.forwarding", 1)
    exe = "/usr/sbin/dnsmasq"
    ra = gw.spawn("radv", [
        exe, "--no-daemon", "--conf-file=/dev/null", "--port=0", f"--interface={o.gw_lan_if}",
        "--bind-interfaces", "--log-facility=-", "--enable-ra", "--ra-param=*,10,1800",
        f"--dhcp-range={V6_ULA},ra-only,64,1h", f"--dhcp-range={V6_GLOBAL},ra-only,64,1h",
        f"--pid-file={lab.workdir / f'radv-{gw.role}.pid'}",
        f"--dhcp-leasefile={lab.workdir / f'radv-{gw.role}.leases'}",
    ], ready="started")
    _wait_ipv6_ready(gw, o.server, o.lan.ns)
    _wait_slaac(c, "eth0", (f"{V6_ULA}/64", f"{V6_GLOBAL}/64"))
    web = o.server.http_server("::", 80)
    sc = _healthy(o.scenario, "ipv6-slaac-privacy", f"http://{APP}/",
                  [(SERVER_IP, 80), (SERVER_V6, 80)],
                  "SLAAC with privacy addresses on two prefixes; IPv6 to the server works",
                  args=(f"http://[{SERVER_V6}]/",), servers={"web": web, "radv": ra})
    return sc


# --- overlays -----------------------------------------------------------------------------------

TS_TABLE = 52
TS_CLIENT_IP = "100.101.102.10"
TS_PEER_IP = "100.101.102.20"
MAGIC_DNS = "100.100.100.100"
TS_DOMAIN = "tail-lab.ts.test"
TS_PEER_NAME = f"peer.{TS_DOMAIN}"
#: Tailscale's own iptables chains (``tailscale up`` with netfilter on), for this node.
TS_RULES = f"""\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:ts-forward - [0:0]
:ts-input - [0:0]
-A INPUT -j ts-input
-A FORWARD -j ts-forward
-A ts-forward -i tailscale0 -j MARK --set-xmark 0x40000/0xff0000
-A ts-forward -m mark --mark 0x40000/0xff0000 -j ACCEPT
-A ts-forward -s 100.64.0.0/10 -o tailscale0 -j DROP
-A ts-forward -o tailscale0 -j ACCEPT
-A ts-input -s {TS_CLIENT_IP}/32 -i lo -j ACCEPT
-A ts-input -s 100.115.92.0/23 ! -i tailscale0 -j RETURN
-A ts-input -s 100.64.0.0/10 ! -i tailscale0 -j DROP
-A ts-input -i tailscale0 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:ts-postrouting - [0:0]
-A POSTROUTING -j ts-postrouting
-A ts-postrouting -m mark --mark 0x40000/0xff0000 -j MASQUERADE
COMMIT
"""


def tun_relay(lab: Lab, left: Namespace, left_dev: str, right: Namespace,
              right_dev: str) -> Server:
    """``tun_relay.py``: a tun ``left_dev`` in ``left`` and ``right_dev`` in ``right``, every
    packet carried across (an overlay daemon without the crypto). Started inside ``left``, so
    the lab owns and kills it like its other processes; it enters ``right`` itself."""
    argv = [lab.python, str(TUN_RELAY_PY), "--left-netns", left.netns, "--left-dev",
            left_dev, "--right-netns", right.netns, "--right-dev", right_dev]
    return left.spawn("tun-relay", argv)


def tailscale_like(lab: Lab, exit_node: bool = False) -> Scenario:
    """A laptop on Tailscale: ``tailscale0`` is a tun (held by the overlay daemon) with
    100.101.102.10/32; table 52 holds the tailnet's routes (``100.64.0.0/10`` and
    ``100.100.100.100`` dev tailscale0); the rules are Tailscale's (5210-5250 send its own
    marked packets to main, 5270 ``lookup 52``) plus a ``lookup main suppress_prefixlength 0``
    before table 52, so the LAN's specific routes win over the tailnet's; MagicDNS
    100.100.100.100 is the only nameserver, with the tailnet's search domain. One target on
    the far side of the LAN gateway, one across the overlay (a peer's web server).

    ``exit_node``: the peer is this laptop's exit node (``tailscale up --exit-node``): table 52
    also holds ``default dev tailscale0``, so the world goes through the overlay (the peer
    forwards and masquerades it) while the rule 5260 keeps the LAN's own subnet direct."""
    o = office(lab, records={APP: SERVER_IP})
    c = o.client
    peer = lab.router("tspeer") if exit_node else lab.host("tspeer")
    relay = tun_relay(lab, c, "tailscale0", peer, "tailscale0")
    for ns, ip in ((c, TS_CLIENT_IP), (peer, TS_PEER_IP)):
        ns.ip("link", "set", "tailscale0", "mtu", "1280", "up")
        ns.add_address("tailscale0", f"{ip}/32")
    peer.add_address("tailscale0", f"{MAGIC_DNS}/32")
    peer.add_route("100.64.0.0/10", dev="tailscale0")
    c.add_route("100.64.0.0/10", dev="tailscale0", table=TS_TABLE)
    c.add_route(f"{MAGIC_DNS}/32", dev="tailscale0", table=TS_TABLE)
    if exit_node:
        c.add_route("default", dev="tailscale0", table=TS_TABLE)
        peer_out, _ = lab.link(peer, o.gw, f"{INTERNET}.2/24", f"{INTERNET}.1/24")
        peer.default_route(f"{INTERNET}.1")
        lab.masquerade(peer, peer_out)
    for priority, selector in ((5210, "main"), (5230, "default")):
        c.ip("rule", "add", "fwmark", "0x80000/0xff0000", "lookup", selector,
             "priority", str(priority))
    c.ip("rule", "add", "fwmark", "0x80000/0xff0000", "unreachable", "priority", "5250")
    c.ip("rule", "add", "lookup", "main", "suppress_prefixlength", "0", "priority", "5260")
    c.ip("rule", "add", "lookup", str(TS_TABLE), "priority", "5270")
    c.exec("iptables-restore", input=TS_RULES)
    magic = peer.dnsmasq(MAGIC_DNS, {**o.records, TS_PEER_NAME: TS_PEER_IP},
                         local_zones=("test",))
    c.write_resolv_conf([MAGIC_DNS], search=[TS_DOMAIN])
    peer_web = peer.http_server(TS_PEER_IP, 80)
    web = o.server.http_server(SERVER_IP, 80)
    sc = _healthy(o.scenario, "tailscale-exit-node" if exit_node else "tailscale-like",
                  f"http://{APP}/", [(SERVER_IP, 80), (TS_PEER_IP, 80)],
                  "the world through the exit node" if exit_node else
                  "the LAN's gateway for the world, tailscale0 (table 52) for the tailnet",
                  args=(f"http://{TS_PEER_NAME}/",),
                  servers={"web": web, "peer_web": peer_web, "magicdns": magic, "relay": relay},
                  nodes={"tspeer": peer}, info={"listen": ["8080"]})
    sc.info["names"] = {APP: [SERVER_IP], TS_PEER_NAME: [TS_PEER_IP]}
    return sc


def openvpn_def1(lab: Lab) -> Scenario:
    """An OpenVPN client with ``redirect-gateway def1``: ``tun0`` (a tun held by the VPN
    daemon, 10.8.0.2/24), ``0.0.0.0/1`` and ``128.0.0.0/1`` via 10.8.0.1 (more specific than
    the DHCP default route, which stays), and a host route to the VPN server's address via the
    LAN gateway. The server behind the VPN's exit is reached through the tunnel; the LAN's
    resolver, on a connected subnet, directly."""
    o = office(lab)
    c = o.client
    vpn, _ = _vpn_concentrator(lab, o)
    relay = tun_relay(lab, c, "tun0", vpn, "tun0")
    for ns, cidr in ((c, "10.8.0.2/24"), (vpn, "10.8.0.1/24")):
        ns.ip("link", "set", "tun0", "mtu", "1500", "up")
        ns.add_address("tun0", cidr)
    c.add_route("203.0.113.2/32", via=GW_IP, dev="eth0")  # the VPN server's public address
    for half in ("0.0.0.0/1", "128.0.0.0/1"):  # the default route's halves: no address
        c.ip("route", "add", half, "via", "10.8.0.1", "dev", "tun0")
    web = o.server.http_server(SERVER_IP, 80, body=PAGE, one_write=True)
    return _healthy(o.scenario, "openvpn-def1", f"http://{APP}/", [(SERVER_IP, 80)],
                    "the world through tun0's two halves, the LAN directly",
                    args=(SERVER_IP,), servers={"web": web, "relay": relay},
                    nodes={"vpn": vpn}, info={"large": True})


# --- names --------------------------------------------------------------------------------------

def debian_hosts(hostname: str) -> str:
    """/etc/hosts as Debian's installer writes it (netcfg), for ``hostname``."""
    return (f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}.corp.test\t{hostname}\n\n"
            "# The following lines are desirable for IPv6 capable hosts\n"
            "::1     localhost ip6-localhost ip6-loopback\n"
            "ff02::1 ip6-allnodes\n"
            "ff02::2 ip6-allrouters\n")


def debian_resolver_files(lab: Lab) -> Scenario:
    """A Debian server's resolver files: two nameservers with ``options edns0 trust-ad rotate
    timeout:1 attempts:2`` and a search list, and the installer's /etc/hosts (127.0.1.1 for
    the machine's own name, the IPv6 multicast names). Both resolvers answer. The server also
    asks for its own service as ``http://localhost:8080/`` (the hosts file's ::1 and
    127.0.0.1; the LAN's resolvers are authoritative-only and refuse ``localhost``)."""
    o = office(lab)
    dns2 = lab.host("dns54")
    o.lan.plug(dns2, f"{LAN}.54/24")
    dns2.default_route(GW_IP)
    second = dns2.dnsmasq(f"{LAN}.54", o.records)
    o.client.write_resolv_conf([DNS_IP, f"{LAN}.54"], search=["corp.test"],
                               options=["edns0", "trust-ad", "rotate", "timeout:1",
                                        "attempts:2"])
    o.client.write_hosts(debian_hosts(socket.gethostname()))
    web = o.server.http_server(SERVER_IP, 80)
    own = o.client.http_server("::", 8080)  # its own service, dual-stack, asked as localhost
    sc = _healthy(o.scenario, "debian-resolver-files", f"http://{APP}/",
                  [(SERVER_IP, 80), ("::1", 8080), ("127.0.0.1", 8080)],
                  "rotate over two working resolvers; the stock hosts file",
                  args=("http://app/", "http://localhost:8080/"),
                  servers={"web": web, "dns54": second, "own": own}, nodes={"dns54": dns2})
    sc.info["names"] = {APP: [SERVER_IP], "app": [SERVER_IP]}
    return sc


# --- several virtual networks at once ------------------------------------------------------------

def libvirt_rules(bridge: str, subnet: str, *, nat: bool) -> str:
    """The iptables rules libvirt writes for one network on ``bridge``: DNS and DHCP to the
    host, traffic within the bridge; with ``nat`` (``<forward mode='nat'/>``, the default
    network) its subnet may leave and is masqueraded, without (an isolated network)
    everything leaving or entering the bridge is rejected."""
    filt = [
        "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
        *(f":LIBVIRT_{chain} - [0:0]" for chain in ("FWI", "FWO", "FWX", "INP", "OUT")),
        "-A INPUT -j LIBVIRT_INP", "-A FORWARD -j LIBVIRT_FWX", "-A FORWARD -j LIBVIRT_FWI",
        "-A FORWARD -j LIBVIRT_FWO", "-A OUTPUT -j LIBVIRT_OUT",
    ]
    if nat:
        filt += [f"-A LIBVIRT_FWI -d {subnet} -o {bridge} -m conntrack --ctstate "
                 "RELATED,ESTABLISHED -j ACCEPT",
                 f"-A LIBVIRT_FWO -s {subnet} -i {bridge} -j ACCEPT"]
    filt += [f"-A LIBVIRT_FWI -o {bridge} -j REJECT --reject-with icmp-port-unreachable",
             f"-A LIBVIRT_FWO -i {bridge} -j REJECT --reject-with icmp-port-unreachable",
             f"-A LIBVIRT_FWX -i {bridge} -o {bridge} -j ACCEPT"]
    filt += [f"-A LIBVIRT_INP -i {bridge} -p {proto} -m {proto} --dport {port} -j ACCEPT"
             for port in (53, 67) for proto in ("udp", "tcp")]
    filt += [f"-A LIBVIRT_OUT -o {bridge} -p {proto} -m {proto} --dport {port} -j ACCEPT"
             for port in (53, 68) for proto in ("udp", "tcp")]
    filt.append("COMMIT")
    if not nat:
        return "\n".join(filt) + "\n"
    masq = [f"-A LIBVIRT_PRT -s {subnet} -d 224.0.0.0/24 -j RETURN",
            f"-A LIBVIRT_PRT -s {subnet} -d 255.255.255.255/32 -j RETURN",
            *(f"-A LIBVIRT_PRT -s {subnet} ! -d {subnet} -p {proto} -j MASQUERADE --to-ports "
              "1024-65535" for proto in ("tcp", "udp")),
            f"-A LIBVIRT_PRT -s {subnet} ! -d {subnet} -j MASQUERADE"]
    nat_table = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]",
                 ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":LIBVIRT_PRT - [0:0]",
                 "-A POSTROUTING -j LIBVIRT_PRT", *masq, "COMMIT"]
    return "\n".join([*filt, *nat_table]) + "\n"


def workstation_bridges_and_vpn(lab: Lab) -> Scenario:
    """A developer's workstation: libvirt's default network (``virbr0`` 192.168.122.1/24, no VM
    running, so the bridge has no carrier and its route is ``linkdown``; libvirt's iptables
    chains), Docker installed with no container running (``docker0`` 172.17.0.1/16, no
    carrier; Docker's iptables), and a WireGuard split tunnel to the intranet (10.99.0.0/16
    dev wg0). The world through the LAN gateway, the intranet through the tunnel."""
    o = office(lab)
    c = o.client
    vpn, _ = _vpn_concentrator(lab, o)
    _tunnel(c, vpn)
    intranet = lab.host("intranet")
    lab.link(intranet, vpn, f"{INTRANET_IP}/24", f"{INTRANET}.1/24")
    intranet.default_route(f"{INTRANET}.1")
    c.add_route("10.99.0.0/16", dev="wg0")
    _bridge(c, "virbr0", "192.168.122.1/24")
    _bridge(c, "docker0", "172.17.0.1/16")
    c.sysctl("net.ipv4.ip_forward", 1)
    c.exec("iptables-restore", input=DOCKER_RULES)
    c.exec("iptables-restore", "--noflush",
           input=libvirt_rules("virbr0", "192.168.122.0/24", nat=True))
    wiki = intranet.http_server(INTRANET_IP, 80)
    web = o.server.http_server(SERVER_IP, 80)
    o.dns_server.stop()
    dns = o.dns.dnsmasq(DNS_IP, {**o.records, "wiki.corp.test": INTRANET_IP})
    return _healthy(o.scenario, "workstation-bridges-and-vpn", f"http://{APP}/",
                    [(SERVER_IP, 80), (INTRANET_IP, 80)],
                    "idle virbr0 and docker0 beside a split tunnel; both targets answer",
                    args=("http://wiki.corp.test/",),
                    servers={"web": web, "wiki": wiki, "dns": dns},
                    nodes={"vpn": vpn, "intranet": intranet}, info={"listen": ["8080"]})


def libvirt_isolated_network(lab: Lab) -> Scenario:
    """A test bench: libvirt's isolated network (no ``<forward>``: ``virbr1``
    192.168.100.1/24, host-only by design, libvirt's reject rules for anything leaving it)
    with a VM running, and IPv4 forwarding off (nothing on this host is meant to be routed).
    The host reaches the world and its VM; the VM reaches only the host."""
    o = office(lab)
    c = o.client
    _bridge(c, "virbr1", "192.168.100.1/24")
    vm = _container(lab, c, "virbr1", "vm", "192.168.100.50/24", "192.168.100.1", "vnet1")
    c.sysctl("net.ipv4.ip_forward", 0)
    c.exec("iptables-restore", input=libvirt_rules("virbr1", "192.168.100.0/24", nat=False))
    vm_web = vm.http_server("192.168.100.50", 80)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "libvirt-isolated-network", f"http://{APP}/",
                    [(SERVER_IP, 80), ("192.168.100.50", 80)],
                    "a host-only VM network with forwarding off, as meant",
                    args=("http://192.168.100.50/",), servers={"web": web, "vm_web": vm_web},
                    nodes={"vm": vm})


# --- laptops --------------------------------------------------------------------------------------

WIFI = "10.21.0"


def networkmanager_laptop(lab: Lab) -> Scenario:
    """A laptop under NetworkManager, docked: wired ``enp0s31f6`` (metric 100, the default
    route, ``proto dhcp``) and Wi-Fi ``wlp2s0`` (metric 600) on another access network
    whose connection is ``ipv4.never-default`` (its subnet route, no gateway), and the
    ``169.254.0.0/16 dev wlp2s0 scope link metric 1000`` route NetworkManager adds for
    link-local (avahi-autoipd's shape). Both NICs are up with carrier."""
    o = office(lab, client_route=False)
    c = o.client
    c.ip("addr", "flush", "dev", "eth0")
    c.ip("link", "set", "eth0", "down")
    c.ip("link", "set", "eth0", "name", "enp0s31f6")
    c.ip("link", "set", "enp0s31f6", "up")
    c.ip("addr", "add", f"{LAN}.10/24", "dev", "enp0s31f6", "noprefixroute")
    c.ip("route", "add", f"{LAN}.0/24", "dev", "enp0s31f6", "proto", "kernel", "scope", "link",
         "src", f"{LAN}.10", "metric", "100")
    c.ip("route", "add", "default", "via", GW_IP, "dev", "enp0s31f6", "proto", "dhcp",
         "src", f"{LAN}.10", "metric", "100")
    wifi = lab.switch("wifi")
    ap = lab.router("ap")
    wifi.plug(c, ifname="wlp2s0")
    wifi.plug(ap, f"{WIFI}.1/24")
    c.ip("addr", "add", f"{WIFI}.57/24", "dev", "wlp2s0", "noprefixroute")
    c.ip("route", "add", f"{WIFI}.0/24", "dev", "wlp2s0", "proto", "kernel", "scope", "link",
         "src", f"{WIFI}.57", "metric", "600")
    c.ip("route", "add", "169.254.0.0/16", "dev", "wlp2s0", "scope", "link", "metric", "1000")
    printer = ap.http_server(f"{WIFI}.1", 80)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "networkmanager-laptop", f"http://{APP}/",
                    [(SERVER_IP, 80), (f"{WIFI}.1", 80)],
                    "the wired default route for the world, the Wi-Fi subnet on its own link",
                    args=(f"http://{WIFI}.1/",), servers={"web": web, "printer": printer},
                    nodes={"ap": ap})


# --- cloud and hosting servers ------------------------------------------------------------------

def cloud_slash32(lab: Lab) -> Scenario:
    """A Google Compute Engine-style VM: the DHCP lease gives a /32 (``10.20.0.10/32``), so
    there is no connected subnet; the guest agent adds a link-scope host route to the gateway
    (``10.20.0.1 dev eth0 scope link``) and the default route through it; DHCP's MTU 1460
    (GCE's default VPC MTU). Reverse-path filtering is strict (RHEL's default)."""
    o = office(lab, client_route=False)
    c = o.client
    c.ip("addr", "flush", "dev", "eth0")
    c.add_address("eth0", f"{LAN}.10/32")
    c.ip("link", "set", "eth0", "mtu", "1460")
    c.ip("route", "add", GW_IP, "dev", "eth0", "proto", "dhcp", "scope", "link", "src",
         f"{LAN}.10", "metric", "100")
    c.ip("route", "add", "default", "via", GW_IP, "dev", "eth0", "proto", "dhcp", "src",
         f"{LAN}.10", "metric", "100")
    c.sysctl("net.ipv4.conf.all.rp_filter", 1)
    c.sysctl("net.ipv4.conf.eth0.rp_filter", 1)
    web = o.server.http_server(SERVER_IP, 80, body=PAGE, one_write=True)
    return _healthy(o.scenario, "cloud-slash32", f"http://{APP}/", [(SERVER_IP, 80), (DNS_IP, 53)],
                    "a /32 lease, the gateway by a host route; everything reaches",
                    args=(SERVER_IP,), servers={"web": web}, info={"listen": ["8080"]})


HOSTER_GW = "172.31.1.1"


def onlink_gateway(lab: Lab) -> Scenario:
    """A Hetzner-style dedicated/cloud server: the public address as a /32 and ``default via
    172.31.1.1 dev eth0 onlink``, a gateway in no subnet of this host's (the provider's
    router answers ARP for it on the link); IPv6 through ``fe80::1``, the provider's
    link-local gateway, with a /64 on eth0."""
    o = office(lab, client_route=False)
    c, gw = o.client, o.gw
    gw.add_address(o.gw_lan_if, f"{HOSTER_GW}/32")
    gw.ip("addr", "add", "fe80::1/64", "dev", o.gw_lan_if)
    gw.add_address(o.gw_far_if, f"{V6_FAR}1/64")
    gw.sysctl("net.ipv6.conf.all.forwarding", 1)
    gw.add_address(o.gw_lan_if, f"{V6_GLOBAL}1/64")
    o.server.add_address("eth0", f"{SERVER_V6}/64")
    o.server.add_route("default", via=f"{V6_FAR}1")
    c.ip("addr", "flush", "dev", "eth0")
    c.add_address("eth0", f"{LAN}.10/32")
    c.add_address("eth0", f"{V6_GLOBAL}10/64")
    c.ip("route", "add", "default", "via", HOSTER_GW, "dev", "eth0", "onlink")
    c.ip("-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0")
    _wait_ipv6_ready(c, gw, o.server, o.lan.ns)
    o.dns_server.stop()
    o.records[APP] = [SERVER_IP, SERVER_V6]  # type: ignore[assignment]
    o.dns_server = o.dns.dnsmasq(DNS_IP, o.records)
    web = o.server.http_server("::", 80)
    return _healthy(o.scenario, "onlink-gateway", f"http://{APP}/",
                    [(SERVER_IP, 80), (SERVER_V6, 80)],
                    "a /32 with an on-link gateway outside it, IPv6 via fe80::1",
                    args=(SERVER_IP,), servers={"web": web})


def ipv6_disabled_host(lab: Lab) -> Scenario:
    """A server hardened with ``net.ipv6.conf.all.disable_ipv6 = 1`` (sysctl.d), as many
    guides advise, asking for a name that has both an A and an AAAA record (as most sites
    now have): IPv4 works, IPv6 is off on purpose."""
    o = office(lab, records={APP: [SERVER_IP, SERVER_V6]})  # type: ignore[dict-item]
    for key in ("all", "default", "eth0", "lo"):
        o.client.sysctl(f"net.ipv6.conf.{key}.disable_ipv6", 1)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "ipv6-disabled-host", f"http://{APP}/", [(SERVER_IP, 80)],
                    "IPv6 switched off by sysctl; the A record serves",
                    servers={"web": web}, info={"listen": ["8080"]})


def ipv4_only_lan_aaaa_name(lab: Lab) -> Scenario:
    """The commonest home or office network: IPv4 only (the NIC has just its ``fe80::``
    address, no IPv6 router), and a target name with A and AAAA records."""
    o = office(lab, records={APP: [SERVER_IP, SERVER_V6]})  # type: ignore[dict-item]
    o.client.ip("addr", "add", "fe80::2894:f6ff:fec7:e3c6/64", "dev", "eth0", "nodad")
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "ipv4-only-lan-aaaa-name", f"http://{APP}/", [(SERVER_IP, 80)],
                    "no IPv6 route, an AAAA record: glibc and whynet use the A",
                    servers={"web": web})


def pppoe_mtu(lab: Lab) -> Scenario:
    """A DSL line's MTU: 1492 (PPPoE's 8 bytes) between the client and its router, 1500
    beyond; TCP's MSS follows the interface, and the router answers larger packets with
    "fragmentation needed"."""
    o = office(lab)
    o.client.ip("link", "set", "eth0", "mtu", "1492")
    o.gw.ip("link", "set", o.gw_lan_if, "mtu", "1492")
    web = o.server.http_server(SERVER_IP, 80, body=PAGE, one_write=True)
    return _healthy(o.scenario, "pppoe-mtu", f"http://{APP}/", [(SERVER_IP, 80)],
                    "MTU 1492 on the access link; full pages arrive",
                    servers={"web": web}, info={"large": True})


def target_ignores_ping(lab: Lab) -> Scenario:
    """A server whose firewall drops ICMP echo (many hosting and Windows firewalls do) while
    its service answers: ping fails, TCP works."""
    o = office(lab)
    o.server.nft("table inet filter {\n chain input {\n"
                 "  type filter hook input priority filter; policy accept;\n"
                 "  icmp type echo-request drop\n  icmpv6 type echo-request drop\n }\n}\n")
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "target-ignores-ping", f"http://{APP}/", [(SERVER_IP, 80)],
                    "no echo reply, the service answers",
                    args=(f"{APP}:80",), servers={"web": web})


# --- local resolvers and big hosts files ----------------------------------------------------------

BLOCKLIST_ENTRIES = 40000


def blocklist_hosts(entries: int = BLOCKLIST_ENTRIES) -> str:
    """An ad-blocking hosts file in StevenBlack's shape: the stock lines, then ``0.0.0.0``
    for tens of thousands of tracker names."""
    lines = ["# Title: StevenBlack/hosts (lab copy)", "127.0.0.1 localhost",
             "127.0.0.1 localhost.localdomain", "255.255.255.255 broadcasthost",
             "::1 localhost", "::1 ip6-localhost", "fe80::1%lo0 localhost", "0.0.0.0 0.0.0.0",
             "", "# Start StevenBlack"]
    lines += [f"0.0.0.0 ads{n}.tracker{n % 97}.example.net" for n in range(entries)]
    return "\n".join(lines) + "\n"


def local_cache_and_blocklist(lab: Lab) -> Scenario:
    """A privacy-minded desktop: a local caching forwarder on 127.0.0.1 (dnsmasq, as
    NetworkManager's dns=dnsmasq, unbound or Pi-hole on the host run one) forwarding to the
    LAN's resolver, /etc/resolv.conf naming only 127.0.0.1, and a 40,000-line ad-blocking
    hosts file."""
    o = office(lab)
    c = o.client
    exe = "/usr/sbin/dnsmasq"
    cache = c.spawn("dnscache", [
        exe, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
        "--listen-address=127.0.0.1", "--bind-interfaces", "--port=53", "--log-facility=-",
        f"--pid-file={lab.workdir / f'dnscache-{c.role}.pid'}", "--cache-size=1000",
        "--host-record=lab.ready,127.0.0.2", f"--server={DNS_IP}",
    ], ready="dns", ip="127.0.0.1", port=53)
    c.write_resolv_conf(["127.0.0.1"], options=["edns0", "trust-ad"])
    c.write_hosts(blocklist_hosts())
    web = o.server.http_server(SERVER_IP, 80)
    sc = _healthy(o.scenario, "local-cache-and-blocklist", f"http://{APP}/", [(SERVER_IP, 80)],
                  "a local cache on 127.0.0.1 and a big blocklist; the target is not on it",
                  servers={"web": web, "cache": cache})
    sc.info["names"] = {APP: [SERVER_IP]}
    return sc


# --- more servers -------------------------------------------------------------------------------

def kvm_host_bridge(lab: Lab) -> Scenario:
    """A KVM or Proxmox host with bridged guests: the NIC ``eth0`` is a port of ``br0``, which
    holds the LAN address and the default route (the NIC has none); a guest's ``vnet0`` is
    another port, the guest on the LAN with its own address. The bridge carries the NIC's
    MAC, by design. whynet runs on the host and asks for the world and for the guest."""
    o = office(lab, client_route=False)
    c = o.client
    c.ip("addr", "flush", "dev", "eth0")
    c.ip("link", "add", "br0", "type", "bridge")
    c.ip("link", "set", "eth0", "master", "br0")
    c.ip("link", "set", "br0", "up")
    c.add_address("br0", f"{LAN}.10/24")
    c.default_route(GW_IP, dev="br0")
    guest = _container(lab, c, "br0", "guest", f"{LAN}.40/24", GW_IP, "vnet0")
    vm_web = guest.http_server(f"{LAN}.40", 80)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "kvm-host-bridge", f"http://{APP}/",
                    [(SERVER_IP, 80), (f"{LAN}.40", 80)],
                    "the host's address on br0, eth0 and a guest as its ports",
                    args=(f"http://{LAN}.40/",), servers={"web": web, "vm_web": vm_web},
                    nodes={"guest": guest}, info={"listen": ["8080"]})


MULTI_TABLE = 101


def multihomed_source_routing(lab: Lab) -> Scenario:
    """A server with two uplinks, each answering by its own gateway (the source-based policy
    routing cloud providers document for a second NIC): the main table's default via eth0's
    gateway; table 101 with eth1's subnet and its own default via 10.30.0.1, chosen by
    ``from 10.30.0.10 lookup 101`` (what answers a connection that came in on eth1); the
    host's own connections take the main table."""
    o = office(lab)
    c = o.client
    bench = lab.switch("uplink2")
    gw2 = lab.router("gw2")
    eth1 = bench.plug(c, f"{BENCH}.10/24")
    bench.plug(gw2, f"{BENCH}.1/24")
    c.add_route(f"{BENCH}.0/24", dev=eth1, table=MULTI_TABLE)
    c.default_route(f"{BENCH}.1", dev=eth1, table=MULTI_TABLE)
    c.add_rule("from", f"{BENCH}.10", table=MULTI_TABLE, priority=1000)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "multihomed-source-routing", f"http://{APP}/", [(SERVER_IP, 80)],
                    "the main table for the host's own connections, table 101 for eth1's",
                    servers={"web": web}, nodes={"gw2": gw2}, info={"listen": ["8080"]})


def linklocal_nameserver(lab: Lab) -> Scenario:
    """A home network's IPv6 resolver: the router advertises itself as the DNS server by its
    link-local address, so NetworkManager writes ``nameserver fe80::1%eth0`` (scope given by
    the interface) first, then the IPv4 one. Both answer. The router's web page is asked for
    by its link-local address too, as RFC 6874 writes it in a URL (``[fe80::1%25eth0]``)."""
    o = office(lab)
    gw = o.gw
    gw.ip("addr", "add", "fe80::1/64", "dev", o.gw_lan_if, "nodad")
    _wait_ipv6_ready(o.client, gw, o.lan.ns)
    exe = "/usr/sbin/dnsmasq"
    argv = [exe, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            f"--interface={o.gw_lan_if}", "--bind-interfaces", "--port=53", "--log-facility=-",
            f"--pid-file={lab.workdir / f'lldns-{gw.role}.pid'}", "--local=/test/",
            "--host-record=lab.ready,127.0.0.2",
            *(f"--host-record={name},{ip}" for name, ip in o.records.items())]
    lldns = gw.spawn("lldns", argv, ready="dns", ip=GW_IP, port=53)
    o.client.write_etc("resolv.conf", "# Generated by NetworkManager\nsearch corp.test\n"
                       "nameserver fe80::1%eth0\nnameserver 10.20.0.53\n")
    web = o.server.http_server(SERVER_IP, 80)
    router_ui = gw.http_server("::", 8080)
    sc = _healthy(o.scenario, "linklocal-nameserver", f"http://{APP}/",
                  [(SERVER_IP, 80), ("fe80::1%eth0", 8080)],
                  "fe80::1%eth0 first in resolv.conf; both resolvers answer",
                  args=("http://[fe80::1%25eth0]:8080/",),
                  servers={"web": web, "lldns": lldns, "router_ui": router_ui})
    sc.info["names"] = {APP: [SERVER_IP]}
    return sc


def ipv4ll_second_nic(lab: Lab) -> Scenario:
    """A single-board computer or a workstation with a second NIC cabled straight to a device
    (a camera, a PLC, a laptop for a quick copy) with no DHCP server on that cable: dhcpcd (or
    avahi-autoipd) gives it an IPv4 link-local address, ``169.254.37.5/16``, and the device
    on the cable took one too and serves there. The LAN's NIC carries the default route."""
    o = office(lab)
    cable = lab.switch("cable")
    device = lab.host("device")
    eth1 = cable.plug(o.client, "169.254.37.5/16")
    cable.plug(device, "169.254.112.9/16")
    o.client.ip("route", "replace", "169.254.0.0/16", "dev", eth1, "scope", "link", "metric",
                "1000")
    cam = device.http_server("169.254.112.9", 80)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "ipv4ll-second-nic", f"http://{APP}/",
                    [(SERVER_IP, 80), ("169.254.112.9", 80)],
                    "the LAN's NIC for the world, a link-local cable to a device",
                    args=("http://169.254.112.9/",), servers={"web": web, "cam": cam},
                    nodes={"device": device})


#: Every healthy host shape of this module: name -> builder(lab), found by ``registry.py``.
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "jumbo-frames-lan": jumbo_frames_lan,
    "vlan-subinterface": vlan_subinterface,
    "macvlan-container-host": macvlan_container_host,
    "ipvlan-guest": ipvlan_guest,
    "ipv6-slaac-privacy": ipv6_slaac_privacy,
    "tailscale-like": tailscale_like,
    "tailscale-exit-node": lambda lab: tailscale_like(lab, exit_node=True),
    "debian-resolver-files": debian_resolver_files,
    "workstation-bridges-and-vpn": workstation_bridges_and_vpn,
    "networkmanager-laptop": networkmanager_laptop,
    "cloud-slash32": cloud_slash32,
    "onlink-gateway": onlink_gateway,
    "ipv6-disabled-host": ipv6_disabled_host,
    "ipv4-only-lan-aaaa-name": ipv4_only_lan_aaaa_name,
    "pppoe-mtu": pppoe_mtu,
    "target-ignores-ping": target_ignores_ping,
    "local-cache-and-blocklist": local_cache_and_blocklist,
    "kvm-host-bridge": kvm_host_bridge,
    "multihomed-source-routing": multihomed_source_routing,
    "linklocal-nameserver": linklocal_nameserver,
    "ipv4ll-second-nic": ipv4ll_second_nic,
    "openvpn-def1": openvpn_def1,
    "libvirt-isolated-network": libvirt_isolated_network,
}
