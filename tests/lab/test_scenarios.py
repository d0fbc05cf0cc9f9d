"""Each scenario's fault, proved with plain sockets inside the client namespace.

These tests say nothing about whynet: they prove the lab builds the broken network it claims,
and they pin what Linux itself reports for each fault (errno, timing), which is what whynet's
probes will see. Where a scenario's cause is removable (a rule, a route), the test removes it
and shows the connection then works: the fault is the cause, not a side effect of the topology.
"""

from __future__ import annotations

import errno
import socket

import dns.exception
import pytest

from . import scenarios as S
from .netlab import Lab
from .registry import runs
from .scenarios import Scenario

pytestmark = pytest.mark.lab

DROP_WAIT = 1.0  # how long a test waits to call a silent drop a timeout


def first_failing_layer(report: dict, target: str | None) -> str | None:
    return next((row["layer"] for row in report.get("layers") or []
                 if row["target"] == target and row["status"] == "fail"), None)


def whynet_verdict(lab: Lab, sc: Scenario) -> dict:
    """Run whynet where the scenario says and judge it exactly.

    A healthy control gives no finding at warning or above (exit 0) and no failing layer. A
    fault gives exit 1, the scenario's rule ranked first, its first failing layer in the layer
    table, and no other error-level finding except those the scenario names with a reason
    (consequences of the fault fold under the top finding as its supporting evidence)."""
    run = lab.run_whynet(sc.client, *sc.diagnose_args(), env=sc.env, user=sc.user)
    assert run.report is not None, f"no JSON report (exit {run.exit_code}): {run.stderr}"
    findings = run.report["findings"]
    summary = [(f["rank"], f["rule"], f["severity"], [s["rule"] for s in f["supporting"]])
               for f in findings]
    layer = first_failing_layer(run.report, sc.target)
    if sc.healthy:
        assert run.exit_code == 0, summary
        assert not [f for f in findings if f["severity"] != "info"], summary
        assert layer is None, run.report["layers"]
        return run.report
    assert run.exit_code == 1, (run.stderr, summary)
    top = findings[0]
    assert top["rule"] in sc.rules, (sc.expect, summary)
    assert set(sc.checklist) & set(top["checklist"]), (sc.checklist, summary)
    assert layer == sc.layer, (sc.name, run.report["layers"])
    errors = {f["rule"] for f in findings[1:] if f["severity"] == "error"}
    assert errors <= set(sc.other_errors), (sc.expect, summary)
    return run.report


def read_line(ip: str, port: int) -> str:
    """First line a TCP server says (run inside a namespace with ``ns.call``)."""
    with socket.create_connection((ip, port), timeout=2) as sock:
        return sock.makefile().readline().strip()


def udp_send_errno(ip: str, port: int) -> int | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"x", (ip, port))
        return None
    except OSError as exc:
        return exc.errno
    finally:
        sock.close()


def http_status(lab: Lab, sc: Scenario, url: str) -> str:
    """Status of a GET by urllib inside the client, with the scenario's env (proxies, CA)."""
    out = sc.client.python(
        "import urllib.request\n"
        f"print(urllib.request.urlopen({url!r}, timeout=3).status)",
        env=sc.env,
    )
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


# --- healthy controls ---------------------------------------------------------------------------

