"""Walk a packet through the collected ruleset the way netfilter does, and name what decides.

Input: ``firewall_chain`` and ``firewall_rule`` facts (nftables, iptables/ip6tables legacy and
nf_tables; only ``authoritative`` ones, so iptables-nft rules are read once, from
``iptables-save``, and ufw/firewalld through the rules they install) and a :class:`Packet`
(direction, family, protocol, addresses, ports, interfaces; conntrack state ``new``).

The walk, as the kernel does it:

* the hooks of the direction, in order: ``output`` then ``postrouting`` for a packet this host
  sends; ``ingress`` (netdev chains bound to the input device), ``prerouting`` then ``input``
  for one it receives; ``prerouting``, ``forward``, ``postrouting`` for one it routes;
* at each hook, every base chain of a matching family (``ip``/``ip6``/``inet``, iptables for
  IPv4 and ip6tables for IPv6) in priority order; at equal priority the chain created last
  runs first (the kernel inserts a new hook before those of the same priority; nftables and
  iptables-nft chains are ordered by table and chain handle, legacy iptables' after them).
  An accept (a rule's, or the chain policy) ends that base chain only and the packet goes on
  to the next; a drop or reject ends everything;
* in a chain, rules in order; ``jump`` pushes a return point, ``goto`` does not, ``return`` (or
  the end of a non-base chain) pops it; the end of a base chain applies its policy. Counters,
  logs (``LOG``, ``NFLOG``) and other non-terminating targets (``MARK``...) are passed over;
* a match is the conjunction of the rule's ``matches`` (exact entries the collectors decode):
  sets and intervals, prefixes, negation (``!=`` means "none of"), interface names with
  wildcards (nft ``eth*``, iptables ``eth+``), ``ct state``, ``ct status`` (the first packet
  of a new connection has none of its bits: destination NAT, which would set ``dnat``, already
  made the walk undecided), the reverse-path check ``fib saddr . iif oif missing`` (passes for
  loopback and for an unknown client; for a known source undecided: the walk knows no
  routes), ``meta l4proto``/``nfproto``, ``th dport``, verdict maps.

Anything it does not model (a match it cannot read, ``dnat`` changing the destination, a
``queue`` to user space, a missing chain) makes the answer ``unknown`` naming that expression:
never a guess. A packet field that is not known (``None``: the source port of a connection not
yet made, the client address of ``--listen``) stands for "a value no rule names": ``==``
matches on it fail and ``!=`` matches hold, and each such assumption is listed in
``assumed`` (those rules would decide for some values, e.g. an allow-list of sources).

:class:`Ruleset` indexes each long chain by the destination address and port its rules require,
so a kube-proxy-sized ruleset (tens of thousands of rules) costs a few dictionary lookups per
packet, not a scan.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from engine.facts import Fact

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

HOOKS_BY_DIRECTION = {
    "output": ("output", "postrouting"),
    "input": ("ingress", "prerouting", "input"),
    "forward": ("ingress", "prerouting", "forward", "postrouting"),
}
NFT_FAMILIES = {4: ("ip", "inet"), 6: ("ip6", "inet")}
IPTABLES_BACKEND = {4: "iptables", 6: "ip6tables"}
PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "132": "sctp",
                    "33": "dccp", "136": "udplite", "ipv6-icmp": "icmpv6", "icmp6": "icmpv6"}
NFPROTO = {4: "ipv4", 6: "ipv6"}
# Targets that do something and let the packet go on to the next rule.
NON_TERMINATING = frozenset({
    "log", "nflog", "ulog", "mark", "connmark", "tcpmss", "ct", "notrack", "trace", "classify",
    "dscp", "tos", "ttl", "hl", "checksum", "audit", "set", "led", "idletime", "secmark",
    "connsecmark", "rateest", "continue",
})
# Address translation at the end of a NAT chain: accepted for this base chain.
SOURCE_NAT = frozenset({"masquerade", "snat"})
DESTINATION_NAT = frozenset({"dnat", "redirect", "tproxy"})
# Conntrack looks packets up at this priority of prerouting and output: chains before it see
# no connection (``ct state invalid``); at the same priority the order is the order the hooks
# were registered in, which no ruleset listing shows.
CONNTRACK_PRIORITY = -200
CONNTRACK_HOOKS = frozenset({"prerouting", "output"})
MAX_JUMP_DEPTH = 16  # the kernel's NFT_JUMP_STACK_SIZE / xtables' limit on nested jumps
INDEX_MIN_RULES = 16  # shorter chains are scanned


# --------------------------------------------------------------------------------------------
# The packet and the answer
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Packet:
    """The first packet of a connection (conntrack state ``new``).

    ``direction``: ``output`` (this host sends it), ``input`` (to a local port), ``forward``.
    ``None`` fields are unknown: "a value no rule names" (see the module docstring).
    ``ct_state`` is what conntrack says after its lookup; chains that run before it (priority
    below -200 on prerouting and output) see ``invalid``.
    """

    direction: str
    family: int
    protocol: str
    saddr: str | None = None
    daddr: str | None = None
    sport: int | None = None
    dport: int | None = None
    iif: str | None = None
    oif: str | None = None
    ct_state: str = "new"

    def __post_init__(self) -> None:
        # Addresses in canonical form: the chain index looks them up as text.
        for name in ("saddr", "daddr"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(ipaddress.ip_address(value)))

    def describe(self) -> str:
        def end(addr: str | None, port: int | None) -> str:
            host = addr or "any"
            if ":" in host and port is not None:
                host = f"[{host}]"
            return f"{host}:{port}" if port is not None else host
        via = ", ".join(x for x in (f"in {self.iif}" if self.iif else "",
                                    f"out {self.oif}" if self.oif else "") if x)
        return (f"{self.direction} {self.protocol} {end(self.saddr, self.sport)} -> "
                f"{end(self.daddr, self.dport)}" + (f" ({via})" if via else ""))


@dataclass(frozen=True)
class RuleRef:
    """A rule (or, with ``position`` None, a chain's policy) named the way users look it up."""

    fact_id: str
    backend: str
    family: str
    table: str
    chain: str
    position: int | None = None
    handle: int | None = None
    text: str = ""
    verdict: str | None = None
    command_line: int | None = None  # line in the output of ``command`` (iptables-save)
    command: str | None = None
    file: str | None = None
    line: int | None = None
    not_in_file: str | None = None  # the chain's file, which does not have this live rule

    def where(self) -> str:
        """``rule 12 of chain output in table inet filter (handle 37, /etc/nftables.conf
        line 44)``, or ``the policy of chain INPUT in table ip filter (iptables)``."""
        table = f"table {self.family} {self.table}"
        if self.backend not in ("nftables",):
            table += f" ({self.backend})"
        details = []
        if self.handle is not None:
            details.append(f"handle {self.handle}")
        if self.file:
            details.append(self.file + (f" line {self.line}" if self.line else ""))
        elif self.command_line is not None and self.backend != "nftables":
            details.append(f"{self.command or self.backend + '-save'} line {self.command_line}")
        if self.not_in_file:
            details.append(f"not in {self.not_in_file}")
        extra = f" ({', '.join(details)})" if details else ""
        if self.position is None:
            return f"the policy of chain {self.chain} in {table}{extra}"
        return f"rule {self.position} of chain {self.chain} in {table}{extra}"

    def to_json(self) -> dict[str, Any]:
        return {"fact": self.fact_id, "backend": self.backend, "family": self.family,
                "table": self.table, "chain": self.chain, "position": self.position,
                "handle": self.handle, "text": self.text, "verdict": self.verdict,
                "file": self.file, "line": self.line, "not_in_file": self.not_in_file}


@dataclass
class Verdict:
    """What the ruleset does with the packet.

    ``verdict``: ``accept``, ``drop``, ``reject`` or ``unknown``; ``deciding``: the rule (or
    policy) that decided (for ``accept``, the last base chain's); ``passed``: rules that matched
    on the way without deciding (counters, logs, jumps, earlier chains' accepts); ``unknown``:
    the expression not modelled; ``assumed``: matches on unknown packet fields.
    """

    packet: Packet
    verdict: str
    deciding: RuleRef | None = None
    reject_with: str | None = None
    passed: list[RuleRef] = field(default_factory=list)
    unknown: str | None = None
    assumed: list[RuleRef] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)  # base chains walked, in order

    def describe(self) -> str:
        """One line: ``dropped by rule 12 of chain output in table inet filter (handle 37)``."""
        if self.verdict == "unknown":
            where = f" at {self.deciding.where()}" if self.deciding else ""
            return f"undecided: '{self.unknown}'{where} is not modelled"
        if self.deciding is None:
            return "accepted: no base chain filters this packet"
        verb = {"accept": "accepted", "drop": "dropped", "reject": "rejected"}[self.verdict]
        if self.verdict == "reject" and self.reject_with:
            verb += f" ({self.reject_with})"
        return f"{verb} by {self.deciding.where()}"


