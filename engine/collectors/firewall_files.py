"""The firewall files people edit: the rules as written, before the kernel normalises them.

Reads:   ``/etc/nftables.conf`` and the files it ``include``s (globs too, relative to the
         including file), ``/etc/iptables/rules.v4`` and ``rules.v6`` (iptables-save format),
         ufw's ``/etc/ufw/user.rules`` and ``user6.rules``, firewalld's
         ``/etc/firewalld/zones/*.xml``. Needs read access (root for some); an unreadable file
         is a ``collection_error``, a missing one is simply not there.
Never:   loads, checks or changes a ruleset (no ``nft -c``: that needs the kernel and root).
Redacts: the rule text goes through ``engine.redact.redact_text`` (comments are free text).

Why: the kernel keeps ``10.0.0.0/24`` for a rule written ``10.0.0.5/24``, so a typo (a host
meant, a subnet allowed) is only visible in the file. Each rule line becomes a
``firewall_file_rule`` fact: file and line, backend, family, table, chain, its position among
the chain's rules in the files, the line's text, the CIDRs and addresses as written
(``addresses``), those with host bits set (``host_bits``: ``10.0.0.5/24``), and ``values``: the
ports and normalised addresses it names, which ``engine.firewall.files`` compares with the live
rules (mapping each live rule to its file and line, and finding rules edited but not reloaded).
A ``firewall_file`` fact per file read (rules, tables, includes).
"""

from __future__ import annotations

import glob
import ipaddress
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.collectors import base
from engine.facts import Fact, collection_error, make_fact, unique_ids
from engine.redact import redact_text

NAME = "firewall_files"
KINDS = ("firewall_file", "firewall_file_rule", "collection_error")
MAX_INCLUDE_DEPTH = 16

# An IPv4/IPv6 address or CIDR, or an address range, as a token of a rule line.
_ADDRESS = re.compile(
    r"(?<![\w:.])("
    r"(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?"
    r"|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}(?:/\d{1,3})?"
    r")(?![\w:.])")
_NUMBER = re.compile(r"(?<![\w.:/-])(\d{1,5})(?:-(\d{1,5}))?(?![\w.:/])")
_SERVICE_WORDS = re.compile(r"\b(?:dport|sport|dports|sports|port)\s+(?:!=\s*)?\{?\s*([a-z][\w-]*)")
_NFT_RULE_SKIP = re.compile(
    r"^(type |policy |flags |elements|counter$|comment |devices? |priority |timeout |size "
    r"|auto-merge|gc-interval|typeof )")


def _addresses(text: str) -> list[str]:
    out = []
    for m in _ADDRESS.finditer(text):
        token = m.group(1)
        try:
            ipaddress.ip_network(token, strict=False)
        except ValueError:
            continue
        out.append(token)
    return out


def host_bits(cidrs: Iterable[str]) -> list[str]:
    """The prefixes among ``cidrs`` with host bits set (``10.0.0.5/24``; not ``10.0.0.5``)."""
    out = []
    for c in cidrs:
        if "/" not in c:
            continue
        try:
            ipaddress.ip_network(c, strict=True)
        except ValueError:
            out.append(c)
    return out


def values(text: str) -> list[str]:
    """What a rule names, normalised the way the kernel stores it: addresses and prefixes
    (``10.0.0.5/24`` -> ``10.0.0.0/24``, ``/32`` dropped), ports and port ranges, service names
    as numbers. Two texts of one rule (as written, as listed) give the same values."""
    found: set[str] = set()
    for c in _addresses(text):
        net = ipaddress.ip_network(c, strict=False)
        found.add(str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net))
    stripped = _ADDRESS.sub(" ", text)
    for m in _NUMBER.finditer(stripped.replace(":", "-")):
        lo, hi = m.group(1), m.group(2)
        found.add(lo if hi is None or hi == lo else f"{lo}-{hi}")
    for m in _SERVICE_WORDS.finditer(text):
        try:
            found.add(str(socket.getservbyname(m.group(1))))
        except OSError:
            pass
    return sorted(found)


@dataclass
class _Rule:
    file: str
    line: int
    backend: str
    family: str | None
    table: str | None
    chain: str | None
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# nftables
# --------------------------------------------------------------------------------------------

