"""Healthy set-ups people really run, one builder each: whynet must stay quiet on all of them.

A diagnosis tool is trusted only if it does not cry wolf. Semgrep keeps its false-positive cases
as tests beside the rules; these are whynet's, built for real in namespaces: full- and
split-tunnel VPN policy routing, a Docker host, a Kubernetes node with a kube-proxy-sized
ruleset, a bonded NIC, several resolvers, GeoDNS answers that differ and both work, a corporate
proxy with NO_PROXY, a trusted TLS-inspection CA, dual stack, ufw, a management NIC, a hosts
file that agrees with DNS. Each builder returns a :class:`~scenarios.Scenario` with no
checklist (healthy) whose ``info["reach"]`` lists the ``(ip, port)`` pairs a plain socket in the
client must connect to: the lab's proof that the set-up works before whynet is asked.

Every builder starts from :func:`scenarios.office` (client 10.20.0.10 on a LAN with a resolver
10.20.0.53 and a gateway 10.20.0.1; the server 198.51.100.20 behind it) and adds one set-up.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

from .netlab import Lab, LabError, Namespace, Server
from .scenarios import (
    APP,
    BENCH,
    DNS_IP,
    FAR,
    GW_IP,
    INTERNET,
    LAN,
    PROXY_IP,
    PROXY_PORT,
    SERVER_IP,
    Office,
    Scenario,
    _proxy_env,
    _proxy_host,
    _trusted_tls,
    office,
)

#: wg-quick's defaults for a full tunnel (AllowedIPs = 0.0.0.0/0): table and fwmark 51820.
WG_TABLE = 51820
VPN_CLIENT_IP = "10.66.0.2"
VPN_GW_IP = "10.66.0.1"
INTRANET = "10.99.1"
INTRANET_IP = f"{INTRANET}.20"
WEB_NAME = "www.example.com"  # a public-looking name: answered only by the lab's own resolvers


def _healthy(o_scenario: Callable[..., Scenario], name: str, target: str,
             reach: list[tuple[str, int]], expect: str, **kw: object) -> Scenario:
    info = dict(kw.pop("info", {}) or {})  # type: ignore[call-overload]
    info["reach"] = reach
    return o_scenario(name, target, info=info, expect=expect, **kw)


def _tunnel(client: Namespace, vpn: Namespace, ifname: str = "wg0") -> None:
    """The client's tunnel interface to the VPN concentrator ``vpn``.

    A real WireGuard interface carries nothing without keys and a peer (and this lab's kernel
    may lack the module), and whynet reads only the routing around it, so the lab passes
    packets over a veth named and addressed as wg-quick would, made layer 3 like a tunnel:
    ARP off on both ends (no neighbour entries, as on wg0), so the kernel addresses every
    frame to the sender's own MAC; both ends carry the same MAC, so the far end takes them.
    The two ends live in different namespaces: no host sees that MAC twice.
    """
    peer = f"tun-{client.role}"[:15]
    mac = "02:00:5e:66:00:02"  # locally administered
    client.ip("link", "add", ifname, "address", mac, "type", "veth", "peer", "name", peer,
              "address", mac, "netns", vpn.netns)
    for ns, dev, cidr in ((client, ifname, f"{VPN_CLIENT_IP}/24"), (vpn, peer, f"{VPN_GW_IP}/24")):
        ns.ip("link", "set", dev, "arp", "off", "mtu", "1420")  # wg-quick's default MTU
        ns.ip("link", "set", dev, "up")
        ns.add_address(dev, cidr)


def _public_office(lab: Lab, records: dict[str, str | list[str]]) -> Office:
    """:func:`office` whose resolver also answers for ``example.com`` (NXDOMAIN/NODATA for the
    rest of that zone, as a real authoritative server would, instead of REFUSED)."""
    o = office(lab)
    o.dns_server.stop()
    o.records.update(records)  # type: ignore[arg-type]
    o.dns_server = o.dns.dnsmasq(DNS_IP, o.records, local_zones=("test", "example.com"))
    return o


def _internet_site(lab: Lab, o: Office) -> Namespace:
    """A web site on the "internet" segment behind the office gateway (203.0.113.80)."""
    internet = lab.switch("internet")
    internet.plug(o.gw, f"{INTERNET}.1/24")
    site = lab.host("site")
    internet.plug(site, f"{INTERNET}.80/24")
    site.default_route(f"{INTERNET}.1")
    return site


def _wait_ipv6_ready(*nodes: Namespace, timeout: float = 5.0) -> None:
    """Until no address is tentative: link-local addresses run DAD for about a second, and
    neighbour discovery (so forwarding) waits for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(n.ip("-6", "addr", "show", "tentative").stdout.strip() for n in nodes):
            return
        time.sleep(0.1)
    raise LabError(f"IPv6 addresses still tentative after {timeout}s")


