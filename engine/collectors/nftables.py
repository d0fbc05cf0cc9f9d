"""nftables: the kernel ruleset as ``nft -j list ruleset`` prints it.

Reads:   the output of ``nft -j list ruleset`` (JSON schema 1, nftables >= 0.9). Needs root
         (CAP_NET_ADMIN); without it nft fails and a ``collection_error`` is recorded.
Never:   changes the ruleset (only ``list``), reads set/map *counters* or anything on disk.
Redacts: the rule text (with its comment, free text that could hold a password) goes through
         ``engine.redact.redact_text``; nothing else in a ruleset is secret.

Facts:

* ``firewall_backend`` (``firewall_backend:nftables``): present, active (a base chain of a table
  nftables itself owns holds a rule or a drop policy), ``rule_count`` (rules of those tables),
  ``total_rule_count`` (every rule nft shows, iptables-nft's included).
  No ``nft`` binary gives present=False plus a ``source_absent`` fact.
* ``firewall_chain`` per chain (hook, policy, priority; null for regular chains).
* ``firewall_rule`` per rule, id ``firewall_rule:nftables:<family>:<table>:<chain>:<handle>``
  (the handle is stable while other rules come and go; ``position`` is the order in the chain).

Decoding of a rule's expressions (see :func:`decode_rule`):

* ``protocol`` comes from ``meta l4proto``, ``ip protocol``/``ip6 nexthdr`` or a transport
  payload match (``tcp dport 22`` implies tcp). A set of protocols (``meta l4proto {tcp, udp}``)
  leaves ``protocol`` null and lists them in ``protocols``.
* ``dports``/``sports`` are ints. Sets are expanded; a range (``5000-5010``, ``< 1024``) is
  always listed in ``dport_ranges``/``sport_ranges`` as ``"lo-hi"`` and its ports are also
  expanded into ``dports``/``sports`` when it spans at most :data:`PORT_EXPAND_MAX` ports. So
  "port p is matched" is ``p in dports or p in any dport_range``.
* ``saddr``/``daddr`` hold addresses and CIDRs (prefixes kept, address ranges summarised to
  CIDRs, named sets resolved from the ruleset).
* Negated matches (``ip daddr != 10.1.2.3``) go to ``not_saddr``/``not_daddr``/``not_dports``/
  ``not_sports``/``not_iifname``/``not_oifname`` so the positive fields never lie.
* ``verdict``: accept, drop, reject, jump, goto, return, continue, queue, masquerade, snat, dnat,
  redirect, or null for a rule that only counts or logs. ``reject_with`` maps nft's reject
  expression to one word: ``tcp-reset``, ``icmp-<code>``, ``icmpv6-<code>``, ``icmpx-<code>``;
  a bare ``reject`` is the kernel default for the family (``icmp-port-unreachable`` for ip,
  ``icmpv6-port-unreachable`` for ip6, ``icmpx-port-unreachable`` for inet).
* Expressions not decoded (``xt``, ``limit``, ``vmap``, ``fib``...) are named in ``unparsed`` so
  a rule can tell a fully understood match from a partly understood one.
* ``matches`` is the rule's exact conjunction for the firewall evaluator
  (``engine.firewall``): one entry per match, in order, ``{"field", "op", "values", "text"}``
  with ``field`` one of ``nfproto``, ``l4proto``, ``saddr``, ``daddr``, ``sport``, ``dport``,
  ``iifname``, ``oifname``, ``ct_state``, ``ct_status`` (firewalld's ``ct status dnat``),
  ``rpf`` (``fib saddr . mark . iif oif missing``: the reverse path check of firewalld's
  IPv6_rpfilter), or ``unknown`` (a match or statement the evaluator
  does not model, named by ``text``). ``op`` is ``==`` (any of the values) or ``!=`` (none of
  them); port values are ints or ``[lo, hi]``. Implied matches are listed too: ``tcp dport``
  implies ``l4proto tcp``, ``ip saddr`` in an inet table implies ``nfproto ipv4``. Counters,
  logs, comments and ``meta nftrace set`` are not matches and are left out.
* ``vmap``: a verdict map (``ct state vmap { established : accept }``) as ``{"field", "text",
  "pairs": [{"values", "verdict", "target"}]}``, or null.

iptables-nft: rules written by ``iptables-nft`` live in nft tables too (``ip filter`` with base
chains named ``INPUT``..., often with ``xt`` expressions nft cannot decode). They are recorded
here (the ruleset is what the kernel runs) but with ``managed_by="iptables-nft"`` and
``authoritative=False``: the iptables collector reads the same rules through ``iptables-save``,
which decodes every match, and is their authoritative source. Rules that count or decide should
use ``authoritative`` facts only, so no rule is counted twice. A table is treated as
iptables-nft's when its family and name are iptables' (ip/ip6/arp/bridge; filter, nat, mangle,
raw, security) and every base chain is named after its hook in capitals, or when any of its rules
holds an ``xt`` expression. Tables named ``firewalld`` are marked ``managed_by="firewalld"``
(still authoritative: firewalld's own collector records zones, not rules).

The helpers shared by the firewall collectors live in ``firewall_common``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.collectors import base, iptables
from engine.collectors.firewall_common import (
    PortMatch,
    absent_backend,
    backend_fact,
    blank_rule,
    reached_from,
)
from engine.facts import Fact, collection_error, make_fact
from engine.redact import redact_text_cached

NAME = "nftables"
KINDS = ("firewall_backend", "firewall_chain", "firewall_rule", "collection_error",
         "source_absent")
COMMAND = ("nft", "-j", "list", "ruleset")
SOURCE = {"command": " ".join(COMMAND)}

#: A port range spanning at most this many ports is also expanded into ``dports``/``sports``.

IPTABLES_FAMILIES = frozenset({"ip", "ip6", "arp", "bridge"})
IPTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})
# Standard hook priorities by name (nft >= 0.9.1 may print them as names).
PRIORITY_NAMES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50,
                  "srcnat": 100}
TERMINAL_VERDICTS = ("accept", "drop", "return", "continue", "queue")
NAT_VERDICTS = ("masquerade", "snat", "dnat", "redirect")
TRANSPORT_PROTOCOLS = frozenset({"tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6",
                                 "igmp", "esp", "ah", "gre"})
DEFAULT_REJECT = {"ip": "icmp-port-unreachable", "ip6": "icmpv6-port-unreachable",
                  "inet": "icmpx-port-unreachable", "bridge": "icmpx-port-unreachable",
                  "netdev": "icmpx-port-unreachable"}


# --------------------------------------------------------------------------------------------
# The ruleset
# --------------------------------------------------------------------------------------------

@dataclass
class _Table:
    family: str
    name: str
    chains: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: list[dict[str, Any]] = field(default_factory=list)
    sets: dict[str, list[Any]] = field(default_factory=dict)
    managed_by: str | None = None
    handle: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.family, self.name)


def parse_ruleset(text: str, source: Mapping[str, Any] = SOURCE,
                  read_elsewhere: frozenset[str] = frozenset()) -> list[Fact]:
    """Facts from the text of ``nft -j list ruleset``; a ``collection_error`` if it is not one.

    ``read_elsewhere``: the families (``ip``, ``ip6``) whose iptables-nft tables the iptables
    collector reads authoritatively on this machine. Their chains and rules are then not
    recorded here a second time (read once, not two facts per rule); they still count in
    ``total_rule_count``. Without it they are recorded with ``authoritative=False``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [collection_error(NAME, f"output is not JSON ({exc.msg} at line {exc.lineno})",
                                 source)]
    items = data.get("nftables") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return [collection_error(NAME, "output has no 'nftables' list", source)]
    tables = _group(items)
    facts: list[Fact] = []
    for table in tables.values():
        table.managed_by = _manager(table)
        if table.managed_by == "iptables-nft" and table.family in read_elsewhere:
            continue
        facts.extend(_table_facts(table, source))
    facts.insert(0, _backend(tables, source))
    return facts


