"""The scale figures of issue 9 (scale.py), printed by ``uv run pytest tests/benchmarks -s``.

Ratios are printed, never asserted against a clock (the machine may be shared). What is
asserted is that the answers do not change with scale: the generated facts are healthy and
distinct, so a bigger snapshot must give the same findings and no warning, and every probe
behind the silent drop must time out.
"""

from __future__ import annotations

import pytest

from tests.benchmarks import scale
from tests.benchmarks.generate import GENERATORS

pytestmark = pytest.mark.benchmark


def test_doubling_each_kind() -> None:
    rows = scale.per_kind()
    assert [r.kind for r in rows] == list(GENERATORS)
    for row in rows:
        # Really twice as many added facts (the real snapshot they grow holds a few of the
        # kind already: 14 routes on one machine, so compare what was added).
        added = [n - (row.facts[0] - scale.SIZES[0]) for n in row.facts]
        assert added[1] >= 2 * added[0] - 10, row
        assert row.rules[0] == row.rules[1], row  # the same findings at 10k and 20k


def test_doubling_facts_that_share_one_key() -> None:
    """10,000 and 20,000 default routes in one table (or neighbours behind one MAC, or
    interfaces with one MAC): a pairwise rule would build 5·10⁷ and 2·10⁸ pairs; the group
    relations give the same one finding."""
    expected = {"default routes in one table": "routing.multiple-default-gateways",
                "neighbours behind one MAC": "link.duplicate-mac-neighbours",
                "interfaces with one MAC": "link.duplicate-mac"}
    rows = scale.per_clash()
    assert [r.kind for r in rows] == list(expected)
    for row in rows:
        assert row.facts[1] >= 2 * row.facts[0] - 20, row
        assert row.rules[0] == row.rules[1] and expected[row.kind] in row.rules[0], row


def test_busy_node() -> None:
    figures = scale.busy()
    assert figures["facts"] > 200_000
    assert figures["warnings"] == [], figures["rules"]


def test_start_up() -> None:
    figures = scale.startup()
    assert set(figures) == {"python", "help", "rules_list", "collect_own", "python_wall",
                            "help_wall", "rules_list_wall", "collect_own_wall",
                            "collect_own_facts"}
    assert all(v > 0 for v in figures.values()), figures


def test_targets_behind_a_silent_drop() -> None:
    figures = scale.silent_drops()
    if figures is None:
        pytest.skip("needs root for the lab namespaces")
    for n, result in figures.items():
        assert result["targets"] == n and result["tcp_outcomes"] == ["timeout"], result


def test_collection_in_a_namespace() -> None:
    result = scale.collection()
    if result is None:
        pytest.skip("needs root for the lab namespaces")
    assert "wrote" in result["said"] and result["raw"] > 0, result


def test_the_summary_marks_a_missed_target_as_not_met() -> None:
    """The summary's marks come from the figures: a figure over its target reads NOT MET."""
    start = {"python": 0.02, "help": 0.3, "rules_list": 0.2, "collect_own": 0.6,
             "collect_own_facts": 160}
    node = {"diagnose": 2.5, "ratio": 2.0, "peak_mib": 510.0}
    collect = {"cpu_ratio": 1.5, "cpu": 3.0, "raw_cpu": 2.0}
    rows = [scale.KindRow("route", (1.0, 2.0), (1.0, 2.3), (10_000, 20_000), ([], []))]
    marks = {t.figure.split(",")[0].split(":")[0]: t.met for t in scale.targets(
        start, node, collect, None, rows)}
    lines: list[str] = []
    scale.summary(scale.targets(start, node, collect, None, rows), out=lines.append)
    assert sum("NOT MET" in line for line in lines) == 4  # memory, kinds, collect 0.5 s, --help
    assert any("not measured" in line for line in lines)  # the silent drops, not run here
    assert marks["whynet rules list"] is True and marks["whynet --help"] is False