def _vpn_concentrator(lab: Lab, o: object) -> tuple[Namespace, str]:
    """A VPN server on the "internet" side of the office gateway: it forwards tunnelled
    traffic on and masquerades it, as a commercial or corporate VPN endpoint does."""
    vpn = lab.router("vpn")
    gw = o.gw  # type: ignore[attr-defined]
    vpn_if, gw_if = lab.link(vpn, gw, f"{INTERNET}.2/24", f"{INTERNET}.1/24")
    vpn.default_route(f"{INTERNET}.1")
    lab.masquerade(vpn, vpn_if)
    return vpn, gw_if


# --- VPNs ---------------------------------------------------------------------------------------

def wg_full_tunnel(lab: Lab) -> Scenario:
    """wg-quick with ``AllowedIPs = 0.0.0.0/0``: everything not marked 51820 goes to table
    51820 (``default dev wg0``); the main table is consulted first with
    ``suppress_prefixlength 0`` so the LAN's own routes still win. The routes, rules,
    ``src_valid_mark`` and the ``wg-quick-wg0`` nft table are wg-quick's own (wg-quick(8))."""
    o = office(lab)
    vpn, _ = _vpn_concentrator(lab, o)
    _tunnel(o.client, vpn)
    c = o.client
    c.add_route("default", dev="wg0", table=WG_TABLE)
    c.ip("rule", "add", "not", "fwmark", str(WG_TABLE), "table", str(WG_TABLE),
         "priority", "32765")
    c.ip("rule", "add", "table", "main", "suppress_prefixlength", "0", "priority", "32764")
    c.sysctl("net.ipv4.conf.all.src_valid_mark", 1)
    c.nft(
        "table ip wg-quick-wg0 {\n"
        "  chain preraw {\n"
        "    type filter hook prerouting priority raw; policy accept;\n"
        f'    iifname != "wg0" ip daddr {VPN_CLIENT_IP} fib saddr type != local drop\n'
        "  }\n"
        "  chain premangle {\n"
        "    type filter hook prerouting priority mangle; policy accept;\n"
        "    meta l4proto udp meta mark set ct mark\n"
        "  }\n"
        "  chain postmangle {\n"
        "    type filter hook postrouting priority mangle; policy accept;\n"
        f"    meta l4proto udp meta mark {WG_TABLE} ct mark set meta mark\n"
        "  }\n"
        "}\n"
    )
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "wg-full-tunnel", f"http://{APP}/", [(SERVER_IP, 80)],
                    f"everything leaves through wg0 (table {WG_TABLE}); the server answers",
                    args=(SERVER_IP,),  # and a host-only target: route and ping through wg0
                    servers={"web": web}, nodes={"vpn": vpn})


def split_tunnel(lab: Lab) -> Scenario:
    """A split-tunnel VPN (``AllowedIPs = 10.99.0.0/16``): the intranet through the tunnel,
    everything else through the LAN gateway; the VPN pushes its own resolver for the
    corporate zone, which the client lists first."""
    o = office(lab)
    vpn, _ = _vpn_concentrator(lab, o)
    _tunnel(o.client, vpn)
    intranet = lab.host("intranet")
    vpn.ip("route", "del", "default")
    vpn.default_route(f"{INTERNET}.1")
    lab.link(intranet, vpn, f"{INTRANET_IP}/24", f"{INTRANET}.1/24")
    intranet.default_route(f"{INTRANET}.1")
    o.client.add_route("10.99.0.0/16", dev="wg0")
    wiki = intranet.http_server(INTRANET_IP, 80)
    web = o.server.http_server(SERVER_IP, 80)
    o.dns_server.stop()
    dns = o.dns.dnsmasq(DNS_IP, {**o.records, "wiki.corp.test": INTRANET_IP})
    return _healthy(o.scenario, "split-tunnel", "http://wiki.corp.test/",
                    [(INTRANET_IP, 80), (SERVER_IP, 80)],
                    "the intranet goes through wg0, the rest through the LAN gateway",
                    args=(f"http://{APP}/",), servers={"web": web, "wiki": wiki, "dns": dns},
                    nodes={"vpn": vpn, "intranet": intranet})


RESOLVED_STUB = "127.0.0.53"
RESOLVED_HEADER = (
    "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n"
    "# Do not edit.\n"
)


