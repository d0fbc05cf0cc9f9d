"""Path faults beyond the first round (issue 13): path-MTU black holes beyond TLS (X11), and
loss, latency and jitter over IPv6 (X12), each with the controls that must stay silent.

**X11.** An ``http://`` target whose answer fills full-size segments, in both address families.

Each builder starts from :func:`ipfaults.narrow_link_path` (the office, then a 1400-byte link
between the gateway and a second router ``wan``, then the ``origin`` host:
client ─ lan ─ gw ═(MTU 1400)═ wan ─ origin) and serves plain HTTP on the origin. The black hole
is :func:`ipfaults.drop_too_big`: both routers drop the ICMP "fragmentation needed" / "packet
too big" that path MTU discovery needs. ``test_mtufaults.py`` proves each with plain sockets in
the client (a GET at the default MSS against one with the MSS clamped by ``TCP_MAXSEG``), then
holds whynet to ``test_coverage_scenarios.verdict``. ``FAULTS`` and ``HEALTHY`` list the
builders for the lab's scenario count.

The two faults differ in how the server writes its answer, as real servers do:

* ``mtu-black-hole-http-v4``: the head and the body leave in one write (nginx, Go's net/http),
  so even the head rides in a full-size segment: the request gets no answer at all;
* ``mtu-black-hole-http-v6``: the head leaves alone (Python's http.server, many frameworks
  that flush headers first) and arrives; the body stalls after it;
* ``mtu-black-hole-upload-v4`` (and ``-v6``): only the gateway drops the ICMP it owes this
  host: answers arrive (the origin's PMTUD works), this host's own full-size packets vanish, so
  a large request (whynet's padded GET; a form post, an upload) gets no answer;
* ``mtu-black-hole-https-body-v4`` (and ``-v6``): HTTPS with a small ECDSA certificate: the
  whole certificate flight fits in one segment the narrow link carries, so the TLS handshake
  completes at the default MSS; the head of the answer arrives and the page stalls;
* ``mtu-black-hole-https-upload-v4`` (and ``-v6``): the same origin with only the gateway
  dropping the ICMP it owes this host: the handshake and the page pass, a large request sent
  over TLS after the handshake (whynet's padded GET) gets no answer.

**X12 over IPv6.** The office with IPv6 end to end (:func:`ipfaults._dual_stack`: the name has
A and AAAA, and the client's global IPv6 address puts the AAAA first, so the echo train goes
to the IPv6 address, as programs connect there first). The fault hits IPv6 only, the IPv4 path
to the same server stays clean: the gateway drops 60 % of the IPv6 packets it forwards to the
server, or the server's ICMPv6 echoes are answered late by ``icmp_responder.py`` (kernel IPv6
echo off; IPv4 echo untouched). The control answers 20-25 ms late, as over a VPN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .ipfaults import PATH_FAULTS, SERVER_V6, _dual_stack, degrade, drop_too_big, narrow_link_path
from .netlab import Lab, Namespace
from .scenarios import APP, Office, Scenario, _trusted_tls

#: A page that needs full-size segments: about 12 KB, eight or nine of them.
PAGE = "whynet mtu lab page\n" * 600
SMALL_PAGE = "ok"
HTTP_PORT = 8080
DB_PORT = 5432  # a raw TCP service: whynet does not speak it, nothing large to ask for


def http_behind_narrow_link(lab: Lab, name: str, family: int, *, hole: str | None,
                            page: str = PAGE, one_write: bool = True) -> Scenario:
    """An HTTP origin on port 8080 behind the 1400-byte link. ``hole``: which ICMP that would
    report the small link is dropped: ``both`` (each router's), ``download`` (``wan``'s, to
    the origin: the origin's full-size packets vanish), ``upload`` (the gateway's, to the
    client: the client's full-size packets vanish), None (path MTU discovery works);
    ``one_write``: the head goes with the body."""
    o, wan, origin, ip = narrow_link_path(lab, family)
    web = origin.http_server(ip, HTTP_PORT, body=page, one_write=one_write)
    info = {"ip": ip, "family": family, "port": HTTP_PORT, "page_bytes": len(page) + 1,
            "hole": hole}
    return _behind_hole(o, wan, name, f"http://{APP}:{HTTP_PORT}/", hole, page == PAGE,
                        nodes={"wan": wan, "origin": origin}, servers={"web": web}, info=info)


def _behind_hole(o: Office, wan: Namespace, name: str, target: str, hole: str | None,
                 large_page: bool, **common: Any) -> Scenario:
    """The scenario of an origin behind the narrow link, with the ICMP that ``hole`` names
    dropped (see :func:`http_behind_narrow_link`), and the rule it must show on top."""
    routers = {"both": (o.gw, wan), "download": (wan,), "upload": (o.gw,), None: ()}[hole]
    drop_too_big(routers, common["info"]["family"])
    if hole == "both" and large_page:
        return o.scenario(name, target, checklist=("X11",), layer="application",
                          expect="path.mtu-black-hole-http", **common)
    if hole == "upload":  # every answer arrives: only large requests hang (no layer fails)
        return o.scenario(name, target, checklist=("X11",), layer=None,
                          expect="path.mtu-black-hole-upload", **common)
    return o.scenario(name, target, **common)


def https_behind_narrow_link(lab: Lab, name: str, family: int, *, hole: str | None,
                             page: str = PAGE) -> Scenario:
    """An HTTPS origin on port 443 behind the 1400-byte link, its certificate a single ECDSA
    leaf for one name (the whole certificate flight, about 1 KB, fits in one segment the
    narrow link carries), serving ``page`` with the head first; the client trusts its CA
    through ``SSL_CERT_FILE``. ``hole`` as for :func:`http_behind_narrow_link`: ``both`` (the
    handshake passes, the page stalls after its head), ``upload`` (the handshake and the page
    pass, a large request after the handshake vanishes), ``download``, or None (path MTU
    discovery works)."""
    o, wan, origin, ip = narrow_link_path(lab, family)
    web, env = _trusted_tls(lab, origin, ip, body=page)
    info = {"ip": ip, "family": family, "port": 443, "page_bytes": len(page) + 1,
            "cafile": env["SSL_CERT_FILE"], "hole": hole}
    return _behind_hole(o, wan, name, f"https://{APP}/", hole, page == PAGE, env=env,
                        nodes={"wan": wan, "origin": origin}, servers={"web": web}, info=info)


def raw_port_behind_black_hole(lab: Lab) -> Scenario:
    """A TCP service whynet does not speak (a database port) behind the black hole: nothing
    large can be asked for, so whynet records the check as not possible and stays silent."""
    o, wan, origin, ip = narrow_link_path(lab, 4)
    db = origin.tcp_server(ip, DB_PORT)
    drop_too_big((o.gw, wan), 4)
    return o.scenario("raw-port-behind-black-hole", f"{APP}:{DB_PORT}",
                      nodes={"wan": wan, "origin": origin}, servers={"db": db},
                      info={"ip": ip, "family": 4, "port": DB_PORT})


def degraded_path_v6(lab: Lab, fault: str | None) -> Scenario:
    """The dual-stack office with the IPv6 path to the server degraded as
    :func:`ipfaults.degrade` does it (``fault`` one of :data:`ipfaults.PATH_FAULTS`), or
    ``None``: the 20 ms control. The user asks about the host (``app.corp.test``: name, route
    and ICMP)."""
    o = _dual_stack(lab)
    degrade(lab, o, fault, SERVER_V6)
    info = {"ip": SERVER_V6}
    if fault is None:
        return o.scenario("normal-latency-v6", APP, info=info)
    return o.scenario(f"{fault}-v6", APP, checklist=("X12",), layer=None,
                      expect=PATH_FAULTS[fault], info=info)


#: Fault scenarios: name -> builder(lab).
FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "mtu-black-hole-http-v4": lambda lab: http_behind_narrow_link(
        lab, "mtu-black-hole-http-v4", 4, hole="both"),
    "mtu-black-hole-http-v6": lambda lab: http_behind_narrow_link(
        lab, "mtu-black-hole-http-v6", 6, hole="both", one_write=False),
    "mtu-black-hole-upload-v4": lambda lab: http_behind_narrow_link(
        lab, "mtu-black-hole-upload-v4", 4, hole="upload"),
    "mtu-black-hole-upload-v6": lambda lab: http_behind_narrow_link(
        lab, "mtu-black-hole-upload-v6", 6, hole="upload"),
    "mtu-black-hole-https-body-v4": lambda lab: https_behind_narrow_link(
        lab, "mtu-black-hole-https-body-v4", 4, hole="both"),
    "mtu-black-hole-https-upload-v4": lambda lab: https_behind_narrow_link(
        lab, "mtu-black-hole-https-upload-v4", 4, hole="upload"),
    "mtu-black-hole-https-body-v6": lambda lab: https_behind_narrow_link(
        lab, "mtu-black-hole-https-body-v6", 6, hole="both"),
    "mtu-black-hole-https-upload-v6": lambda lab: https_behind_narrow_link(
        lab, "mtu-black-hole-https-upload-v6", 6, hole="upload"),
    **{f"{fault}-v6": (lambda lab, fault=fault: degraded_path_v6(lab, fault))
       for fault in PATH_FAULTS},
}

#: Healthy controls: name -> builder(lab).
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    # The same narrow link with path MTU discovery working: the page arrives at full size.
    "small-mtu-pmtud-works-http-v4": lambda lab: http_behind_narrow_link(
        lab, "small-mtu-pmtud-works-http-v4", 4, hole=None),
    # The small certificate and the page over the same link with PMTUD working: the body's
    # segments shrink to the link and arrive.
    "small-mtu-pmtud-works-https-body-v4": lambda lab: https_behind_narrow_link(
        lab, "small-mtu-pmtud-works-https-body-v4", 4, hole=None),
    "small-mtu-pmtud-works-https-body-v6": lambda lab: https_behind_narrow_link(
        lab, "small-mtu-pmtud-works-https-body-v6", 6, hole=None),
    # The origin's full-size packets vanish, but a three-byte page never needs one: no claim
    # (this host's own large packets get their ICMP: the padded GET passes).
    "small-answer-behind-black-hole": lambda lab: http_behind_narrow_link(
        lab, "small-answer-behind-black-hole", 4, hole="download", page=SMALL_PAGE),
    # Over HTTPS: the origin's full-size packets vanish, this host's get their ICMP (the
    # padded GET over TLS passes) and the page is too small to need a full-size segment.
    "small-answer-behind-black-hole-https": lambda lab: https_behind_narrow_link(
        lab, "small-answer-behind-black-hole-https", 4, hole="download", page=SMALL_PAGE),
    "raw-port-behind-black-hole": raw_port_behind_black_hole,
    "normal-latency-v6": lambda lab: degraded_path_v6(lab, None),
}
