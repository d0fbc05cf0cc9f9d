"""iptables and ip6tables: the rules as ``iptables-save``/``ip6tables-save`` print them.

Reads:   for each of iptables and ip6tables, the nf_tables variant (``iptables-nft-save``, or
         ``iptables-save`` when it is the nft one) and the legacy variant
         (``iptables-legacy-save``, or ``iptables-save`` when it is the legacy one). The legacy
         variant is only run when ``/proc/net/ip_tables_names`` (``ip6_tables_names``) exists:
         otherwise no legacy table is loaded, and running the tool would load the ``ip_tables``
         kernel module as a side effect. All of them need root; without it a
         ``collection_error`` is recorded.
Never:   changes rules (only ``*-save``), reads rule counters.
Redacts: the rule text (with its comments) goes through ``engine.redact.redact_text``.

Facts:

* ``firewall_backend`` per (command family, variant): ``firewall_backend:iptables:nf_tables``,
  ``firewall_backend:ip6tables:legacy``...: present, active (a rule anywhere or a DROP policy),
  ``rule_count``, ``variant`` (``nf_tables`` or ``legacy``), ``legacy_tables_present`` (the nft
  tool's own warning that legacy tables exist too). No binary at all for a family gives
  present=False plus a ``source_absent`` fact.
* ``firewall_chain`` per chain, with the policy of built-in chains (null for user chains) and the
  standard netfilter priority of built-in chains.
* ``firewall_rule`` per ``-A`` line, id
  ``firewall_rule:<iptables|ip6tables>:<variant>:<table>:<chain>:<position>``, source
  ``{"command": "iptables-nft-save", "line": n}``. Fields as in ``engine.collectors.nftables``
  (:func:`~engine.collectors.firewall_common.blank_rule`): ``-p``, ``--dport``/``--sport`` and
  multiport ``--dports``/``--sports`` (ranges ``a:b`` in ``dport_ranges`` as ``"a-b"``, expanded
  into ``dports`` when small), ``-s``/``-d``, ``-i``/``-o``, ``--ctstate``/``--state``, ``-j``
  (verdict, ``reject_with``) or ``-g``, ``--to-source``/``--to-destination`` (``target``). ``!``
  puts a match in the ``not_*`` fields. Options before the target that narrow the match but are
  not decoded (``--tcp-flags``, ``-m recent --update``...) are named in ``unparsed``.
* ``matches``: the exact conjunction for the firewall evaluator, in nftables' vocabulary (see
  ``engine.collectors.nftables``): ``-p`` is ``l4proto``, ``-s``/``-d`` ``saddr``/``daddr``,
  ``-i``/``-o`` ``iifname``/``oifname`` (``eth+`` is a wildcard), ports, ``ct_state``; ``!`` is
  ``op: "!="``; every other option before the target is an ``unknown`` entry.

``reject_with`` uses nft's vocabulary so both collectors agree: ``tcp-reset``, ``icmp-<code>``,
``icmpv6-<code>`` (``icmp6-adm-prohibited`` becomes ``icmpv6-admin-prohibited``,
``icmp-proto-unreachable`` becomes ``icmp-prot-unreachable``).

These are the authoritative records of iptables-nft rules; the nftables collector shows the same
rules with ``authoritative=False``. Rules in chains that tools own are marked ``managed_by``
(``ufw`` for ``ufw-*``/``ufw6-*``, ``docker``, ``fail2ban``, ``kubernetes``, ``libvirt``).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.collectors import base
from engine.collectors.firewall_common import (
    PortMatch,
    absent_backend,
    backend_fact,
    blank_rule,
    reached_from,
)
from engine.facts import Fact, collection_error, make_fact, unique_ids
from engine.redact import redact_text_cached

NAME = "iptables"
KINDS = ("firewall_backend", "firewall_chain", "firewall_rule", "collection_error",
         "source_absent")
COMMAND_FAMILIES = {"iptables": ("ip", "ip_tables_names"), "ip6tables": ("ip6", "ip6_tables_names")}

BUILTIN_CHAINS = frozenset({"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"})
# Netfilter's hook priorities of the built-in chains, by table (NF_IP_PRI_*).
TABLE_PRIORITY = {"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}
NAT_SOURCE_CHAINS = frozenset({"POSTROUTING", "INPUT"})  # nat's srcnat hooks, priority 100
VERDICTS = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject", "RETURN": "return",
            "QUEUE": "queue", "NFQUEUE": "queue", "MASQUERADE": "masquerade", "SNAT": "snat",
            "DNAT": "dnat", "REDIRECT": "redirect"}
LOG_TARGETS = frozenset({"LOG", "NFLOG", "ULOG"})
LEGACY_WARNING = "# Warning: iptables-legacy tables present"
REJECT_NAMES = {
    "icmp-proto-unreachable": "icmp-prot-unreachable",
    "icmp6-no-route": "icmpv6-no-route", "no-route": "icmpv6-no-route",
    "icmp6-adm-prohibited": "icmpv6-admin-prohibited", "adm-prohibited": "icmpv6-admin-prohibited",
    "icmp6-addr-unreachable": "icmpv6-addr-unreachable",
    "addr-unreach": "icmpv6-addr-unreachable",
    "icmp6-port-unreachable": "icmpv6-port-unreachable",
    "port-unreach": "icmpv6-port-unreachable",
    "icmp6-policy-fail": "icmpv6-policy-fail", "icmp6-reject-route": "icmpv6-reject-route",
    "tcp-rst": "tcp-reset",
}
DEFAULT_REJECT = {"ip": "icmp-port-unreachable", "ip6": "icmpv6-port-unreachable"}
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "ipv6-icmp": "icmpv6",
                  "icmp6": "icmpv6", "132": "sctp", "all": None}
MANAGED_PREFIXES = (("ufw-", "ufw"), ("ufw6-", "ufw"), ("DOCKER", "docker"), ("f2b-", "fail2ban"),
                    ("KUBE-", "kubernetes"), ("LIBVIRT_", "libvirt"))
# Options that take no value (iptables-save prints them bare).
FLAG_OPTIONS = frozenset({
    "--syn", "--rsource", "--rdest", "--set", "--update", "--rcheck", "--remove", "--rttl",
    "--reap", "--random", "--random-fully", "--persistent", "--log-uid", "--log-tcp-sequence",
    "--log-tcp-options", "--log-ip-options", "--log-macdecode", "-f", "--fragment",
    "--nodst", "--kerneltz", "--ctdir",
})


def normalize_protocol(value: str) -> str | None:
    """``ipv6-icmp``/``icmp6``/``58`` -> ``icmpv6``, ``6`` -> ``tcp``, ``all`` -> None."""
    low = value.lower()
    return PROTOCOL_NAMES.get(low, low)


def managed_by(chain: str) -> str | None:
    for prefix, tool in MANAGED_PREFIXES:
        if chain.startswith(prefix):
            return tool
    return None


def chain_priority(table: str, chain: str) -> int | None:
    if chain not in BUILTIN_CHAINS or table not in TABLE_PRIORITY:
        return None
    if table == "nat" and chain in NAT_SOURCE_CHAINS:
        return 100
    return TABLE_PRIORITY[table]


@dataclass
class _Table:
    name: str
    policies: dict[str, str | None] = field(default_factory=dict)  # chain -> policy (or None)
    # (line number, chain, tokens, the line as printed)
    rules: list[tuple[int, str, list[str], str]] = field(default_factory=list)


@dataclass
class _Save:
    tables: list[_Table] = field(default_factory=list)
    header: str | None = None
    legacy_warning: bool = False
    bad_lines: list[int] = field(default_factory=list)


# iptables-save quotes an argument as a whole in double quotes, escaping " and \ inside.
_SAVE_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"(?=\s|$)|([^\s"\'\\]+)(?=\s|$)|(\S)')
_UNESCAPE = re.compile(r"\\(.)")


def _tokens(text: str) -> list[str] | None:
    """The arguments of one ``-A`` line, as ``shlex.split`` gives them.

    The common lines (plain words, iptables-save's "quoted comments") are split by one regex,
    ten times faster than shlex; anything else (single quotes, a stray backslash) by shlex."""
    tokens: list[str] = []
    for quoted, word, other in _SAVE_TOKEN.findall(text):
        if other:
            break
        tokens.append(word if word else _UNESCAPE.sub(r"\1", quoted))
    else:
        return tokens
    try:
        return shlex.split(text)
    except ValueError:
        return None


def _read_save(text: str) -> _Save:
    save = _Save()
    table: _Table | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith(LEGACY_WARNING):
            save.legacy_warning = True
        elif line.startswith("# Generated by") and save.header is None:
            save.header = line
        elif line.startswith("*"):
            table = _Table(line[1:].strip())
            save.tables.append(table)
        elif line.startswith(":") and table is not None:
            parts = line[1:].split()
            if parts:
                policy = parts[1] if len(parts) > 1 and parts[1] != "-" else None
                table.policies[parts[0]] = policy
        elif line.startswith("-A ") and table is not None:
            tokens = _tokens(line)
            if tokens is None or len(tokens) < 2:
                save.bad_lines.append(n)
                tokens = line.split()
            table.rules.append((n, tokens[1], tokens, line))
        elif line and not line.startswith("#") and line != "COMMIT":
            save.bad_lines.append(n)
    return save


def variant_from_header(header: str | None) -> str | None:
    if not header:
        return None
    return "nf_tables" if "(nf_tables)" in header else "legacy"


def parse_save(text: str, command: str, backend: str = "iptables",
               variant: str | None = None, stderr: str = "") -> list[Fact]:
    """Facts from the output of ``iptables-save``-like ``command`` (``backend`` iptables/ip6tables).

    ``variant`` (``nf_tables``/``legacy``) is taken from the output's header when not given;
    ``stderr`` is where iptables-nft-save warns that legacy tables are present too.
    """
    save = _read_save(text)
    save.legacy_warning = save.legacy_warning or LEGACY_WARNING in stderr
    variant = variant or variant_from_header(save.header) or "unknown"
    family = COMMAND_FAMILIES.get(backend, ("ip", ""))[0]
    facts: list[Fact] = []
    rule_count, filters = 0, False
    for table in save.tables:
        table_facts = _table_facts(table, backend, variant, family, command)
        facts.extend(table_facts)
        rule_count += len(table.rules)
        filters = filters or any(p in ("DROP", "REJECT") for p in table.policies.values())
    source = {"command": command}
    backend_fields: dict[str, Any] = {
        "present": True, "active": rule_count > 0 or filters, "rule_count": rule_count,
        "variant": variant, "legacy_tables_present": save.legacy_warning,
    }
    facts.insert(0, backend_fact(backend, f"firewall_backend:{backend}:{variant}", source,
                                 **backend_fields))
    if save.bad_lines:
        facts.append(collection_error(
            NAME, f"{command}: {len(save.bad_lines)} line(s) not understood "
                  f"(first at line {save.bad_lines[0]})", {**source, "line": save.bad_lines[0]}))
    return facts


def _table_facts(table: _Table, backend: str, variant: str, family: str,
                 command: str) -> list[Fact]:
    prefix = f"{backend}:{variant}:{table.name}"
    base_hooks = {c: c.lower() for c in table.policies if c in BUILTIN_CHAINS}
    decoded: list[tuple[int, dict[str, Any]]] = []
    positions: dict[str, int] = {}
    edges: dict[str, set[str]] = {}
    chains = set(table.policies)  # once per table: a kube-proxy table has 10,000 chains
    for line, chain, tokens, text in table.rules:
        positions[chain] = positions.get(chain, 0) + 1
        fields = decode_rule(tokens, family, chains, text)
        fields.update(backend=backend, variant=variant, family=family, table=table.name,
                      chain=chain, hook=base_hooks.get(chain), position=positions[chain],
                      managed_by=managed_by(chain))
        if fields["verdict"] in ("jump", "goto"):
            edges.setdefault(chain, set()).add(fields["target"])
        decoded.append((line, fields))
    reach = reached_from(base_hooks, edges)
    facts = [
        make_fact(
            "firewall_chain", f"firewall_chain:{prefix}:{chain}", {"command": command},
            backend=backend, variant=variant, family=family, table=table.name, chain=chain,
            hook=base_hooks.get(chain), type=table.name if chain in BUILTIN_CHAINS else None,
            policy=policy.lower() if policy else None,
            priority=chain_priority(table.name, chain), rule_count=positions.get(chain, 0),
            reached_from=reach.get(chain, []), managed_by=managed_by(chain), authoritative=True,
        )
        for chain, policy in table.policies.items()
    ]
    for line, fields in decoded:
        fields["reached_from"] = reach.get(fields["chain"], [])
        fid = f"firewall_rule:{prefix}:{fields['chain']}:{fields['position']}"
        facts.append(make_fact("firewall_rule", fid, {"command": command, "line": line},
                               **fields))
    return facts


# --------------------------------------------------------------------------------------------
# One rule
# --------------------------------------------------------------------------------------------

@dataclass
class _RuleState:
    family: str
    chains: set[str]
    fields: dict[str, Any]
    dports: PortMatch = field(default_factory=PortMatch)
    sports: PortMatch = field(default_factory=PortMatch)
    not_dports: PortMatch = field(default_factory=PortMatch)
    not_sports: PortMatch = field(default_factory=PortMatch)
    after_target: bool = False


def _takes_value(option: str, following: str | None) -> bool:
    if option in FLAG_OPTIONS or following is None or following == "!":
        return False
    return not (following.startswith("-") and len(following) > 1
                and not following[1:2].isdigit())


def decode_rule(tokens: list[str], family: str = "ip", chains: set[str] | None = None,
                text: str | None = None) -> dict[str, Any]:
    """The ``firewall_rule`` fields of one tokenised ``-A CHAIN ...`` line.

    ``chains`` are the table's chain names (a ``-j`` to one of them is a jump); ``text`` is the
    line as printed (rebuilt from ``tokens`` when not given).
    """
    state = _RuleState(family, chains or set(), blank_rule(
        text=redact_text_cached(text if text is not None else shlex.join(tokens)),
    ))
    i, negated = 2, False
    while i < len(tokens):
        option = tokens[i]
        if option == "!":
            negated, i = True, i + 1
            continue
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        value = following if _takes_value(option, following) else None
        _option(state, option, value, negated)
        negated = False
        i += 2 if value is not None else 1
    f = state.fields
    f["dports"], f["dport_ranges"] = state.dports.sorted(), state.dports.ranges
    f["sports"], f["sport_ranges"] = state.sports.sorted(), state.sports.ranges
    f["not_dports"], f["not_sports"] = state.not_dports.sorted(), state.not_sports.sorted()
    if f["verdict"] == "reject" and f["reject_with"] is None:
        f["reject_with"] = DEFAULT_REJECT.get(family, "icmp-port-unreachable")
    return f


def _option(state: _RuleState, option: str, value: str | None, negated: bool) -> None:
    f = state.fields
    handler = _OPTIONS.get(option)
    if handler is not None:
        handler(state, value or "", negated)
    elif option in ("-j", "--jump", "-g", "--goto"):
        _target(state, option, value or "")
    elif option in ("-m", "--match"):
        pass
    elif not state.after_target:
        f["unparsed"].append(("!" if negated else "") + option)
        _exact(state, "unknown", [], False,
               " ".join(filter(None, ["!" if negated else "", option, value])))


def _exact(state: _RuleState, key: str, values: list[Any], negated: bool, text: str) -> None:
    state.fields["matches"].append({"field": key, "op": "!=" if negated else "==",
                                    "values": values, "text": text})


def _port_values(value: str) -> list[Any] | None:
    out: list[Any] = []
    for part in value.split(","):
        bounds = part.split(":")
        if not all(b.isdigit() for b in bounds) or len(bounds) > 2:
            return None
        out.append(int(bounds[0]) if len(bounds) == 1 else [int(bounds[0]), int(bounds[1])])
    return out


def _protocol(state: _RuleState, value: str, negated: bool) -> None:
    proto_name = normalize_protocol(value)
    if proto_name is not None:
        _exact(state, "l4proto", [proto_name], negated, f"{'! ' if negated else ''}-p {value}")
    if negated:
        state.fields["unparsed"].append("!-p")
        return
    proto = normalize_protocol(value)
    state.fields["protocol"] = proto
    state.fields["protocols"] = [proto] if proto else []


def _address(key: str) -> Any:
    def handler(state: _RuleState, value: str, negated: bool) -> None:
        state.fields[("not_" if negated else "") + key].extend(
            v for v in value.split(",") if v)
        flag = "-s" if key == "saddr" else "-d"
        _exact(state, key, [v for v in value.split(",") if v], negated,
               f"{'! ' if negated else ''}{flag} {value}")
    return handler


def _interface(key: str) -> Any:
    def handler(state: _RuleState, value: str, negated: bool) -> None:
        state.fields[("not_" if negated else "") + key] = value
        flag = "-i" if key == "iifname" else "-o"
        _exact(state, key, [value], negated, f"{'! ' if negated else ''}{flag} {value}")
    return handler


def _ports(which: str) -> Any:
    def handler(state: _RuleState, value: str, negated: bool) -> None:
        ports = getattr(state, ("not_" if negated else "") + which)
        text = f"{'! ' if negated else ''}--{which[:-1]} {value}"
        if not ports.add_text(value):
            state.fields["unparsed"].append(f"--{which[:-1]} {value}")
        exact = _port_values(value)
        if exact is None:
            _exact(state, "unknown", [], False, text)
        else:
            _exact(state, which[:-1], exact, negated, text)
    return handler


def _ctstate(state: _RuleState, value: str, negated: bool) -> None:
    _exact(state, "ct_state", [v.lower() for v in value.split(",") if v], negated,
           f"{'! ' if negated else ''}--ctstate {value}")
    if negated:
        state.fields["unparsed"].append("!--ctstate")
        return
    state.fields["ct_state"].extend(v.lower() for v in value.split(",") if v)


def _reject_with(state: _RuleState, value: str, negated: bool) -> None:
    state.fields["reject_with"] = REJECT_NAMES.get(value, value)


def _nat_to(state: _RuleState, value: str, negated: bool) -> None:
    state.fields["target"] = value


def _ignore(state: _RuleState, value: str, negated: bool) -> None:
    """An option that does not narrow the match (a comment): the rule text shows it."""


def _target(state: _RuleState, option: str, value: str) -> None:
    f = state.fields
    state.after_target = True
    f["action"] = value
    if option in ("-g", "--goto"):
        f["verdict"], f["target"] = "goto", value
    elif value in state.chains and value not in VERDICTS:
        f["verdict"], f["target"] = "jump", value
    elif value in LOG_TARGETS:
        f["verdict"] = None  # logs and goes on: not a verdict
    else:
        f["verdict"] = VERDICTS.get(value, value.lower() if value else None)


_OPTIONS = {
    "-p": _protocol, "--protocol": _protocol,
    "-s": _address("saddr"), "--source": _address("saddr"), "--src": _address("saddr"),
    "-d": _address("daddr"), "--destination": _address("daddr"), "--dst": _address("daddr"),
    "-i": _interface("iifname"), "--in-interface": _interface("iifname"),
    "-o": _interface("oifname"), "--out-interface": _interface("oifname"),
    "--dport": _ports("dports"), "--destination-port": _ports("dports"),
    "--sport": _ports("sports"), "--source-port": _ports("sports"),
    "--dports": _ports("dports"), "--destination-ports": _ports("dports"),
    "--sports": _ports("sports"), "--source-ports": _ports("sports"),
    "--ctstate": _ctstate, "--state": _ctstate,
    "--reject-with": _reject_with,
    "--to-source": _nat_to, "--to-destination": _nat_to, "--to-ports": _nat_to,
    "--to": _nat_to,
    "--comment": _ignore,
}


# --------------------------------------------------------------------------------------------
# Live collection
# --------------------------------------------------------------------------------------------

def _variant_of(binary: str) -> str | None:
    """nf_tables or legacy, from where the ``*-save`` binary links to (xtables-nft-multi...)."""
    path = base.which(binary)
    if path is None:
        return None
    real = os.path.basename(os.path.realpath(path))
    if "legacy" in real:
        return "legacy"
    if "nft" in real:
        return "nf_tables"
    result = base.run_command([binary, "-V"], timeout=5)
    return "nf_tables" if "nf_tables" in result.stdout + result.stderr else "legacy"


def _commands(cmd_family: str) -> dict[str, str]:
    """variant -> the save command that reads it, for those installed."""
    generic = f"{cmd_family}-save"
    generic_variant = _variant_of(generic)
    found: dict[str, str] = {}
    for variant, specific in (("nf_tables", f"{cmd_family}-nft-save"),
                              ("legacy", f"{cmd_family}-legacy-save")):
        if base.which(specific):
            found[variant] = specific
        elif generic_variant == variant:
            found[variant] = generic
    return found


def _collect_one(ctx: base.CollectContext, cmd_family: str, variant: str,
                 command: str) -> list[Fact]:
    source = {"command": command}
    fid = f"firewall_backend:{cmd_family}:{variant}"
    names_file = Path(ctx.proc) / "net" / COMMAND_FAMILIES[cmd_family][1]
    if variant == "legacy" and not names_file.exists():
        return [backend_fact(cmd_family, fid, source, present=True, active=False, rule_count=0,
                             variant=variant)]
    result = base.run_command([command], timeout=ctx.timeout)
    if not result.ok:
        return [backend_fact(cmd_family, fid, source, present=True, variant=variant),
                collection_error(NAME, f"{command}: {result.failure()}", source)]
    return parse_save(result.stdout, command, cmd_family, variant, result.stderr)


def nf_tables_families() -> frozenset[str]:
    """The nft families (ip, ip6) whose iptables-nft tables this collector reads here."""
    return frozenset(family for cmd_family, (family, _) in COMMAND_FAMILIES.items()
                     if "nf_tables" in _commands(cmd_family))


def collect(ctx: base.CollectContext) -> list[Fact]:
    facts: list[Fact] = []
    for cmd_family in COMMAND_FAMILIES:
        commands = _commands(cmd_family)
        if not commands:
            facts.extend(absent_backend(NAME, cmd_family, f"{cmd_family}-save",
                                        f"{cmd_family}-save: command not found",
                                        {"command": f"{cmd_family}-save"}))
            continue
        for variant, command in commands.items():
            facts.extend(_collect_one(ctx, cmd_family, variant, command))
    return unique_ids(facts)