def _stub_resolver(ns: Namespace, routes: dict[str, str], default: str) -> Server:
    """A local stub on 127.0.0.53 that routes each DNS domain to its link's server and the
    rest to ``default``, as systemd-resolved does with per-link ``Domains=~zone``."""
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    argv = [exe, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            f"--listen-address={RESOLVED_STUB}", "--bind-interfaces", "--port=53",
            "--log-facility=-", f"--pid-file={ns.lab.workdir / f'stub-{ns.role}.pid'}",
            "--host-record=lab.ready,127.0.0.2", f"--server={default}",
            *(f"--server=/{zone}/{server}" for zone, server in routes.items())]
    return ns.spawn("stub-resolver", argv, ready="dns", ip=RESOLVED_STUB, port=53)


def per_link_dns(lab: Lab) -> Scenario:
    """Ubuntu's default resolver on a split-tunnel VPN: /etc/resolv.conf names only the
    systemd-resolved stub 127.0.0.53, which sends corp.test to the VPN link's DNS server
    (10.66.0.1) and everything else to the LAN link's (10.20.0.53)."""
    sc = split_tunnel(lab)
    o_dns = sc.servers["dns"]
    vpn = sc.nodes["vpn"]
    vpn_dns = vpn.dnsmasq(VPN_GW_IP, {APP: SERVER_IP, "wiki.corp.test": INTRANET_IP})
    o_dns.stop()  # the LAN's server no longer knows the corporate zone: only the VPN's does
    lan_dns = sc.nodes["dns"].dnsmasq(DNS_IP, {WEB_NAME: SERVER_IP},
                                      local_zones=("example.com",))
    stub = _stub_resolver(sc.client, {"corp.test": VPN_GW_IP}, DNS_IP)
    sc.client.write_etc("resolv.conf", RESOLVED_HEADER + f"nameserver {RESOLVED_STUB}\n"
                        "options edns0 trust-ad\nsearch corp.test\n")
    sc.name, sc.expect = "per-link-dns", "the stub sends corp.test to the VPN's DNS, the rest to the LAN's"
    sc.args = (*sc.args, f"http://{WEB_NAME}/")
    sc.servers |= {"vpn_dns": vpn_dns, "dns": lan_dns, "stub": stub}
    sc.info["names"] = {"wiki.corp.test": [INTRANET_IP], APP: [SERVER_IP],
                        WEB_NAME: [SERVER_IP]}
    return sc


# --- container and cluster hosts ------------------------------------------------------------------

def _container(lab: Lab, host: Namespace, bridge: str, role: str, cidr: str, gateway: str,
               host_if: str) -> Namespace:
    """A container: its own namespace, eth0 cabled to ``bridge`` on ``host`` (veth ``host_if``)."""
    ctr = lab.host(role)
    host.ip("link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ctr.netns)
    host.ip("link", "set", host_if, "master", bridge, "up")
    ctr.ip("link", "set", "eth0", "up")
    ctr.add_address("eth0", cidr)
    ctr.default_route(gateway)
    return ctr


def _bridge(host: Namespace, name: str, cidr: str) -> None:
    host.ip("link", "add", name, "type", "bridge")
    host.ip("link", "set", name, "up")
    host.add_address(name, cidr)


DOCKER_RULES = """\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
"""


def docker_host(lab: Lab) -> Scenario:
    """A Docker host (``docker run -p 8080:80 nginx``): docker0 172.17.0.1/16, one container,
    ip_forward on, Docker's own iptables (FORWARD policy DROP, DOCKER chains, masquerade of
    172.17.0.0/16 out of anything but docker0, DNAT of the published port)."""
    o = office(lab)
    host = o.client
    _bridge(host, "docker0", "172.17.0.1/16")
    ctr = _container(lab, host, "docker0", "ctr", "172.17.0.2/16", "172.17.0.1", "veth1a2b3c4")
    host.sysctl("net.ipv4.ip_forward", 1)
    host.exec("iptables-restore", input=DOCKER_RULES)
    nginx = ctr.http_server("172.17.0.2", 80)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "docker-host", f"http://{APP}/",
                    [(SERVER_IP, 80), ("172.17.0.2", 80)],
                    "the host reaches the world and its container; Docker's rules are normal",
                    args=("http://172.17.0.2/",), servers={"web": web, "nginx": nginx},
                    nodes={"ctr": ctr})


KUBE_SERVICES = 1500  # x 2 endpoints each: about 6,000 nat rules, a mid-sized cluster's


