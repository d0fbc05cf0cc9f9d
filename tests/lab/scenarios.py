"""Broken networks, one builder per fault whynet must diagnose, plus healthy controls.

Each builder takes the test's :class:`~netlab.Lab`, builds a small but realistic network with
exactly one fault, and returns a :class:`Scenario`: the namespace to run whynet in, the target
the user would type, the environment and arguments, and what a good diagnosis is: the rule
ranked first, the first failing layer of the report's layer table, and no other error-level
finding unless the scenario names it and says why. ``test_scenarios.py`` proves each fault with
plain sockets first, so when whynet's verdict is wrong the lab is not to blame.

Most scenarios start from :func:`office`, one address plan for all (namespaces isolate tests, so
readable fixed addresses are safe even when tests run in parallel)::

    client 10.20.0.10 ─┐
    dns    10.20.0.53 ─┤ lan (switch) ── gw 10.20.0.1 │ 198.51.100.1 ── server 198.51.100.20
    (proxy 10.20.0.3) ─┘                 router       │ (203.0.113.1 ── "internet" segment)

The client resolves ``app.corp.test`` through dnsmasq on 10.20.0.53 and routes everything else
through gw. Addresses come only from private and documentation ranges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .netlab import Lab, Namespace, Server, Switch

LAN = "10.20.0"
FAR = "198.51.100"
INTERNET = "203.0.113"
BENCH = "10.30.0"
APP = "app.corp.test"
CLIENT_IP = f"{LAN}.10"
GW_IP = f"{LAN}.1"
DNS_IP = f"{LAN}.53"
PROXY_IP = f"{LAN}.3"
PROXY_PORT = 3128
SERVER_IP = f"{FAR}.20"
LAN_SERVER_IP = f"{LAN}.20"


@dataclass
class Scenario:
    """What a test needs to run whynet on one broken (or healthy) network and judge the result."""

    name: str
    client: Namespace                     # where whynet runs
    target: str | None                    # what the user types (None: a --listen question)
    env: dict[str, str] = field(default_factory=dict)  # whynet's environment (proxies, CA file)
    args: tuple[str, ...] = ()            # extra diagnose arguments, e.g. ("--listen", "80")
    user: str | None = None               # run whynet as this user (None: root)
    checklist: tuple[str, ...] = ()       # checklist items a good diagnosis cites; () = healthy
    # The first failing layer in the report's layer table (where the fault shows, which may
    # sit above the layer of its cause: a hosts-file entry resolves, to the wrong address, and
    # the connection fails); None: no layer fails (healthy, a --listen question, a latent fault).
    layer: str | None = None
    rules: tuple[str, ...] = ()           # the rule expected on top (any of these)
    # Other rules this scenario may also raise at error level, each with why it is a cause of
    # its own and not a consequence of the top finding. Empty: one fault, one error.
    other_errors: dict[str, str] = field(default_factory=dict)
    expect: str = ""                      # the conclusion, in one sentence, for humans
    nodes: dict[str, Namespace] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # addresses, ports, certs, ...

    @property
    def healthy(self) -> bool:
        return not self.checklist

    def diagnose_args(self, *extra: str) -> list[str]:
        """``diagnose TARGET ARGS --format json`` as :meth:`Lab.run_whynet` wants them."""
        target = [self.target] if self.target else []
        return ["diagnose", *target, *self.args, "--format", "json", *extra]


@dataclass
class Office:
    """The common base network (see the module docstring); builders add one fault to it."""

    lab: Lab
    client: Namespace
    lan: Switch
    gw: Namespace
    dns: Namespace
    server: Namespace
    dns_server: Server
    gw_lan_if: str
    gw_far_if: str
    records: dict[str, str]

    def nodes(self) -> dict[str, Namespace]:
        return {"client": self.client, "gw": self.gw, "dns": self.dns, "server": self.server,
                "switch": self.lan.ns}

    def scenario(self, name: str, target: str | None, **kw: Any) -> Scenario:
        nodes = {**self.nodes(), **kw.pop("nodes", {})}
        servers = {"dns": self.dns_server, **kw.pop("servers", {})}
        return Scenario(name, self.client, target, nodes=nodes, servers=servers, **kw)


def office(lab: Lab, *, records: Mapping[str, str] | None = None, client_route: bool = True,
           server_on_lan: bool = False, client_metric: int | None = None) -> Office:
    """Client, resolver and gateway on a LAN switch; the server behind the gateway.

    ``server_on_lan`` puts the server on the LAN (10.20.0.20) instead, for link-layer faults;
    ``client_metric`` gives the client's LAN prefix route a metric (as NetworkManager does).
    """
    client, gw, dns, server = (lab.host("client"), lab.router("gw"), lab.host("dns"),
                               lab.host("server"))
    lan = lab.switch("lan")
    lan.plug(client, f"{CLIENT_IP}/24", metric=client_metric)
    gw_lan_if = lan.plug(gw, f"{GW_IP}/24")
    lan.plug(dns, f"{DNS_IP}/24")
    dns.default_route(GW_IP)
    if server_on_lan:
        lan.plug(server, f"{LAN_SERVER_IP}/24")
        server.default_route(GW_IP)
        server_ip = LAN_SERVER_IP
        far_switch = lab.switch("far")
        gw_far_if = far_switch.plug(gw, f"{FAR}.1/24")
    else:
        _, gw_far_if = lab.link(server, gw, f"{SERVER_IP}/24", f"{FAR}.1/24")
        server.default_route(f"{FAR}.1")
        server_ip = SERVER_IP
    if client_route:
        client.default_route(GW_IP)
    recs = {APP: server_ip, "gw.corp.test": GW_IP, **(records or {})}
    dns_server = dns.dnsmasq(DNS_IP, recs)
    for machine in (client, dns, server):  # whynet may run on any of them: all have a resolver
        machine.write_resolv_conf([DNS_IP])
    return Office(lab, client, lan, gw, dns, server, dns_server, gw_lan_if, gw_far_if, recs)


def _trusted_tls(lab: Lab, ns: Namespace, ip: str, port: int = 443,
                 names: tuple[str, ...] = (APP,), body: str = "ok"
                 ) -> tuple[Server, dict[str, str]]:
    """A TLS server with a certificate from "Corp Root CA", and the env that trusts that CA."""
    ca = lab.ca("Corp Root CA")
    server = ns.tls_server(ip, port, ca.issue(list(names)), body=body)
    return server, {"SSL_CERT_FILE": str(ca.cert_path)}


def _proxy_env(url: str, no_proxy: str | None = None) -> dict[str, str]:
    """Both spellings, as users set them: curl reads the lower-case ones, many tools either."""
    env = {"HTTPS_PROXY": url, "https_proxy": url, "HTTP_PROXY": url, "http_proxy": url}
    if no_proxy is not None:
        env |= {"NO_PROXY": no_proxy, "no_proxy": no_proxy}
    return env


def _dead_end_router(lab: Lab, client: Namespace, role: str = "gw2") -> tuple[Namespace, str]:
    """A second router on a second client NIC (10.30.0.0/24) that reaches nothing beyond it:
    its answer to anything else is ICMP network unreachable."""
    bench = lab.switch("bench")
    router = lab.router(role)
    client_if = bench.plug(client, f"{BENCH}.10/24")
    bench.plug(router, f"{BENCH}.1/24")
    return router, client_if


# --- healthy controls ---------------------------------------------------------------------------

def healthy_http(lab: Lab) -> Scenario:
    """Everything works: a control that must produce no warning (exit 0)."""
    o = office(lab)
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("healthy-http", f"http://{APP}/", servers={"web": web},
                      expect="every layer ok, no finding at warning or above")


def healthy_https(lab: Lab) -> Scenario:
    """TLS that verifies because SSL_CERT_FILE names the issuing CA: also a T1 control
    (an environment override that points at the right, readable file)."""
    o = office(lab)
    web, env = _trusted_tls(lab, o.server, SERVER_IP)
    return o.scenario("healthy-https", f"https://{APP}/", env=env, servers={"web": web},
                      expect="every layer ok including tls, no finding at warning or above")


# --- firewalls ----------------------------------------------------------------------------------

#: nft verdicts a firewall can give, and what a client's connect() returns for each (measured in
#: this lab; see test_scenarios.py): the heart of F5 and B1.
VERDICTS = {
    "drop": "drop",                                            # timeout
    "tcp-reset": "reject with tcp reset",                      # ECONNREFUSED
    "icmp-port-unreachable": "reject with icmp type port-unreachable",  # ECONNREFUSED
    "icmpx-admin-prohibited": "reject with icmpx type admin-prohibited",  # EHOSTUNREACH
}


#: The rule that names each verdict (ICMP passes the firewall, so a drop is "ping answers, TCP
#: is dropped"; a tcp reset cannot be told from a closed port).
VERDICT_RULES = {
    "drop": "transport.ping-ok-tcp-dropped",
    "tcp-reset": "transport.tcp-refused",
    "icmp-port-unreachable": "firewall.rejected-with-icmp-port-unreachable",
    "icmpx-admin-prohibited": "firewall.rejected-admin-prohibited",
}


def firewall_verdict(lab: Lab, verdict: str = "drop", where: str = "server") -> Scenario:
    """A firewall on TCP 8080 where a web service listens. ``where="server"``: the target's own
    input chain; ``where="gw"``: a router on the path (so "refused" comes from a middlebox, B1).
    ``icmpx-admin-prohibited`` is firewalld's default reject: the client reads it as
    "No route to host" although every route is fine."""
    o = office(lab)
    web = o.server.http_server(SERVER_IP, 8080)
    rule = f"ip daddr {SERVER_IP} tcp dport 8080 {VERDICTS[verdict]}"
    fw = o.server if where == "server" else o.gw
    hook = "input" if where == "server" else "forward"
    fw.nft(
        "table inet filter {\n"
        f"  chain {hook} {{\n"
        f"    type filter hook {hook} priority filter; policy accept;\n"
        f"    {rule}\n"
        "  }\n"
        "}\n"
    )
    checklist = ("F5", "B1") if where == "gw" or verdict != "drop" else ("F5",)
    return o.scenario(
        f"firewall-{verdict}-at-{where}", f"{APP}:8080", servers={"web": web},
        checklist=checklist, layer="transport", rules=(VERDICT_RULES[verdict],),
        info={"verdict": verdict, "where": where, "firewall": fw},
        expect=f"TCP 8080 {'times out: a silent drop' if verdict == 'drop' else 'is rejected'} "
               f"by a firewall on the {where}, not a dead service",
    )


def outbound_blocked(lab: Lab) -> Scenario:
    """The client's own firewall drops new outgoing connections (output policy drop), DNS to
    the LAN resolver excepted: what "default deny outgoing" on a laptop looks like."""
    o = office(lab)
    web = o.server.http_server(SERVER_IP, 80)
    o.client.nft(
        "table inet filter {\n"
        "  chain output {\n"
        "    type filter hook output priority filter; policy drop;\n"
        '    oifname "lo" accept\n'
        "    ct state established,related accept\n"
        f"    ip daddr {DNS_IP} udp dport 53 accept\n"
        f"    ip daddr {DNS_IP} tcp dport 53 accept\n"
        "  }\n"
        "}\n"
    )
    return o.scenario("outbound-blocked", f"http://{APP}/", servers={"web": web},
                      checklist=("F1", "F2"), layer="transport",
                      rules=("firewall.connection-blocked-by-rule", "firewall.local-output-blocks"),
                      expect="the local firewall's output chain drops the connection (EPERM)")


def udp_only_rule(lab: Lab, run_on: str = "client") -> Scenario:
    """The server's firewall opens 8080 for UDP only; the service is TCP 8080 (F3).
    A UDP echo on 8080 proves the rule works, for the wrong protocol.

    ``run_on="server"``: whynet runs on the server, asking ``--listen 8080`` before the service
    starts (the only place the rule for the wrong protocol can be read); the TCP service is
    then not started, so the port is free and only the firewall is in the way.
    """
    o = office(lab)
    servers = {"echo": o.server.udp_echo(SERVER_IP, 8080)}
    if run_on == "client":
        servers["web"] = o.server.http_server(SERVER_IP, 8080)
    o.server.nft(
        "table inet filter {\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy drop;\n"
        '    iifname "lo" accept\n'
        "    ct state established,related accept\n"
        "    meta l4proto { icmp, ipv6-icmp } accept\n"
        "    udp dport 8080 accept\n"
        "  }\n"
        "}\n"
    )
    sc = o.scenario(f"udp-only-rule-{run_on}", f"{APP}:8080", servers=servers,
                    checklist=("F3",), layer="transport",
                    rules=("transport.udp-passes-tcp-dropped",),
                    expect="TCP 8080 is dropped; the firewall only opens UDP 8080")
    if run_on == "server":
        sc.client, sc.target, sc.args = o.server, None, ("--listen", "8080")
        sc.layer, sc.rules = None, ("firewall.listen-port-open-for-udp-only",)
    return sc


def silent_middlebox(lab: Lab) -> Scenario:
    """The gateway drops TCP 443 in its forward chain and lets everything else pass: ping
    works, DNS works, HTTPS times out (B4: ICMP success proves nothing about TCP 443)."""
    o = office(lab)
    web, env = _trusted_tls(lab, o.server, SERVER_IP)
    o.gw.nft(
        "table inet filter {\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy accept;\n"
        "    tcp dport 443 drop\n"
        "  }\n"
        "}\n"
    )
    return o.scenario("silent-middlebox", f"https://{APP}/", env=env, servers={"web": web},
                      checklist=("B4", "F5"), layer="transport",
                      rules=("transport.ping-ok-tcp-dropped",),
                      expect="ping answers but TCP 443 times out: something on the path drops it")


def snat_allow_list(lab: Lab, run_on: str = "client") -> Scenario:
    """The server allows TCP 8080 from the client's address 10.20.0.10 only, but the gateway
    masquerades: the server sees 198.51.100.1 and drops (F6, N1, N2). Port 9000 on the server
    says which address it sees, as a firewall log would.

    ``run_on="server"``: whynet runs on the server (``--listen 8080``, service not started),
    where the allow-list can be read; from the client only the timeout is visible.
    """
    o = office(lab)
    lab.masquerade(o.gw, o.gw_far_if)
    servers = {"whoami": o.server.tcp_server(SERVER_IP, 9000, peer=True)}
    if run_on == "client":
        servers["web"] = o.server.http_server(SERVER_IP, 8080)
    o.server.nft(
        "table inet filter {\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        f"    tcp dport 8080 ip saddr {CLIENT_IP} accept\n"
        "    tcp dport 8080 drop\n"
        "  }\n"
        "}\n"
    )
    # From the client, the NAT on the router is invisible: what whynet can honestly say there
    # is that TCP 8080 is silently dropped (F5). The server-side run reads the allow-list (F6).
    checklist = ("F6", "N1", "N2") if run_on == "server" else ("F5",)
    sc = o.scenario(f"snat-allow-list-{run_on}", f"{APP}:8080", servers=servers,
                    checklist=checklist, layer="transport",
                    rules=("transport.ping-ok-tcp-dropped",),
                    info={"seen_as": f"{FAR}.1"},
                    expect=f"the server allows {CLIENT_IP} but sees {FAR}.1 after NAT")
    if run_on == "server":
        sc.client, sc.target, sc.args = o.server, None, ("--listen", "8080")
        sc.layer = None
        sc.rules = ("firewall.listen-blocked-by-rule", "firewall.listen-port-allow-list")
    return sc


# --- routing ------------------------------------------------------------------------------------

def two_default_gateways(lab: Lab) -> Scenario:
    """A second NIC (a lab bench, a phone tether) brings a second default route with a lower
    metric; its router reaches nothing, so traffic to the server leaves by the wrong door (R1)."""
    o = office(lab, client_route=False)
    gw2, bench_if = _dead_end_router(lab, o.client)
    o.client.default_route(GW_IP, metric=200)
    o.client.default_route(f"{BENCH}.1", dev=bench_if, metric=100)
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("two-default-gateways", f"http://{APP}/", servers={"web": web},
                      nodes={"gw2": gw2}, checklist=("R1",), layer="route",
                      rules=("routing.target-fails-via-one-of-two-gateways",),
                      expect=f"two default routes; the preferred one via {BENCH}.1 ({bench_if}) "
                             "does not reach the server")


def overlapping_subnets(lab: Lab) -> Scenario:
    """Two NICs in the same 10.20.0.0/24: the second (metric 50) wins the route, so the LAN
    server is looked for on an empty segment (R2). The client's eth0 route has metric 100."""
    o = office(lab, server_on_lan=True, client_metric=100)
    bench = lab.switch("bench")
    bench_if = bench.plug(o.client, f"{LAN}.11/24", metric=50)
    web = o.server.http_server(LAN_SERVER_IP, 80)
    return o.scenario("overlapping-subnets", f"http://{LAN_SERVER_IP}/", servers={"web": web},
                      checklist=("R2",), layer="link", info={"wrong_if": bench_if},
                      rules=("addressing.overlap-sends-target-to-wrong-link",),
                      expect=f"eth0 and {bench_if} both hold {LAN}.0/24; the route via "
                             f"{bench_if} wins and the server is not there")


