"""Variants: faults the lab already has, on topologies and mechanisms it did not have.

A rule written for one network should hold on another: the same dead resolver on an IPv6-only
LAN, the same local firewall written with iptables-legacy, ip6tables or ufw instead of
nftables, the same dead proxy given only in lower-case variables, a policy-routing table picked
by source address instead of destination, a second default route through a tunnel-style link
instead of a second gateway. Each builder here is a genuinely different real network with one
fault; ``test_variants.py`` proves it with plain sockets, then holds whynet to
``test_coverage_scenarios.verdict`` (the expected rule on top, the expected first failing
layer, no other error; a healthy control gives no warning).

The IPv6-only office (:func:`v6_office`) has no IPv4 address at all but loopback::

    client ::10 ─┐
    dns    ::53 ─┤ lan 2001:db8:60::/64 ── gw ::1 │ 2001:db8:61::1 ── server 2001:db8:61::20
                 ┘
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .healthy import _tunnel, _wait_ipv6_ready, enable_ufw
from .netlab import Lab, LabError, Namespace
from .scenarios import (
    APP,
    BENCH,
    CLIENT_IP,
    DNS_IP,
    GW_IP,
    LAN,
    PROXY_IP,
    PROXY_PORT,
    SERVER_IP,
    Office,
    Scenario,
    _dead_end_router,
    _proxy_host,
    _trusted_tls,
    office,
)

V6_LAN = "2001:db8:60::"
V6_FAR = "2001:db8:61::"
V6_CLIENT = f"{V6_LAN}10"
V6_GW = f"{V6_LAN}1"
V6_DNS = f"{V6_LAN}53"
V6_SERVER = f"{V6_FAR}20"
PORT = 8080


def v6_office(lab: Lab, *, client_route: bool = True) -> Office:
    """The office on IPv6 alone: AAAA records only, a resolver reached over IPv6, the server
    behind a router; ``client_route=False`` leaves the client without a default route."""
    client, gw, dns, server = (lab.host("client"), lab.router("gw"), lab.host("dns"),
                               lab.host("server"))
    lan = lab.switch("lan")
    lan.plug(client, f"{V6_CLIENT}/64")
    gw_lan_if = lan.plug(gw, f"{V6_GW}/64")
    lan.plug(dns, f"{V6_DNS}/64")
    dns.add_route("default", via=V6_GW)
    _, gw_far_if = lab.link(server, gw, f"{V6_SERVER}/64", f"{V6_FAR}1/64")
    server.add_route("default", via=f"{V6_FAR}1")
    if client_route:
        client.add_route("default", via=V6_GW)
    records = {APP: V6_SERVER}
    for machine in (client, dns, server):
        machine.write_resolv_conf([V6_DNS])
    _wait_ipv6_ready(client, gw, dns, server, lan.ns)
    dns_server = dns.dnsmasq(V6_DNS, records)
    return Office(lab, client, lan, gw, dns, server, dns_server, gw_lan_if, gw_far_if, records)


def _wait_dad_failed(ns: Namespace, timeout: float = 5.0) -> None:
    """Until duplicate address detection has marked an address ``dadfailed`` (about 1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ns.ip("-6", "addr", "show", "dadfailed").stdout.strip():
            return
        time.sleep(0.1)
    raise LabError(f"no address of {ns.role} failed DAD within {timeout}s")


# --- IPv6 only ----------------------------------------------------------------------------------

def v6_healthy(lab: Lab) -> Scenario:
    """The control: the IPv6-only office works end to end."""
    o = v6_office(lab)
    web = o.server.http_server(V6_SERVER, 80)
    return o.scenario("v6-only-healthy", f"http://{APP}/", servers={"web": web},
                      info={"reach": [(V6_SERVER, 80)]},
                      expect="every layer ok over IPv6, no finding at warning or above")


def v6_dns_dead(lab: Lab) -> Scenario:
    """resolv.conf names 2001:db8:60::54, a host that is up with no DNS (ICMPv6 port
    unreachable) (D1 over IPv6)."""
    o = v6_office(lab)
    olddns = lab.host("olddns")
    o.lan.plug(olddns, f"{V6_LAN}54/64")
    _wait_ipv6_ready(olddns)
    o.client.write_resolv_conf([f"{V6_LAN}54"])
    web = o.server.http_server(V6_SERVER, 80)
    return o.scenario("v6-dns-dead", f"http://{APP}/", servers={"web": web},
                      nodes={"olddns": olddns}, checklist=("D1",), layer="name",
                      expect="name.nameserver-not-answering", info={"nameserver": f"{V6_LAN}54"})


def v6_no_route(lab: Lab) -> Scenario:
    """No IPv6 default route: the resolver on the LAN answers, the server is off-link (R4)."""
    o = v6_office(lab, client_route=False)
    web = o.server.http_server(V6_SERVER, 80)
    return o.scenario("v6-no-route", f"http://{APP}/", servers={"web": web},
                      checklist=("R4",), layer="route", expect="routing.no-route-to-target")


#: ip6 verdicts at the server, and the rule that names each.
V6_VERDICTS = {
    "drop": ("drop", "transport.ping-ok-tcp-dropped"),
    "admin-prohibited": ("reject with icmpv6 type admin-prohibited",
                         "firewall.rejected-admin-prohibited"),
}


def v6_firewall(lab: Lab, verdict: str) -> Scenario:
    """The server's ip6 input chain drops, or rejects with ICMPv6 administratively
    prohibited, TCP 8080 where a service listens (F5, B1 over IPv6)."""
    o = v6_office(lab)
    web = o.server.http_server(V6_SERVER, PORT)
    statement, rule = V6_VERDICTS[verdict]
    o.server.nft(
        "table ip6 filter {\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        f"    ip6 daddr {V6_SERVER} tcp dport {PORT} {statement}\n"
        "  }\n"
        "}\n"
    )
    checklist = ("F5",) if verdict == "drop" else ("F5", "B1")
    return o.scenario(f"v6-firewall-{verdict}-at-server", f"{APP}:{PORT}",
                      servers={"web": web}, checklist=checklist, layer="transport",
                      expect=rule, info={"verdict": verdict})


def v6_hosts_override(lab: Lab) -> Scenario:
    """/etc/hosts pins app.corp.test to an IPv6 address, an old host that is up with nothing
    listening; DNS gives the server's (R5, B5)."""
    o = v6_office(lab)
    old = lab.host("oldsrv")
    o.lan.plug(old, f"{V6_LAN}99/64")
    _wait_ipv6_ready(old)
    o.client.write_hosts({f"{V6_LAN}99": APP})
    web = o.server.http_server(V6_SERVER, 80)
    return o.scenario("v6-hosts-override", f"http://{APP}/", servers={"web": web},
                      nodes={"oldsrv": old}, checklist=("R5", "B5"), layer="transport",
                      expect="name.hosts-file-overrides-dns",
                      info={"hosts_ip": f"{V6_LAN}99", "dns_ip": V6_SERVER})


def v6_duplicate_address(lab: Lab) -> Scenario:
    """Another machine on the LAN already holds the client's IPv6 address when the client
    configures it: duplicate address detection fails (the kernel marks it ``dadfailed``), so
    the client has no usable address on the LAN and cannot reach its gateway (C1)."""
    o = v6_office(lab, client_route=False)
    o.client.ip("addr", "flush", "dev", "eth0", "scope", "global")
    intruder = lab.host("intruder")
    o.lan.plug(intruder, f"{V6_CLIENT}/64")
    _wait_ipv6_ready(intruder)
    o.client.ip("addr", "add", f"{V6_CLIENT}/64", "dev", "eth0")  # with DAD, as a host does
    _wait_dad_failed(o.client)
    o.client.add_route("default", via=V6_GW)  # configured as usual: the address is the fault
    web = o.server.http_server(V6_SERVER, 80)
    return o.scenario("v6-duplicate-address", f"http://{APP}/", servers={"web": web},
                      nodes={"intruder": intruder}, checklist=("C1",), layer="address",
                      expect="address.duplicate-detected")


# --- other firewall tools -----------------------------------------------------------------------

def iptables_legacy_output(lab: Lab) -> Scenario:
    """The client's own firewall, written with iptables-legacy (the x_tables backend, invisible
    to nft): OUTPUT drops TCP 8080 to the server between rules that accept (F1)."""
    o = office(lab)
    web = o.server.http_server(SERVER_IP, PORT)
    for rule in (("-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
                 ("-p", "udp", "--dport", "53", "-j", "ACCEPT"),
                 ("-d", SERVER_IP, "-p", "tcp", "--dport", str(PORT), "-j", "DROP")):
        o.client.exec("iptables-legacy", "-w", "5", "-A", "OUTPUT", *rule)
    return o.scenario("iptables-legacy-output-drop", f"{APP}:{PORT}", servers={"web": web},
                      checklist=("F1",), layer="transport",
                      expect="firewall.connection-blocked-by-rule")


def iptables_legacy_accepts(lab: Lab) -> Scenario:
    """The control: an iptables-legacy OUTPUT chain with a default DROP whose accepts cover
    DNS and the web port."""
    o = office(lab)
    web = o.server.http_server(SERVER_IP, PORT)
    for rule in (("-o", "lo", "-j", "ACCEPT"),
                 ("-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
                 ("-p", "udp", "--dport", "53", "-j", "ACCEPT"),
                 ("-p", "icmp", "-j", "ACCEPT"),
                 ("-p", "tcp", "-m", "multiport", "--dports", f"53,80,443,{PORT}",
                  "-j", "ACCEPT")):
        o.client.exec("iptables-legacy", "-w", "5", "-A", "OUTPUT", *rule)
    o.client.exec("iptables-legacy", "-w", "5", "-P", "OUTPUT", "DROP")
    return o.scenario("iptables-legacy-accepts", f"{APP}:{PORT}", servers={"web": web},
                      info={"reach": [(SERVER_IP, PORT)]},
                      expect="the legacy ruleset lets 8080 out: no warning")


def ip6tables_output_reject(lab: Lab) -> Scenario:
    """IPv6-only, with the client's own ip6tables OUTPUT rejecting TCP 8080 to the server
    with icmp6-adm-prohibited (F1 over IPv6, ip6tables instead of nft)."""
    o = v6_office(lab)
    web = o.server.http_server(V6_SERVER, PORT)
    o.client.exec("ip6tables", "-w", "5", "-A", "OUTPUT", "-d", V6_SERVER, "-p", "tcp",
                  "--dport", str(PORT), "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited")
    return o.scenario("ip6tables-output-reject", f"{APP}:{PORT}", servers={"web": web},
                      checklist=("F1",), layer="transport",
                      expect="firewall.connection-blocked-by-rule")


def ufw_deny_out(lab: Lab) -> Scenario:
    """ufw on the client, outgoing allowed by default but ``ufw deny out`` to the server's
    port 8080 (F1, F2: ufw's rules live in its own chains)."""
    o = office(lab)
    web = o.server.http_server(SERVER_IP, PORT)
    enable_ufw(o.client, ("default", "allow", "outgoing"),
               ("deny", "out", "to", SERVER_IP, "port", str(PORT), "proto", "tcp"))
    return o.scenario("ufw-deny-out", f"{APP}:{PORT}", servers={"web": web},
                      checklist=("F1",), layer="transport",
                      expect="firewall.connection-blocked-by-rule")


def router_rejects_host_prohibited(lab: Lab) -> Scenario:
    """The gateway's FORWARD chain in the shape RHEL's iptables service ships: established,
    ICMP and port 80 accepted, everything else ``REJECT --reject-with icmp-host-prohibited``
    (code 10, not firewalld's 13); the client reads "No route to host" (F5, B1)."""
    o = office(lab)
    web = o.server.http_server(SERVER_IP, PORT)
    for rule in (("-m", "state", "--state", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
                 ("-p", "icmp", "-j", "ACCEPT"),
                 ("-p", "tcp", "--dport", "80", "-j", "ACCEPT"),
                 ("-j", "REJECT", "--reject-with", "icmp-host-prohibited")):
        o.gw.iptables("-A", "FORWARD", *rule)
    return o.scenario("router-rejects-host-prohibited", f"{APP}:{PORT}", servers={"web": web},
                      checklist=("F5", "B1"), layer="transport",
                      expect="firewall.rejected-admin-prohibited")


# --- names and proxies --------------------------------------------------------------------------

def second_resolver_dead(lab: Lab) -> Scenario:
    """resolv.conf has two nameservers; the second (10.20.0.54, up, no DNS) is dead. Names
    resolve through the first, so nothing fails yet: the fallback is gone (D1, latent)."""
    o = office(lab)
    olddns = lab.host("olddns")
    o.lan.plug(olddns, f"{LAN}.54/24")
    o.client.write_resolv_conf([DNS_IP, f"{LAN}.54"])
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("second-resolver-dead", f"http://{APP}/", servers={"web": web},
                      nodes={"olddns": olddns}, checklist=("D1",), layer=None,
                      expect="name.nameserver-not-answering", info={"nameserver": f"{LAN}.54"})


def _lowercase_proxy_env(url: str) -> dict[str, str]:
    """Only the lower-case spellings, as many shell profiles set them (curl reads only these
    for http)."""
    return {"https_proxy": url, "http_proxy": url}


def lowercase_proxy(lab: Lab, alive: bool) -> Scenario:
    """``https_proxy`` (lower case only) names 10.20.0.3:3128. ``alive=False``: the host is up
    with nothing listening (P2); ``alive=True``: the control, a working proxy."""
    o = office(lab)
    proxy = _proxy_host(lab, o)
    web, env = _trusted_tls(lab, o.server, SERVER_IP)
    env |= _lowercase_proxy_env(f"http://{PROXY_IP}:{PROXY_PORT}")
    servers = {"web": web}
    if alive:
        servers["proxy"] = proxy.proxy(PROXY_IP, PROXY_PORT)
        return o.scenario("lowercase-proxy-works", f"https://{APP}/", env=env, servers=servers,
                          nodes={"proxy": proxy}, info={"reach": [(PROXY_IP, PROXY_PORT)]},
                          expect="the proxy in https_proxy works: no warning")
    return o.scenario("lowercase-proxy-dead", f"https://{APP}/", env=env, servers=servers,
                      nodes={"proxy": proxy}, checklist=("P2",), layer="transport",
                      expect="proxy.dead")


# --- link and routing ---------------------------------------------------------------------------

def duplicate_gateway_ip(lab: Lab) -> Scenario:
    """A busy LAN (a printer and a NAS beside the client and the resolver) where someone gave
    a laptop the gateway's address 10.20.0.1: two MACs answer ARP for the next hop (C1)."""
    o = office(lab)
    nodes = {}
    for n, role in ((30, "printer"), (31, "nas")):
        host = lab.host(role)
        o.lan.plug(host, f"{LAN}.{n}/24")
        host.default_route(GW_IP)
        nodes[role] = host
    laptop = lab.host("laptop")
    o.lan.plug(laptop, f"{GW_IP}/24", mac="52:54:00:00:01:01")
    nodes["laptop"] = laptop
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("duplicate-gateway-ip", f"http://{APP}/", servers={"web": web},
                      nodes=nodes, checklist=("C1",), layer="address",
                      expect="address.duplicate-ip-on-link",
                      info={"macs": (o.gw.mac(o.gw_lan_if), "52:54:00:00:01:01")})


def source_policy_table(lab: Lab) -> Scenario:
    """Source routing as multi-homed hosts configure it: ``ip rule from 10.20.0.10 lookup 200``,
    table 200 holding the LAN and a default route via a second router that reaches nothing.
    The main table is right; the rule matches by source, not by destination (R3)."""
    o = office(lab)
    gw2, bench_if = _dead_end_router(lab, o.client)
    o.client.add_route(f"{LAN}.0/24", dev="eth0", table=200)
    o.client.default_route(f"{BENCH}.1", dev=bench_if, table=200)
    o.client.add_rule("from", CLIENT_IP, table=200, priority=1000)
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("source-policy-table", f"http://{APP}/", servers={"web": web},
                      # gw2 cannot answer 10.20.0.10 (no route back), so the failure shows
                      # as a timeout at transport, not as an ICMP unreachable at route.
                      nodes={"gw2": gw2}, checklist=("R3",), layer="transport",
                      expect="routing.policy-rule-sends-target-to-failing-path",
                      info={"table": 200})


def tunnel_default_route(lab: Lab) -> Scenario:
    """A VPN client left ``default dev tun0 metric 50`` on a tunnel that carries nothing any
    more (its far end, a plain host, forwards nothing and answers nothing: a stalled tunnel),
    beside the LAN's default route via 10.20.0.1 metric 100 (R1). The tunnel is a layer-3
    veth as in ``healthy._tunnel``."""
    o = office(lab, client_route=False)
    o.client.default_route(GW_IP, metric=100)
    vpn = lab.host("vpn")
    _tunnel(o.client, vpn, "tun0")
    o.client.add_route("default", dev="tun0", metric=50)
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("tunnel-default-route", f"http://{APP}/", servers={"web": web},
                      # the tunnel swallows packets without an ICMP answer: a timeout
                      nodes={"vpn": vpn}, checklist=("R1",), layer="transport",
                      expect="routing.target-fails-via-one-of-two-gateways")


# --- ports --------------------------------------------------------------------------------------

def port_in_use_by_ipv6(lab: Lab) -> Scenario:
    """``--listen 8080`` where a service already listens on [::]:8080, a dual-stack socket that
    holds IPv4's 8080 too (net.ipv6.bindv6only = 0) (C2)."""
    o = office(lab)
    squatter = o.client.http_server("::", PORT)
    return o.scenario("port-in-use-by-ipv6", None, args=("--listen", str(PORT)),
                      servers={"squatter": squatter}, checklist=("C2",),
                      expect="ports.in-use")


def privileged_port_raised(lab: Lab) -> Scenario:
    """``--listen 1500`` as ``nobody`` on a host that raised
    net.ipv4.ip_unprivileged_port_start to 2000: 1500 is privileged here, though above 1024
    (C2)."""
    o = office(lab)
    o.client.sysctl("net.ipv4.ip_unprivileged_port_start", 2000)
    return o.scenario("privileged-port-raised", None, args=("--listen", "1500"), user="nobody",
                      checklist=("C2",), expect="ports.privileged")


#: Registered in ``registry.py``: name -> builder(lab).
FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "v6-dns-dead": v6_dns_dead,
    "v6-no-route": v6_no_route,
    **{f"v6-firewall-{v}-at-server": (lambda lab, v=v: v6_firewall(lab, v))
       for v in V6_VERDICTS},
    "v6-hosts-override": v6_hosts_override,
    "v6-duplicate-address": v6_duplicate_address,
    "iptables-legacy-output-drop": iptables_legacy_output,
    "ip6tables-output-reject": ip6tables_output_reject,
    "ufw-deny-out": ufw_deny_out,
    "router-rejects-host-prohibited": router_rejects_host_prohibited,
    "second-resolver-dead": second_resolver_dead,
    "lowercase-proxy-dead": lambda lab: lowercase_proxy(lab, alive=False),
    "duplicate-gateway-ip": duplicate_gateway_ip,
    "source-policy-table": source_policy_table,
    "tunnel-default-route": tunnel_default_route,
    "port-in-use-by-ipv6": port_in_use_by_ipv6,
    "privileged-port-raised": privileged_port_raised,
}
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "v6-only-healthy": v6_healthy,
    "iptables-legacy-accepts": iptables_legacy_accepts,
    "lowercase-proxy-works": lambda lab: lowercase_proxy(lab, alive=True),
}
