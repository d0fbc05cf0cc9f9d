"""Which proxy the environment sends a target to (checklist P2): pure, no network.

**Which variable.** Proxy variables are read by HTTP clients (curl, Python, Go, Node...), so only
HTTP(S) targets are considered: ``http``/``ws`` URLs and ``host:80``-style targets use
``http_proxy``, ``HTTP_PROXY``; ``https``/``wss`` URLs and ``host:443``-style targets use
``https_proxy``, ``HTTPS_PROXY``; then ``all_proxy``, ``ALL_PROXY``. The first non-empty one
wins; lower case first, as in curl and Python. Other targets (ssh, postgres...) are ``direct``.

**NO_PROXY** (``no_proxy`` first), as curl (7.86+) and Python's urllib read it; where they differ
the fact's ``caveats`` say so:

* ``*`` as the whole value bypasses everything (inside a list it means nothing to either);
* ``example.com`` and ``.example.com`` both match ``example.com`` and every subdomain;
* case-insensitive; entries split on commas (and, as curl does, spaces);
* an IP address matches that address exactly; a CIDR range (``10.0.0.0/8``) matches addresses in
  it: curl >= 7.86, requests and Go do this, Python's urllib does not (a caveat);
* ``host:port`` entries match only that port: Python's urllib and Go honour ports, curl ignores
  such entries (a caveat);
* ``*.example.com`` is a Go-style wildcard that curl and Python never match: not a match here,
  with a caveat.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from engine.probes.common import host_for_url
from engine.probes.target import Target
from engine.redact import redact_url

WEB_SCHEMES = {"http": "http", "ws": "http", "https": "https", "wss": "https"}
HTTP_PORTS = frozenset({80, 8000, 8008, 8080, 8081, 8888})
HTTPS_PORTS = frozenset({443, 4443, 8443, 9443})
PROXY_DEFAULT_PORTS = {"http": 80, "https": 443, "socks4": 1080, "socks4a": 1080,
                       "socks5": 1080, "socks5h": 1080}


@dataclass(frozen=True)
class Proxy:
    url: str  # without credentials
    scheme: str
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def authorization(self) -> str | None:
        if self.username is None:
            return None
        token = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")


@dataclass(frozen=True)
class ProxyDecision:
    """What the environment says about one target."""

    request_scheme: str | None  # http or https: which variables apply; None = not HTTP
    proxy: Proxy | None
    variable: str | None
    bypassed: bool = False
    no_proxy_match: str | None = None
    no_proxy_variable: str | None = None
    caveats: tuple[str, ...] = ()
    error: str | None = None  # a proxy variable that cannot be parsed


def request_scheme(target: Target) -> str | None:
    """``http``/``https`` when an HTTP client would fetch this target, else None."""
    if target.scheme is not None:
        return WEB_SCHEMES.get(target.scheme)
    if target.port in HTTPS_PORTS:
        return "https"
    if target.port in HTTP_PORTS:
        return "http"
    return None


def decide(target: Target, env: Mapping[str, str]) -> ProxyDecision:
    """Which proxy (if any) the environment sends ``target`` to."""
    scheme = request_scheme(target)
    if scheme is None:
        return ProxyDecision(None, None, None)
    variable, value, caveats = _first_set(env, (f"{scheme}_proxy", f"{scheme.upper()}_PROXY",
                                                "all_proxy", "ALL_PROXY"))
    if variable is None:
        return ProxyDecision(scheme, None, None)
    if variable == "HTTP_PROXY":
        caveats.append("curl ignores upper-case HTTP_PROXY (httpoxy); Python and Go use it")
    if variable.lower() == "all_proxy":
        caveats.append("Python's urllib ignores ALL_PROXY; curl and requests use it")
    try:
        proxy, proxy_caveats = parse_proxy_url(value)
    except ValueError as exc:
        return ProxyDecision(scheme, None, variable, caveats=tuple(caveats),
                             error=f"{variable}: {exc}")
    caveats += proxy_caveats
    no_proxy_var, no_proxy, np_caveats = _first_set(env, ("no_proxy", "NO_PROXY"))
    caveats += np_caveats
    if no_proxy_var is not None:
        entry, match_caveats = match_no_proxy(target.host, target.port, no_proxy)
        caveats += match_caveats
        if entry is not None:
            return ProxyDecision(scheme, proxy, variable, bypassed=True, no_proxy_match=entry,
                                 no_proxy_variable=no_proxy_var, caveats=tuple(caveats))
    return ProxyDecision(scheme, proxy, variable, caveats=tuple(caveats))


def _first_set(env: Mapping[str, str], names: tuple[str, ...]
               ) -> tuple[str | None, str, list[str]]:
    """The first variable with a non-empty value; a caveat when its other-case twin differs."""
    for name in names:
        value = (env.get(name) or "").strip()
        if not value:
            continue
        caveats = []
        twin = name.upper() if name.islower() else name.lower()
        other = (env.get(twin) or "").strip()
        if other and other != value and twin in names:
            caveats.append(f"{name} and {twin} differ; curl and Python use {name}, "
                           "some tools the other")
        return name, value, caveats
    return None, "", []


def parse_proxy_url(value: str) -> tuple[Proxy, list[str]]:
    """A proxy variable's value -> :class:`Proxy` (raises ValueError with a short reason)."""
    text = value if "://" in value else f"http://{value}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_DEFAULT_PORTS:
        raise ValueError(f"unsupported proxy scheme {scheme!r} in {redact_url(text)!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in {redact_url(text)!r}") from None
    if not parts.hostname:
        raise ValueError(f"no host in {redact_url(text)!r}")
    caveats = []
    if port is None:
        port = PROXY_DEFAULT_PORTS[scheme]
        caveats.append(f"the proxy URL has no port: this probe and Python use {port}, "
                       "curl uses 1080")
    url = f"{scheme}://{host_for_url(parts.hostname)}:{port}"
    return Proxy(url, scheme, parts.hostname, port,
                 unquote(parts.username) if parts.username is not None else None,
                 unquote(parts.password) if parts.password is not None else None), caveats


