"""``firewall_verdict`` facts: what this host's ruleset does with each probed connection.

A step of the diagnosis pipeline (engine/diagnose.py), after the probes: it reads facts only
(``firewall_rule``/``firewall_chain``, ``probe_tcp``, ``probe_route``, ``probe_listen``,
``route``, ``address``, and ``firewall_file_rule`` for file and line), so a snapshot diagnoses
like a live run, and it knows no network.

* For each address a target's TCP probe tried: the packet this host sends (``output``: the
  probe's source address, the route's interface, the target's address and port), for TCP and
  for UDP to the same port (F3: one protocol blocked, the other not). A packet to one of this
  host's own addresses leaves through ``lo`` and comes back in through the input chains: both
  are walked.
* For each ``--listen PORT``: a new TCP connection from an unknown client to this host, arriving
  on the default route's interface (``input``), for each family that interface has a global
  address of (IPv4 when none is known). Rules that name a client
  address are listed in ``assumed`` (an allow-list: they would decide for some clients).

Nothing is emitted when no firewall rules or chains were collected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.facts import Fact, make_fact
from engine.firewall.evaluate import Packet, RuleRef, Ruleset, Verdict
from engine.firewall.files import Links, link

MAX_LISTED = 12  # rules passed / assumed listed on a fact


def firewall_verdicts(facts: Sequence[Fact], links: Links | None = None) -> list[Fact]:
    """The ``firewall_verdict`` facts for the probes and listen ports in ``facts``;
    ``links`` maps live rules to the file and line they were loaded from, or to the file
    that no longer has them (``engine.firewall.files.link``; computed here when not given)."""
    if not any(f.kind in ("firewall_rule", "firewall_chain") for f in facts):
        return []
    if links is None:
        links = link(facts)
    ruleset = Ruleset(facts, links.lines, links.not_in_file)
    if not ruleset:
        return []
    out: list[Fact] = []
    routes = {(f.get("target"), f.get("ip")): f for f in facts if f.kind == "probe_route"}
    local = _local_addresses(facts)
    seen: set[tuple[Any, ...]] = set()
    for probe in facts:
        if probe.kind != "probe_tcp" or probe.get("via_proxy") or probe.get("port") is None:
            continue
        target, ip, port = probe.get("target"), probe.get("ip"), probe.get("port")
        key = (target, ip, port)
        if ip is None or key in seen or not _is_ip(ip):
            continue
        seen.add(key)
        route = routes.get((target, ip))
        src = probe.get("src") or (route.get("src") if route is not None else None)
        oif = route.get("interface") if route is not None else None
        for protocol in ("tcp", "udp"):
            packet = Packet("output", _family(ip), protocol, _ip_or_none(src), str(ip), None,
                            int(port), None, oif)
            verdict = _through(ruleset, packet, str(ip) in local or oif == "lo")
            out.append(verdict_fact(str(target), verdict, probe.id))
    for probe in facts:
        if probe.kind != "probe_listen" or probe.get("port") is None:
            continue
        for packet in listen_packets(facts, int(probe.get("port")),
                                     str(probe.get("protocol") or "tcp")):
            out.append(verdict_fact(str(probe.get("target")), ruleset.evaluate(packet),
                                    probe.id))
    return out


def listen_packets(facts: Sequence[Fact], port: int, protocol: str = "tcp") -> list[Packet]:
    """A new connection from an unknown client to ``port`` here, arriving on the default
    route's interface, once per family clients can reach this host by (IPv4 when none is
    known)."""
    iif, daddr = _default_interface(facts)
    return [Packet("input", family, protocol, None, daddr.get(family), None, port, iif, None)
            for family in sorted(daddr) or [4]]


def _through(ruleset: Ruleset, packet: Packet, local: bool) -> Verdict:
    """Output, and for a local destination the way back in through ``lo`` as well."""
    verdict = ruleset.evaluate(packet)
    if not local or verdict.verdict != "accept":
        return verdict
    inbound = Packet("input", packet.family, packet.protocol, packet.saddr, packet.daddr,
                     packet.sport, packet.dport, "lo", None)
    back = ruleset.evaluate(inbound)
    back.passed = [*verdict.passed, *([verdict.deciding] if verdict.deciding else []),
                   *back.passed]
    back.packet = packet
    return back


def verdict_fact(target: str, verdict: Verdict, probe_id: str) -> Fact:
    p, rule = verdict.packet, verdict.deciding
    fid = (f"firewall_verdict:{target}:{p.direction}:{p.protocol}:{p.family}:"
           f"{p.daddr or '*'}:{p.dport}")
    source: dict[str, Any] = {"derived": "engine.firewall", "probe": probe_id}
    if rule is not None:
        source["rule"] = rule.fact_id
        if rule.file:
            source.update(file=rule.file, line=rule.line)
    return make_fact(
        "firewall_verdict", fid, source,
        target=target, direction=p.direction, family=p.family, protocol=p.protocol,
        saddr=p.saddr, ip=p.daddr, port=p.dport, iif=p.iif, oif=p.oif,
        verdict=verdict.verdict, reject_with=verdict.reject_with,
        description=verdict.describe(), packet=p.describe(),
        rule=rule.fact_id if rule else None, backend=rule.backend if rule else None,
        rule_family=rule.family if rule else None, table=rule.table if rule else None,
        chain=rule.chain if rule else None, position=rule.position if rule else None,
        handle=rule.handle if rule else None, rule_text=rule.text if rule else None,
        policy=rule is not None and rule.position is None,
        file=rule.file if rule else None, line=rule.line if rule else None,
        not_in_file=rule.not_in_file if rule else None,
        unknown=verdict.unknown,
        passed=[_short(r) for r in verdict.passed[:MAX_LISTED]],
        assumed=[_short(r) for r in verdict.assumed[:MAX_LISTED]],
        chains=verdict.chains,
    )


def _short(ref: RuleRef) -> str:
    """``inet filter output #3: tcp dport 22 accept`` (the policy: ``... policy drop``)."""
    where = f"{ref.family} {ref.table} {ref.chain}"
    if ref.position is None:
        return f"{where} {ref.text}"
    return f"{where} #{ref.position}: {ref.text}"


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _ip_or_none(value: Any) -> str | None:
    return str(value).split("%", 1)[0] if value and _is_ip(str(value).split("%", 1)[0]) else None


def _family(ip: Any) -> int:
    return ipaddress.ip_address(str(ip)).version


def _local_addresses(facts: Iterable[Fact]) -> set[str]:
    out = set()
    for f in facts:
        if f.kind == "address" and f.get("ip"):
            ip = _ip_or_none(f.get("ip"))
            if ip:
                out.add(str(ipaddress.ip_address(ip)))
    return out


def _default_interface(facts: Sequence[Fact]) -> tuple[str | None, Mapping[int, str]]:
    """The interface of the main table's default route (where clients come in), and its
    addresses by family."""
    iif = None
    for f in facts:
        if (f.kind == "route" and f.get("destination") == "default"
                and str(f.get("table") or "main") in ("main", "254") and f.get("interface")):
            iif = str(f.get("interface"))
            break
    addresses: dict[int, str] = {}
    for f in facts:
        if f.kind == "address" and f.get("interface") == iif and f.get("scope") == "global":
            ip = _ip_or_none(f.get("ip"))
            if ip:
                addresses.setdefault(_family(ip), ip)
    return iif, addresses
