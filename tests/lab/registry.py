"""The one place that counts the lab's scenarios.

Every scenario module of the lab declares its scenarios once, in two module-level dicts::

    FAULTS: dict[str, Callable[[Lab], Scenario]]   # one fault each; the built Scenario names
                                                   # its checklist items, top rule and layer
    HEALTHY: dict[str, Callable[[Lab], Scenario]]  # controls: no finding at warning or above

Any module of ``tests/lab`` (not a ``test_*.py`` and not ``conftest.py``) that assigns
``FAULTS`` or ``HEALTHY`` at top level is found here, by reading its source (nothing to edit
when a new module lands), and imported. A scenario's name is its key, unique across the lab.

A test runs a registered scenario by taking the ``sc`` fixture (``conftest.py``) through
:func:`runs` (or a ``parametrize`` on ``sc`` with ``indirect=["sc"]``): the fixture builds it
and checks it is what it was declared as. ``test_registry.py`` holds the lab to it: at least
:data:`MIN_FAULTS` faults, every scenario run by exactly one test, no test running an unknown
one. ``conftest.py`` counts what really ran and prints it per module after the run; a fault
scenario that skips where the lab can run fails the run, since a skip is not a run.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from .netlab import Lab
from .scenarios import Scenario

HERE = Path(__file__).resolve().parent
PACKAGE = __name__.rpartition(".")[0]

#: Issue 13: the lab proves at least this many faults.
MIN_FAULTS = 80

#: The two dicts a scenario module declares, and the kind of scenario each holds.
KINDS = {"FAULTS": "fault", "HEALTHY": "healthy"}

Builder = Callable[[Lab], Scenario]


@dataclass(frozen=True)
class Entry:
    """One registered scenario: where it is declared and how to build it."""

    name: str
    module: str  # the declaring module's file stem, e.g. "scenarios"
    kind: str    # "fault" or "healthy"
    build: Builder


def declares_scenarios(path: Path) -> bool:
    """Whether the module's source assigns FAULTS or HEALTHY at top level (read, not run)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id in KINDS for t in targets):
            return True
    return False


def scenario_modules() -> list[ModuleType]:
    """Every lab module that declares scenarios, imported, in file-name order."""
    paths = sorted(p for p in HERE.glob("*.py")
                   if not p.name.startswith("test_") and p.name != "conftest.py")
    return [importlib.import_module(f"{PACKAGE}.{p.stem}") for p in paths
            if declares_scenarios(p)]


def _declared(module: ModuleType) -> Iterator[Entry]:
    stem = module.__name__.rpartition(".")[2]
    for attr, kind in KINDS.items():
        for name, build in getattr(module, attr, {}).items():
            yield Entry(name, stem, kind, build)


@cache
def entries() -> dict[str, Entry]:
    """Every registered scenario by name; a name declared twice is an error."""
    found: dict[str, Entry] = {}
    for module in scenario_modules():
        for entry in _declared(module):
            if entry.name in found:
                first = found[entry.name]
                raise ValueError(f"scenario {entry.name!r} is declared twice: in "
                                 f"{first.module}.{first.kind.upper()} and "
                                 f"{entry.module}.{entry.kind.upper()}")
            found[entry.name] = entry
    return found


def faults() -> dict[str, Entry]:
    return {n: e for n, e in entries().items() if e.kind == "fault"}


def healthy() -> dict[str, Entry]:
    return {n: e for n, e in entries().items() if e.kind == "healthy"}


def per_module() -> dict[str, dict[str, int]]:
    """module -> {"fault": n, "healthy": m}: the counts the registry test prints."""
    counts: dict[str, dict[str, int]] = {}
    for entry in entries().values():
        row = counts.setdefault(entry.module, {"fault": 0, "healthy": 0})
        row[entry.kind] += 1
    return counts


def build(name: str, lab: Lab) -> Scenario:
    """Build the registered scenario ``name`` and check it is what it was declared as."""
    entry = entries()[name]
    sc = entry.build(lab)
    assert sc.name == name, f"{entry.module}: {name!r} builds a scenario named {sc.name!r}"
    if entry.kind == "fault":
        assert not sc.healthy, f"{name} is in FAULTS but names no checklist item"
        assert sc.rules or sc.expect, f"{name} names no expected top rule"
    else:
        assert sc.healthy, f"{name} is in HEALTHY but names checklist items {sc.checklist}"
    return sc


def runs(*names: str) -> pytest.MarkDecorator:
    """Run the test once per registered scenario name, with the built scenario as ``sc``."""
    return pytest.mark.parametrize("sc", names, indirect=True)
