"""Scenarios for the checklist items issue 13 adds (B3, C1 own address, P1 CDN, N3, N4) and
faults beyond the checklist (X items): one builder per fault, plus its healthy control.

They reuse :func:`scenarios.office` (client, resolver and gateway on a LAN, a server behind the
gateway) and add exactly one fault each. ``test_coverage_scenarios.py`` proves each fault with
plain sockets first, then asserts whynet's top-ranked finding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from .healthy import DOCKER_RULES, _bridge, _container
from .netlab import Lab
from .scenarios import APP, CLIENT_IP, FAR, GW_IP, Scenario, office

FAR_NET = f"{FAR}.0/24"


def gateway_silent_at_arp(lab: Lab) -> Scenario:
    """The gateway drops every ARP request (as a powered-off or mis-cabled router looks).

    Its address is right and its routes are fine: only the link-layer answer is missing, so
    the client's kernel never learns where to send the first packet.
    """
    o = office(lab)
    o.server.http_server(o.records[APP], 80)
    o.gw.nft("table arp silence {\n chain input {\n type filter hook input priority 0;\n"
             " policy drop;\n }\n}\n")
    return o.scenario("gateway-silent-at-arp", f"http://{APP}/", checklist=("B3", "X1"),
                      layer="link", expect="path.next-hop-silent",
                      info={"gateway": GW_IP, "gw_lan_if": o.gw_lan_if})


def healthy_path(lab: Lab) -> Scenario:
    """The control for the path checks: every hop answers."""
    o = office(lab)
    o.server.http_server(o.records[APP], 80)
    return o.scenario("healthy-path", f"http://{APP}/")


def own_address_taken(lab: Lab) -> Scenario:
    """Another machine on the LAN was given the client's own address (a reused static IP).

    It only sits there: the client's connections may even work for a while (neighbours keep
    whichever MAC they heard last), which is exactly why the clash goes unnoticed.
    """
    o = office(lab)
    o.server.http_server(o.records[APP], 80)
    intruder = lab.host("intruder")
    intruder_if = o.lan.plug(intruder, f"{CLIENT_IP}/24")
    return o.scenario("own-address-taken", f"http://{APP}/", checklist=("C1",), layer="address",
                      expect="address.duplicate-own-ip", nodes={"intruder": intruder},
                      info={"intruder_mac": intruder.mac(intruder_if), "intruder_if": intruder_if})


# A user's own CDN description, as the shipped cdn.yaml invites: the lab cannot use Cloudflare's
# real addresses (every lab address is private or documentation), so the lab's "edge" network
# is declared the way a user declares their own CDN or reverse proxies. The shipped rule
# `cdn.port-not-proxied` then does the diagnosing; the Cloudflare data is checked by the
# examples in knowledge/cdn.yaml.
LAB_CDN_RULES = """\
rules:
  - id: lab.edge-port-not-proxied
    title: The lab's CDN edge, on a port it does not proxy
    checklist: [P1]
    severity: info
    layer: transport
    when:
      - fact: probe_tcp
        as: p
        match: {{ip: {{in_cidr: ["{edge}"]}}, port: {{not_in: [{ports}]}}}}
    then:
      - fact: cdn_port_not_proxied
        fields: {{provider: Lab CDN, target: "{{p.target}}", ip: "{{p.ip}}", port: "{{p.port}}",
                 proxied_ports: "{ports}"}}
    explanation: "{{p.ip}} is the lab CDN's edge; port {{p.port}} is not proxied."
    advice: "Use a proxied port."
    examples:
      - name: edge, other port
        facts: [{{kind: probe_tcp, target: "t", outcome: timeout, ip: "{sample}", port: 8081}}]
        expect: fires
      - name: edge, proxied port
        facts: [{{kind: probe_tcp, target: "t", outcome: open, ip: "{sample}", port: 80}}]
        expect: silent
