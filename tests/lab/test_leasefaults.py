"""Lab proofs for ``leasefaults``: the lease a real systemd-networkd took carries the PAC file's
URL (plain requests show what curl and a browser following that file get), then whynet, given
no --pac, no auto_proxy and no dhclient lease, is held to ``verdict()``; the control must give
no warning. And networkd itself: only the lab's links, and gone with the lab."""

from __future__ import annotations

import subprocess
import time

import pytest

from . import leasefaults as L
from .netlab import Lab, unavailable_reason
from .pacfaults import DEAD_PROXY_PORT
from .registry import runs
from .scenarios import PROXY_IP, PROXY_PORT, Scenario
from .test_coverage_scenarios import verdict
from .test_pkfaults import http_via, pac_fact

PROXY = f"http://{PROXY_IP}:{PROXY_PORT}"


def networkd_offer(report: dict, sc: Scenario) -> dict:
    """The one proxy_autoconfig fact of a DHCP lease, read from networkd's lease file."""
    networkd: L.Networkd = sc.info["networkd"]
    [offer] = [f for f in report["facts"] if f["kind"] == "proxy_autoconfig"
               and f["origin"] == "dhcp"]
    assert offer["source"]["file"] == str(networkd.lease_file())
    assert (offer["interface"], offer["url"], offer["expired"]) == ("eth0", L.WPAD_URL, False)
    return offer


def lease_offers_wpad(sc: Scenario) -> None:
    lease = sc.info["networkd"].lease()
    assert f"OPTION_252={L.WPAD_URL.encode().hex()}" in lease.splitlines()  # what DHCP gave


@runs("networkd-wpad-proxies-variables-unset")
def test_networkd_wpad_proxies_while_the_variables_go_direct(lab: Lab, sc: Scenario) -> None:
    lease_offers_wpad(sc)
    assert http_via(sc, None) in ("URLError", "TimeoutError")  # curl & co.: direct, dropped
    assert http_via(sc, PROXY) == "200"                        # the browser, through the PAC
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert fact["pac_url"] == L.WPAD_URL and "ProxyType=3" in fact["pac_source"]
    offer = networkd_offer(report, sc)
    assert f"{offer['setting']} ({offer['source']['file']}:{offer['source']['line']})" in \
        fact["pac_source"]
    assert "leases" in report["findings"][0]["explanation"]


@runs("networkd-wpad-names-dead-proxy")
def test_networkd_wpad_names_a_dead_proxy(lab: Lab, sc: Scenario) -> None:
    lease_offers_wpad(sc)
    assert http_via(sc, None) == "200"  # curl & co.: direct, and it works
    assert http_via(sc, f"http://{PROXY_IP}:{DEAD_PROXY_PORT}") == "URLError"  # the browser
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert fact["pac_url"] == L.WPAD_URL and "ProxyType=3" in fact["pac_source"]
    assert (fact["pac_route_outcome"], fact["direct_fallback"]) == ("proxy_dead", False)
    networkd_offer(report, sc)
    assert "leases" in report["findings"][0]["explanation"]


@runs("networkd-wpad-agrees-with-variables")
def test_networkd_wpad_agrees_with_the_variables(lab: Lab, sc: Scenario) -> None:
    lease_offers_wpad(sc)
    assert http_via(sc, PROXY) == "200"
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert (fact["pac_url"], fact["agrees"]) == (L.WPAD_URL, True)
    networkd_offer(report, sc)


def host_links() -> str:
    return subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True, timeout=10,
                          check=True).stdout


def running(pid: int) -> bool:
    """A live process (not a zombie awaiting its parent's wait)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_networkd_stays_in_the_lab() -> None:
    """networkd configures the namespace's eth0 (its DHCP address is there), the host's
    addresses do not change, and no networkd process outlives the lab."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    before = host_links()
    with Lab() as lab:
        o = L.office(lab)
        proxy, proxy_if, _ = L.pac_host(lab, o, L.PAC_ALL_PROXIED)
        proxy.dhcp_server(proxy_if, *L.DHCP_RANGE, options=[f"252,{L.WPAD_URL}"])
        networkd = L.start_networkd(o.client, "eth0")
        pids = networkd.pids()
        assert pids
        lease = dict(line.split("=", 1) for line in networkd.lease().splitlines() if "=" in line)
        addresses = {a["local"] for a in o.client.ip_json("addr", "show", "dev", "eth0")[0]
                     ["addr_info"] if a["family"] == "inet"}
        assert lease["ADDRESS"] in addresses and lease["ADDRESS"] not in host_links()
    deadline = time.monotonic() + 5
    while [pid for pid in pids if running(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)  # SIGKILL is delivered, the exit takes a moment
    assert not [pid for pid in pids if running(pid)]
    assert host_links() == before
