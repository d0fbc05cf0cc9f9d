"""Lab scenarios for the firewall file a user edits (F7): ``/etc/nftables.conf`` as written
against the rules the kernel runs.

The client of :func:`scenarios.office` gets its own ``/etc/nftables.conf``
(``/etc/netns/NS/nftables.conf``, which ``ip netns exec`` bind-mounts over the host's file, so
the namespace's ``nft -f /etc/nftables.conf`` and whynet's firewall-file collector both read
it) and loads it with ``nft -f`` inside the namespace, as ``nftables.service`` does at boot:

* ``nftables-conf-host-bits``: the input chain accepts SSH from ``10.20.0.5/24``, meant for one
  admin host; the kernel keeps ``10.20.0.0/24`` and lets the whole LAN in. A latent fault: the
  connection diagnosed works, the file line is the finding.
* ``nftables-conf-wider-prefix``: the input chain accepts SSH from ``10.20.0.0/16``, beside
  the client's ``10.20.0.0/24``: the office LAN meant, every ``10.20.x.y`` allowed. Latent.
* ``nftables-conf-not-reloaded``: the output chain loaded at boot drops TCP 9080 to the server;
  the user changed that line of the file to ``accept`` and never reloaded. The connection
  times out: the live drop is the cause, the file drift its supporting evidence.
* ``nftables-conf-clean`` (control): network-address prefixes, single hosts (v4 and v6), an
  address set, loaded and in sync: no warning.

``test_fwfilefaults.py`` proves each case from the kernel's side first (``nft list ruleset``
and plain sockets), then holds whynet to ``test_coverage_scenarios.verdict``.
"""

from __future__ import annotations

from collections.abc import Callable

from . import scenarios as S
from .netlab import Lab, Namespace
from .scenarios import Scenario

NFTABLES_CONF = "/etc/nftables.conf"
ADMIN_HOST = f"{S.LAN}.5"           # the one host the SSH rule was meant for
BEYOND_LAN = "10.20.99.20"          # in 10.20.0.0/16, not on the client's 10.20.0.0/24
PORT = 9080                         # not a TLS port: the probe stops at TCP
TARGET = f"{S.APP}:{PORT}"

# The usual hardened input chain (policy drop; loopback, replies and ICMP let in): what the
# scenarios' files open on top of it is what they are about.
HARDENED_INPUT = (
    "ct state established,related accept",
    "ct state invalid drop",
    "ip protocol icmp accept",
    "meta l4proto ipv6-icmp accept",
)


def nftables_conf(*, input_rules: tuple[str, ...] = (), output_rules: tuple[str, ...] = (),
                  input_policy: str = "drop", head: str = "", sets: str = "") -> str:
    """An ``/etc/nftables.conf`` in Debian's layout (the file the nftables package ships,
    then filled in): ``flush ruleset`` and one ``inet filter`` table with input, forward and
    output chains. A hardened input chain (policy drop) lets loopback in first."""
    def chain(name: str, policy: str, rules: tuple[str, ...]) -> str:
        body = "".join(f"\t\t{rule}\n" for rule in rules)
        return (f"\tchain {name} {{\n\t\ttype filter hook {name} priority filter; "
                f"policy {policy};\n{body}\t}}\n")
    hardened = ('iif "lo" accept', *HARDENED_INPUT) if input_policy == "drop" else ()
    return ("#!/usr/sbin/nft -f\n\nflush ruleset\n\n" + head + "table inet filter {\n" + sets
            + chain("input", input_policy, (*hardened, *input_rules))
            + chain("forward", "drop", ())
            + chain("output", "accept", output_rules) + "}\n")


# SSH from the admin workstation only, written with the LAN's prefix length.
HOST_BITS_CONF = nftables_conf(input_rules=(
    "# SSH from the admin workstation only",
    f"ip saddr {ADMIN_HOST}/24 tcp dport 22 accept",
))


def wide_conf(prefix: str) -> str:
    """SSH from the office LAN, its prefix written as ``prefix`` (``/16``: a /24 meant)."""
    return nftables_conf(input_rules=("# SSH from the office LAN",
                                      f"ip saddr {S.LAN}.0/{prefix} tcp dport 22 accept"))


def output_conf(verdict: str) -> str:
    """An egress-filtering client: the output chain's fourth rule says what happens to TCP
    9080 to the server (``drop`` as loaded at boot; ``accept`` once the user edited it)."""
    return nftables_conf(input_policy="accept", output_rules=(
        "ct state established,related accept",
        "tcp dport 22 accept",
        "ip daddr 192.0.2.0/24 drop",
        f"ip daddr {S.SERVER_IP} tcp dport {PORT} counter {verdict}",
        "udp dport 53 accept",
    ))