def kube_proxy_rules(services: int = KUBE_SERVICES) -> str:
    """An iptables-restore text shaped as kube-proxy writes it (iptables mode): KUBE-SERVICES
    jumps to one KUBE-SVC-* chain per ClusterIP, which picks a KUBE-SEP-* endpoint chain at
    random, which DNATs to a pod; KUBE-POSTROUTING masquerades marked packets. Service 0 is
    10.96.0.10:80 with the one real pod behind it; the others point at pods that do not
    exist, as on any node where most pods live elsewhere."""
    nat = [
        "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]", ":KUBE-SERVICES - [0:0]", ":KUBE-POSTROUTING - [0:0]",
        ":KUBE-MARK-MASQ - [0:0]", ":KUBE-NODEPORTS - [0:0]",
    ]
    body = [
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
        "-A POSTROUTING -s 10.244.0.0/24 ! -o cni0 -j MASQUERADE",
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" "
        "-j MASQUERADE --random-fully",
    ]
    for n in range(services):
        cluster_ip = f"10.96.{n // 200}.{n % 200 + 10}"
        pods = ["10.244.0.5"] if n == 0 else [f"10.244.{1 + n // 120}.{(n % 120) * 2 + 2}",
                                               f"10.244.{1 + n // 120}.{(n % 120) * 2 + 3}"]
        svc = f"KUBE-SVC-{n:016X}"
        name = f"ns{n % 40}/svc{n}:http"
        nat.append(f":{svc} - [0:0]")
        body.append(f"-A KUBE-SERVICES -d {cluster_ip}/32 -p tcp -m comment --comment "
                    f"\"{name} cluster IP\" -m tcp --dport 80 -j {svc}")
        body.append(f"-A {svc} ! -s 10.244.0.0/16 -d {cluster_ip}/32 -p tcp -m comment "
                    f"--comment \"{name} cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ")
        for i, pod in enumerate(pods):
            sep = f"KUBE-SEP-{n:012X}{i:04X}"
            nat.append(f":{sep} - [0:0]")
            if i < len(pods) - 1:
                body.append(f"-A {svc} -m comment --comment \"{name} -> {pod}:80\" -m statistic "
                            f"--mode random --probability 0.50000000000 -j {sep}")
            else:
                body.append(f"-A {svc} -m comment --comment \"{name} -> {pod}:80\" -j {sep}")
            body.append(f"-A {sep} -s {pod}/32 -m comment --comment \"{name}\" -j KUBE-MARK-MASQ")
            body.append(f"-A {sep} -p tcp -m comment --comment \"{name}\" -m tcp "
                        f"-j DNAT --to-destination {pod}:80")
    body.append("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" "
                "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    filt = [
        "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
        ":KUBE-FIREWALL - [0:0]", ":KUBE-FORWARD - [0:0]", ":KUBE-SERVICES - [0:0]",
        "-A INPUT -j KUBE-FIREWALL",
        "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
        "-A OUTPUT -j KUBE-FIREWALL",
        "-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming "
        "localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        "-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT",
        "-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "COMMIT",
    ]
    return "\n".join([*nat, *body, "COMMIT", *filt]) + "\n"


def kubernetes_node(lab: Lab) -> Scenario:
    """A Kubernetes node: cni0 10.244.0.1/24 with a pod, kube-proxy's iptables (a few thousand
    KUBE-SVC/KUBE-SEP rules), forwarding on. The target is a ClusterIP (DNAT to the pod)."""
    o = office(lab)
    node = o.client
    _bridge(node, "cni0", "10.244.0.1/24")
    pod = _container(lab, node, "cni0", "pod", "10.244.0.5/24", "10.244.0.1", "veth8d3e1f0a")
    node.sysctl("net.ipv4.ip_forward", 1)
    node.exec("iptables-restore", input=kube_proxy_rules(), timeout=60)
    app = pod.http_server("10.244.0.5", 80)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "kubernetes-node", "http://10.96.0.10/",
                    [("10.96.0.10", 80), ("10.244.0.5", 80), (SERVER_IP, 80)],
                    "a ClusterIP, a pod and the world all answer under kube-proxy's rules",
                    args=(f"http://{APP}/",), servers={"web": web, "app": app},
                    nodes={"pod": pod})


# --- links ------------------------------------------------------------------------------------

def bonded_nic(lab: Lab) -> Scenario:
    """Two NICs in an active-backup bond (both slaves carry the bond's MAC, as the bonding
    driver sets them), bond0 holding the LAN address. Skips where the kernel has no bonding."""
    o = office(lab, client_route=False)
    c = o.client
    try:
        c.ip("link", "add", "bond0", "type", "bond", "mode", "active-backup", "miimon", "100")
    except LabError as exc:
        import pytest

        pytest.skip(f"this kernel cannot make a bond: {exc}")
    for n in (1, 2):
        o.lan.plug(c, ifname=f"ens{n}")
        c.ip("addr", "flush", "dev", f"ens{n}")
        c.ip("link", "set", f"ens{n}", "down")
        c.ip("link", "set", f"ens{n}", "master", "bond0")
    c.ip("link", "set", "bond0", "up")
    c.add_address("bond0", f"{LAN}.11/24")
    c.default_route(GW_IP, dev="bond0")
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "bonded-nic", f"http://{APP}/", [(SERVER_IP, 80)],
                    "bond0's slaves share its MAC, as bonding requires",
                    servers={"web": web})