def match_no_proxy(host: str, port: int | None, value: str) -> tuple[str | None, list[str]]:
    """(the NO_PROXY entry that sends ``host`` direct, or None; caveats about tool differences)."""
    if value.strip() == "*":
        return "*", []
    caveats: list[str] = []
    host = host.lower().rstrip(".")
    for raw in re.split(r"[,\s]+", value):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            caveats.append("'*' inside a list: curl and Python honour '*' only as the whole value")
            continue
        entry_host, entry_port = _split_entry(entry)
        if entry_port is not None and entry_port != port:
            continue
        matched, caveat = _entry_matches(host, entry_host)
        if caveat:
            caveats.append(caveat)
        if matched:
            if entry_port is not None:
                caveats.append(f"{raw.strip()!r} names a port: Python and Go honour it, curl "
                               "ignores the entry")
            return raw.strip(), caveats
    return None, caveats


def _split_entry(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if "/" not in entry and entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def _entry_matches(host: str, entry: str) -> tuple[bool, str | None]:
    address = ip_or_none(host)
    if "/" in entry:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False, None
        if address is not None and address.version == network.version and address in network:
            return True, (f"{entry!r} is a CIDR range: curl >= 7.86, requests and Go match it, "
                          "Python's urllib does not")
        return False, None
    entry_address = ip_or_none(entry)
    if entry_address is not None or address is not None:
        return entry_address is not None and entry_address == address, None
    if entry.startswith("*."):
        if _domain_matches(host, entry[2:]):
            return False, (f"{entry!r} is a Go-style wildcard: Go matches {host}, curl and "
                           "Python do not (write .domain instead)")
        return False, None
    return _domain_matches(host, entry.lstrip(".")), None


def _domain_matches(host: str, domain: str) -> bool:
    return bool(domain) and (host == domain or host.endswith("." + domain))


def ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