def _strip_comment(line: str) -> str:
    out, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == "#" and not quoted:
            break
        out.append(ch)
    return "".join(out).strip()


def parse_nftables(path: Path, read: Any = None, depth: int = 0,
                   seen: set[str] | None = None) -> tuple[list[_Rule], list[str], list[str]]:
    """(rules, files read, problems) of an nftables file and its includes, in load order."""
    read = read or base.read_text
    seen = seen if seen is not None else set()
    rules: list[_Rule] = []
    files = [str(path)]
    problems: list[str] = []
    seen.add(str(path))
    try:
        text = read(path)
    except OSError as exc:
        return [], [], [f"{path}: {exc.strerror or exc}"]
    stack: list[tuple[str, str]] = []  # ("table", "inet filter") / ("chain", "input") / other
    defines: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line:
            continue
        for name, value in re.findall(r"^define\s+(\w+)\s*=\s*(.+)$", line):
            defines[name] = value.strip()
        include = re.match(r'^include\s+"([^"]+)"', line)
        if include:
            if depth >= MAX_INCLUDE_DEPTH:
                problems.append(f"{path}:{n}: includes nested too deep")
                continue
            pattern = include.group(1)
            if not pattern.startswith("/"):
                pattern = str(path.parent / pattern)
            for inc in sorted(glob.glob(pattern)) or ([] if any(c in pattern for c in "*?[")
                                                      else [pattern]):
                if inc in seen:
                    continue
                more, more_files, more_problems = parse_nftables(Path(inc), read, depth + 1,
                                                                 seen)
                rules += more
                files += more_files
                problems += more_problems
            continue
        for part in (p.strip() for p in line.split(";")):
            if not part:
                continue
            _nft_statement(part, stack, rules, str(path), n, defines)
    return rules, files, problems


def _nft_statement(part: str, stack: list[tuple[str, str]], rules: list[_Rule], file: str,
                   n: int, defines: Mapping[str, str]) -> None:
    opened = part.endswith("{")
    closes = part.count("}") - part.count("{") if not opened else 0
    head = part.rstrip("{").strip()
    table = re.match(r"^(?:add\s+)?table\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?(\S+)$", head)
    chain = re.match(r"^(?:add\s+)?chain\s+(?:\S+\s+\S+\s+)?(\S+)$", head)
    if opened and table:
        stack.append(("table", f"{table.group(1) or 'ip'} {table.group(2)}"))
        return
    if opened and chain and stack and stack[-1][0] == "table":
        stack.append(("chain", chain.group(1)))
        return
    if opened:
        stack.append(("block", head))
        if head.startswith(("set ", "map ")):
            return
        return
    if part.startswith("}") or part == "}":
        for _ in range(max(1, part.count("}"))):
            if stack:
                stack.pop()
        return
    if closes > 0:
        for _ in range(closes):
            if stack:
                stack.pop()
    in_chain = stack and stack[-1][0] == "chain"
    in_set = stack and stack[-1][0] == "block" and stack[-1][1].startswith(("set ", "map "))
    if in_set and part.startswith("elements"):
        table_name = next((v for k, v in reversed(stack) if k == "table"), None)
        family, _, tname = (table_name or "ip ?").partition(" ")
        rules.append(_Rule(file, n, "nftables", family, tname, None, part,
                           {"set": stack[-1][1].split()[1] if len(stack[-1][1].split()) > 1
                            else None}))
        return
    if not in_chain or _NFT_RULE_SKIP.match(part):
        return
    table_name = next((v for k, v in reversed(stack) if k == "table"), None)
    family, _, tname = (table_name or "ip ?").partition(" ")
    text = re.sub(r"\$(\w+)", lambda m: defines.get(m.group(1), m.group(0)), part)
    rules.append(_Rule(file, n, "nftables", family, tname, stack[-1][1], text))


# --------------------------------------------------------------------------------------------
# iptables-save format (rules.v4/v6, ufw's user.rules)
# --------------------------------------------------------------------------------------------