def policy_routing(lab: Lab) -> Scenario:
    """An ``ip rule`` (a VPN client's leftover) sends 198.51.100.0/24 to table 100, whose
    default route goes through a router that reaches nothing. The main table is right (R3)."""
    o = office(lab)
    gw2, bench_if = _dead_end_router(lab, o.client)
    o.client.default_route(f"{BENCH}.1", dev=bench_if, table=100)
    o.client.add_rule("to", f"{FAR}.0/24", table=100, priority=1000)
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("policy-routing", f"http://{APP}/", servers={"web": web},
                      nodes={"gw2": gw2}, checklist=("R3",), layer="route",
                      rules=("routing.policy-rule-sends-target-to-failing-path",),
                      expect=f"rule 1000 sends {FAR}.0/24 to table 100 via {BENCH}.1")


def no_route(lab: Lab) -> Scenario:
    """No default gateway and the server outside every local subnet (R4): connect() fails at
    once with ENETUNREACH, although a gateway sits on the LAN."""
    o = office(lab, client_route=False)
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("no-route", f"http://{APP}/", servers={"web": web},
                      checklist=("R4",), layer="route", rules=("routing.no-route-to-target",),
                      expect=f"{SERVER_IP} is outside {LAN}.0/24 and there is no default route")


# --- names --------------------------------------------------------------------------------------

