"""The firewall files against the live ruleset (F7), from facts only.

* Maps each live rule (``firewall_rule``) to the file line it was loaded from
  (``firewall_file_rule``): per chain, the two rule lists are aligned on what each rule names
  (its addresses normalised the way the kernel stores them, ports, service names as numbers)
  and its verdict, in order (difflib's longest matching blocks), so an inserted or edited rule
  shifts nothing else.
* ``Links.not_in_file``: each live rule of a compared chain that its file does not have
  (added by hand, or the file edited since it was loaded), so a verdict naming that rule says
  so instead of sending the user to a file line that is not there.
* ``firewall_file_drift``: a chain whose file rules and live rules differ: rules in the file
  that are not loaded (edited, not reloaded; or the file is not loaded at all) and live rules the
  file does not have (added at run time, or removed from the file without a reload). Only tables
  that exist in the live ruleset are compared (a file of a disabled service is not in use), and
  for iptables files only chains that exist live (ufw's ``user.rules`` while ufw is off share the
  ``filter`` table with everyone); chains that ufw, Docker, Kubernetes, fail2ban or libvirt
  rewrite at run time are left out.
* ``firewall_file_wide_prefix``: a prefix in a file with the same network address as a subnet
  this host sits on but a shorter length (``10.20.0.0/16`` beside ``10.20.0.0/24``: a /24
  probably meant), the private ranges themselves (``10.0.0.0/8``...) excepted.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.collectors.firewall_files import values as rule_values
from engine.facts import Fact, make_fact

# Prefixes written on purpose as a whole block, never "a /24 meant".
WHOLE_BLOCKS = frozenset(ipaddress.ip_network(n) for n in (
    "0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
    "127.0.0.0/8", "169.254.0.0/16", "::/0", "fc00::/7", "fe80::/10"))
_VERDICT = re.compile(r"(?:^|\s)(?:-j\s+|-g\s+)?(accept|drop|reject|return|jump|goto|queue|"
                      r"continue|masquerade|snat|dnat|redirect|log)\b", re.IGNORECASE)
MAX_LISTED = 10
# Tools that rewrite their chains at run time (ufw builds its logging chains from its own
# settings, and reloads user.rules itself): a difference from a saved file is expected.
DYNAMIC_OWNERS = frozenset({"docker", "kubernetes", "fail2ban", "libvirt", "ufw"})


@dataclass
class Links:
    lines: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # live id -> file
    not_in_file: dict[str, str] = field(default_factory=dict)  # live id -> the file without it
    facts: list[Fact] = field(default_factory=list)


def _signature(text: str) -> tuple[str, ...]:
    words = [m.group(1).lower() for m in _VERDICT.finditer(text)]
    return (*rule_values(text), *words[-1:])


def _live_key(f: Fact) -> tuple[Any, ...]:
    return (str(f.get("backend")), str(f.get("family")), str(f.get("table")),
            str(f.get("chain")))


def link(facts: Sequence[Fact]) -> Links:
    out = Links()
    file_rules: dict[tuple[Any, ...], list[Fact]] = {}
    for f in facts:
        if (f.kind == "firewall_file_rule" and f.get("chain") is not None
                and f.get("backend") in ("nftables", "iptables", "ip6tables")):
            file_rules.setdefault(_live_key(f), []).append(f)
    if file_rules:
        live: dict[tuple[Any, ...], list[Fact]] = {}
        for f in facts:
            if f.kind == "firewall_rule" and f.get("authoritative") is not False:
                live.setdefault(_live_key(f), []).append(f)
        live_chains = {_live_key(f) for f in facts if f.kind == "firewall_chain"}
        live_tables = {key[:3] for key in live_chains}
        for key, written in file_rules.items():
            if key[:3] not in live_tables:
                continue  # a file not in use (service disabled, ufw inactive): nothing to compare
            if key[0] != "nftables" and key not in live_chains:
                continue  # iptables tables are shared (ufw's file, rules.v4): the chain must be
            written.sort(key=lambda f: f.get("position") or 0)
            loaded = sorted(live.get(key, []), key=lambda f: f.get("position") or 0)
            _align(key, written, loaded, key in live_chains, out)
    out.facts += wide_prefixes(facts)
    return out


def _align(key: tuple[Any, ...], written: list[Fact], loaded: list[Fact], chain_live: bool,
           out: Links) -> None:
    a = [_signature(str(f.get("text"))) for f in written]
    b = [_signature(str(f.get("text"))) for f in loaded]
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    matched_written: set[int] = set()
    matched_loaded: set[int] = set()
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            w, lv = written[block.a + i], loaded[block.b + i]
            out.lines[lv.id] = (str(w.get("file")), w.get("line"))
            matched_written.add(block.a + i)
            matched_loaded.add(block.b + i)
    missing = [w for i, w in enumerate(written) if i not in matched_written]
    extra = [lv for i, lv in enumerate(loaded) if i not in matched_loaded]
    if not missing and not extra:
        return
    if any(lv.get("managed_by") in DYNAMIC_OWNERS for lv in loaded) or str(key[3]).startswith(
            ("ufw-", "ufw6-")):
        return
    for lv in extra:
        out.not_in_file[lv.id] = str(written[0].get("file"))
    backend, family, table, chain = key
    first = missing[0] if missing else written[0]
    out.facts.append(make_fact(
        "firewall_file_drift", f"firewall_file_drift:{backend}:{family}:{table}:{chain}",
        {"file": first.get("file"), "line": first.get("line")},
        file=first.get("file"), line=first.get("line"), backend=backend, family=family,
        table=table, chain=chain, chain_loaded=chain_live,
        not_loaded=[f"line {w.get('line')}: {w.get('text')}" for w in missing[:MAX_LISTED]],
        not_in_file=[str(lv.get("text")) for lv in extra[:MAX_LISTED]],
        not_loaded_count=len(missing), not_in_file_count=len(extra),
    ))


def _local_subnets(facts: Iterable[Fact]) -> list[tuple[Any, str]]:
    out = []
    for f in facts:
        if f.kind == "address" and f.get("network") and f.get("scope") in (None, "global"):
            try:
                out.append((ipaddress.ip_network(str(f.get("network")), strict=False),
                            str(f.get("interface"))))
            except ValueError:
                continue
    return out


def wide_prefixes(facts: Sequence[Fact]) -> list[Fact]:
    subnets = _local_subnets(facts)
    if not subnets:
        return []
    by_address = {(n.network_address, n.version): (n, iface) for n, iface in subnets}
    out: list[Fact] = []
    for f in facts:
        if f.kind != "firewall_file_rule":
            continue
        for written in f.get("addresses") or []:
            if "/" not in written:
                continue
            net = ipaddress.ip_network(written, strict=False)
            hit = by_address.get((net.network_address, net.version))
            if hit is None or net in WHOLE_BLOCKS or net.prefixlen >= hit[0].prefixlen:
                continue
            subnet, iface = hit
            out.append(make_fact(
                "firewall_file_wide_prefix", f"firewall_file_wide_prefix:{f.id}:{written}",
                {"file": f.get("file"), "line": f.get("line")},
                file=f.get("file"), line=f.get("line"), text=f.get("text"), cidr=written,
                subnet=str(subnet), interface=iface,
                addresses=net.num_addresses, subnet_addresses=subnet.num_addresses))
    return out
