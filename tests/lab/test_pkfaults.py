"""Lab proofs for the proxy and kernel faults of ``pkfaults``: each fault is shown with plain
sockets in the client namespace first, then whynet is held to ``verdict()`` (the expected rule
on top, the expected first failing layer, no other error); each control must give no warning.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest

from . import pkfaults as P
from .netlab import Lab
from .registry import runs
from .scenarios import SERVER_IP, Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab


def counter(report: dict[str, Any], name: str) -> dict[str, Any]:
    [fact] = [f for f in report["facts"]
              if f["kind"] == "counter_change" and f["name"] == name]
    return fact


# --- P2: socks5:// against socks5h:// ---------------------------------------------------------

def socks5_reply(proxy: str, port: int, host: str, dport: int) -> int:
    """The reply code of a plain SOCKS5 CONNECT (no authentication) to ``host``: a name is
    sent as a name (what socks5h:// clients do), an address as an address."""
    with socket.create_connection((proxy, port), timeout=5) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        try:
            where = b"\x01" + socket.inet_aton(host)
        except OSError:
            where = b"\x03" + bytes([len(host)]) + host.encode()
        sock.sendall(b"\x05\x01\x00" + where + struct.pack("!H", dport))
        return sock.recv(10)[1]


def ground_truth(sc: Scenario) -> tuple[list[str] | str, int, int | None]:
    """(what the client's resolver says, the proxy's answer by name, by the client's address)."""
    name = sc.info["name"]
    try:
        here: list[str] | str = sc.client.getaddrinfo(name)
    except socket.gaierror as exc:
        here = str(exc)
    by_name = sc.client.call(socks5_reply, P.PROXY_IP, P.SOCKS_PORT, name, 80)
    by_address = (sc.client.call(socks5_reply, P.PROXY_IP, P.SOCKS_PORT, here[0], 80)
                  if isinstance(here, list) else None)
    return here, by_name, by_address


def proxy_fact(report: dict[str, Any]) -> dict[str, Any]:
    [fact] = [f for f in report["facts"] if f["kind"] == "probe_proxy"]
    return fact


@runs("socks5-name-only-proxy-resolves")
def test_socks5_name_only_the_proxy_resolves(lab: Lab, sc: Scenario) -> None:
    here, by_name, by_address = ground_truth(sc)
    assert isinstance(here, str) and by_name == 0 and by_address is None
    report = verdict(lab, sc)
    fact = proxy_fact(report)
    assert (fact["outcome"], fact["other_scheme"], fact["other_outcome"]) == (
        "local_name_failed", "socks5h", "proxied_ok")


@runs("socks5h-proxy-resolves")
def test_socks5h_proxy_resolves(lab: Lab, sc: Scenario) -> None:
    here, by_name, _ = ground_truth(sc)
    assert isinstance(here, str) and by_name == 0
    report = verdict(lab, sc)
    fact = proxy_fact(report)
    assert (fact["outcome"], fact["name_resolved_by"], fact["other_outcome"]) == (
        "proxied_ok", "proxy", "local_name_failed")


@runs("socks5-split-dns-old-address")
def test_socks5_split_dns(lab: Lab, sc: Scenario) -> None:
    here, by_name, by_address = ground_truth(sc)
    assert here == [P.OLD_SERVER_IP] and by_name == 0 and by_address == 5  # refused
    report = verdict(lab, sc)
    fact = proxy_fact(report)
    assert (fact["sent_address"], fact["connect_status"], fact["other_outcome"]) == (
        P.OLD_SERVER_IP, 5, "proxied_ok")


@runs("socks5h-name-only-client-resolves")
def test_socks5h_name_only_the_client_resolves(lab: Lab, sc: Scenario) -> None:
    here, by_name, by_address = ground_truth(sc)
    assert here == [SERVER_IP] and by_name == 4 and by_address == 0  # 4: host unreachable
    report = verdict(lab, sc)
    assert "hosts file line" in report["findings"][0]["explanation"]


# --- P2: a PAC file against the proxy variables ---------------------------------------------

def pac_fact(report: dict[str, Any]) -> dict[str, Any]:
    [fact] = [f for f in report["facts"] if f["kind"] == "probe_pac"]
    return fact


def http_via(sc: Scenario, proxy: str | None) -> str:
    """Fetch the target as a command-line tool would: through ``proxy``, or direct."""
    handler = f"urllib.request.ProxyHandler({{'http': {proxy!r}}})" if proxy else \
        "urllib.request.ProxyHandler({})"
    proc = sc.client.python(
        "import urllib.request\n"
        f"opener = urllib.request.build_opener({handler})\n"
        "try: print(opener.open('http://app.corp.test/', timeout=2).status)\n"
        "except Exception as exc: print(type(exc).__name__)\n")
    return proc.stdout.strip()


@runs("pac-proxies-variables-unset")
def test_pac_proxies_while_the_variables_go_direct(lab: Lab, sc: Scenario) -> None:
    proxy = f"http://{P.PROXY_IP}:{P.PROXY_PORT}"
    assert http_via(sc, None) in ("URLError", "TimeoutError")  # what curl & co. do here
    assert http_via(sc, proxy) == "200"  # what the PAC file says, and the browser does
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert (fact["pac_source"], fact["result"], fact["pac_route_outcome"]) == (
        "auto_proxy", f"PROXY {P.PROXY_IP}:{P.PROXY_PORT}", "proxied_ok")


@runs("wpad-proxies-variables-unset")
def test_wpad_pac_proxies_while_the_variables_go_direct(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo("wpad.corp.test") == [P.PROXY_IP]  # what WPAD finds
    assert http_via(sc, None) in ("URLError", "TimeoutError")
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert (fact["pac_source"], fact["pac_url"]) == ("--pac auto (WPAD)",
                                                     "http://wpad.corp.test/wpad.dat")


@runs("pac-direct-variables-proxy")
def test_pac_direct_while_the_variables_proxy(lab: Lab, sc: Scenario) -> None:
    proxy = f"http://{P.PROXY_IP}:{P.PROXY_PORT}"
    assert http_via(sc, None) == "200"
    assert http_via(sc, proxy) == "HTTPError"  # 502 from the proxy
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert (fact["pac_source"], fact["result"], fact["env_proxy"], fact["agrees"]) == (
        "--pac", "DIRECT", proxy, False)


@runs("pac-agrees-with-variables")
def test_pac_agrees_with_the_variables(lab: Lab, sc: Scenario) -> None:
    assert http_via(sc, f"http://{P.PROXY_IP}:{P.PROXY_PORT}") == "200"
    report = verdict(lab, sc)
    assert pac_fact(report)["agrees"] is True


# --- X40: strict rp_filter and asymmetric routing ---------------------------------------------

@runs("strict-rp-filter-asymmetric")
def test_strict_rp_filter_drops_asymmetric_replies(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(SERVER_IP, 80, timeout=1.0).outcome == "timeout"
    report = verdict(lab, sc)
    assert counter(report, "TcpExt.IPReversePathFilter")["delta"] > 0
    assert f"net.ipv4.conf.{sc.info['client_if']}.rp_filter" in report["findings"][0][
        "explanation"]
    sc.client.sysctl("net.ipv4.conf.all.rp_filter", 2)  # loose: the same replies now pass
    sc.client.sysctl(f"net.ipv4.conf.{sc.info['client_if']}.rp_filter", 2)
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"


@runs("asymmetric-return-loose-rp-filter")
def test_loose_rp_filter_with_asymmetric_routing(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"
    report = verdict(lab, sc)
    assert counter(report, "TcpExt.IPReversePathFilter")["delta"] == 0


# --- X41: a full connection-tracking table -------------------------------------------------------

@runs("conntrack-table-full")
def test_conntrack_table_full(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(SERVER_IP, 80, timeout=1.0).outcome == "timeout"
    assert sc.nodes["gw"].connect(SERVER_IP, 80).outcome == "open"  # the server is fine
    report = verdict(lab, sc)
    assert counter(report, "nf_conntrack.drop")["delta"] > 0
    [table] = [f for f in report["facts"] if f["kind"] == "conntrack_table"]
    assert table["count"] >= table["max"] == sc.info["limit"]
    # The advice's way out: exempt the traffic from tracking (both directions), and it flows.
    sc.client.nft("table inet notrack_all {\n"
                  " chain out { type filter hook output priority raw; notrack; }\n"
                  " chain in { type filter hook prerouting priority raw; notrack; }\n}\n")
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"  # untracked, it goes through


@runs("conntrack-busy-not-full")
def test_conntrack_busy_not_full(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(SERVER_IP, 80).outcome == "open"
    report = verdict(lab, sc)
    [table] = [f for f in report["facts"] if f["kind"] == "conntrack_table"]
    assert table["count"] >= P.BUSY_FLOWS and table["fill_percent"] < 90
