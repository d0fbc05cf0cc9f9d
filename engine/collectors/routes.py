"""Routes in every table, policy rules and neighbours, from iproute2's JSON output.

Reads: ``ip -j -d -4 route show table all`` and ``ip -j -d -6 route show table all`` (each
family asked for apart: without ``-4``, ``table all`` already lists IPv6 routes too), ``ip -j
rule show`` and ``ip -j -6 rule show``, ``ip -j neigh show``: netlink dumps of this namespace.
Never reads: the route cache, conntrack, anything remote; sends no traffic (``ip route get``
belongs to the route probe, not here).
Produces: ``route`` (one per route and next hop: a multipath route gives one fact per next hop),
``policy_rule`` and ``neighbor`` facts; a ``collection_error`` per dump that cannot be read.

Normalisation: ``route.destination`` is ``default`` or a CIDR (a host route ``10.0.0.7`` becomes
``10.0.0.7/32``); the parser also reads the terser output of ``ip -j route`` without ``-d``, where
a missing table means ``main``, a missing protocol ``boot``, a missing type ``unicast`` and a
missing scope ``global``. ``policy_rule.default`` marks the rules every Linux host starts with:
``0: from all lookup local``, ``32766: from all lookup main`` and ``32767: from all lookup
default``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from engine.collectors import base
from engine.collectors.base import CollectContext
from engine.collectors.links import command_text, ip_missing_error, load_ip_json
from engine.facts import Fact, absent, collection_error, make_fact, unique_ids

NAME = "routes"
KINDS = ("route", "policy_rule", "neighbor")

ROUTE4_COMMAND = ("ip", "-j", "-d", "-4", "route", "show", "table", "all")
ROUTE6_COMMAND = ("ip", "-j", "-d", "-6", "route", "show", "table", "all")
RULE4_COMMAND = ("ip", "-j", "rule", "show")
RULE6_COMMAND = ("ip", "-j", "-6", "rule", "show")
NEIGH_COMMAND = ("ip", "-j", "neigh", "show")

DEFAULT_RULES = frozenset({(0, "local"), (32766, "main"), (32767, "default")})


def family_of(address: Any) -> int | None:
    if not isinstance(address, str) or address in ("default", "all", ""):
        return None
    return 6 if ":" in address else 4


def to_cidr(address: str, prefix: Any, family: int) -> str:
    """``10.0.0.0`` + 24 -> ``10.0.0.0/24``; ``10.0.0.7`` alone -> ``10.0.0.7/32``."""
    if "/" in address:
        text = address
    else:
        text = f"{address}/{prefix if isinstance(prefix, int) else (32 if family == 4 else 128)}"
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return text


# --- routes ----------------------------------------------------------------------------------

def normalise_destination(dst: Any, family: int) -> str:
    if not isinstance(dst, str) or dst == "default" or dst in ("0.0.0.0/0", "::/0"):
        return "default"
    return to_cidr(dst, None, family)


def route_family(route: dict[str, Any], family: int | None) -> int:
    """The family asked for, else guessed from the addresses the route shows."""
    if family is not None:
        return family
    hops = route.get("nexthops") or []
    for candidate in (route.get("dst"), route.get("prefsrc"), route.get("gateway"),
                      *(h.get("gateway") for h in hops if isinstance(h, dict))):
        guessed = family_of(candidate)
        if guessed is not None:
            return guessed
    return 4


def gateway_of(hop: dict[str, Any]) -> str | None:
    """The next hop; ``via`` carries it when its family differs from the route's (RFC 5549)."""
    gateway = hop.get("gateway")
    if gateway is None and isinstance(hop.get("via"), dict):
        gateway = hop["via"].get("host")
    return gateway if isinstance(gateway, str) else None


def next_hops(route: dict[str, Any]) -> list[dict[str, Any]]:
    hops = [h for h in route.get("nexthops") or [] if isinstance(h, dict)]
    return hops or [route]


def route_id(table: str, destination: str, family: int, hop: str | None) -> str:
    dest_key = "default6" if destination == "default" and family == 6 else destination
    return f"route:{table}:{dest_key}:{hop or 'none'}"


def route_facts(route: dict[str, Any], family: int | None, command: str) -> list[Fact]:
    fam = route_family(route, family)
    destination = normalise_destination(route.get("dst"), fam)
    table = str(route.get("table", "main"))
    metric = route.get("metric", 0)
    route_type = str(route.get("type", "unicast"))
    common = {
        "destination": destination,
        "metric": metric if isinstance(metric, int) else 0,
        "table": table,
        "protocol": str(route.get("protocol", "boot")),
        "type": route_type,
        "family": fam,
        "scope": str(route.get("scope", "global")),
        "prefsrc": route.get("prefsrc"),
    }
    facts = []
    for hop in next_hops(route):
        gateway, interface = gateway_of(hop), hop.get("dev")
        fid = route_id(table, destination, fam, interface or gateway or route_type)
        facts.append(make_fact(
            "route", fid, {"command": command}, gateway=gateway, interface=interface, **common,
        ))
    return facts


def parse_routes(text: str, family: int | None, command: str) -> list[Fact]:
    """``route`` facts from ``ip -j [-d] [-4|-6] route show table all``.

    ``family`` is 4 or 6 when the command asked for one; None guesses it per route.
    """
    routes = load_ip_json(text, NAME, command)
    if isinstance(routes, Fact):
        return [routes]
    return unique_ids(f for r in routes for f in route_facts(r, family, command))


# --- policy rules ----------------------------------------------------------------------------

