"""The lab's count (``registry.py``): enough faults, and every registered scenario run by
exactly one test.

These tests read the declarations and the test modules' parametrize marks; they build nothing.
What really ran (and that no fault scenario skipped where the lab can run) is counted after the
run by ``conftest.py``, in the "lab scenarios" section of pytest's summary.
"""

from __future__ import annotations

import importlib
from collections import Counter

import pytest

from . import registry

pytestmark = pytest.mark.lab


def scenarios_run_by_tests() -> Counter[str]:
    """How many collected tests take each scenario name as their ``sc`` parameter, from every
    ``test_*.py`` of the lab (a test parametrized with the same name twice counts twice)."""
    runs: Counter[str] = Counter()
    for path in sorted(registry.HERE.glob("test_*.py")):
        module = importlib.import_module(f"{registry.PACKAGE}.{path.stem}")
        for attr, test in vars(module).items():
            if not (attr.startswith("test_") and callable(test)):
                continue
            for mark in getattr(test, "pytestmark", []):
                if mark.name != "parametrize":
                    continue
                argnames = mark.args[0]
                names = ([a.strip() for a in argnames.split(",")] if isinstance(argnames, str)
                         else list(argnames))
                if "sc" not in names:
                    continue
                at = names.index("sc")
                runs.update(value if len(names) == 1 else value[at] for value in mark.args[1])
    return runs


def test_counts_per_module() -> None:
    counts = registry.per_module()
    print("\nregistered lab scenarios:")
    for module, row in sorted(counts.items()):
        print(f"  {module:<24} fault {row['fault']:>3}   healthy {row['healthy']:>3}")
    print(f"  {'all':<24} fault {len(registry.faults()):>3}   "
          f"healthy {len(registry.healthy()):>3}")
    assert {"scenarios", "coverage", "healthy"} <= set(counts)
    assert sum(row["fault"] for row in counts.values()) == len(registry.faults())


def test_the_lab_proves_enough_faults() -> None:
    counts = {m: row["fault"] for m, row in registry.per_module().items()}
    assert len(registry.faults()) >= registry.MIN_FAULTS, counts


def test_every_scenario_is_run_by_exactly_one_test() -> None:
    runs = scenarios_run_by_tests()
    registered = set(registry.entries())
    orphans = sorted(registered - set(runs))
    twice = sorted(n for n, k in runs.items() if k > 1)
    unknown = sorted(set(runs) - registered)
    assert (orphans, twice, unknown) == ([], [], []), (
        "registered but run by no test, run by several tests, run but not registered")


def test_names_are_unique_and_declared_in_the_right_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name declared in two modules is refused; the discovery reads FAULTS and HEALTHY."""
    assert registry.declares_scenarios(registry.HERE / "scenarios.py")
    assert not registry.declares_scenarios(registry.HERE / "netlab.py")
    found = registry.scenario_modules()
    twin = type(found[0])("tests.lab.twin")
    twin.FAULTS = {"no-route": lambda lab: None}  # type: ignore[attr-defined]
    monkeypatch.setattr(registry, "scenario_modules", lambda: [*found, twin])
    registry.entries.cache_clear()
    try:
        with pytest.raises(ValueError, match="'no-route' is declared twice"):
            registry.entries()
    finally:
        registry.entries.cache_clear()