# --------------------------------------------------------------------------------------------
# Compiled matches
# --------------------------------------------------------------------------------------------

def _proto_name(value: Any) -> str:
    low = str(value).lower()
    return PROTOCOL_NUMBERS.get(low, low)


@dataclass
class _Match:
    key: str
    negate: bool
    text: str
    nets: list[Network] = field(default_factory=list)
    ports: frozenset[int] = frozenset()
    ranges: tuple[tuple[int, int], ...] = ()
    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()  # interface wildcards (eth* / eth+) without the wildcard
    problem: str | None = None  # set when a value cannot be read: the match is unknown

    def holds(self, packet: Packet) -> bool | None:
        """True/False, or None when the packet field is unknown (``==`` fails, ``!=`` holds)."""
        key = self.key
        if key == "nfproto":
            hit = NFPROTO[packet.family] in self.names
        elif key == "l4proto":
            hit = packet.protocol in self.names
        elif key == "ct_state":
            if packet.ct_state == "":  # conntrack's order against this chain is not known
                return None
            hit = packet.ct_state in self.names
        elif key == "rpf":
            # `fib saddr . mark . iif oif missing`: no route back to the source through the
            # interface it came in on. Loopback's sources are this host's own (its local
            # routes); an unknown client (--listen's) is one the routes lead back to, as for
            # any client a server expects (not an allow-list: nothing to list in `assumed`);
            # a known source needs the routes, which the walk does not know.
            if packet.iif != "lo" and packet.saddr is not None:
                return None
            hit = False
        elif key == "ct_status":
            # firewalld's `ct status dnat accept`: a new connection's first packet has no
            # status bit (not confirmed, no reply seen, and any DNAT stopped the walk before)
            if packet.ct_state == "":
                return None
            hit = False
        elif key in ("saddr", "daddr"):
            text = packet.saddr if key == "saddr" else packet.daddr
            if text is None:
                return None
            addr = ipaddress.ip_address(text)
            hit = any(addr.version == n.version and addr in n for n in self.nets)
        elif key in ("sport", "dport"):
            port = packet.sport if key == "sport" else packet.dport
            if port is None:
                return None
            hit = port in self.ports or any(lo <= port <= hi for lo, hi in self.ranges)
        elif key in ("iifname", "oifname"):
            name = packet.iif if key == "iifname" else packet.oif
            if name is None:
                return None
            hit = name in self.names or any(name.startswith(p) for p in self.prefixes)
        else:  # pragma: no cover - compile() turns other keys into problems
            return None
        return hit != self.negate