def add_ipv6(o: Office, v6_lan: str, v6_far: str) -> None:
    """IPv6 on the office's client, gateway and server: ``v6_lan`` and ``v6_far`` are /64
    prefixes ending in ``::``; the client is ::10, the gateway ::1 on both, the server ::20."""
    o.client.add_address("eth0", f"{v6_lan}10/64")
    o.gw.add_address(o.gw_lan_if, f"{v6_lan}1/64")
    o.gw.add_address(o.gw_far_if, f"{v6_far}1/64")
    o.server.add_address("eth0", f"{v6_far}20/64")
    o.client.add_route("default", via=f"{v6_lan}1")
    o.server.add_route("default", via=f"{v6_far}1")


def dual_stack(lab: Lab) -> Scenario:
    """IPv4 and IPv6 end to end: the name has A and AAAA, both answer (Happy Eyeballs)."""
    v6_lan, v6_far = "fd20:0:0:20::", "2001:db8:51::"
    o = office(lab, records={APP: [SERVER_IP, f"{v6_far}20"]})  # type: ignore[dict-item]
    add_ipv6(o, v6_lan, v6_far)
    web = o.server.http_server("::", 80)
    _wait_ipv6_ready(o.client, o.gw, o.server, o.lan.ns)
    return _healthy(o.scenario, "dual-stack", f"http://{APP}/",
                    [(SERVER_IP, 80), (f"{v6_far}20", 80)],
                    "the name has A and AAAA and both addresses answer", servers={"web": web})


def management_nic(lab: Lab) -> Scenario:
    """A multi-homed server: production on eth0 (the default route), a management NIC eth1 on
    10.30.0.0/24 with a route to the admin networks 10.31.0.0/16 only and no gateway."""
    o = office(lab)
    mgmt_gw = lab.router("mgmtgw")
    bench = lab.switch("mgmt")
    mgmt_if = bench.plug(o.client, f"{BENCH}.10/24")
    bench.plug(mgmt_gw, f"{BENCH}.1/24")
    admin = lab.host("admin")
    lab.link(admin, mgmt_gw, "10.31.0.5/24", "10.31.0.1/24")
    admin.default_route("10.31.0.1")
    o.client.add_route("10.31.0.0/16", via=f"{BENCH}.1", dev=mgmt_if)
    ssh = admin.tcp_server("10.31.0.5", 22, banner="SSH-2.0-OpenSSH_9.6")
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "management-nic", f"http://{APP}/",
                    [(SERVER_IP, 80), ("10.31.0.5", 22)],
                    "production via eth0's gateway, admin networks via the management NIC",
                    args=("ssh://10.31.0.5",), servers={"web": web, "ssh": ssh},
                    nodes={"mgmtgw": mgmt_gw, "admin": admin})


def onlink_proxy_arp(lab: Lab) -> Scenario:
    """A provider's on-link route: ``10.99.0.0/16 dev eth1`` with no gateway, and the provider's
    router answering ARP by proxy for every address behind it, so the two servers the client
    talks to share the router's MAC in its neighbour table, by design."""
    o = office(lab)
    isp = lab.router("isp")
    bench = lab.switch("uplink")
    uplink = bench.plug(o.client, f"{BENCH}.10/24")
    isp_if = bench.plug(isp, f"{BENCH}.1/24")
    isp.sysctl(f"net.ipv4.conf.{isp_if}.proxy_arp", 1)
    servers, nodes, reach = {}, {}, []
    for n in (1, 2):
        host, ip = lab.host(f"srv{n}"), f"10.99.{n}.20"
        lab.link(host, isp, f"{ip}/24", f"10.99.{n}.1/24")
        host.default_route(f"10.99.{n}.1")
        servers[f"srv{n}"], nodes[f"srv{n}"] = host.http_server(ip, 80), host
        reach.append((ip, 80))
    o.client.add_route("10.99.0.0/16", dev=uplink)
    return _healthy(o.scenario, "onlink-proxy-arp", "http://10.99.1.20/", reach,
                    "two servers behind a proxy-ARP router share its MAC in the neighbour table",
                    args=("http://10.99.2.20/",), servers=servers, nodes=nodes)


# --- names --------------------------------------------------------------------------------------

def _second_resolver(lab: Lab, o: object, role: str, ip: str,
                     records: dict[str, str]) -> tuple[Namespace, Server]:
    ns = lab.host(role)
    o.lan.plug(ns, f"{ip}/24")  # type: ignore[attr-defined]
    ns.default_route(GW_IP)
    return ns, ns.dnsmasq(ip, records)


