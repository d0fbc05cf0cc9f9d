"""Lab scenarios for strict reverse-path filtering beyond TCP (X40): the replies the kernel
drops are a DNS server's answers, or the echo replies to a host probed without a port.

Each builder starts from :func:`pkfaults.asymmetric_office` (the office, with a second client
NIC on a segment whose router, gw2, carries every reply from the far network back to the
client), adds what the case needs, and sets the client's rp_filter: 1 (strict) is the fault,
2 (loose) the control on the very same asymmetric topology. ``test_rpffaults.py`` proves each
case with plain sockets first, then holds whynet to ``test_coverage_scenarios.verdict``.
"""

from __future__ import annotations

from collections.abc import Callable

from .netlab import Lab
from .pkfaults import asymmetric_office
from .scenarios import APP, FAR, SERVER_IP, Scenario

# A DNS server on the far network, in the server's namespace: its answers to the client come
# back through gw2 (the server's route to the office LAN), as every other reply does.
FAR_DNS_IP = f"{FAR}.53"


def asymmetric_dns(lab: Lab, rp_filter: int) -> Scenario:
    """The client's only nameserver is on the far network (198.51.100.53). Queries leave on
    eth0 through the office gateway; the answers come back through gw2 on eth1. Strict
    filtering drops every answer: the name does not resolve although the server answers.
    Loose filtering accepts them, and the web server behind the name answers too."""
    o, gw2, info = asymmetric_office(lab, rp_filter)
    [server_if] = [a["ifname"] for a in o.server.ip_json("-4", "addr")
                   if any(i["local"] == SERVER_IP for i in a["addr_info"])]
    o.server.add_address(server_if, f"{FAR_DNS_IP}/24")
    far_dns = o.server.dnsmasq(FAR_DNS_IP, {APP: SERVER_IP})
    web = o.server.http_server(SERVER_IP, 80)
    o.client.write_resolv_conf([FAR_DNS_IP])
    common = {"nodes": {"gw2": gw2}, "servers": {"far-dns": far_dns, "web": web},
              "info": {**info, "nameserver": FAR_DNS_IP}}
    if rp_filter != 1:
        return o.scenario("asymmetric-dns-loose-rp-filter", f"http://{APP}/", **common)
    return o.scenario("strict-rp-filter-dns-answers", f"http://{APP}/", checklist=("X40",),
                      layer="name", expect="routing.rp-filter-dropped-dns-replies", **common)


def asymmetric_ping(lab: Lab, rp_filter: int) -> Scenario:
    """The server probed as a bare address (no port: ping is the only probe). Its echo replies
    come back through gw2 on eth1; strict filtering drops them, loose accepts them."""
    o, gw2, info = asymmetric_office(lab, rp_filter)
    if rp_filter != 1:
        return o.scenario("asymmetric-ping-loose-rp-filter", SERVER_IP, nodes={"gw2": gw2},
                          info=info)
    return o.scenario("strict-rp-filter-echo-replies", SERVER_IP, checklist=("X40",),
                      layer=None, expect="routing.rp-filter-dropped-echo-replies",
                      nodes={"gw2": gw2}, info=info)


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "strict-rp-filter-dns-answers": lambda lab: asymmetric_dns(lab, 1),
    "strict-rp-filter-echo-replies": lambda lab: asymmetric_ping(lab, 1),
}
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "asymmetric-dns-loose-rp-filter": lambda lab: asymmetric_dns(lab, 2),
    "asymmetric-ping-loose-rp-filter": lambda lab: asymmetric_ping(lab, 2),
}
