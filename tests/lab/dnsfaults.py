"""DNS faults beyond the checklist (issue 13): NXDOMAIN rewriting (X20), search domains and
ndots sending a name elsewhere (X21), a captive portal (X22), encrypted DNS (DNS over TLS, DNS
over HTTPS) blocked while plain DNS works and the reverse (X23). One builder per fault, each
with its healthy control.

They start from :func:`scenarios.office` (client, resolver 10.20.0.53 and gateway on a LAN,
the server behind the gateway) and add one fault each. ``test_dnsfaults.py`` proves each fault
with plain sockets or DNS queries first, then holds whynet to ``verdict()``.

``FAULTS`` and ``HEALTHY`` list every builder by scenario name (the lab's counter reads them).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .healthy import RESOLVED_HEADER, WEB_NAME, _internet_site
from .netlab import Lab, Namespace, Server
from .scenarios import (
    APP,
    DNS_IP,
    GW_IP,
    INTERNET,
    LAN,
    SERVER_IP,
    Office,
    Scenario,
    _trusted_tls,
    office,
)

DNS_SERVERS_PY = Path(__file__).resolve().parent / "dns_servers.py"


def dns_server(ns: Namespace, mode: str, ip: str, *args: str, port: int = 53) -> Server:
    """One of dns_servers.py's servers in ``ns`` (waited for by its READY line)."""
    return ns.spawn(f"dns-{mode}", [ns.lab.python, str(DNS_SERVERS_PY), mode, "--host", ip,
                                    "--port", str(port), *args], ip=ip, port=port)


# --- X20: NXDOMAIN rewriting ------------------------------------------------------------------

ISP_DNS_IP = f"{LAN}.54"
SEARCH_PAGE_IP = f"{INTERNET}.80"
MISSING = "wiki.corp.test"  # a name that exists in no zone


def _isp_resolver(lab: Lab, o: Office, *, rewrite: bool) -> tuple[Namespace, Server]:
    """The ISP's resolver (10.20.0.54), the client's only nameserver: it forwards to the
    zone's server (10.20.0.53, which answers NXDOMAIN for names it does not hold, .com
    included) and, with ``rewrite``, turns an NXDOMAIN for an A question into the address of
    its search page (203.0.113.80), as "search assist" resolvers do."""
    o.dns_server.stop()
    o.dns_server = o.dns.dnsmasq(DNS_IP, o.records, local_zones=("test", "com"))
    isp = lab.host("ispdns")
    o.lan.plug(isp, f"{ISP_DNS_IP}/24")
    isp.default_route(GW_IP)
    args = ["--upstream", DNS_IP, *(["--rewrite", SEARCH_PAGE_IP] if rewrite else [])]
    server = dns_server(isp, "forward", ISP_DNS_IP, *args)
    o.client.write_resolv_conf([ISP_DNS_IP])
    return isp, server


def nxdomain_rewritten(lab: Lab, target: str) -> Scenario:
    """The client's resolver rewrites NXDOMAIN; ``target`` says what the user asks for:

    - ``missing-name``: ``http://wiki.corp.test/``, a name no zone holds: the search page
      answers HTTP, so every layer works and the user reads an ad page;
    - ``missing-service``: ``wiki.corp.test:22`` (ssh): the search page has no SSH, refused;
    - ``existing-name``: ``http://app.corp.test/``, which exists and works: the rewriting
      is still worth a warning (the next typo will not fail).
    """
    o = office(lab)
    isp, resolver = _isp_resolver(lab, o, rewrite=True)
    site = _internet_site(lab, o)
    page = site.http_server(SEARCH_PAGE_IP, 80, body="Did you mean: wiki.com? (search results)")
    web = o.server.http_server(SERVER_IP, 80)
    nodes, servers = {"ispdns": isp, "site": site}, {"isp": resolver, "page": page, "web": web}
    info = {"page": SEARCH_PAGE_IP, "resolver": ISP_DNS_IP}
    if target == "existing-name":
        return o.scenario("nxdomain-rewrite-existing-name", f"http://{APP}/",
                          checklist=("X20",), expect="name.nxdomain-rewritten", nodes=nodes,
                          servers=servers, info=info)
    if target == "missing-service":
        return o.scenario("nxdomain-rewrite-missing-service", f"{MISSING}:22",
                          checklist=("X20",), layer="transport",
                          expect="name.target-resolves-to-nxdomain-rewrite", nodes=nodes,
                          servers=servers, info=info)
    return o.scenario("nxdomain-rewrite-missing-name", f"http://{MISSING}/",
                      checklist=("X20",), expect="name.target-resolves-to-nxdomain-rewrite",
                      nodes=nodes, servers=servers, info=info)