def _network(value: Any) -> Network | list[Network] | None:
    if isinstance(value, list) and len(value) == 2:
        try:
            first, last = ipaddress.ip_address(str(value[0])), ipaddress.ip_address(str(value[1]))
            return list(ipaddress.summarize_address_range(first, last))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return None
    text = str(value)
    if "-" in text and "/" not in text:
        return _network(text.split("-", 1))
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def compile_match(entry: Mapping[str, Any], backend: str) -> _Match:
    key, values = str(entry.get("field")), list(entry.get("values") or [])
    m = _Match(key, entry.get("op") == "!=", str(entry.get("text") or key))
    if key in ("saddr", "daddr"):
        for v in values:
            net = _network(v)
            if net is None:
                m.problem = f"{m.text} (address {v!r} not understood)"
            elif isinstance(net, list):
                m.nets.extend(net)
            else:
                m.nets.append(net)
    elif key in ("sport", "dport"):
        ports, ranges = set(), []
        for v in values:
            if isinstance(v, bool):
                m.problem = m.text
            elif isinstance(v, int) or (isinstance(v, str) and v.isdigit()):
                ports.add(int(v))
            elif isinstance(v, list) and len(v) == 2 and all(str(b).isdigit() for b in v):
                ranges.append((int(v[0]), int(v[1])))
            elif isinstance(v, str) and "-" in v and all(b.isdigit() for b in v.split("-", 1)):
                lo, hi = v.split("-", 1)
                ranges.append((int(lo), int(hi)))
            else:
                m.problem = f"{m.text} (port {v!r} not understood)"
        m.ports, m.ranges = frozenset(ports), tuple(ranges)
    elif key in ("iifname", "oifname"):
        wildcard = "+" if backend in ("iptables", "ip6tables") else "*"
        names, prefixes = set(), []
        for v in values:
            name = str(v)
            if name.endswith(wildcard) and not name.endswith("\\" + wildcard):
                prefixes.append(name[:-1])
            else:
                names.add(name.replace("\\*", "*"))
        m.names, m.prefixes = frozenset(names), tuple(prefixes)
    elif key == "l4proto":
        m.names = frozenset(_proto_name(v) for v in values)
    elif key in ("ct_state", "ct_status", "rpf"):
        m.names = frozenset(str(v).lower() for v in values)
    elif key == "nfproto":
        m.names = frozenset(str(v).lower() for v in values)
    else:
        m.problem = m.text
    return m


