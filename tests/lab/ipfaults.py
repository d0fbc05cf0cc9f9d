"""IP-level faults beyond the checklist (issue 13): one address family broken (X10), a
path-MTU black hole (X11), and a path that carries packets badly: loss, latency, jitter (X12).

Each builder starts from :func:`scenarios.office` (client 10.20.0.10 on a LAN with a resolver
and a gateway 10.20.0.1; the server 198.51.100.20 behind it), adds IPv6 or a path property, and
exactly one fault; ``test_ipfaults.py`` proves the fault with plain sockets in the client first,
then holds whynet to ``test_coverage_scenarios.verdict``. ``FAULTS`` and ``HEALTHY`` list the
builders for the lab's scenario count.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .healthy import _wait_ipv6_ready, add_ipv6
from .netlab import Lab, Namespace, Server
from .scenarios import APP, SERVER_IP, Office, Scenario, _trusted_tls, office

# The dual-stack plan: the client has a *global* IPv6 address (documentation prefix), so the
# system resolver (RFC 6724 rules 5 and 6: matching label, higher precedence) lists the AAAA
# first, as on a home or office network with native IPv6.
V6_LAN = "2001:db8:20::"
V6_FAR = "2001:db8:51::"
CLIENT_V6 = f"{V6_LAN}10"
SERVER_V6 = f"{V6_FAR}20"


def _dual_stack(lab: Lab) -> Office:
    """The office with IPv6 end to end: A and AAAA for app.corp.test, a web server on both."""
    o = office(lab, records={APP: [SERVER_IP, SERVER_V6]})  # type: ignore[dict-item]
    add_ipv6(o, V6_LAN, V6_FAR)
    o.server.http_server("::", 80)  # a dual-stack socket: IPv4 and IPv6
    _wait_ipv6_ready(o.client, o.gw, o.server, o.lan.ns)
    return o


def family_broken(lab: Lab, broken: int | None) -> Scenario:
    """The gateway drops forwarded traffic of one family (``broken`` 6 or 4) and passes the
    other, as a router with a forgotten IPv6 forward rule (or a broken IPv4 NAT) does.
    ``broken=None``: the healthy dual-stack control (both forwarded)."""
    o = _dual_stack(lab)
    target = f"http://{APP}/"
    if broken is None:
        return o.scenario("dual-stack-v6-first", target,
                          info={"reach": [(SERVER_IP, 80), (SERVER_V6, 80)]})
    proto = "ip6" if broken == 6 else "ip"
    o.gw.nft("table inet family_block {\n chain forward {\n"
             " type filter hook forward priority 0; policy accept;\n"
             f" meta nfproto {'ipv6' if broken == 6 else 'ipv4'} {proto} daddr "
             f"{SERVER_V6 if broken == 6 else SERVER_IP} drop\n }}\n}}\n")
    rule = "path.ipv6-broken-ipv4-works" if broken == 6 else "path.ipv4-broken-ipv6-works"
    return o.scenario(f"ipv{broken}-dropped-at-gateway", target, checklist=("X10",), layer=None,
                      expect=rule, info={"broken": SERVER_V6 if broken == 6 else SERVER_IP,
                                         "working": SERVER_IP if broken == 6 else SERVER_V6})


# --- X11: a path-MTU black hole ----------------------------------------------------------------

# The small link sits between two routers, as a tunnel or PPPoE uplink does: client ─ lan ─ gw
# ═(MTU 1400)═ wan ─ origin. (A small MTU at an endpoint is harmless: its own SYN announces the
# smaller MSS.)
SMALL_MTU = 1400
ORIGIN_IP, ORIGIN_V6 = "203.0.113.80", "2001:db8:80::80"
# Names on the certificate: a multi-tenant or CDN certificate carries dozens, so the server's
# first flight (its certificates) fills full-size segments.
CERT_NAMES = (APP, *(f"tenant{n}.corp.test" for n in range(60)))
ICMP_TOO_BIG = {4: "icmp type destination-unreachable icmp code frag-needed",
                6: "icmpv6 type packet-too-big"}


def narrow_link_path(lab: Lab, family: int, records: str | None = None
                     ) -> tuple[Office, Namespace, Namespace, str]:
    """The office, a second router ``wan`` behind a 1400-byte link from the gateway, and an
    ``origin`` host behind it (the plan above); ``family`` 4 or 6: ``app.corp.test`` (or
    ``records``' name) has only an A or only an AAAA. Returns the office, wan, origin and the
    origin's address."""
    ip = ORIGIN_IP if family == 4 else ORIGIN_V6
    o = office(lab, records={records or APP: ip})
    wan, origin = lab.router("wan"), lab.host("origin")
    gw_if, wan_if = lab.link(o.gw, wan, "10.40.0.1/30", "10.40.0.2/30")
    wan_out, origin_if = lab.link(wan, origin, "203.0.113.1/24", f"{ORIGIN_IP}/24")
    for ns, ifname in ((o.gw, gw_if), (wan, wan_if)):
        ns.ip("link", "set", ifname, "mtu", str(SMALL_MTU))
    o.gw.add_route("203.0.113.0/24", via="10.40.0.2")
    wan.default_route("10.40.0.1")
    origin.default_route("203.0.113.1")
    if family == 6:
        o.client.add_address("eth0", f"{V6_LAN}10/64")
        o.gw.add_address(o.gw_lan_if, f"{V6_LAN}1/64")
        o.gw.add_address(gw_if, "2001:db8:40::1/64")
        wan.add_address(wan_if, "2001:db8:40::2/64")
        wan.add_address(wan_out, "2001:db8:80::1/64")
        origin.add_address(origin_if, f"{ORIGIN_V6}/64")
        o.client.add_route("default", via=f"{V6_LAN}1")
        o.gw.add_route("2001:db8:80::/64", via="2001:db8:40::2")
        wan.add_route("default", via="2001:db8:40::1")
        origin.add_route("default", via="2001:db8:80::1")
        _wait_ipv6_ready(o.client, o.gw, wan, origin, o.lan.ns)
    return o, wan, origin, ip


def drop_too_big(routers: tuple[Namespace, ...], family: int) -> None:
    """Each router drops the ICMP "fragmentation needed" / "packet too big" it would send or
    forward (nft table ``inet no_pmtud``): path MTU discovery breaks."""
    for router in routers:
        router.nft("table inet no_pmtud {\n"
                   " chain output {\n type filter hook output priority 0; policy accept;\n"
                   f" {ICMP_TOO_BIG[family]} drop\n }}\n"
                   " chain forward {\n type filter hook forward priority 0; policy accept;\n"
                   f" {ICMP_TOO_BIG[family]} drop\n }}\n}}\n")


def mtu_path(lab: Lab, family: int, icmp_dropped: bool) -> Scenario:
    """An HTTPS origin behind a 1400-byte link; ``icmp_dropped``: both routers drop the ICMP
    "fragmentation needed" / "packet too big" they would send (the black hole); else PMTUD
    works (the control). ``family`` 4 or 6: the name has only an A or only an AAAA."""
    o, wan, origin, ip = narrow_link_path(lab, family)
    web, env = _trusted_tls(lab, origin, ip, names=CERT_NAMES)
    nodes = {"wan": wan, "origin": origin}
    info = {"ip": ip, "family": family}
    if not icmp_dropped:
        return o.scenario(f"small-mtu-pmtud-works-v{family}", f"https://{APP}/", env=env,
                          nodes=nodes, servers={"web": web}, info=info)
    drop_too_big((o.gw, wan), family)
    return o.scenario(f"mtu-black-hole-v{family}", f"https://{APP}/", env=env, nodes=nodes,
                      servers={"web": web}, checklist=("X11",), layer="tls",
                      expect="path.mtu-black-hole", info=info)


# --- X12: loss, latency, jitter ----------------------------------------------------------------

RESPONDER_PY = Path(__file__).resolve().parent / "icmp_responder.py"


def slow_echoes(lab: Lab, ns: Namespace, ip: str, delay_ms: float, jitter: str) -> Server:
    """``ns`` answers ping at ``ip`` itself, each echo after ``delay_ms`` plus ``jitter``
    (see icmp_responder.py), with the kernel's own echo replies of ``ip``'s family turned off
    (the other family's still answer at once)."""
    ns.sysctl("net.ipv6.icmp.echo_ignore_all" if ":" in ip else "net.ipv4.icmp_echo_ignore_all",
              1)
    return ns.spawn("icmp-responder", [lab.python, str(RESPONDER_PY), "--host", ip,
                                       "--delay-ms", str(delay_ms), "--jitter-ms", jitter])


#: The path faults: what the server (or the gateway) does to packets, and the rule expected.
PATH_FAULTS = {
    "heavy-loss": "path.packet-loss",
    "high-latency": "path.high-latency",
    "high-jitter": "path.high-jitter",
}


def degrade(lab: Lab, o: Office, fault: str | None, server_ip: str) -> None:
    """Make the path from the office to ``server_ip`` (either family) poor: ``heavy-loss``: the
    gateway drops 60 % of the packets it forwards there at random (nft ``numgen random``);
    ``high-latency``: every echo is answered 600 ms late; ``high-jitter``: answers alternate
    between 20 and 420 ms late. ``None``: a VPN-like path with 20 ms (up to 25 ms) of round
    trip."""
    if fault == "heavy-loss":
        o.gw.nft("table inet lossy {\n chain forward {\n"
                 " type filter hook forward priority 0; policy accept;\n"
                 f" {'ip6' if ':' in server_ip else 'ip'} daddr {server_ip}"
                 " numgen random mod 100 < 60 drop\n }\n}\n")
    elif fault == "high-latency":
        slow_echoes(lab, o.server, server_ip, 600, "uniform:3")
    elif fault == "high-jitter":
        slow_echoes(lab, o.server, server_ip, 20, "alternate:400")
    else:
        slow_echoes(lab, o.server, server_ip, 20, "uniform:5")


def degraded_path(lab: Lab, fault: str | None) -> Scenario:
    """The server works but the path to it is poor (:func:`degrade`); ``None``: the healthy
    control. The user asks about the host (``app.corp.test``: name, route and ICMP)."""
    o = office(lab)
    degrade(lab, o, fault, SERVER_IP)
    if fault is None:
        return o.scenario("normal-latency", APP)
    return o.scenario(fault, APP, checklist=("X12",), layer=None, expect=PATH_FAULTS[fault])


#: Fault scenarios: name -> builder(lab).
FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "ipv6-dropped-at-gateway": lambda lab: family_broken(lab, 6),
    "ipv4-dropped-at-gateway": lambda lab: family_broken(lab, 4),
    **{name: (lambda lab, name=name: degraded_path(lab, name)) for name in PATH_FAULTS},
    "mtu-black-hole-v4": lambda lab: mtu_path(lab, 4, True),
    "mtu-black-hole-v6": lambda lab: mtu_path(lab, 6, True),
}

#: Healthy controls: name -> builder(lab).
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "dual-stack-v6-first": lambda lab: family_broken(lab, None),
    "normal-latency": lambda lab: degraded_path(lab, None),
    "small-mtu-pmtud-works-v4": lambda lab: mtu_path(lab, 4, False),
    "small-mtu-pmtud-works-v6": lambda lab: mtu_path(lab, 6, False),
}
