"""Path-MTU black holes beyond TLS (issue 13, X11): an ``http://`` target whose answer fills
full-size segments, in both address families, and the controls that must stay silent.

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
  that flush headers first) and arrives; the body stalls after it.
"""

from __future__ import annotations

from collections.abc import Callable

from .ipfaults import drop_too_big, narrow_link_path
from .netlab import Lab
from .scenarios import APP, Scenario

#: A page that needs full-size segments: about 12 KB, eight or nine of them.
PAGE = "whynet mtu lab page\n" * 600
SMALL_PAGE = "ok"
HTTP_PORT = 8080
DB_PORT = 5432  # a raw TCP service: whynet does not speak it, nothing large to ask for


def http_behind_narrow_link(lab: Lab, name: str, family: int, *, black_hole: bool,
                            page: str = PAGE, one_write: bool = True) -> Scenario:
    """An HTTP origin on port 8080 behind the 1400-byte link. ``black_hole``: the ICMP that
    would report the small link is dropped; ``one_write``: the head goes with the body."""
    o, wan, origin, ip = narrow_link_path(lab, family)
    web = origin.http_server(ip, HTTP_PORT, body=page, one_write=one_write)
    if black_hole:
        drop_too_big((o.gw, wan), family)
    info = {"ip": ip, "family": family, "port": HTTP_PORT, "page_bytes": len(page) + 1}
    target = f"http://{APP}:{HTTP_PORT}/"
    common = {"nodes": {"wan": wan, "origin": origin}, "servers": {"web": web}, "info": info}
    if black_hole and page == PAGE:
        return o.scenario(name, target, checklist=("X11",), layer="application",
                          expect="path.mtu-black-hole-http", **common)
    return o.scenario(name, target, **common)


def raw_port_behind_black_hole(lab: Lab) -> Scenario:
    """A TCP service whynet does not speak (a database port) behind the black hole: nothing
    large can be asked for, so whynet records the check as not possible and stays silent."""
    o, wan, origin, ip = narrow_link_path(lab, 4)
    db = origin.tcp_server(ip, DB_PORT)
    drop_too_big((o.gw, wan), 4)
    return o.scenario("raw-port-behind-black-hole", f"{APP}:{DB_PORT}",
                      nodes={"wan": wan, "origin": origin}, servers={"db": db},
                      info={"ip": ip, "family": 4, "port": DB_PORT})


#: Fault scenarios: name -> builder(lab).
FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "mtu-black-hole-http-v4": lambda lab: http_behind_narrow_link(
        lab, "mtu-black-hole-http-v4", 4, black_hole=True),
    "mtu-black-hole-http-v6": lambda lab: http_behind_narrow_link(
        lab, "mtu-black-hole-http-v6", 6, black_hole=True, one_write=False),
}

#: Healthy controls: name -> builder(lab).
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    # The same narrow link with path MTU discovery working: the page arrives at full size.
    "small-mtu-pmtud-works-http-v4": lambda lab: http_behind_narrow_link(
        lab, "small-mtu-pmtud-works-http-v4", 4, black_hole=False),
    # The black hole is there, but a two-byte page never needs a full-size segment: no claim.
    "small-answer-behind-black-hole": lambda lab: http_behind_narrow_link(
        lab, "small-answer-behind-black-hole", 4, black_hole=True, page=SMALL_PAGE),
    "raw-port-behind-black-hole": raw_port_behind_black_hole,
}