def several_resolvers(lab: Lab) -> Scenario:
    """resolv.conf with three nameservers (as a DHCP server or per-link DNS merged by
    NetworkManager hands out), all up and all giving the same answers."""
    o = office(lab)
    nodes, servers = {}, {}
    for n in (54, 55):
        ns, srv = _second_resolver(lab, o, f"dns{n}", f"{LAN}.{n}", o.records)
        nodes[f"dns{n}"], servers[f"dns{n}"] = ns, srv
    o.client.write_resolv_conf([DNS_IP, f"{LAN}.54", f"{LAN}.55"], search=["corp.test"],
                               options=["edns0", "trust-ad"])
    servers["web"] = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "several-resolvers", f"http://{APP}/", [(SERVER_IP, 80)],
                    "three resolvers, one answer", servers=servers, nodes=nodes)


def geodns(lab: Lab) -> Scenario:
    """A CDN name whose two resolvers (the ISP's and a public one) answer with different edge
    addresses, as GeoDNS does; both edges serve the site."""
    edge2 = f"{FAR}.21"
    o = _public_office(lab, {WEB_NAME: SERVER_IP})
    o.server.add_address("eth0", f"{edge2}/24")
    dns2 = lab.host("dns54")
    o.lan.plug(dns2, f"{LAN}.54/24")
    dns2.default_route(GW_IP)
    srv2 = dns2.dnsmasq(f"{LAN}.54", {WEB_NAME: edge2}, local_zones=("example.com",))
    o.client.write_resolv_conf([DNS_IP, f"{LAN}.54"])
    web = o.server.http_server("0.0.0.0", 80)
    return _healthy(o.scenario, "geodns", f"http://{WEB_NAME}/", [(SERVER_IP, 80), (edge2, 80)],
                    "two resolvers, two edge addresses, both serve the site",
                    servers={"web": web, "dns54": srv2}, nodes={"dns54": dns2})


def hosts_agrees(lab: Lab) -> Scenario:
    """/etc/hosts pins the name to the address DNS also gives (a common belt-and-braces)."""
    o = office(lab)
    o.client.write_hosts({SERVER_IP: [APP, "app"]})
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "hosts-agrees", f"http://{APP}/", [(SERVER_IP, 80)],
                    "the hosts file and DNS agree", servers={"web": web})


def search_domain(lab: Lab) -> Scenario:
    """A short name completed by the search list (``search corp.test``, glibc's ndots:1), as
    users type ``http://app/`` on a corporate network."""
    o = office(lab)
    o.client.write_resolv_conf([DNS_IP], search=["corp.test"])
    web = o.server.http_server(SERVER_IP, 80)
    sc = _healthy(o.scenario, "search-domain", "http://app/", [(SERVER_IP, 80)],
                  "app is completed to app.corp.test by the search list", servers={"web": web})
    sc.info["names"] = {"app": [SERVER_IP]}
    return sc


# --- proxies and TLS --------------------------------------------------------------------------

def _egress_via_proxy(o: Office) -> None:
    """The gateway lets LAN hosts reach the corporate network (198.51.100.0/24) and nothing
    else: only the proxy goes out to the world (corporate egress)."""
    o.gw.nft(
        "table inet filter {\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy accept;\n"
        "    ct state established,related accept\n"
        f'    iifname "{o.gw_lan_if}" ip saddr != {PROXY_IP} ip daddr != {FAR}.0/24 drop\n'
        "  }\n"
        "}\n"
    )


def corporate_proxy(lab: Lab) -> Scenario:
    """HTTPS_PROXY for the world, NO_PROXY for the corporate zone: www.example.com goes
    through the proxy (the only host allowed out), app.corp.test directly, and both work."""
    site_ip = f"{INTERNET}.80"
    o = _public_office(lab, {WEB_NAME: site_ip})
    proxy = _proxy_host(lab, o)
    squid = proxy.proxy(PROXY_IP, PROXY_PORT)
    public = _internet_site(lab, o).http_server(site_ip, 80)
    _egress_via_proxy(o)
    web, env = _trusted_tls(lab, o.server, SERVER_IP)
    env |= _proxy_env(f"http://{PROXY_IP}:{PROXY_PORT}", no_proxy="localhost,127.0.0.1,.corp.test")
    return _healthy(o.scenario, "corporate-proxy", f"http://{WEB_NAME}/",
                    [(PROXY_IP, PROXY_PORT), (SERVER_IP, 443)],
                    "the world through the proxy, the corporate zone direct (NO_PROXY)",
                    args=(f"https://{APP}/",), env=env,
                    servers={"web": web, "proxy": squid, "public": public},
                    nodes={"proxy": proxy})


