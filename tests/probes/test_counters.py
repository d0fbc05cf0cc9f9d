"""Kernel drop counters around the probes: recorded /proc/net/netstat and
/proc/net/stat/nf_conntrack (tests/fixtures/kernel), read before and after, then the rules
that read them, fed the facts the collectors and this probe make from those recordings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.collectors import conntrack, sysctl
from engine.collectors.base import CollectContext
from engine.facts import Fact, make_fact
from engine.inference import run
from engine.knowledge import KnowledgeBase, load_knowledge
from engine.probes.counters import CounterWatch, parse_netstat, read_counters
from engine.report import build_findings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kernel"
TARGET = "http://198.51.100.20/"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(include_user=False)


def changes(tmp_path: Path, before: str, after: str) -> list[Fact]:
    """Counter facts as the probe makes them when /proc moves from one recording to another."""
    proc = tmp_path / f"{before}-to-{after}" / "proc"
    shutil.copytree(FIXTURES / before / "proc", proc)
    watch = CounterWatch(proc)
    shutil.rmtree(proc)
    shutil.copytree(FIXTURES / after / "proc", proc)
    return watch.changes()


def by_name(facts: list[Fact]) -> dict[str, Fact]:
    return {f["name"]: f for f in facts}


def test_parse_recorded_netstat() -> None:
    values = parse_netstat((FIXTURES / "rp-filter-drops/proc/net/netstat").read_text())
    assert values["TcpExt.IPReversePathFilter"] == 2
    assert values["IpExt.InOctets"] > 0  # every group is read, not only TcpExt


def test_parse_netstat_skips_lines_that_do_not_pair() -> None:
    assert parse_netstat("TcpExt: A B\nIpExt: 1 2\n") == {}
    assert parse_netstat("TcpExt: A B\n") == {}


def test_read_counters() -> None:
    found = read_counters(FIXTURES / "conntrack-full" / "proc")
    assert {k: v for k, (v, _) in found.items()} == {
        "TcpExt.IPReversePathFilter": 0, "nf_conntrack.drop": 1,
        "nf_conntrack.early_drop": 0, "nf_conntrack.insert_failed": 0}


def test_missing_files_give_no_counter(tmp_path: Path) -> None:
    watch = CounterWatch(tmp_path)
    assert watch.before == {} and watch.changes() == []


def test_changes(tmp_path: Path) -> None:
    found = by_name(changes(tmp_path, "conntrack-busy", "conntrack-full"))
    assert (found["nf_conntrack.drop"]["before"], found["nf_conntrack.drop"]["delta"]) == (0, 1)
    found = by_name(changes(tmp_path, "conntrack-busy", "rp-filter-drops"))
    assert found["TcpExt.IPReversePathFilter"]["delta"] == 2


def timeout_to_server(interface: str = "eth0") -> list[Fact]:
    src = {"probe": "recorded in the lab"}
    return [
        make_fact("probe_tcp", "probe_tcp:x", src, target=TARGET, layer="transport",
                  outcome="timeout", ip="198.51.100.20", port=80, elapsed_ms=3000, error=None),
        make_fact("probe_route", "probe_route:x", src, target=TARGET, layer="route",
                  outcome="routed", ip="198.51.100.20", interface=interface,
                  gateway="10.20.0.1", elapsed_ms=1, error=None),
    ]


def top_rule(kb: KnowledgeBase, facts: list[Fact]) -> str | None:
    findings = build_findings(kb, run(kb, facts))
    return findings[0].rule.id if findings else None


def rp_filter(all_value: str, eth1: str) -> list[Fact]:
    return [sysctl.sysctl_fact("net.ipv4.conf.all.rp_filter", all_value, "recorded"),
            sysctl.sysctl_fact("net.ipv4.conf.eth0.rp_filter", all_value, "recorded"),
            sysctl.sysctl_fact("net.ipv4.conf.eth1.rp_filter", eth1, "recorded")]


def test_rp_filter_rule_on_recorded_counters(kb: KnowledgeBase, tmp_path: Path) -> None:
    counters = changes(tmp_path, "conntrack-busy", "rp-filter-drops")
    facts = counters + timeout_to_server() + rp_filter("1", "1")
    assert top_rule(kb, facts) == "routing.rp-filter-dropped-replies"
    # loose filtering: the same counters are someone else's drops, the rule stays silent
    assert top_rule(kb, counters + timeout_to_server() + rp_filter("2", "2")) != \
        "routing.rp-filter-dropped-replies"


def test_conntrack_rule_on_recorded_table(kb: KnowledgeBase, tmp_path: Path) -> None:
    table = conntrack.collect(CollectContext(proc=FIXTURES / "conntrack-full" / "proc"))
    counters = changes(tmp_path, "conntrack-busy", "conntrack-full")
    assert top_rule(kb, table + counters + timeout_to_server()) == \
        "firewall.conntrack-table-full"
    busy = conntrack.collect(CollectContext(proc=FIXTURES / "conntrack-busy" / "proc"))
    assert top_rule(kb, busy + counters + timeout_to_server()) != "firewall.conntrack-table-full"
