"""The per-layer summary of each target (checklist B2): link -> address -> route -> name ->
transport -> tls -> proxy -> application, each ``ok``, ``fail``, ``skipped`` or ``unknown``.

Read from facts only (collected ``interface``/``address`` facts and the ``probe_*`` facts), so it
reads the same from a live run and a snapshot. The rows are the report's ``layers`` list::

    {"target": "https://example.org/", "layer": "tls", "status": "fail",
     "summary": "tls_untrusted: self-signed certificate (127.0.0.1)"}

* ``skipped``: the layer does not apply (an address needs no name; a bare host has no port, so
  no transport/TLS; a non-TLS port has no TLS; no proxy variable applies).
* ``unknown``: it applies but nothing shows how it is (no facts, or a lower layer failed first:
  "not reached").
* link/address: the interface the route probe chose (else any non-loopback one) is up and has a
  global address of the target's family (an IPv6 address that failed duplicate address
  detection does not count). A loopback route is ``ok``. Several machines answering ARP for the
  target's next hop fail the address layer (a duplicate address).
* route: a route exists, and the path works as far as the probes see: ICMP net/host-unreachable
  for every connection fails it.
* transport: direct TCP, or — when the proxy probe says the target goes through a proxy — the
  proxy's reachability (the direct result is in the summary).
* application: ``ok`` for an HTTP answer below 500 (a 404 still shows the application answers),
  ``fail`` for 5xx, no answer or not HTTP, or an answer whose head came and whose body stalls
  at the default segment size only (a path-MTU black hole, ``probe_pmtu``); ``unknown``
  without an HTTP probe (non-HTTP schemes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from engine.facts import Fact, make_fact
from engine.kinds import LAYERS
from engine.probes import outcomes as O
from engine.probes.common import host_for_url
from engine.probes.common import unique as _unique

OK, FAIL, SKIPPED, UNKNOWN = "ok", "fail", "skipped", "unknown"
_DIRECT_PROXY_OUTCOMES = frozenset({O.DIRECT, O.BYPASSED})


def _target_label(target: Any) -> str:
    return str(getattr(target, "raw", target))


def layer_summary(targets: Sequence[Any], facts: Sequence[Fact]) -> list[dict[str, str]]:
    """Rows for every target (a :class:`~engine.probes.target.Target` or its ``raw`` text)."""
    rows: list[dict[str, str]] = []
    for target in targets:
        rows += _target_rows(_TargetFacts(_target_label(target), facts))
    return rows


def first_failing_layer(rows: Sequence[dict[str, str]], target: Any) -> str | None:
    """The lowest layer of ``target`` whose status is ``fail``, or None."""
    label = _target_label(target)
    for row in rows:
        if row["target"] == label and row["status"] == FAIL:
            return row["layer"]
    return None


class _TargetFacts:
    """The facts about one target, by kind, plus the collected interface and address facts."""

    def __init__(self, target: str, facts: Sequence[Fact]) -> None:
        self.target = target
        self.probes: dict[str, list[Fact]] = {}
        self.interfaces: dict[str, Fact] = {}
        self.addresses: list[Fact] = []
        self.duplicate_own: dict[str, Fact] = {}  # own addresses another machine also holds
        for f in facts:
            if f.kind == "probe_dad" and f.get("outcome") == O.DUPLICATE:
                self.duplicate_own[str(f.get("ip"))] = f
            elif f.kind.startswith("probe_") and f.get("target") == target:
                self.probes.setdefault(f.kind, []).append(f)
            elif f.kind == "interface" and f.get("name"):
                self.interfaces[str(f.get("name"))] = f
            elif f.kind == "address":
                self.addresses.append(f)

    def of(self, kind: str) -> list[Fact]:
        return self.probes.get(kind, [])

    @property
    def parsed(self) -> Fact | None:
        found = self.of("probe_target")
        return found[0] if found else None

    @property
    def proxy(self) -> Fact | None:
        found = self.of("probe_proxy")
        return found[0] if found else None

    @property
    def proxied(self) -> bool:
        proxy = self.proxy
        return proxy is not None and proxy.get("outcome") not in _DIRECT_PROXY_OUTCOMES and (
            proxy.get("proxy") is not None)


def _target_rows(tf: _TargetFacts) -> list[dict[str, str]]:
    checks = {
        "link": _link, "address": _address, "route": _route, "name": _name,
        "transport": _transport, "tls": _tls, "proxy": _proxy, "application": _application,
    }
    rows = []
    failed_below = False
    for layer in LAYERS:
        status, summary = checks[layer](tf)
        if status == UNKNOWN and failed_below and not summary:
            summary = "not reached: a lower layer failed"
        rows.append({"target": tf.target, "layer": layer, "status": status,
                     "summary": summary or "no facts about this layer"})
        failed_below = failed_below or status == FAIL
    return rows


# --- each layer -----------------------------------------------------------------------------

def _routed(tf: _TargetFacts) -> list[Fact]:
    return [f for f in tf.of("probe_route") if f.get("outcome") == O.ROUTED]


def _route_interfaces(tf: _TargetFacts) -> list[str]:
    return _unique(str(f.get("interface")) for f in _routed(tf) if f.get("interface"))


def _is_up(interface: Fact) -> bool:
    state = str(interface.get("state") or "").lower()
    flags = {str(x).upper() for x in interface.get("flags") or []}
    return state == "up" or (state == "unknown" and ("LOWER_UP" in flags or "UP" in flags))


def _link(tf: _TargetFacts) -> tuple[str, str]:
    used = _route_interfaces(tf)
    if used == ["lo"]:
        return OK, "loopback: the target is this host"
    if not tf.interfaces:
        return UNKNOWN, "no interface facts collected"
    if used:
        down = [name for name in used if name in tf.interfaces and not _is_up(tf.interfaces[name])]
        if down:
            return FAIL, f"{', '.join(down)} (the route's interface) is down"
        silent = _silent_next_hops(tf)
        if silent and len(silent) == len(_routed(tf)):
            return FAIL, "no ARP answer from the next hop: " + ", ".join(_unique(silent))
        return OK, f"{', '.join(used)} is up"
    up = [name for name, f in tf.interfaces.items()
          if _is_up(f) and str(f.get("kind")) != "loopback" and name != "lo"]
    if up:
        return OK, f"up: {', '.join(sorted(up))}"
    return FAIL, "no network interface other than loopback is up"


def _silent_next_hops(tf: _TargetFacts) -> list[str]:
    """Next hops of routed addresses that did not answer ARP: "10.0.0.1 on eth0"."""
    arps = {str(f.get("ip")): f for f in tf.of("probe_arp")}
    silent = []
    for route in _routed(tf):
        hop = str(route.get("gateway") or route.get("ip"))
        arp = arps.get(hop)
        if arp is not None and arp.get("outcome") == O.NO_ANSWER:
            silent.append(f"{hop} on {route.get('interface')}")
    return silent


def _address(tf: _TargetFacts) -> tuple[str, str]:
    used = _route_interfaces(tf)
    if used == ["lo"]:
        return OK, "loopback address"
    if not tf.addresses:
        return UNKNOWN, "no address facts collected"
    clashes = [f"{r.get('src')} on {r.get('interface')} is also held by "
               f"{', '.join(tf.duplicate_own[str(r.get('src'))].get('macs') or [])}"
               for r in _routed(tf) if str(r.get("src")) in tf.duplicate_own]
    if clashes:
        return FAIL, "; ".join(_unique(clashes))
    families = _target_families(tf)
    # A link-local target (fe80::/10, 169.254.0.0/16) is reached from a link-local source.
    scopes = ("global", "link") if _link_local_targets(tf) else ("global",)
    eligible = [a for a in tf.addresses if str(a.get("scope")) in scopes
                and (not families or a.get("family") in families)
                and (a.get("interface") in used if used else a.get("interface") != "lo")]
    # An IPv6 address whose duplicate address detection failed stays listed (dadfailed) but
    # the kernel never sends from it: it is no address at all.
    candidates = [a for a in eligible if not a.get("duplicate")]
    where = f" on {', '.join(used)}" if used else ""
    duplicates = [f for f in tf.of("probe_arp") if f.get("outcome") == O.DUPLICATE]
    if duplicates:
        f = duplicates[0]
        return FAIL, (f"{len(f.get('macs') or [])} machines answer ARP for {f.get('ip')} on "
                      f"{f.get('interface')}: {', '.join(f.get('macs') or [])}")
    if candidates:
        shown = ", ".join(f"{a.get('ip')}/{a.get('prefix')} ({a.get('interface')})"
                          for a in candidates[:3])
        scope = "link-local or global" if "link" in scopes else "global"
        return OK, f"{scope} address{where}: {shown}"
    fam = " or ".join(f"IPv{f}" for f in sorted(families)) if families else "IP"
    if eligible:
        shown = ", ".join(f"{a.get('ip')} ({a.get('interface')})" for a in eligible[:3])
        return FAIL, (f"no usable global {fam} address{where}: {shown} failed duplicate "
                      "address detection (another machine holds it)")
    wanted = " or ".join("link-local" if scope == "link" else scope for scope in scopes)
    return FAIL, f"no {wanted} {fam} address{where}"


def _link_local_targets(tf: _TargetFacts) -> bool:
    """Whether every address probed for the target is link-local."""
    ips = [str(f.get("ip")).split("%")[0] for f in tf.of("probe_route")]
    try:
        return bool(ips) and all(ipaddress.ip_address(ip).is_link_local for ip in ips)
    except ValueError:
        return False


def _target_families(tf: _TargetFacts) -> set[int]:
    ips = [str(f.get("ip")) for f in tf.of("probe_route")]
    families: set[int] = set()
    for ip in ips:
        try:
            families.add(ipaddress.ip_address(ip.split("%")[0]).version)
        except ValueError:
            continue
    return families


#: ICMP errors that say a hop had no way on (not a firewall's verdict): the path fails there.
_PATH_ICMP = frozenset({"net-unreachable", "host-unreachable", "addr-unreachable", "no-route"})


def _path_failure(tf: _TargetFacts) -> str | None:
    """Why a routed target still fails at the route layer, seen by the probes: a router on
    the way (or this host, when the last hop did not answer ARP) sent ICMP net/host-unreachable
    for the connection or the ping, and no connection reached the target (an RST would show
    the path works; a silent next hop already fails the link layer). The ping counts too: a
    router rate-limits its ICMP errors, so the connection may only see a timeout."""
    tcp = tf.of("probe_tcp")
    if any(f.get("outcome") in (O.OPEN, O.REFUSED) for f in tcp):
        return None
    for f in [*tcp, *tf.of("probe_icmp")]:
        if f.get("outcome") == O.UNREACHABLE and f.get("icmp") in _PATH_ICMP:
            return f"{f.get('icmp')} from {f.get('icmp_from')} for {f.get('ip')}"
    return None


def _route(tf: _TargetFacts) -> tuple[str, str]:
    routes = tf.of("probe_route")
    if not routes:
        system = [f for f in tf.of("probe_resolve") if f.get("via") == "system"]
        if system and system[0].get("outcome") != O.RESOLVED:
            return UNKNOWN, "no address to route: the name did not resolve"
        return UNKNOWN, ""
    routed = _routed(tf)
    if not routed:
        first = routes[0]
        kind = f" ({first.get('route_type')} route)" if first.get("route_type") else ""
        return FAIL, f"no route to {first.get('ip')}{kind}: {first.get('error')}"
    r = routed[0]
    via = f"via {r.get('gateway')}" if r.get("gateway") else "directly connected"
    extra = f", {len(routes) - len(routed)} address(es) unroutable" if len(routed) < len(routes) \
        else ""
    summary = (f"{r.get('ip')} {via} dev {r.get('interface')} src {r.get('src')} "
               f"(table {r.get('table')}, matched {r.get('matched_route')}){extra}")
    failure = _path_failure(tf)
    if failure:
        return FAIL, f"{summary}, but {failure}"
    return OK, summary


def _name(tf: _TargetFacts) -> tuple[str, str]:
    parsed = tf.parsed
    if parsed is not None and parsed.get("is_ip"):
        return SKIPPED, "the target is an address: no name to resolve"
    system = [f for f in tf.of("probe_resolve") if f.get("via") == "system"]
    proxy = tf.proxy
    # socks5:// proxies are given an address: this host resolves the name all the same.
    if tf.proxied and proxy is not None and proxy.get("name_resolved_by") != "client":
        here = f" (here: {system[0].get('outcome')})" if system else ""
        return SKIPPED, f"the proxy {proxy.get('proxy')} resolves the name{here}"
    if not system:
        return UNKNOWN, ""
    s = system[0]
    if s.get("outcome") != O.RESOLVED:
        return FAIL, f"{s.get('outcome')}: {s.get('error')}"
    origin = f" (hosts file line {s.get('hosts_line')})" if s.get("from_hosts") else ""
    return OK, f"{', '.join(s.get('addresses') or [])}{origin}"


def _transport(tf: _TargetFacts) -> tuple[str, str]:
    parsed = tf.parsed
    if parsed is not None and parsed.get("port") is None:
        return SKIPPED, "no port given: only name, route and ICMP were probed"
    tcp = tf.of("probe_tcp")
    direct = _tcp_summary(tcp)
    if tf.proxied:
        proxy = tf.proxy
        assert proxy is not None
        reachable = proxy.get("proxy_reachable")
        status = OK if reachable else (UNKNOWN if reachable is None else FAIL)
        return status, (f"through proxy {proxy.get('proxy')}: "
                        f"{'reachable' if reachable else proxy.get('error')}; direct: {direct}")
    if not tcp:
        return UNKNOWN, ""
    status = OK if any(f.get("outcome") == O.OPEN for f in tcp) else FAIL
    return status, direct


def _tcp_summary(tcp: list[Fact]) -> str:
    if not tcp:
        return "not tried"
    parts = []
    for f in tcp[:4]:
        icmp = f" ({f.get('icmp')} from {f.get('icmp_from')})" if f.get("icmp") else ""
        parts.append(f"{host_for_url(str(f.get('ip')))}:{f.get('port')} {f.get('outcome')}{icmp}")
    more = f" and {len(tcp) - 4} more" if len(tcp) > 4 else ""
    return ", ".join(parts) + more


def _tls(tf: _TargetFacts) -> tuple[str, str]:
    parsed = tf.parsed
    if parsed is not None and (parsed.get("port") is None or not parsed.get("tls")):
        return SKIPPED, "not a TLS port or scheme"
    tls = tf.of("probe_tls")
    if tf.proxied:
        tls = [f for f in tls if f.get("via_proxy")] or tls
    if not tls:
        return UNKNOWN, ""
    good = [f for f in tls if f.get("outcome") == O.TLS_OK]
    f = good[0] if good else tls[0]
    if not good and parsed is not None and parsed.get("scheme") is None and all(
            t.get("outcome") == O.NOT_TLS for t in tls):
        return SKIPPED, (f"port {parsed.get('port')} answers without TLS (no scheme given: "
                         "TLS was only tried)")
    where = "via proxy" if f.get("via_proxy") else f.get("ip")
    if good:
        warn = f"; issuer looks like interception: {f.get('interception_hint')}" \
            if f.get("unexpected_issuer") else ""
        return OK, f"{f.get('version')} to {where}, issuer {f.get('issuer')}{warn}"
    return FAIL, f"{f.get('outcome')}: {f.get('error')} ({where})"


def _proxy(tf: _TargetFacts) -> tuple[str, str]:
    proxy = tf.proxy
    if proxy is None:
        parsed = tf.parsed
        if parsed is not None and parsed.get("port") is None:
            return SKIPPED, "no port given"
        return UNKNOWN, ""
    outcome = proxy.get("outcome")
    if outcome == O.DIRECT:
        return SKIPPED, "no proxy variable applies: direct connection"
    if outcome == O.BYPASSED:
        return SKIPPED, (f"{proxy.get('proxy')} bypassed by NO_PROXY entry "
                         f"{proxy.get('no_proxy_match')}")
    if outcome == O.PROXIED_OK:
        return OK, f"through {proxy.get('proxy')} ({proxy.get('variable')}): " \
                   f"status {proxy.get('connect_status')}"
    return FAIL, f"{outcome} at {proxy.get('proxy')} ({proxy.get('variable')}): " \
                 f"{proxy.get('error')}"


def _application(tf: _TargetFacts) -> tuple[str, str]:
    http = tf.of("probe_http")
    if not http:
        parsed = tf.parsed
        scheme = parsed.get("scheme") if parsed is not None else None
        if scheme not in ("http", "https"):
            return UNKNOWN, "no application probe for this kind of target"
        return UNKNOWN, ""
    f = http[0]
    status = f.get("status")
    stalled = [m for m in tf.of("probe_pmtu") if m.get("outcome") == O.BLACK_HOLE
               and m.get("direction") != "upload"]
    if isinstance(status, int) and status < 500 and stalled:
        # The head came in a small segment; the body, in full-size ones, never does.
        return FAIL, (f"HTTP {status}, then the answer stalls after "
                      f"{stalled[0].get('default_answer_bytes')} bytes (it arrives whole only "
                      f"with small segments)")
    if isinstance(status, int) and status < 500:
        return OK, f"HTTP {status} {f.get('reason') or ''}".rstrip()
    if isinstance(status, int):
        return FAIL, f"HTTP {status} {f.get('reason') or ''}: the server answers with an error"
    return FAIL, f"{f.get('outcome')}: {f.get('error')}"


# --- the path (B3: draw the network) --------------------------------------------------------

# probe_arp outcomes that show the next hop answers at the link layer.
_ARP_ANSWERED = frozenset({O.SINGLE, O.DUPLICATE})


def network_paths(targets: Sequence[Any], facts: Sequence[Fact]) -> list[Fact]:
    """One ``network_path`` fact per target and address: the path hop by hop, and which hops
    are unknown (B3: the drawing is checked, not only drawn).

    A hop is known when a probe showed it: the source address and interface and the next hop
    (from the route probe), the next hop answering at the link layer (when ARP was asked), the
    address (from the name lookup, or given), the port (when the target has one) and where the
    name came from. Derived from probe facts only, so it reads the same live and from a report.
    """
    out: list[Fact] = []
    for target in targets:
        tf = _TargetFacts(_target_label(target), facts)
        parsed = tf.parsed
        port = parsed.get("port") if parsed is not None else None
        port_text = str(parsed.get("port_text")) if parsed and port is not None else "no port"
        resolvers = sorted({str(f.get("via")) for f in tf.of("probe_resolve")
                            if f.get("transport") in ("udp", "tcp")})
        named = parsed is not None and not parsed.get("is_ip")
        proxy = tf.proxy
        via = (f"proxy {proxy.get('proxy')}" if tf.proxied and proxy is not None
               else "NO_PROXY: direct" if proxy is not None and proxy.get("bypassed")
               else "direct")
        from_hosts = any(f.get("from_hosts") for f in tf.of("probe_resolve"))
        name = ("hosts file" if from_hosts else f"name via {', '.join(resolvers)}"
                if resolvers else "no name lookup")
        arps = {str(f.get("ip")): f for f in tf.of("probe_arp")}
        routes: Sequence[Fact | None] = tf.of("probe_route") or [None]
        for n, route in enumerate(routes):
            unknown: list[str] = []
            if named and not from_hosts and not any(
                    f.get("outcome") == O.RESOLVED for f in tf.of("probe_resolve")):
                unknown.append("name")
            routed = route is not None and route.get("outcome") == O.ROUTED
            next_hop = None
            answers: bool | None = None
            if route is None:
                unknown.append("address")
                hops = "not routed"
            elif not routed:
                unknown += ["source", "next hop"]
                hops = f"no route to {route.get('ip')}"
            else:
                next_hop = str(route.get("gateway") or route.get("ip"))
                arp = arps.get(next_hop)
                if arp is not None and arp.get("outcome") in _ARP_ANSWERED:
                    answers = True
                elif arp is not None and arp.get("outcome") == O.NO_ANSWER:
                    answers = False
                    unknown.append("next hop")
                hop = (f" → gateway {route.get('gateway')}" if route.get("gateway") else
                       " → on the link")
                if answers is False:
                    hop += " (no ARP answer)"
                hops = (f"{route.get('src')} ({route.get('interface')}){hop} → "
                        f"{route.get('ip')} {port_text}")
                if route.get("non_default_table"):
                    hops += f" (table {route.get('table')})"
            text = f"{hops} [{name}; {via}]"
            ip = route.get("ip") if route is not None else None
            out.append(make_fact(
                "network_path", f"network_path:{tf.target}:{ip or n}",
                {"derived_from": "probe facts (engine.layers)"},
                target=tf.target, ip=ip, port=port,
                src=route.get("src") if routed and route is not None else None,
                interface=route.get("interface") if routed and route is not None else None,
                gateway=route.get("gateway") if routed and route is not None else None,
                next_hop=next_hop, next_hop_answers=answers,
                resolver=name, proxy=via, complete=not unknown, unknown_hops=unknown,
                first_unknown=unknown[0] if unknown else None, text=text))
    return out


def path_summary(targets: Sequence[Any], facts: Sequence[Fact]) -> list[dict[str, str]]:
    """One line per target and address: where the connection really goes, hop by hop.

    ``10.20.0.10 (eth0) → gateway 10.20.0.1 → 198.51.100.20 port 8080 (explicit)
    [name via 10.20.0.53; direct]``: drawn from the probes, so a changed address, port,
    gateway, resolver or proxy shows wherever it matters. Reads the ``network_path`` facts
    when present (a diagnosis derives them before inference), else derives them.
    """
    labels = {_target_label(t) for t in targets}
    paths = [f for f in facts if f.kind == "network_path" and f.get("target") in labels]
    if not paths:
        paths = network_paths(targets, facts)
    return [{"target": str(f.get("target")), "path": str(f.get("text"))} for f in paths]