def hosts_override(lab: Lab) -> Scenario:
    """/etc/hosts pins app.corp.test to the old server 10.20.0.99 (up, nothing listening);
    DNS gives the right 198.51.100.20 (R5, B5)."""
    o = office(lab)
    old = lab.host("oldsrv")
    o.lan.plug(old, f"{LAN}.99/24")
    o.client.write_hosts({f"{LAN}.99": APP})
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("hosts-override", f"http://{APP}/", servers={"web": web},
                      nodes={"oldsrv": old}, checklist=("R5", "B5"), layer="transport",
                      rules=("name.hosts-file-overrides-dns",),
                      info={"hosts_ip": f"{LAN}.99", "dns_ip": SERVER_IP},
                      expect=f"the hosts file says {LAN}.99, DNS says {SERVER_IP}")


def dns_dead(lab: Lab, mode: str = "closed") -> Scenario:
    """resolv.conf names 10.20.0.54, a host that is up but runs no DNS (``closed``: ICMP port
    unreachable, fails fast) or firewalls it (``dropped``: queries time out) (D1)."""
    o = office(lab)
    olddns = lab.host("olddns")
    o.lan.plug(olddns, f"{LAN}.54/24")
    if mode == "dropped":
        olddns.nft(
            "table inet filter {\n"
            "  chain input {\n"
            "    type filter hook input priority filter; policy accept;\n"
            "    udp dport 53 drop\n"
            "    tcp dport 53 drop\n"
            "  }\n"
            "}\n"
        )
    o.client.write_resolv_conf([f"{LAN}.54"])
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario(f"dns-dead-{mode}", f"http://{APP}/", servers={"web": web},
                      nodes={"olddns": olddns}, checklist=("D1",), layer="name",
                      rules=("name.nameserver-not-answering",),
                      info={"nameserver": f"{LAN}.54", "mode": mode},
                      expect=f"the only nameserver {LAN}.54 does not answer ({mode})")


