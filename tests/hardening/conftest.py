"""Hardening tests: hostile input (from remote servers, other machines' snapshots and reports,
colleagues' rule files) cannot steer, crash, hang or leak.

Property-based tests run with a fixed budget (derandomized, a set number of examples) so CI
runs the same cases every time and in bounded time.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

# No shrinking: a failing case is printed as found, and a run stays within its budget.
settings.register_profile(
    "hardening", derandomize=True, max_examples=40, deadline=None, database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("hardening")
