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

from .netlab import NETNS_ETC, Lab, remove_stale, unavailable_reason

_HERE = Path(__file__).resolve().parent


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
