"""Scenarios for naming the firewall rule that blocks a connection (issue 12): an nftables
output rule, an iptables rule in a user chain, and a control ruleset that accepts.

``test_firewall_path.py`` proves each with a plain socket and checks the rule whynet names.
"""

from __future__ import annotations

from collections.abc import Callable

from . import scenarios as S
from .netlab import Lab
from .scenarios import Scenario

EXPECT = "firewall.connection-blocked-by-rule"
PORT = 9080  # not a TLS port: the probe stops at TCP
TARGET = f"{S.APP}:{PORT}"


def nft_output_rule(lab: Lab) -> Scenario:
    """The client's nftables output chain drops TCP 9080 to the server, between rules that
    accept other traffic: the fourth rule of ``inet filter output`` is the culprit."""
    o = S.office(lab)
    web = o.server.http_server(S.SERVER_IP, PORT)
    o.client.nft(
        "table inet filter {\n"
        "  chain output {\n"
        "    type filter hook output priority filter; policy accept;\n"
        "    ct state established,related accept\n"
        "    tcp dport 22 accept\n"
        "    ip daddr 192.0.2.0/24 drop\n"
        f"    ip daddr {S.SERVER_IP} tcp dport {PORT} counter drop\n"
        "    udp dport 53 accept\n"
        "  }\n"
        "}\n"
    )
    return o.scenario("nft-output-rule-named", TARGET, servers={"web": web},
                      checklist=("F1",), layer="transport", rules=(EXPECT,),
                      expect="rule 4 of chain output in table inet filter drops TCP 9080")


def iptables_user_chain_reject(lab: Lab) -> Scenario:
    """iptables: OUTPUT jumps to a user chain EGRESS whose second rule rejects TCP 9080 with
    icmp-admin-prohibited (the client reads "No route to host")."""
    o = S.office(lab)
    web = o.server.http_server(S.SERVER_IP, PORT)
    c = o.client
    c.iptables("-N", "EGRESS")
    c.iptables("-A", "OUTPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
               "-j", "ACCEPT")
    c.iptables("-A", "OUTPUT", "-o", "eth+", "-j", "EGRESS")
    c.iptables("-A", "EGRESS", "-p", "udp", "--dport", "53", "-j", "RETURN")
    c.iptables("-A", "EGRESS", "-d", S.SERVER_IP, "-p", "tcp", "--dport", str(PORT),
               "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
    return o.scenario("iptables-user-chain-reject-named", TARGET, servers={"web": web},
                      checklist=("F1",), layer="transport", rules=(EXPECT,),
                      expect="rule 2 of chain EGRESS rejects TCP 9080 (icmp-admin-prohibited)")


def accepting_ruleset(lab: Lab) -> Scenario:
    """The control: an output chain with drops and a final drop, whose accept covers 9080."""
    o = S.office(lab)
    web = o.server.http_server(S.SERVER_IP, PORT)
    o.client.nft(
        "table inet filter {\n"
        "  chain output {\n"
        "    type filter hook output priority filter; policy accept;\n"
        "    ct state established,related accept\n"
        "    tcp dport 25 reject with tcp reset\n"
        "    ip daddr 192.0.2.0/24 drop\n"
        f"    tcp dport {{ 53, 80, {PORT} }} accept\n"
        "    udp dport 53 accept\n"
        "    counter drop\n"
        "  }\n"
        "}\n"
    )
    return o.scenario("ruleset-accepts", TARGET, servers={"web": web},
                      expect="the ruleset accepts TCP 9080: no warning")


#: Registered in ``registry.py``: name -> builder(lab).
FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "nft-output-rule-named": nft_output_rule,
    "iptables-user-chain-reject-named": iptables_user_chain_reject,
}
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "ruleset-accepts": accepting_ruleset,
}
