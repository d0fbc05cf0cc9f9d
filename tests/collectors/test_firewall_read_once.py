"""Each firewall rule is read once (issue 9): iptables-nft tables, which nft shows too, are
recorded by the iptables collector only; and the fast iptables-save tokenizer splits every
line exactly as shlex does."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from engine.collectors import base, iptables, nftables
from tests.benchmarks.generate import kube_proxy_ruleset
from tests.collectors.netns_util import collect_in, namespace, require_netns

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _save_lines() -> list[str]:
    lines = [line for path in sorted((FIXTURES / "iptables").glob("*.txt"))
             for line in path.read_text().splitlines() if line.startswith("-A ")]
    lines += [line for line in kube_proxy_ruleset(400).splitlines() if line.startswith("-A ")]
    return lines + [
        '-A INPUT -m comment --comment "a \\"quoted\\" word" -j ACCEPT',
        '-A INPUT -m comment --comment "back\\\\slash" -j ACCEPT',
        '-A INPUT -m comment --comment "" -j ACCEPT',
        "-A INPUT -m comment --comment 'single quoted' -j ACCEPT",
        '-A INPUT -m comment --comment ab"cd" -j ACCEPT',
        '-A INPUT -m comment --comment "unterminated -j ACCEPT',
    ]


def test_tokens_split_every_recorded_line_as_shlex_does() -> None:
    lines = _save_lines()
    assert len(lines) > 400
    for line in lines:
        try:
            expected: list[str] | None = shlex.split(line)
        except ValueError:
            expected = None
        assert iptables._tokens(line) == expected, line


def test_iptables_nft_tables_read_elsewhere_are_not_recorded_twice() -> None:
    text = (FIXTURES / "nftables" / "ruleset-iptables-nft.json").read_text()
    both = nftables.parse_ruleset(text)
    once = nftables.parse_ruleset(text, read_elsewhere=frozenset({"ip", "ip6"}))
    assert sum(f.kind == "firewall_rule" for f in both) == 27
    assert not [f for f in once if f.kind in ("firewall_rule", "firewall_chain")]
    backend = next(f for f in once if f.kind == "firewall_backend")
    assert (backend["rule_count"], backend["total_rule_count"]) == (0, 27)
    ip_only = nftables.parse_ruleset(text, read_elsewhere=frozenset({"ip"}))
    assert {f["family"] for f in ip_only if f.kind == "firewall_rule"} <= {"ip6"}


def test_live_iptables_nft_rules_are_one_fact_each() -> None:
    """In a namespace with an iptables-nft ruleset, the two collectors together record each
    rule once, authoritatively, from iptables-save."""
    require_netns()
    restore = base.which("iptables-nft-restore")
    if restore is None or base.which("nft") is None or "nf_tables" not in \
            iptables._commands("iptables"):
        pytest.skip("needs iptables-nft and nft")
    ruleset = kube_proxy_ruleset(200)
    with namespace("once") as ns:
        subprocess.run(["ip", "netns", "exec", ns, restore], input=ruleset, text=True,
                       check=True, timeout=60)
        _, from_nft = collect_in(ns, "nftables")
        _, from_iptables = collect_in(ns, "iptables")
    nft_rules = [f for f in from_nft if f["kind"] == "firewall_rule"]
    ipt_rules = [f for f in from_iptables if f["kind"] == "firewall_rule"]
    assert nft_rules == []
    assert len(ipt_rules) == sum(1 for line in ruleset.splitlines() if line.startswith("-A "))
    assert all(f["authoritative"] is not False for f in ipt_rules)
    backend = next(f for f in from_nft if f["kind"] == "firewall_backend")
    assert backend["total_rule_count"] == len(ipt_rules)