@runs("healthy-http")
def test_healthy_http(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(S.APP) == [S.SERVER_IP]
    assert http_status(lab, sc, sc.target or "") == "200"
    report = whynet_verdict(lab, sc)
    # B3: the report draws the path, with the port really tried and the resolver asked.
    assert [p["path"] for p in report["paths"]] == [
        f"{S.CLIENT_IP} (eth0) → gateway {S.GW_IP} → {S.SERVER_IP} port 80 (http default) "
        f"[name via {S.DNS_IP}; direct]"]


@runs("healthy-https")
def test_healthy_https(lab: Lab, sc: Scenario) -> None:
    got = sc.client.tls(S.SERVER_IP, 443, S.APP, cafile=sc.env["SSL_CERT_FILE"])
    assert got.ok and got.issuer_cn == "Corp Root CA"
    assert http_status(lab, sc, sc.target or "") == "200"
    whynet_verdict(lab, sc)


# --- firewalls ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("sc", "outcome", "err"),
    [
        (f"firewall-{verdict}-at-{where}", outcome, err)
        for verdict, outcome, err in [
            ("drop", "timeout", None),
            ("tcp-reset", "refused", errno.ECONNREFUSED),
            ("icmp-port-unreachable", "refused", errno.ECONNREFUSED),
            ("icmpx-admin-prohibited", "unreachable", errno.EHOSTUNREACH),
        ]
        for where in ("server", "gw")
    ],
    indirect=["sc"],
)
def test_firewall_verdict(lab: Lab, sc: Scenario, outcome: str, err: int | None) -> None:
    got = sc.client.connect(S.SERVER_IP, 8080, timeout=DROP_WAIT)
    assert (got.outcome, got.errno) == (outcome, err), got
    if outcome != "timeout":
        assert got.elapsed < 0.5  # a reject answers at once
    whynet_verdict(lab, sc)  # before the repair below
    sc.info["firewall"].exec("nft", "flush", "ruleset")
    assert sc.client.connect(S.SERVER_IP, 8080).outcome == "open"


