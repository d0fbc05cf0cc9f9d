"""Findings about the machine's own configuration, from whynet run in a real namespace with a
real HOME and environment (scenarios in ``local_config.py``): per-environment markers (A1),
credential files (A2), a variable that outranks a credentials file (A3), a CA override pointing
nowhere (T1), VM adapters (R7), a masqueraded container network (N2).
"""

from __future__ import annotations

from typing import Any

from .netlab import Lab
from .registry import runs
from .scenarios import Scenario


def _diagnose(lab: Lab, sc: Scenario) -> tuple[int, list[dict[str, Any]]]:
    run = lab.run_whynet(sc.client, *sc.diagnose_args(), env=sc.env, user=sc.user)
    assert run.report is not None, run.stderr
    return run.exit_code, run.report["findings"]


@runs("env-outranks-credentials-file", "world-readable-credentials", "ca-override-missing")
def test_local_fault_is_named_first(lab: Lab, sc: Scenario) -> None:
    code, findings = _diagnose(lab, sc)
    assert code == 1
    assert findings[0]["rule"] in sc.rules, findings
    assert set(sc.checklist) <= set(findings[0]["checklist"]), findings
    errors = [f["rule"] for f in findings[1:] if f["severity"] == "error"]
    assert not errors, findings
    secret = sc.info.get("secret")
    assert secret is None or secret not in str(findings)


@runs("environment-marker", "vm-bridge", "container-masquerade")
def test_local_context_is_information(lab: Lab, sc: Scenario) -> None:
    code, findings = _diagnose(lab, sc)
    assert code == 0  # context, not a fault
    assert all(f["severity"] == "info" for f in findings), findings
    assert findings[0]["rule"] == sc.info["rule"], findings
    assert sc.info["item"] in findings[0]["checklist"]
    assert sc.info["mentions"] in findings[0]["explanation"]