# --------------------------------------------------------------------------------------------
# Rules and chains
# --------------------------------------------------------------------------------------------

@dataclass
class _Rule:
    ref: RuleRef
    entries: list[dict[str, Any]]  # the fact's `matches`, compiled on first use
    backend: str
    verdict: str | None
    target: str | None
    reject_with: str | None
    vmap: tuple[_Match, list[tuple[_Match, str, str | None]]] | None
    problem: str | None  # a statement not modelled (set when the rule cannot be evaluated)
    _compiled: list[_Match] | None = None

    @property
    def matches(self) -> list[_Match]:
        # Compiled lazily: behind the chain index most rules of a big ruleset are never read.
        if self._compiled is None:
            self._compiled = [compile_match(e, self.backend) for e in self.entries]
        return self._compiled

    def match(self, packet: Packet, assumed: list[str]) -> bool | str:
        """True, False, or the text of the unmodelled expression that leaves it undecided.

        Matches on unknown packet fields are taken as "a value no rule names" and their text
        is added to ``assumed`` when they are all that decided (a rule that would match some
        values: an allow-list of sources).
        """
        unknown: str | None = None
        on_unknown_fields: list[str] = []
        result = True
        for m in self.matches:
            if m.problem is not None:
                unknown = unknown or m.problem
                continue
            hit = m.holds(packet)
            if hit is None and m.key == "rpf":
                unknown = unknown or f"{m.text} (needs the routes back to {packet.saddr})"
                continue
            if hit is None and m.key in ("ct_state", "ct_status"):
                unknown = unknown or (f"{m.text} (a chain at conntrack's priority "
                                      f"{CONNTRACK_PRIORITY} may run before or after it)")
                continue
            if hit is None:
                on_unknown_fields.append(m.text)
                hit = m.negate
            elif not hit:
                return False
            result = result and hit
        if result and (unknown is not None or self.problem is not None):
            return unknown or self.problem or "?"
        assumed.extend(on_unknown_fields)
        return result

    def index_key(self) -> tuple[str, list[Any]] | None:
        """(``daddr``, hosts) or (``dport``, ports) when every matching packet must have one
        of those values: the chain's index files the rule under them. Read from the raw
        entries (no address parsing), so indexing a big chain stays cheap."""
        for key in ("daddr", "dport"):
            for e in self.entries:
                if e.get("field") != key or e.get("op") == "!=":
                    continue
                values = list(e.get("values") or [])
                if not values:
                    continue
                if key == "dport" and all(isinstance(v, int) and not isinstance(v, bool)
                                          for v in values):
                    return key, values
                if key == "daddr":
                    hosts = [_host(v) for v in values]
                    if all(h is not None for h in hosts):
                        return key, hosts
        return None


