"""What the firewall collectors (nftables, iptables, ufw, firewalld) share: port sets, the
field set every ``firewall_rule`` has, chain reachability, and ``firewall_backend`` facts.
Rules look alike whatever the backend, so knowledge can match any of them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.facts import Fact, absent, make_fact

PORT_EXPAND_MAX = 1024  # ranges up to this many ports are also listed port by port

@dataclass
class PortMatch:
    """Ports a rule matches: single ints plus ranges (small ranges also expanded)."""

    ports: set[int] = field(default_factory=set)
    ranges: list[str] = field(default_factory=list)

    def add(self, port: int) -> None:
        self.ports.add(port)

    def add_range(self, low: int, high: int) -> None:
        if low > high:
            low, high = high, low
        if low == high:
            self.ports.add(low)
            return
        self.ranges.append(f"{low}-{high}")
        if high - low + 1 <= PORT_EXPAND_MAX:
            self.ports.update(range(low, high + 1))

    def add_text(self, text: str) -> bool:
        """Add ``22``, ``5000:5010``, ``5000-5010`` or ``80,443``; False if not ports."""
        ok = True
        for part in (p.strip() for p in text.split(",")):
            bounds = part.replace(":", "-").split("-")
            if not all(b.isdigit() for b in bounds) or len(bounds) > 2:
                ok = False
                continue
            if len(bounds) == 1:
                self.add(int(bounds[0]))
            else:
                self.add_range(int(bounds[0]), int(bounds[1]))
        return ok

    def sorted(self) -> list[int]:
        return sorted(self.ports)


def blank_rule(**fields: Any) -> dict[str, Any]:
    """Every ``firewall_rule`` field with its "matches anything" default, then ``fields``.

    All firewall collectors build their rules from this, so rules look alike whatever the
    backend and a knowledge rule can match any field without checking it exists.
    """
    rule: dict[str, Any] = {
        "backend": None, "variant": None, "family": None, "table": None, "chain": None,
        "hook": None, "reached_from": [], "handle": None, "position": None,
        "protocol": None, "protocols": [], "dports": [], "sports": [], "dport_ranges": [],
        "sport_ranges": [], "saddr": [], "daddr": [], "not_saddr": [], "not_daddr": [],
        "not_dports": [], "not_sports": [], "iifname": None, "oifname": None,
        "not_iifname": None, "not_oifname": None, "ct_state": [], "verdict": None,
        "action": None, "reject_with": None, "target": None, "managed_by": None,
        "authoritative": True, "unparsed": [], "text": "", "matches": [], "vmap": None,
    }
    rule.update(fields)
    return rule


def reached_from(base_hooks: Mapping[str, str], edges: Mapping[str, Iterable[str]]
                 ) -> dict[str, list[str]]:
    """For every chain, the hooks from which a jump/goto path leads to it.

    ``base_hooks`` maps base chains to their hook, ``edges`` maps a chain to the chains it
    jumps or goes to. A base chain is reached from its own hook.
    """
    result: dict[str, set[str]] = {}
    for chain, hook in base_hooks.items():
        stack, seen = [chain], {chain}
        while stack:
            current = stack.pop()
            result.setdefault(current, set()).add(hook)
            for nxt in edges.get(current, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    return {chain: sorted(hooks) for chain, hooks in result.items()}


def backend_fact(backend: str, fid: str, source: Mapping[str, Any], **fields: Any) -> Fact:
    """A ``firewall_backend`` fact with every field present (unknowns as null)."""
    values: dict[str, Any] = {
        "backend": backend, "present": True, "active": None, "rule_count": None,
        "variant": None, "default_incoming": None, "default_outgoing": None,
    }
    values.update(fields)
    return make_fact("firewall_backend", fid, source, **values)


def absent_backend(collector: str, backend: str, what: str, reason: str,
                   source: Mapping[str, Any], fid: str | None = None) -> list[Fact]:
    """A firewall that is not here: present=False plus the ``source_absent`` record."""
    return [
        backend_fact(backend, fid or f"firewall_backend:{backend}", source, present=False,
                     active=False, rule_count=0),
        absent(collector, what, reason, source),
    ]