def split_dns(lab: Lab) -> Scenario:
    """Two resolvers disagree (D2): the first in resolv.conf, a public one (203.0.113.53),
    answers app.corp.test with the public address 203.0.113.80, where the internal service port
    8443 is closed; the internal resolver (second) gives 198.51.100.20, where it works."""
    o = office(lab)
    internet = lab.switch("internet")
    internet.plug(o.gw, f"{INTERNET}.1/24")
    pubdns, pubweb = lab.host("pubdns"), lab.host("pubweb")
    internet.plug(pubdns, f"{INTERNET}.53/24")
    internet.plug(pubweb, f"{INTERNET}.80/24")
    pubdns.default_route(f"{INTERNET}.1")
    pubweb.default_route(f"{INTERNET}.1")
    public = pubdns.dnsmasq(f"{INTERNET}.53", {APP: f"{INTERNET}.80"})
    pub_site = pubweb.http_server(f"{INTERNET}.80", 443)
    app = o.server.http_server(SERVER_IP, 8443)
    o.client.write_resolv_conf([f"{INTERNET}.53", DNS_IP])
    return o.scenario("split-dns", f"{APP}:8443",
                      servers={"public_dns": public, "public_site": pub_site, "app": app},
                      nodes={"pubdns": pubdns, "pubweb": pubweb}, checklist=("D2",),
                      layer="transport", rules=("name.split-dns-disagrees",),
                      other_errors={"transport.tcp-refused": (
                          "resolvers that disagree are often right (GeoDNS, CDNs), so split DNS "
                          "is a warning and cannot vouch for the refusal at the address used")},
                      info={"public": f"{INTERNET}.80", "internal": SERVER_IP},
                      expect=f"{INTERNET}.53 says {INTERNET}.80, {DNS_IP} says {SERVER_IP}; "
                             "the first is used and 8443 is closed there")