def _host(value: Any) -> str | None:
    """``10.0.0.1``, ``10.0.0.1/32``, ``2001:db8::1/128`` -> the address text; else None."""
    if not isinstance(value, str) or "-" in value:
        return None
    addr, _, length = value.partition("/")
    if length and length != ("128" if ":" in addr else "32"):
        return None
    return addr


@dataclass
class _Chain:
    key: tuple[str, str | None, str, str]  # backend, variant, family, table
    name: str
    fact_id: str
    hook: str | None
    priority: int
    policy: str | None
    devices: list[str]
    command_line: int | None
    created: tuple[int, int] = (0, 0)  # nftables: (table handle, chain handle)
    rules: list[_Rule] = field(default_factory=list)
    _index: tuple[list[int], dict[str, list[int]], dict[int, list[int]]] | None = None

    def policy_ref(self) -> RuleRef:
        backend, _, family, table = self.key
        return RuleRef(self.fact_id, backend, family, table, self.name, None, None,
                       f"policy {self.policy or 'accept'}", self.policy or "accept",
                       self.command_line)

    def candidates(self, packet: Packet) -> Iterable[int]:
        """Positions (0-based) of the rules that can match ``packet``, in order."""
        if len(self.rules) < INDEX_MIN_RULES:
            return range(len(self.rules))
        if self._index is None:
            self._index = self._build_index()
        wildcard, by_daddr, by_dport = self._index
        hits: list[int] = []
        if packet.daddr is not None:
            hits += by_daddr.get(packet.daddr, [])
        if packet.dport is not None:
            hits += by_dport.get(packet.dport, [])
        if not hits:
            return wildcard
        return sorted(set(wildcard).union(hits))

    def _build_index(self) -> tuple[list[int], dict[str, list[int]], dict[int, list[int]]]:
        wildcard: list[int] = []
        by_daddr: dict[str, list[int]] = {}
        by_dport: dict[int, list[int]] = {}
        for i, rule in enumerate(self.rules):
            indexed = rule.index_key()
            if indexed is None:
                wildcard.append(i)
            elif indexed[0] == "daddr":
                for host in indexed[1]:
                    by_daddr.setdefault(str(host), []).append(i)
            else:
                for port in indexed[1]:
                    by_dport.setdefault(int(port), []).append(i)
        return wildcard, by_daddr, by_dport