# Selector keys rendered as "key value" in ip's own words; others are appended generically.
_RULE_KEYWORDS = {
    "tos": "tos", "fwmark": "fwmark", "iif": "iif", "oif": "oif", "l3mdev": "l3mdev",
    "ipproto": "ipproto", "sport": "sport", "dport": "dport", "protocol": "proto",
}
_RULE_NOT_SELECTORS = frozenset({
    "priority", "src", "srclen", "dst", "dstlen", "table", "action", "not", "fwmask",
    "uid_start", "uid_end", "suppress_prefixlen", "suppress_ifgroup", "goto", "nat", "realms",
    "flow", "iif_detached", "oif_detached",
})


def rule_fwmark(rule: dict[str, Any]) -> str | None:
    fwmark = rule.get("fwmark")
    if fwmark is None:
        return None
    mask = rule.get("fwmask")
    return f"{fwmark}/{mask}" if mask is not None else str(fwmark)


def rule_selector(rule: dict[str, Any], src: str, dst: str | None) -> str:
    """What the rule matches, as ``ip rule`` would say it: ``not from 10.0.0.0/8 dport 443``."""
    parts = ["not"] if "not" in rule else []
    parts.append(f"from {src}")
    if dst is not None:
        parts.append(f"to {dst}")
    for key, value in rule.items():
        if key in _RULE_NOT_SELECTORS or value is None:
            continue
        if key == "fwmark":
            value = rule_fwmark(rule)
        parts.append(f"{_RULE_KEYWORDS.get(key, key)} {value}")
    if "uid_start" in rule:
        parts.append(f"uidrange {rule['uid_start']}-{rule.get('uid_end', rule['uid_start'])}")
    return " ".join(parts)


def rule_address(rule: dict[str, Any], key: str, family: int) -> str | None:
    address = rule.get(key)
    if not isinstance(address, str):
        return None
    if address == "all":
        return "all"
    return to_cidr(address, rule.get(f"{key}len"), family)


def rule_action(rule: dict[str, Any]) -> str:
    if isinstance(rule.get("action"), str):
        return rule["action"]
    if "goto" in rule:
        return "goto"
    return "lookup" if "table" in rule else "unknown"


def is_default_rule(priority: Any, selector: str, action: str, table: str | None) -> bool:
    return action == "lookup" and selector == "from all" and (priority, table) in DEFAULT_RULES


def policy_rule_fact(rule: dict[str, Any], family: int, command: str) -> Fact:
    src = rule_address(rule, "src", family) or "all"
    dst = rule_address(rule, "dst", family)
    selector = rule_selector(rule, src, dst)
    table = str(rule["table"]) if "table" in rule else None
    action = rule_action(rule)
    priority = rule.get("priority", 0)
    return make_fact(
        "policy_rule", f"rule:{family}:{priority}", {"command": command},
        priority=priority, selector=selector, table=table, family=family, action=action,
        src=src, dst=dst, fwmark=rule_fwmark(rule), iif=rule.get("iif"), oif=rule.get("oif"),
        default=is_default_rule(priority, selector, action, table),
    )


def parse_rules(text: str, family: int, command: str) -> list[Fact]:
    """``policy_rule`` facts from ``ip -j [-6] rule show``."""
    rules = load_ip_json(text, NAME, command)
    if isinstance(rules, Fact):
        return [rules]
    return unique_ids(policy_rule_fact(r, family, command) for r in rules)


# --- neighbours ------------------------------------------------------------------------------

def neighbor_fact(entry: dict[str, Any], command: str) -> Fact | None:
    ip, interface = entry.get("dst"), entry.get("dev")
    family = family_of(ip)
    if family is None:
        return None
    states = entry.get("state") or []
    state = ",".join(str(s) for s in states) if isinstance(states, list) else str(states)
    mac = entry.get("lladdr")
    return make_fact(
        "neighbor", f"neighbor:{interface}:{ip}", {"command": command},
        ip=ip, mac=mac.lower() if isinstance(mac, str) else None, interface=interface,
        state=state or None, family=family,
    )


def parse_neighbors(text: str, command: str = command_text(NEIGH_COMMAND)) -> list[Fact]:
    """``neighbor`` facts from ``ip -j neigh show`` (IPv4 and IPv6 entries)."""
    entries = load_ip_json(text, NAME, command)
    if isinstance(entries, Fact):
        return [entries]
    facts = (neighbor_fact(e, command) for e in entries)
    return unique_ids(f for f in facts if f is not None)


# --- collect ---------------------------------------------------------------------------------

Parser = Callable[[str, str], list[Fact]]

SOURCES: tuple[tuple[tuple[str, ...], Parser], ...] = (
    (ROUTE4_COMMAND, lambda text, cmd: parse_routes(text, 4, cmd)),
    (ROUTE6_COMMAND, lambda text, cmd: parse_routes(text, 6, cmd)),
    (RULE4_COMMAND, lambda text, cmd: parse_rules(text, 4, cmd)),
    (RULE6_COMMAND, lambda text, cmd: parse_rules(text, 6, cmd)),
    (NEIGH_COMMAND, parse_neighbors),
)


def collect(ctx: CollectContext) -> list[Fact]:
    if base.which("ip") is None:
        return [ip_missing_error(NAME, ROUTE4_COMMAND)]
    ipv6_present = (ctx.proc / "sys" / "net" / "ipv6").is_dir()
    facts: list[Fact] = []
    for argv, parse in SOURCES:
        if "-6" in argv and not ipv6_present:
            facts.append(absent(
                NAME, "ipv6", "IPv6 is disabled in this kernel (no /proc/sys/net/ipv6)",
                {"command": command_text(argv)},
            ))
            continue
        result = base.run_command(list(argv), timeout=ctx.timeout)
        if result.ok:
            facts.extend(parse(result.stdout, result.command))
        else:
            facts.append(collection_error(
                NAME, f"{result.command}: {result.failure()}", {"command": result.command},
            ))
    return unique_ids(facts)
