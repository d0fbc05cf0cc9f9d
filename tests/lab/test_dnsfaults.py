"""Lab proofs for the DNS faults beyond the checklist (tests/lab/dnsfaults.py).

Each test proves its fault with plain DNS queries or sockets inside the client namespace
first, then runs whynet there and holds it to ``verdict()``: the expected rule ranked first,
the expected first failing layer, no other error; each control: no warning at all.
"""

from __future__ import annotations

import socket
from typing import Any

import dns.exception
import dns.resolver
import pytest

from . import dnsfaults as D
from .healthy import WEB_NAME
from .netlab import Lab
from .registry import runs
from .scenarios import APP, SERVER_IP, Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab


def facts_of(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in report["facts"] if f["kind"] == kind]


# --- X20: NXDOMAIN rewriting ------------------------------------------------------------------

@runs("nxdomain-rewrite-missing-name", "nxdomain-rewrite-missing-service",
      "nxdomain-rewrite-existing-name")
def test_nxdomain_rewritten(lab: Lab, sc: Scenario) -> None:
    # Ground truth: the zone's own server says NXDOMAIN, the client's resolver an address.
    with pytest.raises(dns.resolver.NXDOMAIN):
        sc.client.dns(D.DNS_IP, D.MISSING)
    assert sc.client.dns(D.ISP_DNS_IP, D.MISSING) == [D.SEARCH_PAGE_IP]
    assert sc.client.dns(D.ISP_DNS_IP, APP) == [SERVER_IP]
    report = verdict(lab, sc)
    [nx] = facts_of(report, "probe_nxdomain")
    assert (nx["via"], nx["outcome"], nx["addresses"]) == (D.ISP_DNS_IP, "resolved",
                                                           [D.SEARCH_PAGE_IP])
    # the rewriting itself folds under the finding about the target
    if sc.name != "nxdomain-rewrite-existing-name":
        top = report["findings"][0]
        assert [s["rule"] for s in top["supporting"]][:1] == ["name.nxdomain-rewritten"], top


@runs("nxdomain-honest-resolver")
def test_honest_resolver(lab: Lab, sc: Scenario) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        sc.client.dns(D.ISP_DNS_IP, D.MISSING)
    report = verdict(lab, sc)
    [nx] = facts_of(report, "probe_nxdomain")
    assert (nx["outcome"], nx["rcode"]) == ("nxdomain", "NXDOMAIN")


# --- X21: search domains and ndots ---------------------------------------------------------------