def _group(items: list[Any]) -> dict[tuple[str, str], _Table]:
    """Sort the flat ``nftables`` list into tables with their chains, rules and sets."""
    tables: dict[tuple[str, str], _Table] = {}

    def table_of(obj: Mapping[str, Any], name_key: str = "table") -> _Table:
        key = (str(obj.get("family")), str(obj.get(name_key)))
        return tables.setdefault(key, _Table(*key))

    for item in items:
        if not isinstance(item, dict):
            continue
        if "table" in item:
            handle = item["table"].get("handle")
            table_of(item["table"], "name").handle = handle if isinstance(handle, int) else None
        elif "chain" in item:
            chain = item["chain"]
            table_of(chain).chains[str(chain.get("name"))] = chain
        elif "rule" in item:
            table_of(item["rule"]).rules.append(item["rule"])
        elif "set" in item:
            nset = item["set"]
            table_of(nset).sets[str(nset.get("name"))] = list(nset.get("elem") or [])
    return tables


def _manager(table: _Table) -> str | None:
    if table.name == "firewalld":
        return "firewalld"
    if any("xt" in expr for rule in table.rules for expr in rule.get("expr", [])
           if isinstance(expr, dict)):
        return "iptables-nft"
    base_chains = [c for c in table.chains.values() if c.get("hook")]
    if (table.family in IPTABLES_FAMILIES and table.name in IPTABLES_TABLES and base_chains
            and all(c.get("name") == str(c.get("hook")).upper() for c in base_chains)):
        return "iptables-nft"
    return None


