"""Lab scenarios for where a PAC file's URL comes from on a desktop (P2): GNOME's
``org.gnome.system.proxy`` (a real dconf database written with gsettings), KDE's
``kioslaverc``, and DHCP option 252 taken by a real ISC dhclient from a dnsmasq DHCP server.

Each builder starts from :func:`scenarios.office` with the proxy host of ``pkfaults`` (proxy
on 10.20.0.3:3128, PAC file served by HTTP on port 80 of the same host) and sets the desktop
of the user whynet runs as (the lab's HOME). whynet is given no ``--pac`` and no
``auto_proxy``: it must find the PAC file where the desktop says. ``test_pacfaults.py`` proves
each case with plain requests first, then holds whynet to ``test_coverage_scenarios.verdict``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from .netlab import Lab, LabError, Namespace
from .pkfaults import PAC_ALL_PROXIED, PAC_INTRANET_DIRECT
from .scenarios import (
    APP,
    DNS_IP,
    GW_IP,
    PROXY_IP,
    PROXY_PORT,
    SERVER_IP,
    Office,
    Scenario,
    _egress_only_from_proxy,
    _proxy_env,
    office,
)

PAC_URL = f"http://{PROXY_IP}/proxy.pac"
WPAD_URL = f"http://{PROXY_IP}/wpad.dat"
DEAD_PROXY_PORT = 3129  # nothing listens there: the proxy a stale PAC file still names
PAC_DEAD_PROXY = f"""\
function FindProxyForURL(url, host) {{
  if (isPlainHostName(host))
    return "DIRECT";
  return "PROXY {PROXY_IP}:{DEAD_PROXY_PORT}";
}}
"""
# What KDE's proxy KCM writes (tests/fixtures/desktop_proxy/README.md gives the sources).
KIOSLAVERC = """\
ProxyUrlDisplayFlags=15