"""
CDN_PORTS = (80, 443, 8080)
ORIGIN_PORT = 8081


def cdn_edge(lab: Lab, port: int) -> Scenario:
    """A site behind a CDN-like edge that forwards only ports 80, 443 and 8080; the origin's
    service really listens on 8081 too, but the edge drops every other TCP port.

    ``port`` is the one the user tries: 8081 is the fault, 8080 the healthy control.
    """
    o = office(lab)
    edge = o.records[APP]
    for p in (80, 8080, ORIGIN_PORT):
        o.server.http_server(edge, p)
    allowed = ", ".join(str(p) for p in CDN_PORTS)
    o.server.nft(f"table inet edge {{\n chain input {{\n type filter hook input priority 0;\n"
                 f" iifname \"lo\" accept\n tcp dport != {{ {allowed} }} drop\n }}\n}}\n")
    kdir = lab.workdir / "cdn-knowledge"
    kdir.mkdir(exist_ok=True)
    (kdir / "lab_cdn.yaml").write_text(LAB_CDN_RULES.format(
        edge=f"{FAR_NET}", ports=allowed, sample=edge))
    target = f"http://{APP}:{port}/"
    args = ("--knowledge", str(kdir))
    if port in CDN_PORTS:
        return o.scenario("cdn-proxied-port", target, args=args)
    return o.scenario("cdn-port-not-proxied", target, args=args, checklist=("P1",),
                      layer="transport", expect="cdn.port-not-proxied", info={"edge": edge})


# --- N4: a time-based access control on the router ----------------------------------------------

def history_line(at: datetime, target: str, ok: bool) -> str:
    """One line as ``whynet diagnose`` appends it to its history (engine/history.py)."""
    return json.dumps({"at": at.isoformat(timespec="seconds"), "target": target, "ok": ok,
                       "layer": None if ok else "transport",
                       "rule": None if ok else "transport.tcp-timeout-silent-drop",
                       "hour": at.hour, "weekday": at.weekday()}, sort_keys=True)


def time_based_block(lab: Lab, *, scheduled: bool) -> Scenario:
    """The gateway blocks the server during a window of hours around now (nftables ``meta
    hour``, as routers' "access schedules" do), and the client's history shows the target
    failing at this hour on four earlier days and working at other hours.

    ``scheduled=False`` is the control: no schedule, and the earlier failures are scattered
    over the day, so no pattern.
    """
    o = office(lab)
    o.server.http_server(o.records[APP], 80)
    target = f"http://{APP}/"
    now = datetime.now().astimezone().replace(minute=5, second=0, microsecond=0)
    lines = []
    for days in range(1, 5):
        day = now - timedelta(days=days)
        if scheduled:
            lines.append(history_line(day, target, ok=False))
        else:
            lines.append(history_line(day.replace(hour=(now.hour + 5 * days) % 24), target,
                                      ok=False))
        lines.append(history_line(day.replace(hour=(now.hour + 9) % 24), target, ok=True))
    state = lab.workdir / "state"
    (state / "whynet").mkdir(parents=True, exist_ok=True)
    (state / "whynet" / "history.jsonl").write_text("\n".join(lines) + "\n")
    env = {"XDG_STATE_HOME": str(state)}
    if not scheduled:
        return o.scenario("no-time-pattern", target, env=env, info={"state": state})
    start = max(now - timedelta(hours=1), now.replace(hour=0, minute=0))
    end = min(now + timedelta(hours=1), now.replace(hour=23, minute=59))
    o.gw.nft("table inet schedule {\n chain forward {\n type filter hook forward priority 0;\n"
             f" ip daddr {o.records[APP]} meta hour \"{start:%H:%M}\"-\"{end:%H:%M}\" drop\n"
             " }\n}\n")
    return o.scenario("time-based-block", target, env=env, checklist=("N4",),
                      layer="transport", expect="history.fails-at-certain-times",
                      info={"state": state})


# --- N3: the public address, from a STUN server the user names ------------------------------

STUN_PY = Path(__file__).resolve().parent / "stun_server.py"
STUN_IP = "203.0.113.50"
STUN_PORT = 3478
# What sits between the home router and the internet: its WAN address and the upstream side.
UPSTREAMS = {
    "cgnat": ("100.64.0.2/24", "100.64.0.1/24"),    # the ISP's carrier-grade NAT
    "double": ("192.168.1.2/24", "192.168.1.1/24"),  # the ISP's modem-router, NAT too
}


def behind_nat(lab: Lab, upstream: str | None) -> Scenario:
    """client ─ lan ─ home router (NAT) [─ upstream router (NAT)] ─ STUN server 203.0.113.50.

    ``upstream`` None: the home router's WAN is on the public segment itself (one NAT, the
    healthy control); "cgnat": the ISP hands it 100.64.0.2 and translates again; "double":
    an ISP modem-router with a private LAN in front of it.
    """
    client, home, stun = lab.host("client"), lab.router("gw"), lab.host("stun")
    lan = lab.switch("lan")
    lan.plug(client, f"{CLIENT_IP}/24")
    lan.plug(home, f"{GW_IP}/24")
    client.default_route(GW_IP)
    client.write_resolv_conf([GW_IP])  # as a home router's DHCP says; no name is looked up
    internet = lab.switch("internet")
    internet.plug(stun, f"{STUN_IP}/24")
    nodes = {"home": home, "stun": stun}
    if upstream is None:
        wan = internet.plug(home, "203.0.113.2/24")
    else:
        isp = lab.router("isp")
        home_wan, isp_inside = UPSTREAMS[upstream]
        wan, _ = lab.link(home, isp, home_wan, isp_inside)
        home.default_route(isp_inside.split("/")[0])
        isp_out = internet.plug(isp, "203.0.113.1/24")
        lab.masquerade(isp, isp_out)
        nodes["isp"] = isp
    lab.masquerade(home, wan)
    server = stun.spawn("stun", [lab.python, str(STUN_PY), "--host", STUN_IP, "--port",
                                 str(STUN_PORT)], ip=STUN_IP, port=STUN_PORT)
    args = ("--stun", f"{STUN_IP}:{STUN_PORT}")
    name = f"nat-{upstream or 'single'}"
    if upstream is None:
        return Scenario(name, client, None, args=args, nodes=nodes, servers={"stun": server})
    expect = {"cgnat": "nat.carrier-grade", "double": "nat.double"}[upstream]
    return Scenario(name, client, None, args=args, checklist=("N3",), expect=expect,
                    nodes=nodes, servers={"stun": server})


# --- X2: the route's interface has no carrier ---------------------------------------------------

BRANCH_CLIENT, BRANCH_SERVER = "10.40.0.10", "10.40.0.20"


def route_interface_down(lab: Lab) -> Scenario:
    """The client has a second NIC cabled straight to a branch server (10.40.0.0/24); the
    far end of that cable goes down (unplugged), so the NIC loses carrier while its connected
    route stays and is still chosen."""
    o = office(lab)
    branch = lab.host("branch")
    client_if, branch_if = lab.link(o.client, branch, f"{BRANCH_CLIENT}/24", f"{BRANCH_SERVER}/24")
    branch.http_server(BRANCH_SERVER, 80)
    branch.ip("link", "set", branch_if, "down")
    return o.scenario("route-interface-down", f"http://{BRANCH_SERVER}/", checklist=("X2",),
                      layer="link", expect="link.route-interface-down", nodes={"branch": branch},
                      info={"client_if": client_if, "branch_if": branch_if})


# --- X3: forwarding off on a container host -----------------------------------------------------

def container_host_without_forwarding(lab: Lab) -> Scenario:
    """healthy.docker_host's Docker host, with net.ipv4.ip_forward = 0: the host reaches the
    world, its container reaches only the host."""
    o = office(lab)
    host = o.client
    _bridge(host, "docker0", "172.17.0.1/16")
    ctr = _container(lab, host, "docker0", "ctr", "172.17.0.2/16", "172.17.0.1", "veth1a2b3c4")
    host.exec("iptables-restore", input=DOCKER_RULES)
    host.sysctl("net.ipv4.ip_forward", 0)
    web = o.server.http_server(o.records[APP], 80)
    return o.scenario("container-host-no-forwarding", f"http://{APP}/", checklist=("X3",),
                      expect="routing.forwarding-off-for-guests", nodes={"ctr": ctr},
                      servers={"web": web})


# --- X4: a container network over a remote subnet ----------------------------------------------

REMOTE_SERVER = "10.30.5.20"


def bridge_shadows_remote(lab: Lab) -> Scenario:
    """A compose project's bridge br-5f2c1a took 10.30.0.0/16 on the client (one container on
    it), while the office reaches a remote site 10.30.5.0/24 through the gateway."""
    o = office(lab)
    remote = lab.host("remote")
    _, gw_if = lab.link(remote, o.gw, f"{REMOTE_SERVER}/24", "10.30.5.1/24")
    remote.default_route("10.30.5.1")
    remote.http_server(REMOTE_SERVER, 80)
    _bridge(o.client, "br-5f2c1a", "10.30.0.1/16")
    ctr = _container(lab, o.client, "br-5f2c1a", "ctr", "10.30.0.2/16", "10.30.0.1", "veth5f2c1a")
    return o.scenario("bridge-shadows-remote", f"http://{REMOTE_SERVER}/", checklist=("X4",),
                      layer="link", expect="routing.virtual-bridge-shadows-target",
                      nodes={"remote": remote, "ctr": ctr})


#: Registered in ``registry.py``: name -> builder(lab).
FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "gateway-silent-at-arp": gateway_silent_at_arp,
    "own-address-taken": own_address_taken,
    "cdn-port-not-proxied": lambda lab: cdn_edge(lab, ORIGIN_PORT),
    "time-based-block": lambda lab: time_based_block(lab, scheduled=True),
    "nat-cgnat": lambda lab: behind_nat(lab, "cgnat"),
    "nat-double": lambda lab: behind_nat(lab, "double"),
    "route-interface-down": route_interface_down,
    "container-host-no-forwarding": container_host_without_forwarding,
    "bridge-shadows-remote": bridge_shadows_remote,
}
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "healthy-path": healthy_path,
    "cdn-proxied-port": lambda lab: cdn_edge(lab, 8080),
    "no-time-pattern": lambda lab: time_based_block(lab, scheduled=False),
    "nat-single": lambda lab: behind_nat(lab, None),
}