def _backend(tables: Mapping[tuple[str, str], _Table], source: Mapping[str, Any]) -> Fact:
    own = [t for t in tables.values() if t.managed_by != "iptables-nft"]
    rule_count = sum(len(t.rules) for t in own)
    active = any(_base_chain_filters(t, chain) for t in own for chain in t.chains.values())
    return backend_fact(
        "nftables", "firewall_backend:nftables", source, present=True, active=active,
        rule_count=rule_count, total_rule_count=sum(len(t.rules) for t in tables.values()),
    )


def _base_chain_filters(table: _Table, chain: Mapping[str, Any]) -> bool:
    if not chain.get("hook"):
        return False
    if chain.get("policy") == "drop":
        return True
    return any(r.get("chain") == chain.get("name") for r in table.rules)


def _priority(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return PRIORITY_NAMES.get(value)
    return None


def _table_facts(table: _Table, source: Mapping[str, Any]) -> list[Fact]:
    base_hooks = {name: str(c["hook"]) for name, c in table.chains.items() if c.get("hook")}
    edges: dict[str, set[str]] = {}
    decoded: list[dict[str, Any]] = []
    positions: dict[str, int] = {}
    for rule in table.rules:
        chain = str(rule.get("chain"))
        positions[chain] = positions.get(chain, 0) + 1
        fields = decode_rule(rule, table.sets)
        fields.update(position=positions[chain], hook=base_hooks.get(chain),
                      managed_by=table.managed_by,
                      authoritative=table.managed_by != "iptables-nft")
        if fields["verdict"] in ("jump", "goto") and fields["target"]:
            edges.setdefault(chain, set()).add(fields["target"])
        decoded.append(fields)
    reach = reached_from(base_hooks, edges)
    facts = [_chain_fact(table, c, positions, reach, source) for c in table.chains.values()]
    for fields in decoded:
        fields["reached_from"] = reach.get(fields["chain"], [])
        fid = (f"firewall_rule:nftables:{table.family}:{table.name}:{fields['chain']}:"
               f"{fields['handle']}")
        facts.append(make_fact("firewall_rule", fid, source, **fields))
    return facts


def _chain_fact(table: _Table, chain: Mapping[str, Any], positions: Mapping[str, int],
                reach: Mapping[str, list[str]], source: Mapping[str, Any]) -> Fact:
    name = str(chain.get("name"))
    return make_fact(
        "firewall_chain", f"firewall_chain:nftables:{table.family}:{table.name}:{name}", source,
        backend="nftables", variant=None, family=table.family, table=table.name, chain=name,
        hook=chain.get("hook"), type=chain.get("type"),
        policy=chain.get("policy") if chain.get("hook") else None,
        priority=_priority(chain.get("prio")) if chain.get("hook") else None,
        rule_count=positions.get(name, 0), reached_from=reach.get(name, []),
        managed_by=table.managed_by, authoritative=table.managed_by != "iptables-nft",
        devices=_devices(chain), table_handle=table.handle,
        handle=chain.get("handle") if isinstance(chain.get("handle"), int) else None,
    )


def _devices(chain: Mapping[str, Any]) -> list[str]:
    """The devices a netdev ingress/egress chain is bound to (``dev``: a name or a list)."""
    dev = chain.get("dev")
    if isinstance(dev, list):
        return [str(d) for d in dev]
    return [str(dev)] if dev else []


# --------------------------------------------------------------------------------------------
# One rule
# --------------------------------------------------------------------------------------------

@dataclass
class _RuleState:
    family: str
    sets: Mapping[str, list[Any]]
    fields: dict[str, Any]
    dports: PortMatch = field(default_factory=PortMatch)
    sports: PortMatch = field(default_factory=PortMatch)
    not_dports: PortMatch = field(default_factory=PortMatch)
    not_sports: PortMatch = field(default_factory=PortMatch)
    words: list[str] = field(default_factory=list)


def decode_rule(rule: Mapping[str, Any], sets: Mapping[str, list[Any]] | None = None
                ) -> dict[str, Any]:
    """The ``firewall_rule`` fields of one nft JSON rule object (without position/hook)."""
    family = str(rule.get("family"))
    state = _RuleState(family, sets or {}, blank_rule(
        backend="nftables", family=family, table=rule.get("table"), chain=rule.get("chain"),
        handle=rule.get("handle"), matches=[], vmap=None,
    ))
    for expr in rule.get("expr") or []:
        if isinstance(expr, dict) and len(expr) == 1:
            key, value = next(iter(expr.items()))
            _EXPR_HANDLERS.get(key, _unparsed)(state, key, value)
        else:
            state.fields["unparsed"].append("?")
    f = state.fields
    f["dports"], f["dport_ranges"] = state.dports.sorted(), state.dports.ranges
    f["sports"], f["sport_ranges"] = state.sports.sorted(), state.sports.ranges
    f["not_dports"], f["not_sports"] = state.not_dports.sorted(), state.not_sports.sorted()
    if f["protocol"] is None and len(f["protocols"]) == 1:
        f["protocol"] = f["protocols"][0]
    if rule.get("comment"):
        state.words.append(f'comment "{rule["comment"]}"')
    f["text"] = redact_text_cached(" ".join(state.words))
    return f


def _set_protocols(state: _RuleState, values: list[str]) -> None:
    protocols = state.fields["protocols"]
    for v in values:
        if v not in protocols:
            protocols.append(v)


def _match(state: _RuleState, key: str, m: Mapping[str, Any]) -> None:
    left, right, op = m.get("left"), m.get("right"), str(m.get("op", "=="))
    text = _render_match(left, op, right)
    state.words.append(text)
    negated = op == "!="
    target = _match_target(left)
    _exact_match(state, left, op, right, target, text)
    if target is None:
        state.fields["unparsed"].append(_left_name(left))
        return
    if target in ("other", "ct_status"):  # no legacy field holds it: only `matches` does
        state.fields["unparsed"].append(_left_name(left))
    values = _flatten(right, state.sets)
    if op in ("<", "<=", ">", ">=") and target in ("dport", "sport") and len(values) == 1:
        values = [_bound_range(op, values[0])]
    _apply(state, target, values, negated)
    # A transport payload implies its protocol (tcp dport 22 -> tcp).
    proto = _payload_protocol(left)
    if proto in TRANSPORT_PROTOCOLS and target in ("dport", "sport", "other"):
        _set_protocols(state, [proto])


# Match keys of ``matches`` (see the module docstring), by what _match_target returns.
_EXACT_KEYS = {"dport": "dport", "sport": "sport", "saddr": "saddr", "daddr": "daddr",
               "iifname": "iifname", "oifname": "oifname", "protocol": "l4proto",
               "ct_state": "ct_state", "ct_status": "ct_status"}
_NFPROTO_OF_PAYLOAD = {"ip": "ipv4", "ip6": "ipv6", "icmp": "ipv4", "icmpv6": "ipv6"}


def _unknown(state: _RuleState, text: str) -> None:
    state.fields["matches"].append({"field": "unknown", "op": "==", "values": [], "text": text})


def _exact_match(state: _RuleState, left: Any, op: str, right: Any, target: str | None,
                 text: str) -> None:
    """The exact ``matches`` entries of one nft match (implied dependencies first)."""
    matches: list[dict[str, Any]] = state.fields["matches"]
    proto = _payload_protocol(left)
    nfproto = _NFPROTO_OF_PAYLOAD.get(str(proto))
    if nfproto and state.family not in ("ip", "ip6"):
        matches.append({"field": "nfproto", "op": "==", "values": [nfproto],
                        "text": f"meta nfproto {nfproto} (implied by {proto})"})
    if proto in TRANSPORT_PROTOCOLS:
        matches.append({"field": "l4proto", "op": "==", "values": [proto],
                        "text": f"meta l4proto {proto} (implied by {proto})"})
    if _is_reverse_path_check(left, op, right):
        matches.append({"field": "rpf", "op": "==", "values": ["missing"], "text": text})
        return
    key = _EXACT_KEYS.get(target or "")
    if key is None and isinstance(left, dict) and left.get("meta", {}).get("key") == "nfproto":
        key = "nfproto"
    if key is None or op not in ("==", "!=", "in", "<", "<=", ">", ">="):
        _unknown(state, text)
        return
    values = _flatten(right, state.sets)
    if op in ("<", "<=", ">", ">="):
        bound = _bound_range(op, values[0]) if len(values) == 1 else None
        if key not in ("dport", "sport") or not isinstance(bound, tuple):
            _unknown(state, text)
            return
        values = [bound]
    if isinstance(right, str) and right.startswith("@") and right[1:] not in state.sets:
        _unknown(state, f"{text} (set not in the ruleset)")
        return
    exact = [list(v) if isinstance(v, tuple) else v for v in values]
    matches.append({"field": key, "op": "!=" if op == "!=" else "==", "values": exact,
                    "text": text})


def _is_reverse_path_check(left: Any, op: str, right: Any) -> bool:
    """``fib saddr [. mark] . iif oif missing``: no route back to the source through the
    interface the packet came in on (a reverse-path filter: firewalld's IPv6_rpfilter,
    ``nft``'s rpfilter recipe)."""
    fib = left.get("fib") if isinstance(left, dict) else None
    if not isinstance(fib, dict) or fib.get("result") != "oif":
        return False
    flags = set(fib.get("flags") or [])
    return {"saddr", "iif"} <= flags <= {"saddr", "iif", "mark"} and (
        (op == "==" and right is False) or (op == "!=" and right is True))


def _bound_range(op: str, value: Any) -> Any:
    n = int(value) if isinstance(value, int) or str(value).isdigit() else None
    if n is None:
        return value
    return {"<": (0, n - 1), "<=": (0, n), ">": (n + 1, 65535), ">=": (n, 65535)}[op]


def _apply(state: _RuleState, target: str, values: list[Any], negated: bool) -> None:
    f = state.fields
    if target in ("dport", "sport"):
        ports = {("dport", False): state.dports, ("sport", False): state.sports,
                 ("dport", True): state.not_dports, ("sport", True): state.not_sports}
        _add_ports(ports[(target, negated)], values)
    elif target in ("saddr", "daddr"):
        f[("not_" if negated else "") + target].extend(_addresses(values))
    elif target in ("iifname", "oifname"):
        f[("not_" if negated else "") + target] = ",".join(str(v) for v in values)
    elif target == "protocol" and not negated:
        _set_protocols(state, [str(v) for v in values])
    elif target == "ct_state" and not negated:
        f["ct_state"].extend(str(v) for v in values)
    elif target == "protocol" or target == "ct_state":
        f["unparsed"].append(f"!{target}")


def _add_ports(ports: PortMatch, values: list[Any]) -> None:
    for v in values:
        if isinstance(v, tuple):
            ports.add_range(int(v[0]), int(v[1]))
        elif isinstance(v, int):
            ports.add(v)
        else:
            ports.add_text(str(v))


def _addresses(values: list[Any]) -> list[str]:
    out: list[str] = []
    for v in values:
        if isinstance(v, tuple):
            try:
                first, last = ipaddress.ip_address(v[0]), ipaddress.ip_address(v[1])
                out.extend(str(n) for n in ipaddress.summarize_address_range(first, last))
            except (ValueError, TypeError):
                out.append(f"{v[0]}-{v[1]}")
        else:
            out.append(str(v))
    return out


def _flatten(right: Any, sets: Mapping[str, list[Any]]) -> list[Any]:
    """Values of a match's right side: scalars, ``"a/len"`` prefixes, ``(lo, hi)`` ranges."""
    if isinstance(right, str) and right.startswith("@"):
        return [v for elem in sets.get(right[1:], []) for v in _flatten(elem, sets)]
    if isinstance(right, list):
        return [v for item in right for v in _flatten(item, sets)]
    if isinstance(right, dict):
        if "set" in right:
            return _flatten(right["set"], sets)
        if "prefix" in right:
            return [f"{right['prefix'].get('addr')}/{right['prefix'].get('len')}"]
        if "range" in right and len(right["range"]) == 2:
            return [tuple(right["range"])]
        if "elem" in right:
            return _flatten(right["elem"].get("val"), sets)
        return []
    return [right]


def _payload_protocol(left: Any) -> str | None:
    if isinstance(left, dict) and "payload" in left:
        return left["payload"].get("protocol")
    return None


def _match_target(left: Any) -> str | None:
    """What a match's left side tests: dport, saddr, protocol, ct_state, iifname..."""
    if not isinstance(left, dict):
        return None
    if "meta" in left:
        key = left["meta"].get("key")
        return {"l4proto": "protocol", "iifname": "iifname", "oifname": "oifname",
                "iif": "iifname", "oif": "oifname"}.get(key)
    if "ct" in left:
        return {"state": "ct_state", "status": "ct_status"}.get(left["ct"].get("key"))
    if "payload" in left:
        proto, fld = left["payload"].get("protocol"), left["payload"].get("field")
        if fld in ("dport", "sport"):
            return fld
        if proto in ("ip", "ip6") and fld in ("saddr", "daddr"):
            return fld
        if (proto, fld) in (("ip", "protocol"), ("ip6", "nexthdr")):
            return "protocol"
        return "other" if proto in TRANSPORT_PROTOCOLS else None
    return None


def _left_name(left: Any) -> str:
    if isinstance(left, dict) and left:
        key, value = next(iter(left.items()))
        if isinstance(value, dict):
            detail = value.get("key") or value.get("field") or ""
            return f"{key} {detail}".strip()
        return str(key)
    return "?"


def _render_value(value: Any) -> str:
    if isinstance(value, dict):
        if "set" in value:
            return "{ " + ", ".join(_render_value(v) for v in value["set"]) + " }"
        if "prefix" in value:
            return f"{value['prefix'].get('addr')}/{value['prefix'].get('len')}"
        if "range" in value:
            return "-".join(_render_value(v) for v in value["range"])
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return ",".join(_render_value(v) for v in value)
    return str(value)


def _render_match(left: Any, op: str, right: Any) -> str:
    if isinstance(left, dict) and isinstance(left.get("fib"), dict):
        # nft's own syntax: `fib saddr . mark . iif oif missing` (JSON: result oif, right false)
        fib = left["fib"]
        lhs = f"fib {' . '.join(str(f) for f in fib.get('flags') or [])} {fib.get('result')}"
        if isinstance(right, bool):
            value = "exists" if right else "missing"
            return f"{lhs} {value if op == '==' else ('missing' if right else 'exists')}"
        operator = "" if op in ("==", "in") else f"{op} "
        return f"{lhs} {operator}{_render_value(right)}"
    if isinstance(left, dict) and "payload" in left:
        lhs = f"{left['payload'].get('protocol')} {left['payload'].get('field')}"
    elif isinstance(left, dict) and "meta" in left:
        key = left["meta"].get("key")
        lhs = key if key in ("iifname", "oifname", "iif", "oif") else f"meta {key}"
    else:
        lhs = _left_name(left)
    operator = "" if op in ("==", "in") else f"{op} "
    return f"{lhs} {operator}{_render_value(right)}"


def _verdict(state: _RuleState, key: str, value: Any) -> None:
    f = state.fields
    f["verdict"], f["action"] = key, key
    if key in ("jump", "goto") and isinstance(value, dict):
        f["target"] = value.get("target")
        state.words.append(f"{key} {f['target']}")
    else:
        state.words.append(key)


def _reject(state: _RuleState, key: str, value: Any) -> None:
    f = state.fields
    f["verdict"], f["action"] = "reject", "reject"
    f["reject_with"] = reject_with(value, state.family)
    if isinstance(value, dict) and value.get("type") == "tcp reset":
        state.words.append("reject with tcp reset")
    elif isinstance(value, dict) and value.get("expr"):
        state.words.append(f"reject with {value.get('type')} {value['expr']}")
    else:
        state.words.append("reject")


def reject_with(value: Any, family: str) -> str:
    """``tcp-reset``, ``icmp-admin-prohibited``, ``icmpx-port-unreachable``... from nft JSON."""
    if not isinstance(value, dict):
        return DEFAULT_REJECT.get(family, "icmp-port-unreachable")
    kind = str(value.get("type", ""))
    if kind == "tcp reset":
        return "tcp-reset"
    code = value.get("expr") or "port-unreachable"
    prefix = kind if kind in ("icmp", "icmpv6", "icmpx") else (
        DEFAULT_REJECT.get(family, "icmp-").split("-", 1)[0])
    return f"{prefix}-{code}"


def _nat(state: _RuleState, key: str, value: Any) -> None:
    f = state.fields
    f["verdict"], f["action"] = key, key
    words = key
    if isinstance(value, dict) and value.get("addr") is not None:
        addr = _render_value(value["addr"])
        port = value.get("port")
        f["target"] = f"{addr}:{_render_value(port)}" if port is not None else addr
        words += f" to {f['target']}"
    elif isinstance(value, dict) and value.get("port") is not None:
        f["target"] = f":{_render_value(value['port'])}"
        words += f" to {f['target']}"
    state.words.append(words)


def _counter(state: _RuleState, key: str, value: Any) -> None:
    state.words.append("counter")


def _log(state: _RuleState, key: str, value: Any) -> None:
    prefix = value.get("prefix") if isinstance(value, dict) else None
    state.words.append(f'log prefix "{prefix}"' if prefix else "log")


def _xt(state: _RuleState, key: str, value: Any) -> None:
    name = value.get("name") if isinstance(value, dict) else None
    kind = value.get("type") if isinstance(value, dict) else None
    state.fields["unparsed"].append(f"xt {name}")
    state.words.append(f"xt {kind} {name}")
    _unknown(state, f"xt {kind} {name}")
    if kind == "target" and isinstance(name, str):
        state.fields["action"] = name
        upper = name.upper()
        if upper in ("ACCEPT", "DROP", "REJECT", "RETURN", *(v.upper() for v in NAT_VERDICTS)):
            state.fields["verdict"] = upper.lower()


def _vmap(state: _RuleState, key: str, value: Any) -> None:
    """``tcp dport vmap { 22 : accept, 23 : drop }``: one verdict per value, so the rule gets
    the protocol its key implies, no verdict, and ``vmap`` in ``unparsed``."""
    left = value.get("key") if isinstance(value, dict) else None
    proto = _payload_protocol(left)
    if proto in TRANSPORT_PROTOCOLS:
        _set_protocols(state, [proto])
    pairs = (value.get("data") or {}).get("set", []) if isinstance(value, dict) else []
    rendered = ", ".join(
        f"{_render_value(p[0])} : {next(iter(p[1]), '?')}" for p in pairs
        if isinstance(p, list) and len(p) == 2 and isinstance(p[1], dict))
    state.fields["action"] = "vmap"
    state.fields["unparsed"].append("vmap")
    text = f"{_render_match(left, '==', '').strip()} vmap {{ {rendered} }}"
    state.words.append(text)
    _exact_vmap(state, left, pairs, text)


def _exact_vmap(state: _RuleState, left: Any, pairs: list[Any], text: str) -> None:
    """The ``vmap`` field: the key as a ``matches`` entry and one verdict per value set."""
    before = len(state.fields["matches"])
    _exact_match(state, left, "==", [], _match_target(left), text)
    entries = state.fields["matches"][before:]
    key_entry = entries.pop() if entries else None
    del state.fields["matches"][before:]
    state.fields["matches"].extend(entries)  # implied dependencies (tcp dport -> tcp)
    if key_entry is None or key_entry["field"] == "unknown":
        _unknown(state, text)
        return
    out = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], dict)
                and len(pair[1]) == 1):
            _unknown(state, text)
            return
        verdict, arg = next(iter(pair[1].items()))
        values = [list(v) if isinstance(v, tuple) else v for v in _flatten(pair[0], state.sets)]
        target = arg.get("target") if isinstance(arg, dict) else None
        out.append({"values": values, "verdict": verdict, "target": target})
    state.fields["vmap"] = {"field": key_entry["field"], "text": text, "pairs": out}


