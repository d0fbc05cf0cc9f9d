"""Scenarios for the checklist items issue 13 adds (B3, C1 own address, P1 CDN, N3, N4) and
faults beyond the checklist (X items): one builder per fault, plus its healthy control.

They reuse :func:`scenarios.office` (client, resolver and gateway on a LAN, a server behind the
gateway) and add exactly one fault each. ``test_coverage_scenarios.py`` proves each fault with
plain sockets first, then asserts whynet's top-ranked finding.
"""

from __future__ import annotations

from .netlab import Lab
from .scenarios import APP, CLIENT_IP, GW_IP, Scenario, office


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