def _rule_from_fact(fact: Fact, file_lines: Mapping[str, tuple[str, int | None]],
                    not_in_file: Mapping[str, str]) -> _Rule:
    backend = str(fact.get("backend"))
    where = file_lines.get(fact.id)
    ref = RuleRef(
        fact.id, backend, str(fact.get("family")), str(fact.get("table")),
        str(fact.get("chain")), fact.get("position"), fact.get("handle"),
        str(fact.get("text") or ""), fact.get("verdict"),
        fact.source.get("line") if backend != "nftables" else None,
        fact.source.get("command"), where[0] if where else None, where[1] if where else None,
        not_in_file.get(fact.id),
    )
    entries = [e for e in fact.get("matches") or [] if isinstance(e, dict)]
    problem = None
    if fact.get("matches") is None:  # a snapshot from before `matches` was collected
        problem = f"{ref.text} (recorded without its exact matches: collect again)"
    vmap = None
    raw_vmap = fact.get("vmap")
    if isinstance(raw_vmap, Mapping):
        key_match = compile_match({"field": raw_vmap.get("field"), "values": [],
                                   "text": raw_vmap.get("text")}, backend)
        pairs = []
        for pair in raw_vmap.get("pairs") or []:
            m = compile_match({"field": raw_vmap.get("field"), "values": pair.get("values"),
                               "text": raw_vmap.get("text")}, backend)
            pairs.append((m, str(pair.get("verdict")), pair.get("target")))
        vmap = (key_match, pairs)
    return _Rule(ref, entries, backend, _verdict_word(fact), fact.get("target"),
                 fact.get("reject_with"), vmap, problem)


def _verdict_word(fact: Fact) -> str | None:
    verdict = fact.get("verdict")
    if verdict is None:
        action = str(fact.get("action") or "")
        return "vmap" if action == "vmap" else None
    return str(verdict).lower()


# --------------------------------------------------------------------------------------------
# The ruleset and the walk
# --------------------------------------------------------------------------------------------

class _Undecided(Exception):
    def __init__(self, text: str, ref: RuleRef | None) -> None:
        super().__init__(text)
        self.text, self.ref = text, ref


@dataclass
class _Walk:
    packet: Packet
    passed: list[RuleRef] = field(default_factory=list)
    assumed: list[RuleRef] = field(default_factory=list)


