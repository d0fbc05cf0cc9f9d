"""conntrack collector: recorded /proc trees (a full table, a busy one), a kernel without
nf_conntrack, an unreadable statistics file, the live kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.collectors import conntrack
from engine.collectors.base import CollectContext
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kernel"


def collect_from(proc: Path) -> list[Fact]:
    return conntrack.collect(CollectContext(proc=proc))


def test_full_table() -> None:
    [table] = collect_from(FIXTURES / "conntrack-full" / "proc")
    assert table.kind == "conntrack_table"
    assert (table["count"], table["max"], table["fill_percent"]) == (262144, 262144, 100)
    assert (table["drop"], table["early_drop"], table["insert_failed"]) == (1, 0, 0)


def test_busy_table() -> None:
    [table] = collect_from(FIXTURES / "conntrack-busy" / "proc")
    assert (table["count"], table["fill_percent"], table["drop"]) == (20001, 7, 0)


def test_stat_rows_summed_over_cpus() -> None:
    text = (FIXTURES / "conntrack-full" / "proc" / "net/stat/nf_conntrack").read_text()
    totals = conntrack.parse_stat(text)
    assert totals["entries"] == 262144  # the table's size, not summed over the two rows
    assert totals["drop"] == 1
    assert set(conntrack.SUMMED) <= set(totals)


@pytest.mark.parametrize("text", ["", "entries drop\n", "nonsense 1 2\n1 2 3\n",
                                  "entries drop\n00000001\n", "entries drop\nzz 01\n"])
def test_stat_that_is_not_the_table(text: str) -> None:
    with pytest.raises(ValueError):
        conntrack.parse_stat(text)


def test_no_conntrack_module(tmp_path: Path) -> None:
    [fact] = collect_from(tmp_path)
    assert fact.kind == "source_absent" and "not loaded" in fact["reason"]


def test_garbled_stat_keeps_the_count(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "conntrack-busy" / "proc", tmp_path / "proc")
    (tmp_path / "proc" / "net/stat/nf_conntrack").write_text("garbage\n")
    facts = collect_from(tmp_path / "proc")
    assert [f.kind for f in facts] == ["collection_error", "conntrack_table"]
    assert facts[1]["count"] == 20001 and facts[1]["drop"] is None


def test_unreadable_count(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "conntrack-busy" / "proc", tmp_path / "proc")
    (tmp_path / "proc" / "sys/net/netfilter/nf_conntrack_max").write_text("")
    [fact] = collect_from(tmp_path / "proc")
    assert fact.kind == "collection_error"


def test_live_kernel() -> None:
    facts = conntrack.collect(CollectContext())
    assert len(facts) >= 1
    assert {f.kind for f in facts} <= {"conntrack_table", "source_absent", "collection_error"}