def parse_iptables_file(path: Path, backend: str, read: Any = None
                        ) -> tuple[list[_Rule], list[str]]:
    read = read or base.read_text
    try:
        text = read(path)
    except OSError as exc:
        return [], [f"{path}: {exc.strerror or exc}"]
    family = "ip6" if backend == "ip6tables" else "ip"
    rules: list[_Rule] = []
    table = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A ") and table:
            parts = line.split()
            rules.append(_Rule(str(path), n, backend, family, table,
                               parts[1] if len(parts) > 1 else None, line))
    return rules, []


# --------------------------------------------------------------------------------------------
# firewalld zones
# --------------------------------------------------------------------------------------------

def parse_zone(path: Path, read: Any = None) -> tuple[list[_Rule], list[str]]:
    """Each ``source``/rich rule address of a zone file, with its line."""
    read = read or base.read_text
    try:
        text = read(path)
    except OSError as exc:
        return [], [f"{path}: {exc.strerror or exc}"]
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return [], [f"{path}: not XML ({exc})"]
    zone = path.stem
    lines = text.splitlines()
    rules: list[_Rule] = []
    for elem in root.iter():
        address = elem.get("address")
        if elem.tag not in ("source", "destination") or not address:
            continue
        n = next((i for i, line in enumerate(lines, start=1) if f'"{address}"' in line), 0)
        rules.append(_Rule(str(path), n, "firewalld", None, "firewalld", zone,
                           lines[n - 1].strip() if n else f'<{elem.tag} address="{address}"/>'))
    return rules, []


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------

def facts_of(rules: list[_Rule], files: Mapping[str, str], problems: list[str]) -> list[Fact]:
    """``firewall_file_rule`` facts (numbered per chain in load order) and ``firewall_file``."""
    out: list[Fact] = []
    positions: dict[tuple[Any, ...], int] = {}
    counts: dict[str, int] = {}
    for r in rules:
        position = None
        if r.chain is not None and "set" not in r.extra:
            key = (r.backend, r.family, r.table, r.chain)
            positions[key] = positions.get(key, 0) + 1
            position = positions[key]
        counts[r.file] = counts.get(r.file, 0) + 1
        addresses = _addresses(r.text)
        out.append(make_fact(
            "firewall_file_rule", f"firewall_file_rule:{r.file}:{r.line}:{counts[r.file]}",
            {"file": r.file, "line": r.line},
            file=r.file, line=r.line, backend=r.backend, family=r.family, table=r.table,
            chain=r.chain, position=position, set=r.extra.get("set"),
            text=redact_text(r.text), addresses=addresses, host_bits=host_bits(addresses),
            kernel_keeps=[str(ipaddress.ip_network(c, strict=False)) for c in host_bits(addresses)],
            values=values(r.text),
        ))
    for file, backend in files.items():
        out.append(make_fact("firewall_file", f"firewall_file:{file}", {"file": file},
                             file=file, backend=backend, rule_count=counts.get(file, 0)))
    for problem in problems:
        out.append(collection_error(NAME, problem, {"file": problem.split(":", 1)[0]},
                                    what=problem.split(":", 1)[0]))
    return out


def collect_files(etc: Path, read: Any = None) -> list[Fact]:
    rules: list[_Rule] = []
    files: dict[str, str] = {}
    problems: list[str] = []
    nft = etc / "nftables.conf"
    if nft.exists():
        more, read_files, more_problems = parse_nftables(nft, read)
        rules += more
        problems += more_problems
        files.update({f: "nftables" for f in read_files})
    for path, backend in ((etc / "iptables" / "rules.v4", "iptables"),
                          (etc / "iptables" / "rules.v6", "ip6tables"),
                          (etc / "ufw" / "user.rules", "iptables"),
                          (etc / "ufw" / "user6.rules", "ip6tables")):
        if path.exists():
            more, more_problems = parse_iptables_file(path, backend, read)
            rules += more
            problems += more_problems
            if not more_problems:
                files[str(path)] = backend
    for path in sorted((etc / "firewalld" / "zones").glob("*.xml")):
        more, more_problems = parse_zone(path, read)
        rules += more
        problems += more_problems
        if not more_problems:
            files[str(path)] = "firewalld"
    return unique_ids(facts_of(rules, files, problems))


def collect(ctx: base.CollectContext) -> list[Fact]:
    return collect_files(Path(ctx.etc))