[Proxy Settings]
NoProxyFor=localhost,127.0.0.1
Proxy Config Script={script}
ProxyType={proxy_type}
ReversedException=false
ftpProxy=
httpProxy=
httpsProxy=
socksProxy=
"""
# dhclient asks for option 252 only when its configuration names it (as the fixtures' README
# shows, an unnamed one is still recorded, as unknown-252).
DHCLIENT_CONF = """\
option wpad code 252 = text;
request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, wpad;
"""
DHCP_RANGE = ("10.20.0.100", "10.20.0.150")


def kde_settings(lab: Lab, proxy_type: int, script: str = "") -> None:
    """``~/.config/kioslaverc`` of the user whynet runs as, as KDE writes it."""
    config = lab.home() / ".config"
    config.mkdir(exist_ok=True)
    (config / "kioslaverc").write_text(KIOSLAVERC.format(script=script, proxy_type=proxy_type))


def gnome_settings(lab: Lab, mode: str, url: str = "") -> None:
    """The user's GNOME proxy setting, written as GNOME's settings panel does: gsettings over a
    session bus to dconf-service, into the user's ``~/.config/dconf/user``."""
    for tool in ("gsettings", "dbus-run-session"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is not installed (libglib2.0-bin, dbus-daemon, "
                           "dconf-service, dconf-gsettings-backend, gsettings-desktop-schemas)")
    script = (f"gsettings set org.gnome.system.proxy mode '{mode}' && "
              f"gsettings set org.gnome.system.proxy autoconfig-url '{url}'")
    done = subprocess.run(["dbus-run-session", "--", "sh", "-c", script], env=lab.clean_env(),
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise LabError(f"gsettings set failed: {done.stderr[-500:]}")


def pac_host(lab: Lab, o: Office, script: str) -> tuple[Namespace, str, dict]:
    """The proxy host (10.20.0.3): proxy on 3128, ``script`` served on port 80 (the lab's HTTP
    server answers every path with it); returns it, its LAN interface and the servers."""
    proxy = lab.host("proxy")
    proxy_if = o.lan.plug(proxy, f"{PROXY_IP}/24")
    proxy.default_route(GW_IP)
    proxy.write_resolv_conf([DNS_IP])
    servers = {"proxy": proxy.proxy(PROXY_IP, PROXY_PORT),
               "pac": proxy.http_server(PROXY_IP, 80, body=script)}
    return proxy, proxy_if, servers


def desktop_pac(lab: Lab, case: str) -> Scenario:
    """The office, the proxy host serving a PAC file, and the desktop pointing at it. The cases:

    * ``kde-dead-proxy``: kioslaverc (ProxyType=2) names a PAC file that sends everything to a
      proxy port where nothing listens (a stale PAC file); no proxy variable, and direct works:
      curl works, the browser does not.
    * ``gnome-variables-unset``: GNOME mode 'auto' with an autoconfig-url; only the proxy may
      leave the LAN and no proxy variable is set: the browser works, curl times out.
    * ``dhcp-kde-detect``: KDE set to detect the proxy (ProxyType=3), the DHCP server offers
      the PAC URL as option 252 and the client's dhclient took the lease; only the proxy may
      leave, no variable set.
    * ``gnome-agrees`` (control): GNOME's PAC file and the variables both name the proxy, the
      only way out.
    * ``kde-intranet-direct`` (control): KDE's PAC file sends the intranet direct, no variable
      is set, and direct works.
    * ``dhcp-offered-not-detecting`` (control): the DHCP lease offers a PAC file that would
      send everything to a dead proxy, but the desktop is not set to detect (ProxyType=0):
      nothing follows the offer, and whynet does not use it.
    """
    o = office(lab)
    web = o.server.http_server(SERVER_IP, 80)
    script = {"kde-dead-proxy": PAC_DEAD_PROXY, "kde-intranet-direct": PAC_INTRANET_DIRECT,
              "dhcp-offered-not-detecting": PAC_DEAD_PROXY}.get(case, PAC_ALL_PROXIED)
    url = WPAD_URL if case.startswith("dhcp") else PAC_URL
    proxy, proxy_if, servers = pac_host(lab, o, script)
    info: dict = {"pac": script, "url": url}
    if case.startswith("dhcp"):
        servers["dhcp"] = proxy.dhcp_server(proxy_if, *DHCP_RANGE, options=[f"252,{url}"])
        info["lease_file"] = str(o.client.dhcp_client("eth0", DHCLIENT_CONF))
    common = {"nodes": {"proxy": proxy}, "servers": {"web": web, **servers}, "info": info}
    target = f"http://{APP}/"
    fault = {"checklist": ("P2",)}
    if case == "kde-dead-proxy":
        kde_settings(lab, 2, url)
        return o.scenario("kde-pac-names-dead-proxy", target, layer=None,
                          expect="proxy.pac-proxy-fails-variables-go-direct", **fault, **common)
    if case == "gnome-variables-unset":
        _egress_only_from_proxy(o)
        gnome_settings(lab, "auto", url)
        return o.scenario("gnome-pac-proxies-variables-unset", target, layer="transport",
                          expect="proxy.pac-proxy-but-variables-go-direct", **fault, **common)
    if case == "dhcp-kde-detect":
        _egress_only_from_proxy(o)
        kde_settings(lab, 3)
        return o.scenario("dhcp-wpad-proxies-variables-unset", target, layer="transport",
                          expect="proxy.pac-proxy-but-variables-go-direct", **fault, **common)
    if case == "gnome-agrees":
        _egress_only_from_proxy(o)
        gnome_settings(lab, "auto", url)
        return o.scenario("gnome-pac-agrees-with-variables", target,
                          env=_proxy_env(f"http://{PROXY_IP}:{PROXY_PORT}"), **common)
    if case == "kde-intranet-direct":
        kde_settings(lab, 2, url)
        return o.scenario("kde-pac-intranet-direct", target, **common)
    kde_settings(lab, 0, url)
    return o.scenario("dhcp-wpad-offered-desktop-not-detecting", target, **common)


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "kde-pac-names-dead-proxy": lambda lab: desktop_pac(lab, "kde-dead-proxy"),
    "gnome-pac-proxies-variables-unset": lambda lab: desktop_pac(lab, "gnome-variables-unset"),
    "dhcp-wpad-proxies-variables-unset": lambda lab: desktop_pac(lab, "dhcp-kde-detect"),
}

HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "gnome-pac-agrees-with-variables": lambda lab: desktop_pac(lab, "gnome-agrees"),
    "kde-pac-intranet-direct": lambda lab: desktop_pac(lab, "kde-intranet-direct"),
    "dhcp-wpad-offered-desktop-not-detecting":
        lambda lab: desktop_pac(lab, "dhcp-offered-not-detecting"),
}