@runs("search-wildcard-catches-name")
def test_search_wildcard_catches_name(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(WEB_NAME) == [D.CATCH_ALL_IP]  # what programs get
    assert sc.client.dns(D.DNS_IP, f"{WEB_NAME}.") == [SERVER_IP]  # the name as typed
    assert sc.client.connect(D.CATCH_ALL_IP, 80).outcome == "refused"
    report = verdict(lab, sc)
    [system] = [f for f in facts_of(report, "probe_resolve") if f["via"] == "system"]
    assert (system["canonical"], system["expanded_by"]) == (f"{WEB_NAME}.corp.test", "corp.test")


@runs("search-ndots-no-wildcard")
def test_search_ndots_no_wildcard(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(WEB_NAME) == [SERVER_IP]
    report = verdict(lab, sc)
    [system] = [f for f in facts_of(report, "probe_resolve") if f["via"] == "system"]
    assert system["expanded_by"] is None


# --- X22: a captive portal -----------------------------------------------------------------

def http_get(ip: str, port: int, host: str) -> bytes:
    with socket.create_connection((ip, port), timeout=2) as sock:
        sock.sendall(f"GET /success.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


@runs("captive-portal-redirect", "captive-portal-login-page")
def test_captive_portal(lab: Lab, sc: Scenario) -> None:
    style = sc.name.removeprefix("captive-portal-")
    answer = sc.client.call(http_get, D.SEARCH_PAGE_IP, 80, D.DETECT_NAME)
    assert b"success" not in answer  # the portal answers in the known server's place
    assert (b" 302 " in answer.split(b"\r\n")[0]) == (style == "redirect")
    assert sc.client.connect(SERVER_IP, 443, timeout=1.0).outcome == "timeout"
    report = verdict(lab, sc)
    [check] = facts_of(report, "probe_portal")
    assert (check["outcome"], check["redirect"], check["login_form"]) == (
        "intercepted", style == "redirect", style == "login-page")
    sc.nodes["gw"].exec("nft", "delete", "table", "ip", "portal")  # "logged in"
    assert sc.client.call(http_get, D.SEARCH_PAGE_IP, 80, D.DETECT_NAME).endswith(b"success\n")
    assert sc.client.connect(SERVER_IP, 443).outcome == "open"


@runs("no-captive-portal")
def test_no_captive_portal(lab: Lab, sc: Scenario) -> None:
    report = verdict(lab, sc)
    [check] = facts_of(report, "probe_portal")
    assert (check["outcome"], check["status"]) == ("known_answer", 200)


# --- X23: DNS over TLS and plain DNS ------------------------------------------------------------

def transports(report: dict[str, Any]) -> dict[str, str]:
    return {f["transport"] if f["transport"] in ("dot", "doh") else "plain": f["outcome"]
            for f in facts_of(report, "probe_dns_transport")}


@runs("dot-blocked-plain-works", "plain-dns-blocked-dot-works")
def test_one_dns_transport_blocked(lab: Lab, sc: Scenario) -> None:
    blocked = "dot" if sc.name == "dot-blocked-plain-works" else "plain"
    if blocked == "dot":
        assert sc.client.dns(D.PUBLIC_DNS_IP, APP) == [SERVER_IP]  # plain DNS works
        with pytest.raises(socket.gaierror):
            sc.client.getaddrinfo(APP)  # the stub, over TLS only, does not
    else:
        with pytest.raises(dns.exception.Timeout):
            sc.client.dns(D.PUBLIC_DNS_IP, APP)
        assert sc.client.getaddrinfo(APP) == [SERVER_IP]
    report = verdict(lab, sc)
    assert transports(report) == ({"dot": "timeout", "plain": "answered"} if blocked == "dot"
                                  else {"dot": "answered", "plain": "timeout"})
    [config] = facts_of(report, "resolved_config")
    assert (config["dns_over_tls"], config["dns"]) == ("yes", [f"{D.PUBLIC_DNS_IP}#{D.DOT_NAME}"])


@runs("dot-and-plain-dns-work")
def test_dot_and_plain_dns_work(lab: Lab, sc: Scenario) -> None:
    assert sc.client.getaddrinfo(APP) == [SERVER_IP]
    report = verdict(lab, sc)
    assert transports(report) == {"dot": "answered", "plain": "answered"}


# --- X23: DNS over HTTPS and plain DNS ------------------------------------------------------

def doh_post(ip: str) -> bytes:
    import ssl

    import dns.message

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    wire = dns.message.make_query(APP, "A").to_wire()
    with socket.create_connection((ip, 443), timeout=1.5) as raw, \
            context.wrap_socket(raw, server_hostname=D.DOT_NAME) as tls:
        tls.sendall(b"POST /dns-query HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                    b"dns-message\r\nConnection: close\r\nContent-Length: "
                    + str(len(wire)).encode() + b"\r\n\r\n" + wire)
        data = b""
        while chunk := tls.recv(4096):
            data += chunk
    return data


@runs("doh-blocked-plain-works", "plain-dns-blocked-doh-works")
def test_doh_or_plain_blocked(lab: Lab, sc: Scenario) -> None:
    doh_blocked = sc.name == "doh-blocked-plain-works"
    if doh_blocked:
        with pytest.raises(OSError):
            sc.client.call(doh_post, D.PUBLIC_DNS_IP)
        assert sc.client.getaddrinfo(APP) == [SERVER_IP]
    else:
        assert b" 200 " in sc.client.call(doh_post, D.PUBLIC_DNS_IP).split(b"\r\n")[0]
        with pytest.raises(socket.gaierror):
            sc.client.getaddrinfo(APP)
    report = verdict(lab, sc)
    assert transports(report) == ({"doh": "timeout", "plain": "answered"} if doh_blocked
                                  else {"doh": "answered", "plain": "timeout"})


@runs("doh-and-plain-dns-work")
def test_doh_and_plain_dns_work(lab: Lab, sc: Scenario) -> None:
    assert b" 200 " in sc.client.call(doh_post, D.PUBLIC_DNS_IP).split(b"\r\n")[0]
    report = verdict(lab, sc)
    assert transports(report) == {"doh": "answered", "plain": "answered"}