# --- proxies ------------------------------------------------------------------------------------

def _proxy_host(lab: Lab, o: Office) -> Namespace:
    proxy = lab.host("proxy")
    o.lan.plug(proxy, f"{PROXY_IP}/24")
    proxy.default_route(GW_IP)
    proxy.write_resolv_conf([DNS_IP])
    return proxy


def _egress_only_from_proxy(o: Office) -> None:
    """The gateway forwards LAN traffic only from the proxy: a corporate egress policy."""
    o.gw.nft(
        "table inet filter {\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy accept;\n"
        "    ct state established,related accept\n"
        f'    iifname "{o.gw_lan_if}" ip saddr != {PROXY_IP} drop\n'
        "  }\n"
        "}\n"
    )


def dead_proxy(lab: Lab) -> Scenario:
    """HTTPS_PROXY points at 10.20.0.3:3128, a host that is up with nothing listening (P2);
    the target itself is reachable directly."""
    o = office(lab)
    proxy = _proxy_host(lab, o)
    web, env = _trusted_tls(lab, o.server, SERVER_IP)
    env |= _proxy_env(f"http://{PROXY_IP}:{PROXY_PORT}")
    return o.scenario("dead-proxy", f"https://{APP}/", env=env, servers={"web": web},
                      nodes={"proxy": proxy}, checklist=("P2",), layer="transport",
                      rules=("proxy.dead",),
                      expect=f"the configured proxy {PROXY_IP}:{PROXY_PORT} refuses connections")