def trusted_inspection(lab: Lab) -> Scenario:
    """A corporate TLS-inspection proxy (named as such products name their CAs) re-signs every
    site with its own CA, which the company installed in the trust store the client uses;
    only the proxy may go out to the world."""
    site_ip = f"{INTERNET}.80"
    o = _public_office(lab, {WEB_NAME: site_ip})
    proxy = _proxy_host(lab, o)
    inspect_ca = lab.ca("Corp SSL Inspection CA")
    mitm = proxy.intercepting_proxy(PROXY_IP, PROXY_PORT, inspect_ca.issue([WEB_NAME]))
    site = _internet_site(lab, o)
    web = site.tls_server(site_ip, 443, lab.ca("Public Web CA").issue([WEB_NAME]))
    _egress_via_proxy(o)
    env = {"SSL_CERT_FILE": str(inspect_ca.cert_path),
           **_proxy_env(f"http://{PROXY_IP}:{PROXY_PORT}")}
    return _healthy(o.scenario, "trusted-inspection", f"https://{WEB_NAME}/",
                    [(PROXY_IP, PROXY_PORT)],
                    "TLS is inspected by a CA this host trusts: it verifies",
                    env=env, servers={"web": web, "proxy": mitm}, nodes={"proxy": proxy})


# --- host firewalls ---------------------------------------------------------------------------

def server_input_drop(lab: Lab) -> Scenario:
    """A server hardened the usual nftables way (Debian's /etc/nftables.conf pattern): input
    policy drop, loopback, established, ICMP, SSH and HTTP accepted; output open. It reaches
    the world and serves its own site."""
    o = office(lab)
    c = o.client
    c.nft(
        "table inet filter {\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy drop;\n"
        '    iif "lo" accept\n'
        "    ct state established,related accept\n"
        "    ct state invalid drop\n"
        "    meta l4proto { icmp, ipv6-icmp } accept\n"
        "    tcp dport { 22, 80 } accept\n"
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy drop;\n"
        "  }\n"
        "  chain output {\n"
        "    type filter hook output priority filter; policy accept;\n"
        "  }\n"
        "}\n"
    )
    own = c.http_server("0.0.0.0", 80)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "server-input-drop", f"http://{APP}/",
                    [(SERVER_IP, 80), ("10.20.0.10", 80)],
                    "input policy drop with the service ports open; output open",
                    args=("http://10.20.0.10/",), servers={"web": web, "own": own})


def enable_ufw(ns: Namespace, *commands: tuple[str, ...]) -> None:
    """Run ``ufw`` with each of ``commands`` inside ``ns``, then enable it. Skips where ufw is
    not installed. ufw keeps its state in /etc/ufw and /etc/default/ufw: every namespace has
    fresh copies of both (``Namespace.give_fresh_ufw``), so enabling it here never touches the
    host's."""
    if not shutil.which("ufw"):
        import pytest

        pytest.skip("ufw is not installed")
    for command in commands:
        ns.exec("ufw", *command)
    ns.exec("ufw", "--force", "enable", timeout=60)


def ufw_host(lab: Lab) -> Scenario:
    """A server with ufw enabled (deny incoming, allow outgoing, allow 22/tcp and 8080/tcp) and
    a service on 8080: whynet asks about the world and about its own service."""
    o = office(lab)
    c = o.client
    enable_ufw(c, ("default", "deny", "incoming"), ("default", "allow", "outgoing"),
               ("allow", "22/tcp"), ("allow", "8080/tcp"))
    own = c.http_server("0.0.0.0", 8080)
    web = o.server.http_server(SERVER_IP, 80)
    return _healthy(o.scenario, "ufw-host", f"http://{APP}/",
                    [(SERVER_IP, 80), ("10.20.0.10", 8080)],
                    "ufw allows outgoing traffic and the host's own service",
                    args=("http://10.20.0.10:8080/",), servers={"web": web, "own": own})


#: Every healthy set-up: name -> builder(lab), registered in ``registry.py``.
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "wg-full-tunnel": wg_full_tunnel,
    "split-tunnel": split_tunnel,
    "per-link-dns": per_link_dns,
    "docker-host": docker_host,
    "kubernetes-node": kubernetes_node,
    "bonded-nic": bonded_nic,
    "dual-stack": dual_stack,
    "management-nic": management_nic,
    "onlink-proxy-arp": onlink_proxy_arp,
    "several-resolvers": several_resolvers,
    "geodns": geodns,
    "hosts-agrees": hosts_agrees,
    "corporate-proxy": corporate_proxy,
    "trusted-inspection": trusted_inspection,
    "ufw-host": ufw_host,
    "server-input-drop": server_input_drop,
    "search-domain": search_domain,
}


# --- healthy local set-ups, a fault elsewhere ---------------------------------------------------
# The target fails for a reason beyond this host; the host's own (healthy) configuration must not
# take the blame. Each scenario names the rules that used to blame it in ``info["not_blamed"]``.

