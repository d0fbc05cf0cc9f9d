"""Lab proofs for the variants (``variants.py``): faults the lab has, on other networks.

Each test proves its fault with plain sockets inside the client first (and, where the cause is
removable, that removing it repairs the connection), then holds whynet to
``test_coverage_scenarios.verdict``: the expected rule ranked first, the expected first failing
layer, no other error-level finding; each healthy control gives no warning at all.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest

from . import variants as V
from .netlab import Lab, bind_port
from .registry import runs
from .scenarios import APP, CLIENT_IP, DNS_IP, PROXY_IP, PROXY_PORT, SERVER_IP, Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab

DROP_WAIT = 1.0


def top_explanation(report: dict[str, Any]) -> str:
    return str(report["findings"][0]["explanation"])


# --- IPv6 only ----------------------------------------------------------------------------------

@runs("v6-only-healthy")
def test_v6_only_healthy(lab: Lab, sc: Scenario) -> None:
    assert not sc.client.ip_json("-4", "addr", "show", "scope", "global")  # no IPv4 at all
    assert sc.client.getaddrinfo(APP) == [V.V6_SERVER]
    assert sc.client.connect(V.V6_SERVER, 80).outcome == "open"
    report = verdict(lab, sc)
    assert [row["status"] for row in report["layers"] if row["layer"] == "transport"] == ["ok"]


@runs("v6-dns-dead")
def test_v6_dns_dead(lab: Lab, sc: Scenario) -> None:
    with pytest.raises(socket.gaierror):
        sc.client.getaddrinfo(APP)
    assert sc.client.ping(sc.info["nameserver"])  # the host is up, its DNS is not
    assert sc.client.dns(V.V6_DNS, APP, "AAAA") == [V.V6_SERVER]  # a working resolver exists
    report = verdict(lab, sc)
    assert sc.info["nameserver"] in top_explanation(report)


@runs("v6-no-route")
def test_v6_no_route(lab: Lab, sc: Scenario) -> None:
    assert sc.client.dns(V.V6_DNS, APP, "AAAA") == [V.V6_SERVER]  # on-link resolver answers
    got = sc.client.connect(V.V6_SERVER, 80)
    assert (got.outcome, got.errno) == ("unreachable", errno.ENETUNREACH), got
    verdict(lab, sc)
    sc.client.add_route("default", via=V.V6_GW)
    assert sc.client.connect(V.V6_SERVER, 80).outcome == "open"


@pytest.mark.parametrize(("sc", "err"), [
    ("v6-firewall-drop-at-server", None),
    ("v6-firewall-admin-prohibited-at-server", errno.EACCES),
], indirect=["sc"])
def test_v6_firewall_at_server(lab: Lab, sc: Scenario, err: int | None) -> None:
    if err is None:
        got = sc.client.connect(V.V6_SERVER, V.PORT, timeout=DROP_WAIT)
        assert got.outcome == "timeout", got
    else:
        # ICMPv6 "administratively prohibited" reaches connect() as EACCES (ICMPv4's as
        # EHOSTUNREACH), and only once the SYN is retransmitted after about a second: the
        # first error is taken as soft.
        got = sc.client.connect(V.V6_SERVER, V.PORT, timeout=3.0)
        assert got.errno == err, got
    assert sc.client.ping(V.V6_SERVER)
    verdict(lab, sc)
    sc.nodes["server"].exec("nft", "flush", "ruleset")
    assert sc.client.connect(V.V6_SERVER, V.PORT).outcome == "open"


@runs("v6-hosts-override")
def test_v6_hosts_override(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(APP) == [sc.info["hosts_ip"]]  # what applications get
    assert sc.client.dns(V.V6_DNS, APP, "AAAA") == [sc.info["dns_ip"]]  # what DNS says
    assert sc.client.connect(sc.info["hosts_ip"], 80).outcome == "refused"
    assert sc.client.connect(sc.info["dns_ip"], 80).outcome == "open"
    verdict(lab, sc)


@runs("v6-duplicate-address")
def test_v6_duplicate_address(lab: Lab, sc: Scenario) -> None:
    [addr] = [a for a in sc.client.ip_json("-6", "addr", "show", "dev", "eth0")[0]["addr_info"]
              if a.get("scope") == "global"]
    assert addr["local"] == V.V6_CLIENT and addr.get("dadfailed") is True, addr
    assert sc.client.connect(V.V6_SERVER, 80, timeout=DROP_WAIT).outcome != "open"
    report = verdict(lab, sc)
    address_row = [r for r in report["layers"] if r["layer"] == "address"][0]
    assert "failed duplicate address detection" in address_row["summary"], address_row


# --- other firewall tools -----------------------------------------------------------------------

@runs("iptables-legacy-output-drop")
def test_iptables_legacy_output_drop(lab: Lab, sc: Scenario) -> None:
    assert "DROP" in sc.client.exec("iptables-legacy-save").stdout
    assert "DROP" not in sc.client.exec("nft", "list", "ruleset").stdout  # invisible to nft
    assert sc.client.connect(SERVER_IP, V.PORT, timeout=DROP_WAIT).outcome == "timeout"
    assert sc.client.connect(SERVER_IP, 22, timeout=DROP_WAIT).outcome == "refused"
    report = verdict(lab, sc)
    assert "iptables" in top_explanation(report) and "OUTPUT" in top_explanation(report)
    sc.client.exec("iptables-legacy", "-F", "OUTPUT")
    assert sc.client.connect(SERVER_IP, V.PORT).outcome == "open"


@runs("iptables-legacy-accepts")
def test_iptables_legacy_accepts(lab: Lab, sc: Scenario) -> None:
    assert ":OUTPUT DROP" in sc.client.exec("iptables-legacy-save").stdout
    assert sc.client.connect(SERVER_IP, V.PORT).outcome == "open"
    assert sc.client.connect(SERVER_IP, 9, timeout=DROP_WAIT).outcome == "timeout"  # real
    report = verdict(lab, sc)
    context = [f["rule"] for f in report["findings"]]
    assert "firewall.outbound-default-drop" in context  # said, as information only


@runs("ip6tables-output-reject")
def test_ip6tables_output_reject(lab: Lab, sc: Scenario) -> None:
    got = sc.client.connect(V.V6_SERVER, V.PORT, timeout=3.0)
    assert got.errno == errno.EACCES, got  # on the retransmitted SYN, as from the server
    assert sc.nodes["server"].connect(V.V6_SERVER, V.PORT).outcome == "open"
    report = verdict(lab, sc)
    assert "ip6tables" in top_explanation(report)
    sc.client.exec("ip6tables", "-F", "OUTPUT")
    assert sc.client.connect(V.V6_SERVER, V.PORT).outcome == "open"


@runs("ufw-deny-out")
def test_ufw_deny_out(lab: Lab, sc: Scenario) -> None:
    status = sc.client.exec("ufw", "status").stdout
    assert "Status: active" in status and "DENY OUT" in status, status
    assert sc.client.connect(SERVER_IP, V.PORT, timeout=DROP_WAIT).outcome == "timeout"
    assert sc.client.getaddrinfo(APP) == [SERVER_IP]
    report = verdict(lab, sc)
    assert "ufw" in top_explanation(report), top_explanation(report)


@runs("router-rejects-host-prohibited")
def test_router_rejects_host_prohibited(lab: Lab, sc: Scenario) -> None:
    got = sc.client.connect(SERVER_IP, V.PORT)
    assert (got.outcome, got.errno) == ("unreachable", errno.EHOSTUNREACH), got
    assert got.elapsed < 0.5  # an answer, not ARP giving up
    assert sc.nodes["gw"].connect(SERVER_IP, V.PORT).outcome == "open"  # the service is up
    verdict(lab, sc)
    sc.nodes["gw"].iptables("-F", "FORWARD")
    assert sc.client.connect(SERVER_IP, V.PORT).outcome == "open"


# --- names and proxies --------------------------------------------------------------------------

@runs("second-resolver-dead")
def test_second_resolver_dead(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(APP) == [SERVER_IP]  # the first nameserver answers
    with pytest.raises(Exception):  # noqa: B017  (dnspython: timeout; glibc never asks it)
        sc.client.dns(sc.info["nameserver"], APP, timeout=0.3)
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"
    report = verdict(lab, sc)
    assert sc.info["nameserver"] in top_explanation(report)
    assert DNS_IP not in top_explanation(report)  # the working one is not blamed


@runs("lowercase-proxy-dead")
def test_lowercase_proxy_dead(lab: Lab, sc: Scenario) -> None:
    assert set(sc.env) == {"SSL_CERT_FILE", "https_proxy", "http_proxy"}
    got = sc.client.connect(PROXY_IP, PROXY_PORT)
    assert (got.outcome, got.errno) == ("refused", errno.ECONNREFUSED)
    assert sc.client.tls(SERVER_IP, 443, APP, cafile=sc.env["SSL_CERT_FILE"]).ok  # direct ok
    report = verdict(lab, sc)
    assert "https_proxy" in top_explanation(report), top_explanation(report)


@runs("lowercase-proxy-works")
def test_lowercase_proxy_works(lab: Lab, sc: Scenario) -> None:
    via = sc.client.tls(SERVER_IP, 443, APP, cafile=sc.env["SSL_CERT_FILE"],
                        proxy=(PROXY_IP, PROXY_PORT))
    assert via.ok, via
    verdict(lab, sc)


# --- link and routing ---------------------------------------------------------------------------

@runs("duplicate-gateway-ip")
def test_duplicate_gateway_ip(lab: Lab, sc: Scenario) -> None:
    assert sorted(sc.client.arp("eth0", "10.20.0.1")) == sorted(sc.info["macs"])
    report = verdict(lab, sc)
    assert "10.20.0.1" in top_explanation(report)
    sc.nodes["laptop"].ip("addr", "flush", "dev", "eth0")
    sc.client.ip("neigh", "flush", "dev", "eth0")
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"


@runs("source-policy-table")
def test_source_policy_table(lab: Lab, sc: Scenario) -> None:
    # `ip route get` without a source shows the main table; connect() looks up again from the
    # source it chose, and the rule applies. Ping does not, so ping works and TCP does not.
    assert sc.client.ip_json("route", "get", SERVER_IP)[0]["gateway"] == "10.20.0.1"
    by_src = sc.client.ip_json("route", "get", SERVER_IP, "from", CLIENT_IP)[0]
    assert (by_src["table"], by_src["gateway"]) == ("200", "10.30.0.1")
    assert sc.client.ping(SERVER_IP)
    assert sc.client.connect(SERVER_IP, 80, timeout=DROP_WAIT).outcome == "timeout"
    report = verdict(lab, sc)
    assert "table 200" in top_explanation(report)
    sc.client.ip("rule", "del", "priority", "1000")
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"


@runs("tunnel-default-route")
def test_tunnel_default_route(lab: Lab, sc: Scenario) -> None:
    [route] = sc.client.ip_json("route", "get", SERVER_IP)
    assert route["dev"] == "tun0" and "gateway" not in route
    assert sc.client.connect(SERVER_IP, 80, timeout=DROP_WAIT).outcome == "timeout"
    report = verdict(lab, sc)
    assert "straight out of tun0" in top_explanation(report), top_explanation(report)
    sc.client.ip("route", "del", "default", "dev", "tun0")
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"


# --- ports --------------------------------------------------------------------------------------

@runs("port-in-use-by-ipv6")
def test_port_in_use_by_ipv6(lab: Lab, sc: Scenario) -> None:
    listening = sc.client.exec("ss", "-Hltn").stdout
    assert f"[::]:{V.PORT}" in listening or f"*:{V.PORT}" in listening, listening
    assert sc.client.call(bind_port, "0.0.0.0", V.PORT) == errno.EADDRINUSE  # IPv4 too
    verdict(lab, sc)


@runs("privileged-port-raised")
def test_privileged_port_raised(lab: Lab, sc: Scenario) -> None:
    code = ("import socket\n"
            "for port in (1500, 2500):\n"
            "    s = socket.socket()\n"
            "    try: s.bind(('0.0.0.0', port)); print(port, 'ok')\n"
            "    except OSError as e: print(port, e.errno)\n")
    out = sc.client.python(code, user=sc.user)
    assert out.stdout.split() == ["1500", str(errno.EACCES), "2500", "ok"], out.stderr
    report = verdict(lab, sc)
    assert "2000" in top_explanation(report), top_explanation(report)