def honest_resolver(lab: Lab) -> Scenario:
    """The control: the same forwarding resolver, passing NXDOMAIN on."""
    o = office(lab)
    isp, resolver = _isp_resolver(lab, o, rewrite=False)
    web = o.server.http_server(SERVER_IP, 80)
    return o.scenario("nxdomain-honest-resolver", f"http://{APP}/", nodes={"ispdns": isp},
                      servers={"isp": resolver, "web": web}, info={"resolver": ISP_DNS_IP})


# --- X21: search domains and ndots -------------------------------------------------------------

CATCH_ALL_IP = f"{LAN}.99"


def search_ndots(lab: Lab, *, wildcard: bool) -> Scenario:
    """A Kubernetes-style resolver set-up (``search corp.test``, ``options ndots:5``) and a
    public-looking name, www.example.com, that the office resolver also answers.

    With ``wildcard``, corp.test has a wildcard record (``*.corp.test`` -> 10.20.0.99, an
    intranet landing host with no web server): glibc tries ``www.example.com.corp.test``
    first (two dots < 5), the wildcard answers, and the client goes there. Without it (the
    control), the expansion is NXDOMAIN and glibc falls back to the name as typed.
    """
    o = office(lab)
    o.dns_server.stop()
    o.records[WEB_NAME] = SERVER_IP
    extra = (f"--address=/corp.test/{CATCH_ALL_IP}",) if wildcard else ()
    o.dns_server = o.dns.dnsmasq(DNS_IP, o.records, local_zones=("test", "example.com"),
                                 extra=extra)
    o.client.write_resolv_conf([DNS_IP], search=["corp.test"], options=["ndots:5"])
    landing = lab.host("landing")
    o.lan.plug(landing, f"{CATCH_ALL_IP}/24")
    web = o.server.http_server(SERVER_IP, 80)
    target = f"http://{WEB_NAME}/"
    common = {"nodes": {"landing": landing}, "servers": {"web": web, "dns": o.dns_server}}
    if not wildcard:
        return o.scenario("search-ndots-no-wildcard", target, **common)
    return o.scenario("search-wildcard-catches-name", target, checklist=("X21",),
                      layer="transport", expect="name.search-domain-redirects-name",
                      info={"catch_all": CATCH_ALL_IP}, **common)


# --- X22: a captive portal --------------------------------------------------------------------

DETECT_NAME = "detect.portal.test"
DETECT_URL = f"http://{DETECT_NAME}/success.txt"
PORTAL_PORT = 8080
LOGIN_PAGE = ("<html><head><title>Guest Wi-Fi: please log in</title></head><body>"
              "<form method=post action=/login><input name=room><input type=password "
              "name=code><button>Connect</button></form></body></html>")


