"""IP-level faults beyond the checklist (issue 13): one address family broken (X10).

Each builder starts from :func:`scenarios.office` (client 10.20.0.10 on a LAN with a resolver
and a gateway 10.20.0.1; the server 198.51.100.20 behind it), adds IPv6 or a path property, and
exactly one fault; ``test_ipfaults.py`` proves the fault with plain sockets in the client first,
then holds whynet to ``test_coverage_scenarios.verdict``. ``FAULTS`` and ``HEALTHY`` list the
builders for the lab's scenario count.
"""

from __future__ import annotations

from collections.abc import Callable

from .healthy import _wait_ipv6_ready, add_ipv6
from .netlab import Lab
from .scenarios import APP, SERVER_IP, Office, Scenario, office

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


#: Fault scenarios: name -> builder(lab).
FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "ipv6-dropped-at-gateway": lambda lab: family_broken(lab, 6),
    "ipv4-dropped-at-gateway": lambda lab: family_broken(lab, 4),
}

#: Healthy controls: name -> builder(lab).
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "dual-stack-v6-first": lambda lab: family_broken(lab, None),
}