def no_proxy_bypass(lab: Lab) -> Scenario:
    """Only the proxy may leave the LAN, but NO_PROXY=.corp.test sends app.corp.test direct,
    where the gateway drops it (P2). Through the proxy it works."""
    o = office(lab)
    proxy = _proxy_host(lab, o)
    squid = proxy.proxy(PROXY_IP, PROXY_PORT)
    _egress_only_from_proxy(o)
    web, env = _trusted_tls(lab, o.server, SERVER_IP)
    env |= _proxy_env(f"http://{PROXY_IP}:{PROXY_PORT}", no_proxy=".corp.test,localhost")
    return o.scenario("no-proxy-bypass", f"https://{APP}/", env=env,
                      servers={"web": web, "proxy": squid}, nodes={"proxy": proxy},
                      checklist=("P2",), layer="transport", rules=("proxy.no-proxy-bypass-fails",),
                      expect="NO_PROXY matches the target, so it goes direct; only the proxy "
                             "may reach it")


def proxy_port_policy(lab: Lab) -> Scenario:
    """Only the proxy may leave the LAN, and it tunnels to port 443 only, as squid's SSL_ports
    and CDN proxies do (P1, P2): the service on 8443 is refused by the proxy with 403, though
    the firewall would let the proxy through."""
    o = office(lab)
    proxy = _proxy_host(lab, o)
    squid = proxy.proxy(PROXY_IP, PROXY_PORT, allow_ports=(443,))
    _egress_only_from_proxy(o)
    web, env = _trusted_tls(lab, o.server, SERVER_IP, 8443)
    env |= _proxy_env(f"http://{PROXY_IP}:{PROXY_PORT}")
    return o.scenario("proxy-port-policy", f"https://{APP}:8443/", env=env,
                      servers={"web": web, "proxy": squid}, nodes={"proxy": proxy},
                      checklist=("P1", "P2"), layer="proxy", rules=("proxy.refuses-target",),
                      expect="the proxy answers CONNECT to port 8443 with 403: it allows 443 only")