class Ruleset:
    """The authoritative chains and rules of a fact base, compiled once for many packets."""

    def __init__(self, facts: Iterable[Fact],
                 file_lines: Mapping[str, tuple[str, int | None]] | None = None,
                 not_in_file: Mapping[str, str] | None = None) -> None:
        """``file_lines``: live rule id -> the file and line it was loaded from;
        ``not_in_file``: live rule id -> the file of its chain, which does not have it
        (both from ``engine.firewall.files.link``)."""
        lines = file_lines or {}
        missing = not_in_file or {}
        self.chains: dict[tuple[tuple[str, str | None, str, str], str], _Chain] = {}
        rules: list[Fact] = []
        facts = list(facts)
        # iptables-nft's chains are nftables chains: nft's view of them says when they were
        # created (their handles), which orders them among nftables' own at one priority.
        nft_created = {
            (str(f.get("family")), str(f.get("table")), str(f.get("chain"))):
                (int(f.get("table_handle") or 0), int(f.get("handle") or 0))
            for f in facts if f.kind == "firewall_chain" and f.get("backend") == "nftables"}
        for f in facts:
            if f.kind == "firewall_chain" and f.get("authoritative") is not False:
                key = _table_key(f)
                self.chains[(key, str(f.get("chain")))] = _Chain(
                    key, str(f.get("chain")), f.id, f.get("hook"),
                    int(f.get("priority") or 0), f.get("policy"),
                    list(f.get("devices") or []), f.source.get("line"),
                    nft_created.get((str(f.get("family")), str(f.get("table")),
                                     str(f.get("chain"))), (0, 0))
                    if f.get("backend") == "nftables" or f.get("variant") == "nf_tables"
                    else (0, 0))
            elif f.kind == "firewall_rule" and f.get("authoritative") is not False:
                rules.append(f)
        for f in rules:
            chain = self.chains.get((_table_key(f), str(f.get("chain"))))
            if chain is None:  # a rule whose chain was not recorded: make the chain up
                chain = _Chain(_table_key(f), str(f.get("chain")), f.id, None, 0, None, [], None)
                self.chains[(chain.key, chain.name)] = chain
            chain.rules.append(_rule_from_fact(f, lines, missing))
        for chain in self.chains.values():
            chain.rules.sort(key=lambda r: r.ref.position or 0)
        self.base_chains: dict[str, list[_Chain]] = {}
        for chain in self.chains.values():
            if chain.hook and chain.key[0] in ("nftables", "iptables", "ip6tables"):
                self.base_chains.setdefault(str(chain.hook), []).append(chain)
        for chains in self.base_chains.values():
            # At one priority the kernel runs the hook registered last first (it inserts a new
            # hook before those of equal priority): nftables chains by creation, newest first.
            chains.sort(key=lambda c: (c.priority, -c.created[0], -c.created[1], c.key,
                                       c.name))

    def __bool__(self) -> bool:
        return bool(self.chains)

    def evaluate(self, packet: Packet) -> Verdict:
        walk = _Walk(packet)
        walked: list[str] = []
        last_accept: RuleRef | None = None
        try:
            for hook in HOOKS_BY_DIRECTION[packet.direction]:
                for chain in self._chains_at(hook, packet):
                    walked.append(f"{chain.key[2]} {chain.key[3]} {chain.name}")
                    walk.packet = _conntrack_view(packet, hook, chain.priority)
                    verdict, ref, reject_with = self._run_base(chain, walk)
                    if verdict in ("drop", "reject") and hook == "ingress" and not chain.devices:
                        # nft's JSON (1.0.6) does not say which device a netdev chain is on
                        raise _Undecided(f"netdev chain {chain.name} (its device is not "
                                         "recorded)", ref)
                    if verdict in ("drop", "reject"):
                        return Verdict(packet, verdict, ref, reject_with, walk.passed,
                                       assumed=walk.assumed, chains=walked)
                    # The accept to name: the last explicit accept rule, else the last policy.
                    if last_accept is None or ref.position is not None or (
                            last_accept.position is None):
                        if last_accept is not None:
                            walk.passed.append(last_accept)
                        last_accept = ref
                    else:
                        walk.passed.append(ref)
        except _Undecided as exc:
            return Verdict(packet, "unknown", exc.ref, None, walk.passed, exc.text,
                           walk.assumed, walked)
        return Verdict(packet, "accept", last_accept, None, walk.passed, assumed=walk.assumed,
                       chains=walked)

    def _chains_at(self, hook: str, packet: Packet) -> list[_Chain]:
        families = NFT_FAMILIES[packet.family]
        out = []
        for chain in self.base_chains.get(hook, []):
            backend, _, family, _ = chain.key
            if backend == "nftables":
                if hook == "ingress":
                    if family != "netdev" and family not in families:
                        continue
                    if chain.devices and packet.iif not in chain.devices:
                        continue
                elif family not in families:
                    continue
            elif backend != IPTABLES_BACKEND[packet.family] or hook == "ingress":
                continue
            out.append(chain)
        return out

    def _run_base(self, base: _Chain, walk: _Walk) -> tuple[str, RuleRef, str | None]:
        """(accept|drop|reject, the deciding rule or policy, reject type) of one base chain."""
        stack: list[tuple[_Chain, int]] = []
        chain, start = base, 0
        while True:
            outcome = self._scan(chain, start, walk)
            if outcome is None:  # fell off the end
                if not stack:
                    ref = base.policy_ref()
                    policy = (base.policy or "accept").lower()
                    return ("drop" if policy == "drop" else "accept"), ref, None
                chain, start = stack.pop()
                continue
            rule, index, verdict = outcome
            if verdict in ("accept", *SOURCE_NAT):
                return "accept", rule.ref, None
            if verdict == "drop":
                return "drop", rule.ref, None
            if verdict == "reject":
                return "reject", rule.ref, rule.reject_with
            if verdict == "return":
                walk.passed.append(rule.ref)
                if not stack:
                    return ("drop" if (base.policy or "").lower() == "drop" else "accept"
                            ), base.policy_ref(), None
                chain, start = stack.pop()
                continue
            if verdict in ("jump", "goto"):
                target = self.chains.get((chain.key, str(rule.target)))
                if target is None:
                    raise _Undecided(f"{rule.ref.text} (chain {rule.target} not collected)",
                                     rule.ref)
                walk.passed.append(rule.ref)
                if verdict == "jump":
                    if len(stack) >= MAX_JUMP_DEPTH:
                        raise _Undecided(f"{rule.ref.text} (jumps nested too deep)", rule.ref)
                    stack.append((chain, index + 1))
                chain, start = target, 0
                continue
            raise _Undecided(f"{rule.ref.text} ({verdict} is not modelled)", rule.ref)

    def _scan(self, chain: _Chain, start: int, walk: _Walk
              ) -> tuple[_Rule, int, str] | None:
        """The first rule from ``start`` that matches and decides something, or None."""
        packet = walk.packet
        for i in chain.candidates(packet):
            if i < start:
                continue
            rule = chain.rules[i]
            assumed: list[str] = []
            result = rule.match(packet, assumed)
            if assumed:
                walk.assumed.append(rule.ref)
            if result is False:
                continue
            if result is not True:
                raise _Undecided(str(result), rule.ref)
            verdict = rule.verdict
            if verdict == "vmap" and rule.vmap is not None:
                verdict, target = _vmap_verdict(rule, packet, walk)
                if verdict is None:
                    continue
                rule = _Rule(rule.ref, rule.entries, rule.backend, verdict, target,
                             rule.reject_with, None, None, rule.matches)
            if verdict is None or verdict in NON_TERMINATING:
                walk.passed.append(rule.ref)
                continue
            if verdict in DESTINATION_NAT or verdict == "queue":
                raise _Undecided(f"{rule.ref.text} ({verdict} is not modelled)", rule.ref)
            return rule, i, verdict
        return None