CLEAN_CONF = nftables_conf(
    head=f"define ADMINS = {{ {ADMIN_HOST}, {S.LAN}.6 }}\n\n",
    sets=f"\tset monitoring {{\n\t\ttype ipv4_addr\n\t\telements = {{ {S.FAR}.30, {S.FAR}.31 }}"
         "\n\t}\n",
    input_rules=(
        "ip saddr $ADMINS tcp dport 22 accept",
        f"ip saddr {S.LAN}.0/24 tcp dport {{ 80, 443 }} accept",
        "ip saddr @monitoring tcp dport 9100 accept",
        "ip6 saddr 2001:db8:20::/64 tcp dport 22 accept",
        "ip6 saddr 2001:db8:20::5 tcp dport 9100 accept",
    ),
    output_rules=(
        "ip daddr 192.0.2.0/24 drop",
        f"ip daddr {S.SERVER_IP}/32 tcp dport {PORT} accept",
        f"ip daddr {S.FAR}.0/24 accept",
    ))


def load_conf(ns: Namespace, text: str) -> None:
    """Write the namespace's ``/etc/nftables.conf`` and load it the way the boot service does
    (``nft -f /etc/nftables.conf`` inside the namespace, which sees that file)."""
    ns.write_etc("nftables.conf", text)
    ns.exec("nft", "-f", NFTABLES_CONF)


def host_bits(lab: Lab) -> Scenario:
    """``ip saddr 10.20.0.5/24 tcp dport 22 accept`` in the client's input chain: one host
    meant, the whole LAN allowed. The diagnosed web connection works."""
    o = S.office(lab)
    web = o.server.http_server(S.SERVER_IP, 80)
    load_conf(o.client, HOST_BITS_CONF)
    ssh = o.client.tcp_server(S.CLIENT_IP, 22, banner="SSH-2.0-lab")
    return o.scenario("nftables-conf-host-bits", f"http://{S.APP}/", checklist=("F7",),
                      layer=None, expect="firewall.cidr-host-bits-set",
                      servers={"web": web, "ssh": ssh})


def wider_prefix(lab: Lab) -> Scenario:
    """``ip saddr 10.20.0.0/16 tcp dport 22 accept`` on a client whose LAN is 10.20.0.0/24.
    The server also holds 10.20.99.20 (routed to it by the gateway), a machine outside the LAN
    that the /16 lets in. The diagnosed web connection works."""
    o = S.office(lab)
    web = o.server.http_server(S.SERVER_IP, 80)
    [server_if] = [a["ifname"] for a in o.server.ip_json("-4", "addr")
                   if any(i["local"] == S.SERVER_IP for i in a["addr_info"])]
    o.server.add_address(server_if, f"{BEYOND_LAN}/32")
    o.gw.add_route(f"{BEYOND_LAN}/32", dev=o.gw_far_if)
    load_conf(o.client, wide_conf("16"))
    ssh = o.client.tcp_server(S.CLIENT_IP, 22, banner="SSH-2.0-lab")
    return o.scenario("nftables-conf-wider-prefix", f"http://{S.APP}/", checklist=("F7",),
                      layer=None, expect="firewall.cidr-wider-than-subnet",
                      servers={"web": web, "ssh": ssh})


def not_reloaded(lab: Lab) -> Scenario:
    """The file allows TCP 9080 to the server, the rules loaded from its earlier version
    still drop it: the connection times out."""
    o = S.office(lab)
    web = o.server.http_server(S.SERVER_IP, PORT)
    load_conf(o.client, output_conf("drop"))
    o.client.write_etc("nftables.conf", output_conf("accept"))  # edited, not reloaded
    return o.scenario("nftables-conf-not-reloaded", TARGET, checklist=("F1",),
                      layer="transport", expect="firewall.connection-blocked-by-rule",
                      servers={"web": web})


def clean(lab: Lab) -> Scenario:
    """The control: prefixes written as network addresses, single hosts, a define and a set,
    loaded and in sync; the diagnosed connection is accepted by a /32 rule."""
    o = S.office(lab)
    web = o.server.http_server(S.SERVER_IP, PORT)
    load_conf(o.client, CLEAN_CONF)
    return o.scenario("nftables-conf-clean", TARGET, servers={"web": web})


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "nftables-conf-host-bits": host_bits,
    "nftables-conf-wider-prefix": wider_prefix,
    "nftables-conf-not-reloaded": not_reloaded,
}
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "nftables-conf-clean": clean,
}
