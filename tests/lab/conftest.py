"""Fixtures for lab tests: ``lab`` builds networks in namespaces and always tears them down.

Every test in this directory is marked ``lab`` and skips with one reason where the lab cannot
run (not root, no iproute2/nftables, no namespaces), so ``pytest`` stays green on a laptop and
``pytest -m lab`` as root (CI) runs them all.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.knowledge import CHECKLIST_IDS

from . import registry
from .netlab import NETNS_ETC, Lab, remove_stale, unavailable_reason
from .scenarios import Scenario

_HERE = Path(__file__).resolve().parent

#: What became of each registered scenario's test in this run: name -> "passed", "failed" or
#: "skipped: reason"; and the names whose tests were selected at all.
_OUTCOMES = pytest.StashKey[dict[str, str]]()
_SELECTED = pytest.StashKey[set[str]]()
#: The checklist items each built scenario proves (name -> items), to say which items a passed
#: scenario proved in this run.
_CHECKLIST = pytest.StashKey[dict[str, tuple[str, ...]]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.lab)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Remember each phase's report on the item, so the ``lab`` fixture knows if the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
    name = _scenario_of(item)
    if name is None:
        return
    outcomes = item.config.stash.setdefault(_OUTCOMES, {})
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        outcomes[name] = f"skipped: {reason}"
    elif report.failed:
        outcomes[name] = "failed"
    elif report.when == "call":
        outcomes[name] = "passed"


def _scenario_of(item: pytest.Item) -> str | None:
    """The registered scenario a test item runs (its ``sc`` parameter), if any."""
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("sc") if callspec is not None else None
    return name if isinstance(name, str) else None


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_SELECTED] = {n for n in map(_scenario_of, session.items) if n}


def _scenario_summary(config: pytest.Config) -> tuple[list[str], list[str]]:
    """Lines counting the registered scenarios that ran, per module, and the problems: a fault
    scenario that did not run (skipped) where the lab can run."""
    selected = config.stash.get(_SELECTED, set())
    if not selected:
        return [], []
    outcomes = config.stash.get(_OUTCOMES, {})
    lines, problems = [], []
    ran = {n for n, o in outcomes.items() if not o.startswith("skipped")}
    for module, _ in sorted(registry.per_module().items()):
        mine = [e for e in registry.entries().values() if e.module == module]
        cells = []
        for kind in ("fault", "healthy"):
            names = [e.name for e in mine if e.kind == kind]
            cells.append(f"{kind} {len(ran & set(names))}/{len(names)}")
        lines.append(f"  {module:<24} {'   '.join(cells)}")
    faults = registry.faults()
    lines.append(f"  {'all':<24} fault {len(ran & set(faults))}/{len(faults)}   "
                 f"healthy {len(ran & set(registry.healthy()))}/{len(registry.healthy())}"
                 f"   (ran / registered; minimum {registry.MIN_FAULTS} faults)")
    for name, outcome in sorted(outcomes.items()):
        if outcome.startswith("skipped"):
            entry = registry.entries()[name]
            lines.append(f"  not run: {name} ({entry.module}, {entry.kind}): {outcome}")
            if entry.kind == "fault" and unavailable_reason() is None:
                problems.append(f"fault scenario {name} skipped where the lab can run: a skip "
                                "is not a run")
    lines.extend(_items_proven(config, selected, outcomes))
    return lines, problems


def _items_proven(config: pytest.Config, selected: set[str],
                  outcomes: dict[str, str]) -> list[str]:
    """Which checklist and beyond-the-checklist items a passed scenario proved in this run (a
    fault's checklist, or the item of an information rule a control asserts), and (when every
    fault scenario was selected) which no scenario proves."""
    declared = config.stash.get(_CHECKLIST, {})
    proven = {item for name, items in declared.items()
              if outcomes.get(name) == "passed" for item in items}
    known = sorted(CHECKLIST_IDS, key=_item_order)
    lines = [f"  checklist items proven by a passed scenario: "
             f"{len(proven & set(known))}/{len(known)}"]
    if set(registry.faults()) <= selected:
        missing = [item for item in known if item not in proven]
        lines.append(f"  not proven in the lab: {', '.join(missing) or 'none'}")
    return lines


def _item_order(item: str) -> tuple[int, str, int]:
    """B1 < B2 < ... < X1 < X2 < X10: beyond-the-checklist items last, numbers as numbers."""
    head = item.rstrip("0123456789")
    return (head == "X", head, int(item[len(head):] or 0))


def pytest_sessionfinish(session: pytest.Session) -> None:
    _, problems = _scenario_summary(session.config)
    if problems and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    lines, problems = _scenario_summary(config)
    if not lines:
        return
    terminalreporter.section("lab scenarios (tests/lab/registry.py)")
    for line in lines:
        terminalreporter.write_line(line)
    for problem in problems:
        terminalreporter.write_line(f"  FAILED: {problem}", red=True)


@pytest.fixture(scope="session")
def lab_session() -> Iterator[None]:
    """Once per run: decide whether the lab can run, and clear what killed runs left behind."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    remove_stale()
    yield
    try:
        NETNS_ETC.rmdir()  # only if empty: a parallel run may still be using it
    except OSError:
        pass


@pytest.fixture(autouse=True)
def _lab_required(lab_session: None) -> None:
    """Every test here needs the lab: skip them all, with one reason, where it cannot run."""


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A fresh :class:`Lab`; torn down after the test, passed or failed. A failed test's report
    gets the servers' logs (captured stderr of the teardown)."""
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.failed:
            print(the_lab.logs(), file=sys.stderr)
        the_lab.cleanup()


@pytest.fixture
def sc(lab: Lab, request: pytest.FixtureRequest) -> Scenario:
    """The registered scenario named by the test's ``registry.runs(...)`` parameter, built in
    ``lab`` and checked against its declaration."""
    built = registry.build(request.param, lab)
    # A healthy control may prove an item too: an information-level rule it asserts (A1's
    # environment marker, R7's virtual adapters) names it in ``info["item"]``.
    items = (*built.checklist, *([built.info["item"]] if built.info.get("item") else []))
    request.config.stash.setdefault(_CHECKLIST, {})[request.param] = items
    return built