def tls_intercept(lab: Lab) -> Scenario:
    """The proxy in HTTPS_PROXY intercepts TLS and re-signs with "Intercept Proxy CA", which
    the client (trusting only Corp Root CA) rejects (P3)."""
    o = office(lab)
    proxy = _proxy_host(lab, o)
    web, env = _trusted_tls(lab, o.server, SERVER_IP)
    mitm_ca = lab.ca("Intercept Proxy CA")
    mitm = proxy.intercepting_proxy(PROXY_IP, PROXY_PORT, mitm_ca.issue([APP]))
    env |= _proxy_env(f"http://{PROXY_IP}:{PROXY_PORT}")
    return o.scenario("tls-intercept", f"https://{APP}/", env=env,
                      servers={"web": web, "proxy": mitm}, nodes={"proxy": proxy},
                      checklist=("P3", "T1"), layer="tls", rules=("tls.reissued-by-proxy",),
                      info={"issuer": "Intercept Proxy CA"},
                      expect="through the proxy the certificate is issued by Intercept Proxy CA")


# --- tls ----------------------------------------------------------------------------------------

def tls_self_signed(lab: Lab) -> Scenario:
    """The server presents a self-signed certificate for the right name (T2, T1)."""
    o = office(lab)
    web = o.server.tls_server(SERVER_IP, 443, lab.self_signed([APP]))
    return o.scenario("tls-self-signed", f"https://{APP}/", servers={"web": web},
                      checklist=("T2", "T1"), layer="tls", rules=("tls.self-signed",),
                      expect="the certificate is self-signed and not trusted")


def tls_wrong_name(lab: Lab) -> Scenario:
    """A trusted CA, but the certificate names www.corp.test only (T1)."""
    o = office(lab)
    web, env = _trusted_tls(lab, o.server, SERVER_IP, names=("www.corp.test",))
    return o.scenario("tls-wrong-name", f"https://{APP}/", env=env, servers={"web": web},
                      checklist=("T1",), layer="tls", rules=("tls.name-mismatch",),
                      expect=f"the certificate is for www.corp.test, not {APP}")


def tarpit_service(lab: Lab) -> Scenario:
    """TCP 443 accepts but never speaks: transport ok, the TLS handshake hangs (B2)."""
    o = office(lab)
    pit = o.server.tarpit(SERVER_IP, 443)
    return o.scenario("tarpit", f"https://{APP}/", servers={"pit": pit},
                      checklist=("B2",), layer="tls", rules=("tls.handshake-no-answer",),
                      expect="TCP connects but the TLS handshake gets no answer")


# --- ports --------------------------------------------------------------------------------------

def url_default_port(lab: Lab) -> Scenario:
    """The service runs on 8443; the user typed https://app.corp.test, which means 443 (R6)."""
    o = office(lab)
    web, env = _trusted_tls(lab, o.server, SERVER_IP, port=8443)
    return o.scenario("url-default-port", f"https://{APP}", env=env, servers={"web": web},
                      checklist=("R6",), layer="transport", info={"real_port": 8443},
                      rules=("transport.default-port-assumed",),
                      expect="https means port 443, where nothing listens; the service is on 8443")


def port_in_use(lab: Lab) -> Scenario:
    """``--listen 8080`` where another service already listens on *:8080 (C2)."""
    o = office(lab)
    squatter = o.client.http_server("0.0.0.0", 8080)
    return o.scenario("port-in-use", None, args=("--listen", "8080"),
                      servers={"squatter": squatter}, checklist=("C2",), rules=("ports.in-use",),
                      expect="port 8080 is already in use by another process")


def privileged_port(lab: Lab) -> Scenario:
    """``--listen 80`` as ``nobody``: below net.ipv4.ip_unprivileged_port_start (C2)."""
    o = office(lab)
    o.client.sysctl("net.ipv4.ip_unprivileged_port_start", 1024)
    return o.scenario("privileged-port", None, args=("--listen", "80"), user="nobody",
                      checklist=("C2",), rules=("ports.privileged",),
                      expect="port 80 is privileged and whynet runs as a non-root user")


# --- link layer ---------------------------------------------------------------------------------