def _conntrack_view(packet: Packet, hook: str, priority: int) -> Packet:
    """The packet as a chain at ``hook`` sees it. Before routing (ingress, prerouting) and on
    local delivery (input) there is no output interface yet: ``oifname`` reads empty; a packet
    this host sends has no input interface. Before conntrack (raw, priority -300) a packet has
    no connection yet and ``ct state`` reads ``invalid``; at conntrack's own priority,
    unknown."""
    if hook in ("ingress", "prerouting", "input") and packet.oif:
        packet = replace(packet, oif="")
    if packet.direction == "output" and packet.iif is None:
        packet = replace(packet, iif="")
    if hook not in CONNTRACK_HOOKS or priority > CONNTRACK_PRIORITY:
        return packet
    return replace(packet, ct_state="invalid" if priority < CONNTRACK_PRIORITY else "")


def _vmap_verdict(rule: _Rule, packet: Packet, walk: _Walk) -> tuple[str | None, str | None]:
    assert rule.vmap is not None
    key_match, pairs = rule.vmap
    if key_match.problem is not None:
        raise _Undecided(key_match.problem, rule.ref)
    for m, verdict, target in pairs:
        if m.problem is not None:
            raise _Undecided(m.problem, rule.ref)
        hit = m.holds(packet)
        if hit is None and m.key == "ct_state":
            raise _Undecided(f"{m.text} (a chain at conntrack's priority {CONNTRACK_PRIORITY} "
                             "may run before or after it)", rule.ref)
        if hit is None:
            walk.assumed.append(rule.ref)
            continue
        if hit:
            return verdict, target
    return None, None


def _table_key(f: Fact) -> tuple[str, str | None, str, str]:
    return (str(f.get("backend")), f.get("variant"), str(f.get("family")), str(f.get("table")))


def evaluate(facts: Sequence[Fact], packet: Packet) -> Verdict:
    """One packet through the ruleset in ``facts`` (compile a :class:`Ruleset` for many)."""
    return Ruleset(facts).evaluate(packet)
