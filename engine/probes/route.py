"""The route the kernel picks for an address (checklist R3, R4): ``ip -j route get ADDR``.

When a policy rule selects by source address, the lookup is made again ``from`` the source the
first one chose, as ``connect()`` does once it has picked its source (so a rule such as
``from 10.0.0.5 lookup 200`` applies, as it does to TCP; ``ping`` does not look up twice).

Also ``ip -j route get ADDR fibmatch`` for the route entry that matched (``matched_route``: the
longest prefix that covers the address, or ``default``), and which policy rule sent the lookup to
that table (``rule_priority``; from the ``policy_rule`` facts, else ``ip -j rule``).
``non_default_table`` is true when that table is not one of ``main``, ``local``, ``default``.

Failures, as ``ip route get`` words them: "Network is unreachable" (no route at all),
"No route to host" (an ``unreachable`` route), "Permission denied" (``prohibit``),
"Invalid argument" (``blackhole``): outcome ``no_route`` with ``route_type`` saying which.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Mapping, Sequence
from typing import Any

from engine.collectors.base import CommandResult, run_command
from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import Stopwatch, once_per_run, probe_fact
from engine.probes.context import ProbeContext

STANDARD_TABLES = frozenset({"main", "local", "default", "254", "255", "253"})
_ROUTE_ERRORS = {
    "Network is unreachable": None,
    "No route to host": "unreachable",
    "Permission denied": "prohibit",
    "Invalid argument": "blackhole",
}


def parse_route_get(text: str) -> dict[str, Any]:
    """The first object of ``ip -j route get`` output, with ``table`` filled in."""
    data = json.loads(text)
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise ValueError("ip route get gave no route object")
    route = dict(data[0])
    route.setdefault("table", "local" if route.get("type") == "local" else "main")
    return route


def route_failure(stderr: str) -> tuple[bool, str | None]:
    """(is a 'no route' answer, route type) from ``ip route get``'s error text."""
    for text, route_type in _ROUTE_ERRORS.items():
        if text in stderr:
            return True, route_type
    return False, None


def rules_from_facts(facts: Sequence[Fact], family: int) -> list[dict[str, Any]]:
    """The ``policy_rule`` facts of one family as plain dicts (what :func:`choosing_rule` reads)."""
    return [dict(f.fields) for f in facts
            if f.kind == "policy_rule" and f.get("family", family) == family]


def rules_from_ip_json(text: str) -> list[dict[str, Any]]:
    """``ip -j rule`` output in the shape of ``policy_rule`` facts (src/dst as CIDR or 'all')."""
    rules = []
    for raw in json.loads(text or "[]"):
        rule = dict(raw)
        for key in ("src", "dst"):
            value, length = raw.get(key), raw.get(f"{key}len")
            if value and value != "all" and length is not None:
                rule[key] = f"{value}/{length}"
        rules.append(rule)
    return rules


def choosing_rule(rules: Sequence[Mapping[str, Any]], dst: str, src: str | None,
                  table: str) -> Mapping[str, Any] | None:
    """The highest-priority rule that sends a lookup for ``dst`` to ``table``."""
    candidates = [
        r for r in rules
        if str(r.get("table")) == table and r.get("action", "lookup") in ("lookup", "to_tbl")
        and _selector_covers(r.get("dst"), dst) and _selector_covers(r.get("src"), src)
    ]
    return min(candidates, key=lambda r: int(r.get("priority", 0)), default=None)


