"""A seeded generator of random firewall rulesets and packets, for the kernel-oracle test.

Topology it writes rules for (tests/lab/test_firewall_oracle.py builds it):

    client (eth0 10.77.1.2, fd77:1::2) -- (eth0 10.77.1.1) router (eth1 10.77.2.1) -- (eth0
    10.77.2.2, fd77:2::2) server, which listens on TCP and UDP ports 5001-5006.

A :class:`Case` is one ruleset for one namespace (the client: packets leave through ``output``;
the server: they arrive through ``input``; the router: ``forward``) and the packets sent across
it. Rulesets mix nftables tables (families ip, ip6, inet; base chains on every hook at several
priorities and policies; regular chains reached by jump and goto; named interval sets, anonymous
sets, ranges, prefixes, negation, interface names and wildcards, ct state, meta l4proto, th
dport, verdict maps, counters, logs; accept, drop, reject of every type, return, continue) with,
in some cases, iptables-nft tables loaded with ``iptables-restore`` (user chains, -g, RETURN,
LOG, multiport, conntrack, REJECT types). Every base chain starts by accepting established and
related packets (and ICMPv6, for neighbour discovery), so replies, RSTs and ICMP errors come
back and the first packet alone decides what the client sees; and a few rules carry matches the
evaluator does not model (``meta mark``, ``limit``), which it must report as unknown.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

CLIENT = {4: "10.77.1.2", 6: "fd77:1::2"}
SERVER = {4: "10.77.2.2", 6: "fd77:2::2"}
SERVER_PORTS = tuple(range(5001, 5007))
SPORT_FIRST = 20000  # client source ports count up from here (unique 5-tuples: no stale conntrack)

# (namespace, direction, input interface, output interface) of the first packet.
PLACES = {
    "client": ("output", None, "eth0"),
    "server": ("input", "eth0", None),
    "router": ("forward", "eth0", "eth1"),
}
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")
PRIORITIES = (-150, -10, 0, 0, 0, 10, 50, 300)
# Before conntrack (priority -300 on prerouting/output) a packet has no connection: ct state
# reads invalid there, replies included. Such chains are generated only where the first packet
# alone meets them (the client's output, the server's prerouting), so replies stay untouched.
# Priority -200 itself (conntrack's: the order depends on registration) is left out: the
# evaluator answers unknown there, rightly.
EARLY = {("client", "output"), ("server", "prerouting")}

ADDRESSES = {
    4: ["10.77.1.2", "10.77.2.2", "10.77.1.0/24", "10.77.2.0/24", "10.77.0.0/16", "10.0.0.0/8",
        "10.77.2.0/25", "10.77.2.128/25", "10.77.1.0/30", "192.0.2.0/24", "10.77.2.1-10.77.2.9",
        "10.77.1.3-10.77.1.200"],
    6: ["fd77:1::2", "fd77:2::2", "fd77:1::/64", "fd77:2::/64", "fd77::/16", "fc00::/7",
        "fd77:2::/65", "fd77:2::8000:0:0:0/65", "2001:db8::/32", "fd77:2::1-fd77:2::9"],
}
IFNAMES = ['"eth0"', '"eth1"', '"lo"', '"eth*"', '"e*"', '"veth*"']
NFT_REJECTS = {
    4: ["icmp type port-unreachable", "icmp type host-unreachable", "icmp type net-unreachable",
        "icmp type admin-prohibited", "icmp type host-prohibited", "icmp type net-prohibited",
        "icmp type prot-unreachable"],
    6: ["icmpv6 type no-route", "icmpv6 type admin-prohibited", "icmpv6 type addr-unreachable",
        "icmpv6 type port-unreachable"],
    0: ["icmpx type port-unreachable", "icmpx type admin-prohibited", "icmpx type no-route",
        "icmpx type host-unreachable"],
}
IPT_REJECTS = {
    4: ["icmp-port-unreachable", "icmp-host-unreachable", "icmp-net-unreachable",
        "icmp-admin-prohibited", "icmp-host-prohibited", "icmp-net-prohibited",
        "icmp-proto-unreachable"],
    6: ["icmp6-no-route", "icmp6-adm-prohibited", "icmp6-addr-unreachable",
        "icmp6-port-unreachable"],
}
UNMODELLED = ["meta mark 0x00000007", "limit rate 1000/second"]


@dataclass(frozen=True)
class Probe:
    family: int
    protocol: str
    dport: int
    sport: int


@dataclass
class Case:
    seed: int
    place: str  # client | server | router
    nft: str
    iptables: dict[int, str] = field(default_factory=dict)  # family -> iptables-restore text
    probes: list[Probe] = field(default_factory=list)

    @property
    def direction(self) -> str:
        return PLACES[self.place][0]

    def text(self) -> str:
        out = [f"# case {self.seed} in {self.place} ({self.direction})", self.nft]
        for family, text in self.iptables.items():
            out.append(f"# ip{'6' if family == 6 else ''}tables-restore\n{text}")
        return "\n".join(out)


class Generator:
    def __init__(self, seed: int, sport_base: int = SPORT_FIRST) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.sport = sport_base

    # -- helpers -----------------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: list[str] | tuple[str, ...]) -> str:
        return self.rng.choice(list(items))

    def next_sport(self) -> int:
        self.sport += 1
        return self.sport

    # -- nftables --------------------------------------------------------------------------------
    def port_expr(self, regular: bool = True) -> str:
        ports = SERVER_PORTS
        form = self.rng.randrange(7)
        a, b = sorted(self.rng.sample(ports, 2))
        if form == 0:
            return str(self.rng.choice(ports))
        if form == 1:
            return "{ " + ", ".join(str(p) for p in sorted(self.rng.sample(ports, 3))) + " }"
        if form == 2:
            return f"{a}-{b}"
        if form == 3:
            return f"!= {self.rng.choice(ports)}"
        if form == 4:
            return "!= { " + f"{a}, {b}" + " }"
        if form == 5:
            return f"< {b}"
        return f">= {a}"

    def sport_expr(self) -> str:
        lo = self.rng.randrange(SPORT_FIRST, SPORT_FIRST + 4000)
        hi = lo + self.rng.randrange(1, 3000)
        return self.pick([f"{lo}-{hi}", f"!= {lo}-{hi}", f"> {lo}"])

    def disjoint(self, family: int, count: int, ranges: bool = True) -> list[str]:
        """Up to ``count`` addresses/prefixes/ranges that do not overlap (nft refuses
        overlapping intervals in a set)."""
        chosen: list[str] = []
        spans: list[tuple[int, int]] = []
        pool = [a for a in ADDRESSES[family] if ranges or "-" not in a]
        for item in self.rng.sample(pool, len(pool)):
            if "-" in item:
                lo_text, hi_text = item.split("-")
                lo, hi = int(ipaddress.ip_address(lo_text)), int(ipaddress.ip_address(hi_text))
            else:
                net = ipaddress.ip_network(item, strict=False)
                lo, hi = int(net.network_address), int(net.broadcast_address)
            if all(hi < a or lo > b for a, b in spans):
                chosen.append(item)
                spans.append((lo, hi))
            if len(chosen) == count:
                break
        return chosen

    def addr_expr(self, family: int, sets: dict[int, str]) -> str:
        if family in sets and self.chance(0.15):
            return ("!= " if self.chance(0.3) else "") + "@" + sets[family]
        pool = ADDRESSES[family]
        if self.chance(0.2):
            items = self.disjoint(family, 2)
            body = "{ " + ", ".join(items) + " }"
            return ("!= " if self.chance(0.3) else "") + body
        return ("!= " if self.chance(0.25) else "") + self.rng.choice(pool)

    def nft_rule(self, table_family: str, chain_names: list[str], regular: bool,
                 sets: dict[int, str], can_reject: bool = True) -> str:
        parts: list[str] = []
        proto: str | None = None
        fam = {"ip": 4, "ip6": 6}.get(table_family) or (4 if self.chance(0.5) else 6)
        addr_family_used = False
        if self.chance(0.55):
            proto = self.pick(["tcp", "udp"])
            if self.chance(0.4):
                parts.append(f"meta l4proto {proto}")
            if self.chance(0.6):
                parts.append(f"{proto} dport {self.port_expr()}")
            elif proto and self.chance(0.3):
                parts.append(f"{proto} sport {self.sport_expr()}")
            elif not any(p.startswith("meta l4proto") for p in parts):
                parts.append(f"meta l4proto {proto}")
        elif self.chance(0.15):
            parts.append(f"meta l4proto {{ tcp, udp }} th dport {self.port_expr()}")
        for key in ("saddr", "daddr"):
            if self.chance(0.3):
                word = "ip" if fam == 4 else "ip6"
                parts.append(f"{word} {key} {self.addr_expr(fam, sets)}")
                addr_family_used = True
        for key in ("iifname", "oifname"):
            if self.chance(0.15):
                neg = "!= " if self.chance(0.25) else ""
                if self.chance(0.2):
                    parts.append(f"{key} {neg}{{ {', '.join(self.rng.sample(IFNAMES[:3], 2))} }}")
                else:
                    parts.append(f"{key} {neg}{self.pick(IFNAMES)}")
        if self.chance(0.12):
            parts.append(self.pick(["ct state new", "ct state != established",
                                    "ct state { new, related }", "ct state established"]))
        if self.chance(0.04):
            parts.append(self.pick(UNMODELLED))
        if self.chance(0.3):
            parts.append("counter")
        if self.chance(0.08):
            parts.append('log prefix "gen "')
        verdicts = ["accept", "drop", "none", "continue"]
        weights = [20, 20, 12, 3]
        if can_reject:
            verdicts.append("reject")
            weights.append(22)
        if chain_names:
            verdicts += ["jump", "goto"]
            weights += [12, 5]
        if regular:
            verdicts.append("return")
            weights.append(6)
        verdict = self.rng.choices(verdicts, weights)[0]
        if verdict == "reject":
            parts.append(self.nft_reject(table_family, fam, proto, addr_family_used))
        elif verdict in ("jump", "goto"):
            parts.append(f"{verdict} {self.rng.choice(chain_names)}")
        elif verdict != "none":
            parts.append(verdict)
        if not parts:
            parts.append("counter")
        return " ".join(parts)

    def nft_reject(self, table_family: str, fam: int, proto: str | None,
                   addr_family_used: bool) -> str:
        form = self.rng.randrange(4)
        if form == 0:
            return "reject"
        if form == 1 and proto == "tcp":
            return "reject with tcp reset"
        if table_family == "inet" and not addr_family_used:
            return "reject with " + self.pick(NFT_REJECTS[0])
        if table_family == "ip" or (table_family == "inet" and fam == 4):
            return "reject with " + self.pick(NFT_REJECTS[4] + NFT_REJECTS[0] * (
                table_family == "inet"))
        return "reject with " + self.pick(NFT_REJECTS[6] + NFT_REJECTS[0] * (
            table_family == "inet"))

    def nft_table(self, index: int, place: str = "client") -> str:
        family = self.pick(["inet", "inet", "ip", "ip6"])
        name = f"t{index}"
        sets: dict[int, str] = {}
        lines = [f"table {family} {name} {{"]
        for fam, word, typ in ((4, "ip", "ipv4_addr"), (6, "ip6", "ipv6_addr")):
            if family in ("inet", word) and self.chance(0.4):
                sets[fam] = f"s{fam}"
                elems = ", ".join(self.disjoint(fam, 3))
                lines += [f"  set s{fam} {{", f"    type {typ}", "    flags interval",
                          f"    elements = {{ {elems} }}", "  }"]
        regular = [f"c{i}" for i in range(self.rng.randrange(0, 4))]
        base_count = self.rng.randrange(1, 4)
        for b in range(base_count):
            hook = self.pick(HOOKS)
            prio = self.rng.choice(PRIORITIES)
            if (place, hook) in EARLY and self.chance(0.25):
                prio = -300
            policy = "drop" if self.chance(0.3) else "accept"
            lines.append(f"  chain b{b} {{")
            lines.append(f"    type filter hook {hook} priority {prio}; policy {policy};")
            lines.append("    " + self.pick(["ct state established,related accept",
                                             "ct state vmap { established : accept, related : "
                                             "accept, invalid : drop }"]))
            if family != "ip":
                lines.append("    meta l4proto ipv6-icmp accept")
            # reject is for input, forward and output only (and chains they jump to)
            filtering = hook in ("input", "forward", "output")
            for _ in range(self.rng.randrange(1, 7)):
                lines.append("    " + self.nft_rule(family, regular if filtering else [],
                                                    False, sets, filtering))
            lines.append("  }")
        for i, chain in enumerate(regular):
            lines.append(f"  chain {chain} {{")
            later = regular[i + 1:]  # jumps only forward: no loops
            for _ in range(self.rng.randrange(1, 6)):
                lines.append("    " + self.nft_rule(family, later, True, sets))
            lines.append("  }")
        lines.append("}")
        return "\n".join(lines)

    # -- iptables ----------------------------------------------------------------------------
    def ipt_rule(self, family: int, table: str, chain: str, user_chains: list[str]) -> str:
        parts = [f"-A {chain}"]
        proto = None
        if self.chance(0.55):
            proto = self.pick(["tcp", "udp"])
            parts.append(f"-p {proto}")
        for flag in ("-s", "-d"):
            if self.chance(0.25):
                addr = self.rng.choice([a for a in ADDRESSES[family] if "-" not in a])
                parts.append(("! " if self.chance(0.25) else "") + f"{flag} {addr}")
        can_in = chain not in ("OUTPUT", "POSTROUTING")
        can_out = chain not in ("INPUT", "PREROUTING")
        user = chain not in ("INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING")
        for flag, ok in (("-i", can_in and not user), ("-o", can_out and not user)):
            if ok and self.chance(0.15):
                name = self.pick(["eth0", "eth1", "lo", "eth+", "e+"])
                parts.append(("! " if self.chance(0.25) else "") + f"{flag} {name}")
        if proto and self.chance(0.6):
            a, b = sorted(self.rng.sample(SERVER_PORTS, 2))
            form = self.rng.randrange(4)
            if form == 0:
                parts.append(f"-m {proto} --dport {self.rng.choice(SERVER_PORTS)}")
            elif form == 1:
                parts.append(f"-m {proto} ! --dport {a}:{b}")
            elif form == 2:
                parts.append(f"-m multiport --dports {a},{b}")
            else:
                parts.append(f"-m {proto} --dport {a}:{b}")
        elif proto and self.chance(0.2):
            lo = self.rng.randrange(SPORT_FIRST, SPORT_FIRST + 4000)
            parts.append(f"-m {proto} --sport {lo}:{lo + self.rng.randrange(1, 3000)}")
        if self.chance(0.12):
            parts.append(self.pick(["-m conntrack --ctstate NEW",
                                    "-m conntrack ! --ctstate ESTABLISHED",
                                    "-m state --state NEW,RELATED"]))
        if self.chance(0.03):
            parts.append("-m mark --mark 0x7")
        targets = ["ACCEPT", "DROP", "none", "LOG"]
        weights = [20, 20, 10, 4]
        if table == "filter":
            targets.append("REJECT")
            weights.append(22)
        if user_chains:
            targets += ["jump", "goto"]
            weights += [12, 4]
        if user:
            targets.append("RETURN")
            weights.append(6)
        target = self.rng.choices(targets, weights)[0]
        if target == "REJECT":
            if proto == "tcp" and self.chance(0.3):
                parts.append("-j REJECT --reject-with tcp-reset")
            elif self.chance(0.2):
                parts.append("-j REJECT")
            else:
                parts.append(f"-j REJECT --reject-with {self.pick(IPT_REJECTS[family])}")
        elif target == "LOG":
            parts.append('-j LOG --log-prefix "gen "')
        elif target in ("jump", "goto"):
            parts.append(f"-{'j' if target == 'jump' else 'g'} {self.rng.choice(user_chains)}")
        elif target != "none":
            parts.append(f"-j {target}")
        return " ".join(parts)

    def iptables(self, family: int) -> str:
        out = []
        for table, chains in (("filter", ("INPUT", "FORWARD", "OUTPUT")),
                              ("mangle", ("PREROUTING", "INPUT", "FORWARD", "OUTPUT",
                                          "POSTROUTING"))):
            if table == "mangle" and not self.chance(0.3):
                continue
            users = [f"U{i}" for i in range(self.rng.randrange(0, 3))]
            out.append(f"*{table}")
            for chain in chains:
                policy = "DROP" if table == "filter" and self.chance(0.3) else "ACCEPT"
                out.append(f":{chain} {policy} [0:0]")
            out += [f":{u} - [0:0]" for u in users]
            for chain in chains:
                out.append(f"-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
                if family == 6:
                    out.append(f"-A {chain} -p ipv6-icmp -j ACCEPT")
                for _ in range(self.rng.randrange(0, 5)):
                    out.append(self.ipt_rule(family, table, chain, users))
            for i, u in enumerate(users):
                for _ in range(self.rng.randrange(1, 5)):
                    out.append(self.ipt_rule(family, table, u, users[i + 1:]))
            out.append("COMMIT")
        return "\n".join(out) + "\n"

    # -- a case ----------------------------------------------------------------------------
    def case(self, probes: int) -> Case:
        place = self.pick(list(PLACES))
        tables = [self.nft_table(i, place) for i in range(self.rng.randrange(1, 4))]
        case = Case(self.seed, place, "\n".join(tables) + "\n")
        if self.chance(0.35):
            for family in (4, 6):
                if self.chance(0.7):
                    case.iptables[family] = self.iptables(family)
        for _ in range(probes):
            case.probes.append(Probe(self.rng.choice((4, 6)), self.pick(["tcp", "udp"]),
                                     self.rng.choice(SERVER_PORTS), self.next_sport()))
        return case