def captive_portal(lab: Lab, style: str | None) -> Scenario:
    """A guest network whose gateway holds the client back until it logs in: port 80 is
    redirected (DNAT) to the portal's web server on the gateway, everything else the client
    sends beyond the LAN is dropped (DNS, on the LAN, still works). The user names the
    known-answer URL http://detect.portal.test/success.txt, served (body "success") on the
    "internet" segment.

    ``style``: "redirect" (302 to the login page, most portals), "login-page" (the page
    itself, 200), or None: the control, no portal, the known answer comes back.
    """
    o = office(lab, records={DETECT_NAME: SEARCH_PAGE_IP})
    site = _internet_site(lab, o)
    detect = site.http_server(SEARCH_PAGE_IP, 80, body="success")
    web, env = _trusted_tls(lab, o.server, SERVER_IP)
    servers = {"detect": detect, "web": web}
    if style == "redirect":
        servers["portal"] = o.gw.serve("redirect", GW_IP, PORTAL_PORT, "--location",
                                       f"http://{GW_IP}:{PORTAL_PORT}/login?continue=1")
    elif style == "login-page":
        servers["portal"] = o.gw.http_server(GW_IP, PORTAL_PORT, body=LOGIN_PAGE)
    if style is not None:
        o.gw.nft(
            "table ip portal {\n"
            " chain prerouting {\n  type nat hook prerouting priority dstnat; policy accept;\n"
            f'  iifname "{o.gw_lan_if}" tcp dport 80 dnat to {GW_IP}:{PORTAL_PORT}\n }}\n'
            " chain forward {\n  type filter hook forward priority 0; policy accept;\n"
            f'  iifname "{o.gw_lan_if}" drop\n }}\n'
            "}\n")
    args = ("--portal-check", DETECT_URL, "--portal-expect", "success")
    common = {"env": env, "args": args, "nodes": {"site": site}, "servers": servers,
              "info": {"portal": f"{GW_IP}:{PORTAL_PORT}"}}
    if style is None:
        return o.scenario("no-captive-portal", f"https://{APP}/", **common)
    return o.scenario(f"captive-portal-{style}", f"https://{APP}/", checklist=("X22",),
                      layer="transport", expect="portal.holds-target", **common)


# --- X23: DNS over TLS blocked while plain DNS works, and the reverse ---------------------------

PUBLIC_DNS_IP = f"{INTERNET}.53"
DOT_NAME = "dns.lab.test"
STUB_IP = "127.0.0.53"
BLOCKS = {
    "dot": "tcp dport 853 drop",
    "plain": "meta l4proto { tcp, udp } th dport 53 drop",
}


def _public_resolver(lab: Lab, o: Office) -> tuple[Namespace, Server]:
    """A public resolver (203.0.113.53, plain DNS on 53) on the "internet" segment."""
    internet = lab.switch("internet")
    internet.plug(o.gw, f"{INTERNET}.1/24")
    public = lab.host("pubdns")
    internet.plug(public, f"{PUBLIC_DNS_IP}/24")
    public.default_route(f"{INTERNET}.1")
    return public, public.dnsmasq(PUBLIC_DNS_IP, o.records)


def _block(o: Office, rule: str) -> None:
    o.gw.nft("table inet dnsfilter {\n chain forward {\n"
             f"  type filter hook forward priority 0; policy accept;\n  {rule}\n }}\n}}\n")


def dns_over_tls(lab: Lab, blocked: str | None) -> Scenario:
    """The client's systemd-resolved-style set-up with ``DNSOverTLS=yes``: /etc/resolv.conf
    names the stub 127.0.0.53, which forwards every query over TLS to the public resolver
    203.0.113.53 (port 853, a TLS front to its plain server on 53), as resolved in strict mode
    does; /etc/systemd/resolved.conf says so (``DNS=203.0.113.53#dns.lab.test``).

    ``blocked``: "dot", the gateway drops TCP 853 (names fail; plain DNS would work);
    "plain", it drops port 53 (the stub still works; plain DNS to the server does not); None:
    the control, both get through.
    """
    o = office(lab)
    public, plain = _public_resolver(lab, o)
    cert = lab.ca("Lab DNS CA").issue([DOT_NAME])
    dot = dns_server(public, "dot", PUBLIC_DNS_IP, "--upstream", f"{PUBLIC_DNS_IP}:53",
                     "--cert", str(cert.cert_path), "--key", str(cert.key_path), port=853)
    stub = dns_server(o.client, "tls-stub", STUB_IP, "--upstream", f"{PUBLIC_DNS_IP}:853")
    o.client.write_etc("resolv.conf", RESOLVED_HEADER + f"nameserver {STUB_IP}\n"
                       "options edns0 trust-ad\n")
    o.client.write_etc("systemd/resolved.conf",
                       f"[Resolve]\nDNS={PUBLIC_DNS_IP}#{DOT_NAME}\nDNSOverTLS=yes\n")
    web = o.server.http_server(SERVER_IP, 80)
    if blocked is not None:
        _block(o, BLOCKS[blocked])
    common = {"nodes": {"pubdns": public},
              "servers": {"plain": plain, "dot": dot, "stub": stub, "web": web}}
    target = f"http://{APP}/"
    if blocked == "dot":
        return o.scenario("dot-blocked-plain-works", target, checklist=("X23",), layer="name",
                          expect="name.dot-blocked-breaks-resolution", **common)
    if blocked == "plain":
        return o.scenario("plain-dns-blocked-dot-works", target, checklist=("X23",),
                          expect="name.plain-dns-blocked-encrypted-works", **common)
    return o.scenario("dot-and-plain-dns-work", target, **common)