def _selects_by_source(rules: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a policy rule matches on the source address (``ip rule add from 10.0.0.5``)."""
    return any(r.get("src") not in (None, "", "all") for r in rules)


def _selector_covers(selector: Any, ip: str | None) -> bool:
    if selector in (None, "", "all"):
        return True
    if ip is None:
        return False
    try:
        return ipaddress.ip_address(ip.split("%")[0]) in ipaddress.ip_network(str(selector),
                                                                             strict=False)
    except ValueError:
        return False


def route_get_argv(ip: str) -> list[str]:
    """``ip -j route get`` for ``ip``; an IPv6 zone index (``fe80::1%eth0``: a link-local
    address is ambiguous without its link) becomes ``oif``, which is what a socket bound to
    that scope does (``ip`` itself refuses the ``%`` form)."""
    address, _, zone = ip.partition("%")
    return ["ip", "-j", "route", "get", address, *(["oif", zone] if zone else [])]


async def probe_route(target: str, ip: str, ctx: ProbeContext) -> Fact:
    """One ``probe_route`` fact for ``ip``."""
    watch = Stopwatch()
    get, fib = await asyncio.gather(
        _ip(route_get_argv(ip), ctx.timeout),
        _ip([*route_get_argv(ip), "fibmatch"], ctx.timeout),
    )
    base = {"ip": ip, "gateway": None, "interface": None, "src": None, "table": None,
            "rule_priority": None, "non_default_table": False, "on_link": None,
            "route_type": None, "matched_route": None}
    if not get.ok:
        no_route, route_type = route_failure(get.stderr)
        return _route_fact(target, ip, watch, O.NO_ROUTE if no_route else O.ERROR, get.failure(),
                           {**base, "route_type": route_type})
    try:
        route = parse_route_get(get.stdout)
    except (ValueError, json.JSONDecodeError) as exc:
        return _route_fact(target, ip, watch, O.ERROR, f"unreadable ip route output: {exc}", base)
    rules = await _policy_rules(ip, ctx)
    src = route.get("prefsrc")
    if src and _selects_by_source(rules):
        # connect() looks the route up again once it has chosen its source address, and a
        # rule that selects by source then applies: ask as connect() does (ping does not,
        # so it may take the main table while TCP takes the rule's).
        by_src, fib_by_src = await asyncio.gather(
            _ip([*route_get_argv(ip), "from", src], ctx.timeout),
            _ip([*route_get_argv(ip), "from", src, "fibmatch"], ctx.timeout),
        )
        try:
            route = {**parse_route_get(by_src.stdout), "prefsrc": src} if by_src.ok else route
            fib = fib_by_src if by_src.ok else fib
        except (ValueError, json.JSONDecodeError):
            pass
    table = str(route["table"])
    rule = choosing_rule(rules, ip, src, table)
    fields = {
        **base, "gateway": route.get("gateway"), "interface": route.get("dev"),
        "src": route.get("prefsrc"), "table": table, "on_link": route.get("gateway") is None,
        "route_type": route.get("type", "unicast"), "matched_route": _matched(fib),
        "rule_priority": int(rule["priority"]) if rule and "priority" in rule else None,
        "non_default_table": table not in STANDARD_TABLES,
    }
    return _route_fact(target, ip, watch, O.ROUTED, None, fields)


async def route_interface(ip: str, timeout: float) -> str | None:
    """The interface the kernel's route to ``ip`` leaves on, or None (no route, ``ip`` failed):
    one ``ip -j route get``, shared with :func:`probe_route` for the same address in a run."""
    return _route_field(await _ip(route_get_argv(ip), timeout), "dev")


def _route_fact(target: str, ip: str, watch: Stopwatch, outcome: str, error: str | None,
                fields: dict[str, Any]) -> Fact:
    return probe_fact(
        "probe_route", f"probe_route:{target}:{ip}", f"ip -j route get {ip}", target=target,
        layer="route", outcome=outcome, elapsed_ms=watch.ms(), error=error, **fields,
    )


def _matched(fib: CommandResult) -> str | None:
    return _route_field(fib, "dst")


def _route_field(result: CommandResult, key: str) -> str | None:
    """One field of the route ``ip -j route get`` printed, or None (it failed, or no such)."""
    if not result.ok:
        return None
    try:
        value = parse_route_get(result.stdout).get(key)
    except (ValueError, json.JSONDecodeError):
        return None
    return str(value) if value else None


async def _policy_rules(ip: str, ctx: ProbeContext) -> list[dict[str, Any]]:
    family = ipaddress.ip_address(ip.split("%")[0]).version
    from_facts = rules_from_facts(ctx.facts, family)
    if from_facts:
        return from_facts
    result = await _ip(["ip", f"-{family}", "-j", "rule", "show"], ctx.timeout)
    try:
        return rules_from_ip_json(result.stdout) if result.ok else []
    except (ValueError, json.JSONDecodeError):
        return []


async def _ip(argv: list[str], timeout: float) -> CommandResult:
    return await once_per_run(("ip", *argv), lambda: asyncio.to_thread(run_command, argv, timeout))
