"""Lab scenarios for issue 13's proxy and kernel faults: ``socks5://`` against ``socks5h://``,
a PAC file that disagrees with the proxy variables, strict reverse-path filtering against
asymmetric routing, and a full connection-tracking table.

Each builder starts from :func:`scenarios.office` and adds exactly one fault (or its healthy
control). ``test_pkfaults.py`` proves each fault with plain sockets first, then holds whynet to
``test_coverage_scenarios.verdict``. ``FAULTS`` and ``HEALTHY`` list the builders by scenario
name, as the lab's scenario count wants them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .netlab import Lab, LabError, Namespace
from .scenarios import (
    APP,
    CLIENT_IP,
    DNS_IP,
    FAR,
    GW_IP,
    PROXY_IP,
    PROXY_PORT,
    SERVER_IP,
    Office,
    Scenario,
    _egress_only_from_proxy,
    _proxy_env,
    _proxy_host,
    office,
)

# --- P2: socks5:// against socks5h:// ----------------------------------------------------------

SOCKS_PORT = 1080
OLD_SERVER_IP = f"{FAR}.30"  # the server's old address: the host still answers, port 80 is shut


def socks_resolution(lab: Lab, case: str) -> Scenario:
    """One web server (198.51.100.20:80, also holding its old address .30 where nothing
    listens), reached through a SOCKS5 proxy on the LAN that resolves names with its own DNS
    server, while the client uses the office's DNS and its hosts file. The cases:

    * ``proxy-only-name`` (socks5://): ``intranet.corp.test`` is known only to the proxy's
      DNS; the client must resolve it itself, and cannot.
    * ``proxy-resolves`` (socks5h://): the same name, resolved by the proxy: the control.
    * ``split-dns`` (socks5://): ``portal.corp.test`` is the old address .30 in the client's
      DNS and the server's real one in the proxy's; the proxy is handed .30 and is refused.
    * ``client-only-name`` (socks5h://): ``build.corp.test`` is in the client's hosts file
      only; the proxy cannot resolve it.
    """
    name, scheme, client_dns, proxy_dns, client_hosts = {
        "proxy-only-name": ("intranet.corp.test", "socks5", {},
                            {"intranet.corp.test": SERVER_IP}, {}),
        "proxy-resolves": ("intranet.corp.test", "socks5h", {},
                           {"intranet.corp.test": SERVER_IP}, {}),
        "split-dns": ("portal.corp.test", "socks5", {"portal.corp.test": OLD_SERVER_IP},
                      {"portal.corp.test": SERVER_IP}, {}),
        "client-only-name": ("build.corp.test", "socks5h", {}, {},
                             {SERVER_IP: "build.corp.test"}),
    }[case]
    o = office(lab, records=client_dns)
    [server_if] = [a["ifname"] for a in o.server.ip_json("-4", "addr")
                   if any(i["local"] == SERVER_IP for i in a["addr_info"])]
    o.server.add_address(server_if, f"{OLD_SERVER_IP}/24")
    web = o.server.http_server(SERVER_IP, 80)
    proxy = lab.host("proxy")
    o.lan.plug(proxy, f"{PROXY_IP}/24")
    proxy.default_route(GW_IP)
    proxy_dns_server = proxy.dnsmasq(PROXY_IP, {"proxy.corp.test": PROXY_IP, **proxy_dns})
    proxy.write_resolv_conf([PROXY_IP])
    socks = proxy.socks5_proxy(PROXY_IP, SOCKS_PORT)
    if client_hosts:
        o.client.write_hosts(client_hosts)
    env = _proxy_env(f"{scheme}://{PROXY_IP}:{SOCKS_PORT}")
    target = f"http://{name}/"
    common = {"nodes": {"proxy": proxy}, "env": env,
              "servers": {"web": web, "socks": socks, "proxy-dns": proxy_dns_server},
              "info": {"name": name, "scheme": scheme}}
    expected = {
        "proxy-only-name": ("socks5-name-only-proxy-resolves", "name",
                            "proxy.socks5-name-not-resolvable-here"),
        "split-dns": ("socks5-split-dns-old-address", "proxy",
                      "proxy.socks5-local-address-unusable"),
        "client-only-name": ("socks5h-name-only-client-resolves", "proxy",
                             "proxy.socks5h-proxy-cannot-resolve"),
    }
    if case not in expected:
        return o.scenario("socks5h-proxy-resolves", target, **common)
    scenario, layer, rule = expected[case]
    return o.scenario(scenario, target, checklist=("P2",), layer=layer, expect=rule, **common)

# --- P2: a PAC file against the proxy variables ---------------------------------------------------

PAC_URL = f"http://{PROXY_IP}/wpad.dat"
# What corporate PAC files look like: the intranet direct, everything else through the proxy.
PAC_INTRANET_DIRECT = f"""\
function FindProxyForURL(url, host) {{
  if (isPlainHostName(host) || dnsDomainIs(host, ".corp.test") ||
      isInNet(host, "10.0.0.0", "255.0.0.0"))
    return "DIRECT";
  return "PROXY {PROXY_IP}:{PROXY_PORT}; DIRECT";
}}
"""
PAC_ALL_PROXIED = f"""\
function FindProxyForURL(url, host) {{
  if (shExpMatch(host, "localhost") || host == "127.0.0.1")
    return "DIRECT";
  return "PROXY {PROXY_IP}:{PROXY_PORT}";
}}
"""


def pac_office(lab: Lab, case: str) -> Scenario:
    """The office with a proxy host (10.20.0.3) that serves both the proxy (3128) and the PAC
    file (http://10.20.0.3/wpad.dat, as a WPAD server does). The cases:

    * ``variables-unset`` (PAC found in ``auto_proxy``): only the proxy may leave the LAN; the
      PAC file proxies everything and no proxy variable is set, so command-line tools go
      direct and time out.
    * ``intranet-through-proxy`` (``--pac``): the PAC file sends the intranet (.corp.test)
      direct and the variables send everything to the proxy, which the gateway does not let
      into the corporate network: it answers 502.
    * ``wpad`` (``--pac auto``): as ``variables-unset``, the PAC file found by WPAD over DNS
      (``wpad.corp.test``, the client's search domain, names the proxy host).
    * ``agree`` (``--pac``): only the proxy may leave, the PAC file and the variables both
      name it: the control.
    """
    o = office(lab, records={"wpad.corp.test": PROXY_IP})
    web = o.server.http_server(SERVER_IP, 80)
    proxy = _proxy_host(lab, o)
    squid = proxy.proxy(PROXY_IP, PROXY_PORT)
    script = PAC_INTRANET_DIRECT if case == "intranet-through-proxy" else PAC_ALL_PROXIED
    wpad = proxy.http_server(PROXY_IP, 80, body=script)
    proxy_url = f"http://{PROXY_IP}:{PROXY_PORT}"
    common = {"nodes": {"proxy": proxy}, "servers": {"web": web, "proxy": squid, "wpad": wpad},
              "info": {"pac": script}}
    target = f"http://{APP}/"
    if case == "variables-unset":
        _egress_only_from_proxy(o)
        return o.scenario("pac-proxies-variables-unset", target, env={"auto_proxy": PAC_URL},
                          checklist=("P2",), layer="transport",
                          expect="proxy.pac-proxy-but-variables-go-direct", **common)
    if case == "wpad":
        _egress_only_from_proxy(o)
        o.client.write_resolv_conf([DNS_IP], search=["corp.test"])
        return o.scenario("wpad-proxies-variables-unset", target, args=("--pac", "auto"),
                          checklist=("P2",), layer="transport",
                          expect="proxy.pac-proxy-but-variables-go-direct", **common)
    if case == "intranet-through-proxy":
        # The proxy serves the world only: the gateway rejects it towards the corporate net.
        o.gw.nft("table inet filter {\n chain forward {\n"
                 " type filter hook forward priority filter; policy accept;\n"
                 f" ip saddr {PROXY_IP} ip daddr {FAR}.0/24 reject with icmpx type "
                 "admin-prohibited\n }\n}\n")
        return o.scenario("pac-direct-variables-proxy", target, env=_proxy_env(proxy_url),
                          args=("--pac", PAC_URL), checklist=("P2",), layer="proxy",
                          expect="proxy.pac-direct-but-variables-proxy", **common)
    _egress_only_from_proxy(o)
    return o.scenario("pac-agrees-with-variables", target, env=_proxy_env(proxy_url),
                      args=("--pac", PAC_URL), **common)


# --- X40: strict reverse-path filtering and an asymmetric return path -------------------------

BENCH_CLIENT, BENCH_GW = "10.30.0.10", "10.30.0.1"
RETURN_LINK = ("10.31.0.2/30", "10.31.0.1/30")  # server side, second router side


def asymmetric_office(lab: Lab, rp_filter: int) -> tuple[Office, Namespace, dict[str, str]]:
    """The office, where the client has a second NIC (eth1, 10.30.0.0/24) on a segment with
    another router, gw2; the server's namespace sends everything for the office LAN back
    through gw2, which delivers it to the client on eth1. Requests leave on eth0 (the default
    route), replies come in on eth1. The client's rp_filter (all and eth1) is ``rp_filter``.
    Returns the office, gw2 and the interfaces (``client_if``, ``server_if``)."""
    o = office(lab)
    gw2 = lab.router("gw2")
    bench = lab.switch("bench")
    client_if = bench.plug(o.client, f"{BENCH_CLIENT}/24")
    gw2_bench_if = bench.plug(gw2, f"{BENCH_GW}/24")
    server_if, _ = lab.link(o.server, gw2, *RETURN_LINK)
    gw2_side = RETURN_LINK[1].split("/")[0]
    o.server.add_route(f"{CLIENT_IP.rsplit('.', 1)[0]}.0/24", via=gw2_side)
    gw2.add_route(f"{CLIENT_IP}/32", dev=gw2_bench_if)
    gw2.add_route(f"{FAR}.0/24", via=RETURN_LINK[0].split("/")[0])
    for key in ("net.ipv4.conf.all.rp_filter", f"net.ipv4.conf.{client_if}.rp_filter"):
        o.client.sysctl(key, rp_filter)
    return o, gw2, {"client_if": client_if, "server_if": server_if}


def asymmetric_return(lab: Lab, rp_filter: int) -> Scenario:
    """:func:`asymmetric_office` with a web server: ``rp_filter=1`` (strict, RFC 3704) drops
    every reply, since the route back to the server is eth0, not the interface the reply came
    in on. ``rp_filter=2`` (loose) accepts them: the control.
    """
    o, gw2, info = asymmetric_office(lab, rp_filter)
    o.server.http_server(o.records[APP], 80)
    if rp_filter != 1:
        return o.scenario("asymmetric-return-loose-rp-filter", f"http://{APP}/",
                          nodes={"gw2": gw2}, info=info)
    return o.scenario("strict-rp-filter-asymmetric", f"http://{APP}/", checklist=("X40",),
                      layer="transport", expect="routing.rp-filter-dropped-replies",
                      nodes={"gw2": gw2}, info=info)


# --- X41: the connection-tracking table is full ------------------------------------------------

CONNTRACK_FILL = Path(__file__).resolve().parent / "conntrack_fill.py"
CONNTRACK_MAX = "/proc/sys/net/netfilter/nf_conntrack_max"
BUSY_FLOWS = 20000  # the control: a busy table, far from full
# A host firewall of the usual shape: anything using `ct` turns connection tracking on.
HOST_FIREWALL = """\
table inet host {
  chain input {
    type filter hook input priority filter; policy accept;
    ct state established,related accept
    ct state invalid drop
  }
}
"""


def conntrack_table(lab: Lab, *, full: bool) -> Scenario:
    """The client tracks connections (a host firewall with ``ct state`` rules) and carries a lot
    of other traffic: long-lived two-way UDP flows (a VoIP or DNS-heavy gateway), sent by
    ``conntrack_fill.py`` out of a second link into a sink. ``full``: as many assured entries
    as nf_conntrack_max (the kernel's, read-only in a namespace, 262 144 here: the count is
    per namespace), so every new connection's first packet is dropped; else 20 000 (the
    control). The target is an address, so no name lookup (a new UDP flow too) is needed."""
    o = office(lab)
    o.server.http_server(SERVER_IP, 80)
    o.client.nft(HOST_FIREWALL)
    sink = lab.host("sink")
    client_if, _ = lab.link(o.client, sink, "10.55.0.1/30", "10.55.0.2/30")
    for net in ("10.66.0.0/16", "10.67.0.0/16"):
        o.client.add_route(net, via="10.55.0.2")
    limit = int(o.client.exec("cat", CONNTRACK_MAX).stdout)
    flows = limit if full else BUSY_FLOWS
    filled = o.client.exec(lab.python, str(CONNTRACK_FILL), "--count", str(flows),
                           timeout=120.0)
    if not filled.stdout.startswith("READY"):
        raise LabError(f"conntrack_fill.py: {filled.stdout} {filled.stderr}")
    target = f"http://{SERVER_IP}/"
    info = {"limit": limit, "flows": flows, "fill": filled.stdout.strip(),
            "client_if": client_if}
    if not full:
        return o.scenario("conntrack-busy-not-full", target, nodes={"sink": sink}, info=info)
    return o.scenario("conntrack-table-full", target, checklist=("X41",), layer="transport",
                      expect="firewall.conntrack-table-full", nodes={"sink": sink},
                      info=info)


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "pac-proxies-variables-unset": lambda lab: pac_office(lab, "variables-unset"),
    "pac-direct-variables-proxy": lambda lab: pac_office(lab, "intranet-through-proxy"),
    "wpad-proxies-variables-unset": lambda lab: pac_office(lab, "wpad"),
    "socks5-name-only-proxy-resolves": lambda lab: socks_resolution(lab, "proxy-only-name"),
    "socks5-split-dns-old-address": lambda lab: socks_resolution(lab, "split-dns"),
    "socks5h-name-only-client-resolves": lambda lab: socks_resolution(lab, "client-only-name"),
    "strict-rp-filter-asymmetric": lambda lab: asymmetric_return(lab, 1),
    "conntrack-table-full": lambda lab: conntrack_table(lab, full=True),
}
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "pac-agrees-with-variables": lambda lab: pac_office(lab, "agree"),
    "socks5h-proxy-resolves": lambda lab: socks_resolution(lab, "proxy-resolves"),
    "asymmetric-return-loose-rp-filter": lambda lab: asymmetric_return(lab, 2),
    "conntrack-busy-not-full": lambda lab: conntrack_table(lab, full=False),
}