DOH_URL = f"https://{PUBLIC_DNS_IP}/dns-query"


def dns_over_https(lab: Lab, blocked: str | None) -> Scenario:
    """The client uses the public resolver 203.0.113.53 directly (resolv.conf), and the user
    names its DNS-over-HTTPS endpoint (``--doh https://203.0.113.53/dns-query``, what the
    browser is set to use), served by a DoH front to the same server.

    ``blocked``: "doh", the gateway drops HTTPS to the resolver (networks block known DoH
    endpoints): the system resolves, a strict-DoH browser does not; "plain", it drops port 53:
    names fail, DoH would work; None: the control.
    """
    o = office(lab)
    public, plain = _public_resolver(lab, o)
    cert = lab.ca("Lab DNS CA").issue([DOT_NAME])
    doh = dns_server(public, "doh", PUBLIC_DNS_IP, "--upstream", f"{PUBLIC_DNS_IP}:53",
                     "--cert", str(cert.cert_path), "--key", str(cert.key_path), port=443)
    o.client.write_resolv_conf([PUBLIC_DNS_IP])
    web = o.server.http_server(SERVER_IP, 80)
    if blocked == "doh":
        _block(o, f"ip daddr {PUBLIC_DNS_IP} tcp dport 443 drop")
    elif blocked == "plain":
        _block(o, BLOCKS["plain"])
    common = {"args": ("--doh", DOH_URL), "nodes": {"pubdns": public},
              "servers": {"plain": plain, "doh": doh, "web": web}}
    target = f"http://{APP}/"
    if blocked == "doh":
        return o.scenario("doh-blocked-plain-works", target, checklist=("X23",),
                          expect="name.encrypted-dns-blocked-plain-works", **common)
    if blocked == "plain":
        return o.scenario("plain-dns-blocked-doh-works", target, checklist=("X23",),
                          layer="name", expect="name.plain-dns-blocked-names-fail", **common)
    return o.scenario("doh-and-plain-dns-work", target, **common)


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "nxdomain-rewrite-missing-name": lambda lab: nxdomain_rewritten(lab, "missing-name"),
    "nxdomain-rewrite-missing-service": lambda lab: nxdomain_rewritten(lab, "missing-service"),
    "nxdomain-rewrite-existing-name": lambda lab: nxdomain_rewritten(lab, "existing-name"),
    "search-wildcard-catches-name": lambda lab: search_ndots(lab, wildcard=True),
    "captive-portal-redirect": lambda lab: captive_portal(lab, "redirect"),
    "captive-portal-login-page": lambda lab: captive_portal(lab, "login-page"),
    "dot-blocked-plain-works": lambda lab: dns_over_tls(lab, "dot"),
    "plain-dns-blocked-dot-works": lambda lab: dns_over_tls(lab, "plain"),
    "doh-blocked-plain-works": lambda lab: dns_over_https(lab, "doh"),
    "plain-dns-blocked-doh-works": lambda lab: dns_over_https(lab, "plain"),
}
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "nxdomain-honest-resolver": honest_resolver,
    "search-ndots-no-wildcard": lambda lab: search_ndots(lab, wildcard=False),
    "no-captive-portal": lambda lab: captive_portal(lab, None),
    "dot-and-plain-dns-work": lambda lab: dns_over_tls(lab, None),
    "doh-and-plain-dns-work": lambda lab: dns_over_https(lab, None),
}
