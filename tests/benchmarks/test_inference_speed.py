"""How much declaring only matchable facts saves on a busy node's fact base.

Not a timed assertion: both variants run in the same process on the same facts, and the ratio
is printed (`uv run pytest tests/benchmarks -s`). What is asserted is that both variants reach
the same conclusions, so the speed-up is never bought with a different answer.
"""

from __future__ import annotations

import time

import pytest

from engine.facts import Fact
from engine.inference import run
from engine.knowledge import load_knowledge

pytestmark = pytest.mark.benchmark

# An ad-blocking hosts file: every line maps a name to 0.0.0.0. Sized so the baseline stays a
# few seconds on two cores.
BLOCKED_NAMES = 20_000


def busy_node_facts() -> list[Fact]:
    facts = [
        Fact("hosts_entry", f"hosts:{i}", {"file": "/etc/hosts", "line": i},
             {"ip": "0.0.0.0", "names": [f"ads{i}.tracker.example"], "line": i,
              "loopback": True, "file": "/etc/hosts"})
        for i in range(1, BLOCKED_NAMES + 1)
    ]
    facts.append(Fact("hosts_entry", "hosts:db", {"file": "/etc/hosts", "line": 0},
                      {"ip": "10.0.0.5", "names": ["db.lab"], "line": 0, "loopback": False,
                       "file": "/etc/hosts"}))
    for i, (gw, dev) in enumerate([("10.0.0.1", "eth0"), ("10.1.0.1", "eth1")]):
        facts.append(Fact("route", f"route:{i}", {"command": "ip -j route show table all"},
                          {"destination": "default", "gateway": gw, "interface": dev,
                           "table": "main", "family": 4, "metric": 100 * (i + 1)}))
    return facts


def _timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def test_prefiltering_declares_fewer_facts_with_the_same_findings() -> None:
    kb = load_knowledge(include_user=False)
    facts = busy_node_facts()
    baseline, t_all = _timed(lambda: run(kb, facts, prefilter=False))
    filtered, t_filtered = _timed(lambda: run(kb, facts))
    fired = sorted((a.rule, tuple(sorted(a.bindings.values()))) for a in filtered.activations)
    assert fired == sorted(
        (a.rule, tuple(sorted(a.bindings.values()))) for a in baseline.activations
    )
    assert ("routing.multiple-default-gateways",
            ("default_routes_of_table:main", "route:0", "route:1")) in fired
    print(
        f"\n{len(facts)} facts: declare all of matchable kinds {t_all:.2f}s "
        f"({len(baseline.facts)} declared), prefiltered {t_filtered:.3f}s "
        f"({len(filtered.facts)} declared): {t_all / t_filtered:.0f}x faster"
    )
