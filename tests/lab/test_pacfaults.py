"""Lab proofs for the desktop PAC sources of ``pacfaults``: each case is shown with plain
requests from the client namespace first (what curl does, what a browser following the PAC
file does), then whynet, given no --pac and no auto_proxy, is held to ``verdict()``; each
control must give no warning."""

from __future__ import annotations

from typing import Any

import pytest

from . import pacfaults as F
from .netlab import Lab
from .registry import runs
from .scenarios import PROXY_IP, PROXY_PORT, Scenario
from .test_coverage_scenarios import verdict
from .test_pkfaults import http_via, pac_fact

pytestmark = pytest.mark.lab
PROXY = f"http://{PROXY_IP}:{PROXY_PORT}"


def pac_text(sc: Scenario) -> str:
    """The PAC file as a browser fetches it, from the URL the desktop names."""
    proc = sc.client.python(
        "import urllib.request\n"
        "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
        f"print(opener.open({sc.info['url']!r}, timeout=2).read().decode())\n")
    return proc.stdout


@runs("kde-pac-names-dead-proxy")
def test_kde_pac_names_a_dead_proxy(lab: Lab, sc: Scenario) -> None:
    assert pac_text(sc).strip() == F.PAC_DEAD_PROXY.strip()
    assert http_via(sc, None) == "200"  # curl & co.: direct, and it works
    assert http_via(sc, f"http://{PROXY_IP}:{F.DEAD_PROXY_PORT}") == "URLError"  # the browser
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert fact["pac_url"] == F.PAC_URL
    assert fact["pac_source"].startswith("KDE [Proxy Settings] ProxyType=2")
    assert f"{lab.home()}/.config/kioslaverc:5" in fact["pac_source"]
    assert (fact["pac_route_outcome"], fact["direct_fallback"]) == ("proxy_dead", False)
    assert "kioslaverc" in report["findings"][0]["explanation"]


@runs("gnome-pac-proxies-variables-unset")
def test_gnome_pac_proxies_while_the_variables_go_direct(lab: Lab, sc: Scenario) -> None:
    assert http_via(sc, None) in ("URLError", "TimeoutError")
    assert http_via(sc, PROXY) == "200"
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert fact["pac_url"] == F.PAC_URL and fact["pac_source"].startswith(
        "GNOME org.gnome.system.proxy mode 'auto', autoconfig-url")
    assert "gsettings get org.gnome.system.proxy autoconfig-url" in fact["pac_source"]
    [setting] = [f for f in report["facts"] if f["kind"] == "proxy_autoconfig"
                 and f["origin"] == "gnome"]
    assert (setting["mode"], setting["uses_pac"]) == ("auto", True)
    assert "GNOME" in report["findings"][0]["explanation"]


@runs("dhcp-wpad-proxies-variables-unset")
def test_dhcp_wpad_proxies_while_the_variables_go_direct(lab: Lab, sc: Scenario) -> None:
    lease = open(sc.info["lease_file"]).read()
    assert f'option wpad "{F.WPAD_URL}";' in lease  # what the DHCP server handed out
    assert http_via(sc, None) in ("URLError", "TimeoutError")
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert fact["pac_url"] == F.WPAD_URL
    assert "ProxyType=3" in fact["pac_source"]
    assert f"DHCP option 252 (wpad) on eth0: {F.WPAD_URL} ({sc.info['lease_file']}:" in \
        fact["pac_source"]
    [offer] = [f for f in report["facts"] if f["kind"] == "proxy_autoconfig"
               and f["origin"] == "dhcp"]
    assert (offer["interface"], offer["expired"]) == ("eth0", False)


@runs("gnome-pac-agrees-with-variables")
def test_gnome_pac_agrees_with_the_variables(lab: Lab, sc: Scenario) -> None:
    assert http_via(sc, PROXY) == "200"
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert (fact["agrees"], fact["pac_source"].split()[0]) == (True, "GNOME")


@runs("kde-pac-intranet-direct")
def test_kde_pac_sends_the_intranet_direct(lab: Lab, sc: Scenario) -> None:
    assert http_via(sc, None) == "200"
    report = verdict(lab, sc)
    fact = pac_fact(report)
    assert (fact["result"], fact["agrees"]) == ("DIRECT", True)


@runs("dhcp-wpad-offered-desktop-not-detecting")
def test_dhcp_wpad_offered_but_nothing_detects(lab: Lab, sc: Scenario) -> None:
    assert F.WPAD_URL in open(sc.info["lease_file"]).read()
    assert http_via(sc, None) == "200"
    report: dict[str, Any] = verdict(lab, sc)
    assert not [f for f in report["facts"] if f["kind"] == "probe_pac"]
    kinds = {(f["origin"], f["mode"]) for f in report["facts"]
             if f["kind"] == "proxy_autoconfig"}
    assert ("dhcp", "wpad") in kinds and ("kde", "none") in kinds