@runs("outbound-blocked")
def test_outbound_blocked(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(S.APP) == [S.SERVER_IP]  # DNS is let through
    got = sc.client.connect(S.SERVER_IP, 80, timeout=DROP_WAIT)
    assert got.outcome == "timeout", got  # TCP: the SYN is dropped locally and retried
    assert sc.client.call(udp_send_errno, S.SERVER_IP, 9) == errno.EPERM  # UDP: at once
    assert not sc.client.ping(S.SERVER_IP, timeout=0.5)
    whynet_verdict(lab, sc)  # before the repair below
    sc.client.exec("nft", "flush", "ruleset")
    assert sc.client.connect(S.SERVER_IP, 80).outcome == "open"


@runs("udp-only-rule-client")
def test_udp_only_rule(lab: Lab, sc: Scenario) -> None:
    assert sc.client.udp(S.SERVER_IP, 8080, b"hello") == b"hello"
    assert sc.client.connect(S.SERVER_IP, 8080, timeout=DROP_WAIT).outcome == "timeout"
    assert sc.client.ping(S.SERVER_IP)
    whynet_verdict(lab, sc)


@runs("udp-only-rule-server")
def test_udp_only_rule_seen_from_the_server(lab: Lab, sc: Scenario) -> None:
    from .netlab import bind_port

    assert sc.client is sc.nodes["server"] and sc.args == ("--listen", "8080")
    assert sc.client.call(bind_port, S.SERVER_IP, 8080) is None  # free: only the firewall blocks
    # No service yet, and still no RST: the firewall drops TCP 8080 before any socket could.
    assert sc.nodes["client"].connect(S.SERVER_IP, 8080, timeout=DROP_WAIT).outcome == "timeout"
    whynet_verdict(lab, sc)  # before the service starts, as the user asks it
    sc.client.http_server(S.SERVER_IP, 8080)
    sc.client.exec("nft", "add", "rule", "inet", "filter", "input", "tcp", "dport", "8080",
                   "accept")  # the repair: the rule for the right protocol
    assert sc.nodes["client"].connect(S.SERVER_IP, 8080).outcome == "open"


@runs("silent-middlebox")
def test_silent_middlebox(lab: Lab, sc: Scenario) -> None:
    assert sc.client.ping(S.SERVER_IP)  # ICMP passes...
    assert sc.client.connect(S.SERVER_IP, 443, timeout=DROP_WAIT).outcome == "timeout"  # TCP not
    assert sc.nodes["gw"].connect(S.SERVER_IP, 443).outcome == "open"  # the service is up
    whynet_verdict(lab, sc)


@runs("snat-allow-list-client")
def test_snat_allow_list(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(S.SERVER_IP, 8080, timeout=DROP_WAIT).outcome == "timeout"
    seen = sc.client.call(read_line, S.SERVER_IP, 9000).split()[0]
    assert seen == sc.info["seen_as"] != S.CLIENT_IP
    whynet_verdict(lab, sc)


@runs("snat-allow-list-server")
def test_snat_allow_list_seen_from_the_server(lab: Lab, sc: Scenario) -> None:
    assert sc.client is sc.nodes["server"] and sc.target is None
    assert f"ip saddr {S.CLIENT_IP}" in sc.client.exec("nft", "list", "ruleset").stdout
    whynet_verdict(lab, sc)


# --- routing ------------------------------------------------------------------------------------

def route_get(sc: Scenario, ip: str) -> dict:
    return sc.client.ip_json("route", "get", ip)[0]


@runs("two-default-gateways")
def test_two_default_gateways(lab: Lab, sc: Scenario) -> None:
    defaults = [r for r in sc.client.ip_json("route") if r["dst"] == "default"]
    assert len(defaults) == 2
    assert route_get(sc, S.SERVER_IP)["gateway"] == f"{S.BENCH}.1"
    got = sc.client.connect(S.SERVER_IP, 80)
    assert (got.outcome, got.errno) == ("unreachable", errno.ENETUNREACH), got
    whynet_verdict(lab, sc)  # before the repair below
    sc.client.ip("route", "del", "default", "via", f"{S.BENCH}.1")
    assert sc.client.connect(S.SERVER_IP, 80).outcome == "open"


@runs("overlapping-subnets")
def test_overlapping_subnets(lab: Lab, sc: Scenario) -> None:
    assert route_get(sc, S.LAN_SERVER_IP)["dev"] == sc.info["wrong_if"]
    # ARP on the empty segment gives up after ~3 s (EHOSTUNREACH); before that it is a timeout.
    got = sc.client.connect(S.LAN_SERVER_IP, 80, timeout=DROP_WAIT)
    assert got.outcome in ("timeout", "unreachable"), got
    whynet_verdict(lab, sc)  # before the repair below
    sc.client.ip("link", "set", sc.info["wrong_if"], "down")
    assert sc.client.connect(S.LAN_SERVER_IP, 80).outcome == "open"


@runs("policy-routing")
def test_policy_routing(lab: Lab, sc: Scenario) -> None:
    assert route_get(sc, S.SERVER_IP)["gateway"] == f"{S.BENCH}.1"
    assert [r for r in sc.client.ip_json("route", "show", "table", "main")
            if r["dst"] == "default"][0]["gateway"] == S.GW_IP
    got = sc.client.connect(S.SERVER_IP, 80)
    assert (got.outcome, got.errno) == ("unreachable", errno.ENETUNREACH), got
    whynet_verdict(lab, sc)  # before the repair below
    sc.client.ip("rule", "del", "priority", "1000")
    assert sc.client.connect(S.SERVER_IP, 80).outcome == "open"


@runs("no-route")
def test_no_route(lab: Lab, sc: Scenario) -> None:
    got = sc.client.connect(S.SERVER_IP, 80)
    assert (got.outcome, got.errno) == ("unreachable", errno.ENETUNREACH), got
    assert got.elapsed < 0.5  # decided locally, no packet sent
    whynet_verdict(lab, sc)  # before the repair below
    sc.client.default_route(S.GW_IP)
    assert sc.client.connect(S.SERVER_IP, 80).outcome == "open"


# --- names --------------------------------------------------------------------------------------

@runs("hosts-override")
def test_hosts_override(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(S.APP) == [sc.info["hosts_ip"]]  # what applications get
    assert sc.client.dns(S.DNS_IP, S.APP) == [sc.info["dns_ip"]]  # what DNS says
    assert sc.client.connect(sc.info["hosts_ip"], 80).outcome == "refused"
    assert sc.client.connect(sc.info["dns_ip"], 80).outcome == "open"
    whynet_verdict(lab, sc)


def dns_over_connected_udp(server: str, name: str) -> int | None:
    """One A query on a *connected* UDP socket, as glibc sends it: only a connected socket
    hears the ICMP port-unreachable, so only it can tell "no DNS here" from "dropped"."""
    import dns.message

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(DROP_WAIT)
    try:
        sock.connect((server, 53))
        sock.send(dns.message.make_query(name, "A").to_wire())
        sock.recv(4096)
        return None
    except TimeoutError:
        return errno.ETIMEDOUT
    except OSError as exc:
        return exc.errno
    finally:
        sock.close()


@runs("dns-dead-closed")
def test_dns_dead_closed(lab: Lab, sc: Scenario) -> None:
    assert sc.client.call(dns_over_connected_udp, sc.info["nameserver"], S.APP) == \
        errno.ECONNREFUSED
    # dnspython's resolver uses unconnected sockets: it never hears the ICMP, only a timeout.
    with pytest.raises(dns.exception.Timeout):
        sc.client.dns(sc.info["nameserver"], S.APP, timeout=0.3)
    with pytest.raises(socket.gaierror):
        sc.client.getaddrinfo(S.APP)  # glibc: fails fast
    assert sc.client.dns(S.DNS_IP, S.APP) == [S.SERVER_IP]  # a working resolver exists
    assert sc.client.connect(S.SERVER_IP, 80).outcome == "open"
    whynet_verdict(lab, sc)


@runs("dns-dead-dropped")
def test_dns_dead_dropped(lab: Lab, sc: Scenario) -> None:
    assert sc.client.call(dns_over_connected_udp, sc.info["nameserver"], S.APP) == \
        errno.ETIMEDOUT
    assert sc.client.ping(sc.info["nameserver"])  # the host is up, its DNS is not
    assert sc.client.connect(S.SERVER_IP, 80).outcome == "open"
    whynet_verdict(lab, sc)


@runs("split-dns")
def test_split_dns(lab: Lab, sc: Scenario) -> None:
    public, internal = sc.info["public"], sc.info["internal"]
    assert sc.client.dns(f"{S.INTERNET}.53", S.APP) == [public]
    assert sc.client.dns(S.DNS_IP, S.APP) == [internal]
    assert sc.client.getaddrinfo(S.APP) == [public]  # the first nameserver wins
    got = sc.client.connect(public, 8443)
    assert (got.outcome, got.errno) == ("refused", errno.ECONNREFUSED)
    assert sc.client.connect(internal, 8443).outcome == "open"
    whynet_verdict(lab, sc)


# --- proxies ------------------------------------------------------------------------------------

@runs("dead-proxy")
def test_dead_proxy(lab: Lab, sc: Scenario) -> None:
    got = sc.client.connect(S.PROXY_IP, S.PROXY_PORT)
    assert (got.outcome, got.errno) == ("refused", errno.ECONNREFUSED)
    assert sc.client.tls(S.SERVER_IP, 443, S.APP, cafile=sc.env["SSL_CERT_FILE"]).ok  # direct ok
    assert "Connection refused" in http_status(lab, sc, sc.target or "")
    whynet_verdict(lab, sc)


@runs("proxy-port-policy")
def test_proxy_port_policy(lab: Lab, sc: Scenario) -> None:
    assert sc.nodes["proxy"].connect(S.SERVER_IP, 8443).outcome == "open"  # firewall lets it by
    assert "403" in http_status(lab, sc, sc.target or "")  # the proxy's own rule refuses
    whynet_verdict(lab, sc)


@runs("no-proxy-bypass")
def test_no_proxy_bypass(lab: Lab, sc: Scenario) -> None:
    bypass = sc.client.python(
        "import urllib.request as u; print(u.proxy_bypass_environment('app.corp.test'))",
        env=sc.env,
    )
    assert bypass.stdout.strip() == "True", bypass.stderr
    assert sc.client.connect(S.SERVER_IP, 443, timeout=DROP_WAIT).outcome == "timeout"
    via = sc.client.tls(S.SERVER_IP, 443, S.APP, cafile=sc.env["SSL_CERT_FILE"],
                        proxy=(S.PROXY_IP, S.PROXY_PORT))
    assert via.ok, via
    whynet_verdict(lab, sc)


@runs("tls-intercept")
def test_tls_intercept(lab: Lab, sc: Scenario) -> None:
    ca = sc.env["SSL_CERT_FILE"]
    direct = sc.client.tls(S.SERVER_IP, 443, S.APP, cafile=ca)
    assert direct.ok and direct.issuer_cn == "Corp Root CA"
    via = sc.client.tls(S.SERVER_IP, 443, S.APP, cafile=ca, proxy=(S.PROXY_IP, S.PROXY_PORT))
    assert not via.ok and via.issuer_cn == sc.info["issuer"], via
    assert "unable to get local issuer" in via.error
    assert "CERTIFICATE_VERIFY_FAILED" in http_status(lab, sc, sc.target or "")
    whynet_verdict(lab, sc)


# --- tls ----------------------------------------------------------------------------------------

@runs("tls-self-signed")
def test_tls_self_signed(lab: Lab, sc: Scenario) -> None:
    got = sc.client.tls(S.SERVER_IP, 443, S.APP)
    assert not got.ok and got.error == "self-signed certificate", got
    assert got.issuer_cn == got.subject_cn == S.APP
    whynet_verdict(lab, sc)


@runs("tls-wrong-name")
def test_tls_wrong_name(lab: Lab, sc: Scenario) -> None:
    ca = sc.env["SSL_CERT_FILE"]
    got = sc.client.tls(S.SERVER_IP, 443, S.APP, cafile=ca)
    assert not got.ok and "Hostname mismatch" in got.error, got
    assert got.names == ("www.corp.test",)
    assert sc.client.tls(S.SERVER_IP, 443, "www.corp.test", cafile=ca).ok
    whynet_verdict(lab, sc)


@runs("tarpit")
def test_tarpit(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(S.SERVER_IP, 443).outcome == "open"
    with pytest.raises(TimeoutError):
        sc.client.tls(S.SERVER_IP, 443, S.APP, timeout=0.5)
    whynet_verdict(lab, sc)


# --- ports --------------------------------------------------------------------------------------

@runs("url-default-port")
def test_url_default_port(lab: Lab, sc: Scenario) -> None:
    got = sc.client.connect(S.SERVER_IP, 443)
    assert (got.outcome, got.errno) == ("refused", errno.ECONNREFUSED)
    assert sc.client.tls(S.SERVER_IP, sc.info["real_port"], S.APP,
                         cafile=sc.env["SSL_CERT_FILE"]).ok
    whynet_verdict(lab, sc)


@runs("port-in-use")
def test_port_in_use(lab: Lab, sc: Scenario) -> None:
    from .netlab import bind_port

    assert sc.client.call(bind_port, "0.0.0.0", 8080) == errno.EADDRINUSE
    assert sc.client.call(bind_port, "0.0.0.0", 8081) is None
    whynet_verdict(lab, sc)


@runs("privileged-port")
def test_privileged_port(lab: Lab, sc: Scenario) -> None:
    code = (
        "import socket\n"
        "for port in (80, 8080):\n"
        "    s = socket.socket()\n"
        "    try: s.bind(('0.0.0.0', port)); print(port, 'ok')\n"
        "    except OSError as e: print(port, e.errno)\n"
    )
    out = sc.client.python(code, user=sc.user)
    assert out.stdout.split() == ["80", str(errno.EACCES), "8080", "ok"], out.stderr
    assert sc.client.python(code).stdout.split() == ["80", "ok", "8080", "ok"]  # root may
    whynet_verdict(lab, sc)


# --- link layer ---------------------------------------------------------------------------------

@runs("duplicate-ip")
def test_duplicate_ip(lab: Lab, sc: Scenario) -> None:
    assert sorted(sc.client.arp("eth0", S.LAN_SERVER_IP)) == sorted(sc.info["macs"])
    whynet_verdict(lab, sc)


@runs("duplicate-mac-lan")
def test_duplicate_mac_on_the_lan(lab: Lab, sc: Scenario) -> None:
    neigh = {n["dst"]: n.get("lladdr") for n in sc.client.ip_json("neigh")}
    assert neigh[f"{S.LAN}.21"] == neigh[f"{S.LAN}.22"] == S.DUP_MAC
    whynet_verdict(lab, sc)


@runs("duplicate-mac-local")
def test_duplicate_mac_on_local_nics(lab: Lab, sc: Scenario) -> None:
    macs = {link["ifname"]: link["address"] for link in sc.client.ip_json("link")}
    assert macs["eth0"] == macs["eth1"] == S.DUP_MAC
    whynet_verdict(lab, sc)