def strict_output_remote_refuses(lab: Lab) -> Scenario:
    """Default-deny outgoing (policy drop) that allows DNS and web ports; the server has
    nothing on 8080 and answers the SYN with a RST: the SYN left, so the output chain is not
    the cause."""
    o = office(lab)
    o.client.nft(
        "table inet filter {\n"
        "  chain output {\n"
        "    type filter hook output priority filter; policy drop;\n"
        '    oifname "lo" accept\n'
        "    ct state established,related accept\n"
        "    udp dport 53 accept\n"
        "    tcp dport { 53, 80, 443, 8080 } accept\n"
        "  }\n"
        "}\n"
    )
    return o.scenario("strict-output-remote-refuses", f"{APP}:8080", checklist=("B1",),
                      layer="transport",
                      info={"not_blamed": ["firewall.local-output-blocks",
                                           "firewall.udp-allowed-tcp-not"]},
                      expect="the server refuses 8080 (RST); the client's output chain let it out")


def syslog_host_remote_drops(lab: Lab) -> Scenario:
    """A log host: its input chain accepts syslog on UDP 514. It forwards logs by TCP 514 to
    the server, whose firewall drops them: the local UDP accept (input chain) is not why."""
    o = office(lab)
    o.client.nft(
        "table inet filter {\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy drop;\n"
        '    iifname "lo" accept\n'
        "    ct state established,related accept\n"
        "    udp dport 514 accept\n"
        "  }\n"
        "}\n"
    )
    o.server.nft(
        "table inet filter {\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        "    tcp dport 514 drop\n"
        "  }\n"
        "}\n"
    )
    return o.scenario("syslog-host-remote-drops", f"{APP}:514", checklist=("F5",),
                      layer="transport", info={"not_blamed": ["firewall.udp-allowed-tcp-not"]},
                      expect="the server drops TCP 514; the client's UDP 514 accept is for input")


def docker_host_remote_drops(lab: Lab) -> Scenario:
    """The Docker host of :func:`docker_host`, connecting to a server whose firewall drops the
    port: Docker's masquerade of 172.17.0.0/16 does not touch the host's own connection."""
    sc = docker_host(lab)
    server = sc.nodes["server"]
    server.nft(
        "table inet filter {\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        "    tcp dport 5432 drop\n"
        "  }\n"
        "}\n"
    )
    sc.name, sc.target, sc.args = "docker-host-remote-drops", f"{APP}:5432", ()
    sc.checklist, sc.layer = ("F5",), "transport"
    sc.info["not_blamed"] = ["nat.masquerade-changes-source"]
    sc.expect = "the server drops TCP 5432; Docker's masquerade is for its containers"
    return sc


#: name -> builder(lab): a fault beyond this host, on a host whose own set-up is healthy.
BYSTANDERS: dict[str, Callable[[Lab], Scenario]] = {
    "strict-output-remote-refuses": strict_output_remote_refuses,
    "syslog-host-remote-drops": syslog_host_remote_drops,
    "docker-host-remote-drops": docker_host_remote_drops,
}


# --- the rules made quieter still speak -----------------------------------------------------------

def output_udp_only(lab: Lab, backend: str = "nftables") -> Scenario:
    """Default-deny outgoing that opens port 5000 for UDP only, while the service is TCP 5000
    (F3 seen from the client): the UDP rule sits on the output path, so it is the cause.
    ``backend="ufw"`` builds the same with ufw (its rules live in chains OUTPUT jumps to)."""
    o = office(lab)
    web = o.server.http_server(SERVER_IP, 5000)
    c = o.client
    if backend == "ufw":
        enable_ufw(c, ("default", "deny", "outgoing"), ("allow", "out", "53"),
                   ("allow", "out", "5000/udp"))
    else:
        c.nft(
            "table inet filter {\n"
            "  chain output {\n"
            "    type filter hook output priority filter; policy drop;\n"
            '    oifname "lo" accept\n'
            "    ct state established,related accept\n"
            "    udp dport 53 accept\n"
            "    tcp dport 53 accept\n"
            "    udp dport 5000 accept\n"
            "  }\n"
            "}\n"
        )
    return o.scenario(f"output-udp-only-{backend}", f"{APP}:5000", servers={"web": web},
                      checklist=("F3",), layer="transport",
                      info={"expected": "firewall.udp-allowed-tcp-not"},
                      expect="this host's output chain opens 5000 for UDP only")


#: name -> builder(lab): faults a rule of issue 10's false-alarm list must still name.
STILL_FIRING: dict[str, Callable[[Lab], Scenario]] = {
    "output-udp-only-nftables": output_udp_only,
    "output-udp-only-ufw": lambda lab: output_udp_only(lab, "ufw"),
}