def duplicate_ip(lab: Lab) -> Scenario:
    """An old machine powered up with the web server's address 10.20.0.20 (C1): two MACs
    answer ARP for it, and which one the client talks to is luck."""
    o = office(lab, server_on_lan=True)
    web = o.server.http_server(LAN_SERVER_IP, 80)
    impostor = lab.host("impostor")
    o.lan.plug(impostor, f"{LAN_SERVER_IP}/24", mac="52:54:00:00:00:99")
    return o.scenario("duplicate-ip", f"http://{LAN_SERVER_IP}/", servers={"web": web},
                      nodes={"impostor": impostor}, checklist=("C1",), layer="address",
                      rules=("address.duplicate-ip-on-link",),
                      info={"macs": (o.server.mac("eth0"), "52:54:00:00:00:99")},
                      expect=f"two hosts answer ARP for {LAN_SERVER_IP}")


DUP_MAC = "52:54:00:12:34:56"


def duplicate_mac(lab: Lab, where: str = "lan") -> Scenario:
    """Two machines share one MAC (cloned VMs) (R8). ``where="lan"``: two LAN neighbours,
    10.20.0.21 and .22, both already in the client's neighbour table; ``where="local"``: the
    client's own eth0 and a second NIC eth1 share it.

    The user's target is the server behind the gateway, which works: the fault is latent, and
    whynet reports it from the neighbour table or the interfaces alone. (A connection to one of
    the clones themselves fails or works depending on which one the switch learned last: no
    lab test can assert one outcome of it.)"""
    o = office(lab)
    nodes: dict[str, Namespace] = {}
    servers: dict[str, Server] = {"web": o.server.http_server(SERVER_IP, 80)}
    if where == "lan":
        for n, role in ((21, "web"), (22, "files")):
            host = lab.host(role)
            o.lan.plug(host, f"{LAN}.{n}/24", mac=DUP_MAC)
            nodes[role] = host
        # The client has talked to both lately: prime its neighbour table as real use would.
        o.client.ping(f"{LAN}.22")
        o.client.ping(f"{LAN}.21")
    else:
        o.client.ip("link", "set", "eth0", "address", DUP_MAC)
        lab.switch("bench").plug(o.client, f"{BENCH}.10/24", mac=DUP_MAC)
    target = f"http://{APP}/"
    return o.scenario(f"duplicate-mac-{where}", target, nodes=nodes, servers=servers,
                      checklist=("R8",), info={"mac": DUP_MAC},
                      rules=("link.duplicate-mac-neighbours" if where == "lan" else
                             "link.duplicate-mac",),
                      expect=f"{DUP_MAC} belongs to two {'neighbours' if where == 'lan' else 'NICs'}")


#: The healthy controls and the faults, each variant of each builder: name -> builder(lab),
#: registered in ``registry.py``.
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "healthy-http": healthy_http,
    "healthy-https": healthy_https,
}
FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    **{f"firewall-{v}-at-{w}": (lambda lab, v=v, w=w: firewall_verdict(lab, v, w))
       for v in VERDICTS for w in ("server", "gw")},
    "outbound-blocked": outbound_blocked,
    "udp-only-rule-client": udp_only_rule,
    "udp-only-rule-server": lambda lab: udp_only_rule(lab, "server"),
    "silent-middlebox": silent_middlebox,
    "snat-allow-list-client": snat_allow_list,
    "snat-allow-list-server": lambda lab: snat_allow_list(lab, "server"),
    "two-default-gateways": two_default_gateways,
    "overlapping-subnets": overlapping_subnets,
    "policy-routing": policy_routing,
    "no-route": no_route,
    "hosts-override": hosts_override,
    "dns-dead-closed": lambda lab: dns_dead(lab, "closed"),
    "dns-dead-dropped": lambda lab: dns_dead(lab, "dropped"),
    "split-dns": split_dns,
    "dead-proxy": dead_proxy,
    "no-proxy-bypass": no_proxy_bypass,
    "proxy-port-policy": proxy_port_policy,
    "tls-intercept": tls_intercept,
    "tls-self-signed": tls_self_signed,
    "tls-wrong-name": tls_wrong_name,
    "tarpit": tarpit_service,
    "url-default-port": url_default_port,
    "port-in-use": port_in_use,
    "privileged-port": privileged_port,
    "duplicate-ip": duplicate_ip,
    "duplicate-mac-lan": lambda lab: duplicate_mac(lab, "lan"),
    "duplicate-mac-local": lambda lab: duplicate_mac(lab, "local"),
}