def _limit(state: _RuleState, key: str, value: Any) -> None:
    state.fields["unparsed"].append("limit")
    if isinstance(value, dict) and "rate" in value:
        state.words.append(f"limit rate {value['rate']}/{value.get('per', 'second')}")
    else:
        state.words.append("limit")
    _unknown(state, state.words[-1])


# Statements that set something no later match whynet models reads: not matches.
_HARMLESS_SETS = frozenset({("meta", "nftrace"), ("meta", "mark"), ("meta", "priority"),
                            ("ct", "mark")})


def _unparsed(state: _RuleState, key: str, value: Any) -> None:
    if key == "mangle" and isinstance(value, dict) and isinstance(value.get("key"), dict):
        kind, spec = next(iter(value["key"].items()), ("", None))
        if isinstance(spec, dict) and (kind, spec.get("key")) in _HARMLESS_SETS:
            state.words.append(f"{kind} {spec.get('key')} set {_render_value(value.get('value'))}")
            return
    state.fields["unparsed"].append(key)
    state.words.append(key)
    _unknown(state, key)


_EXPR_HANDLERS = {
    "match": _match,
    **{v: _verdict for v in (*TERMINAL_VERDICTS, "jump", "goto")},
    "reject": _reject,
    **{v: _nat for v in NAT_VERDICTS},
    "counter": _counter,
    "log": _log,
    "xt": _xt,
    "vmap": _vmap,
    "limit": _limit,
}


# --------------------------------------------------------------------------------------------
# Live collection
# --------------------------------------------------------------------------------------------

def collect(ctx: base.CollectContext) -> list[Fact]:
    if base.which("nft") is None:
        return absent_backend(NAME, "nftables", "binary", "nft: command not found", SOURCE)
    result = base.run_command(list(COMMAND), timeout=ctx.timeout)
    if not result.ok:
        return [
            backend_fact("nftables", "firewall_backend:nftables", SOURCE, present=True),
            collection_error(NAME, result.failure(), SOURCE),
        ]
    return parse_ruleset(result.stdout, SOURCE, iptables.nf_tables_families())
