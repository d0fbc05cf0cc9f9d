"""The healthy-host corpus: whynet run inside each set-up of ``healthy.py`` gives no finding at
warning or above and exits 0.

Each test first proves with plain sockets that every service of the set-up answers from the
client (so a finding would be a false alarm, not a lab fault), then runs whynet on the set-up's
targets exactly as a user would.
"""

from __future__ import annotations

import pytest

from . import healthy as H
from .netlab import Lab
from .registry import runs
from .scenarios import Scenario

PROBE_TIMEOUT = 10


def assert_reachable(sc: Scenario) -> None:
    """Every service of the set-up answers the client over a plain socket, and the system
    resolver gives the expected addresses: a finding would be a false alarm, not a lab fault."""
    for ip, port in sc.info["reach"]:
        got = sc.client.connect(ip, port)
        assert got.outcome == "open", (sc.name, ip, port, got)
    for host, addresses in sc.info.get("names", {}).items():
        assert sc.client.getaddrinfo(host) == addresses, host


def loud_findings(report: dict) -> list[tuple[str, str, str]]:
    """The findings at warning or above: rule, severity, explanation."""
    return [(f["rule"], f["severity"], f["explanation"]) for f in report["findings"]
            if f["severity"] != "info"]


def assert_quiet_diagnose(lab: Lab, sc: Scenario) -> None:
    """whynet on the set-up's targets: exit 0, no finding at warning or above, and every
    target really probed and through (quiet because it works, not because nothing was
    tried). A generous probe timeout: the lab shares two cores with other test runs, and a
    slow answer there is the machine's load, not a fault of the set-up."""
    run = lab.run_whynet(sc.client, *sc.diagnose_args("--timeout", str(PROBE_TIMEOUT)),
                         env=sc.env, user=sc.user)
    assert run.report is not None, f"no JSON report (exit {run.exit_code}): {run.stderr}"
    loud = loud_findings(run.report)
    assert not loud, loud
    assert run.exit_code == 0, run.stderr
    layers = run.report["layers"]
    targets = {row["target"] for row in layers}
    assert targets == {sc.target, *sc.args}, targets
    failed = [row for row in layers if row["status"] == "fail"]
    assert not failed, failed


@runs(*sorted(H.HEALTHY))
def test_healthy_setup_is_quiet(lab: Lab, sc: Scenario) -> None:
    assert_reachable(sc)
    assert_quiet_diagnose(lab, sc)


def test_corpus_is_large_enough() -> None:
    """At least a dozen set-ups (issue 10): a corpus that shrinks proves less."""
    assert len(H.HEALTHY) >= 12


def test_kube_proxy_ruleset_is_kube_proxy_sized() -> None:
    rules = H.kube_proxy_rules()
    assert rules.count("\n-A KUBE-SEP-") >= 2 * H.KUBE_SERVICES
    assert rules.count("\n-A ") > 5000


@pytest.mark.parametrize("name", sorted(H.BYSTANDERS))
def test_healthy_local_setup_is_not_blamed_for_a_remote_fault(lab: Lab, name: str) -> None:
    sc = H.BYSTANDERS[name](lab)
    run = lab.run_whynet(sc.client, *sc.diagnose_args("--timeout", str(PROBE_TIMEOUT)),
                         env=sc.env, user=sc.user)
    assert run.report is not None, f"no JSON report (exit {run.exit_code}): {run.stderr}"
    assert run.exit_code == 1, run.stderr  # the fault is real and reported
    fired = {f["rule"] for f in run.report["findings"]}
    fired |= {s.get("rule") for f in run.report["findings"] for s in f.get("supporting") or []
              if isinstance(s, dict)}
    assert not fired & set(sc.info["not_blamed"]), fired


@pytest.mark.parametrize("name", sorted(H.STILL_FIRING))
def test_quieter_rule_still_names_its_fault(lab: Lab, name: str) -> None:
    """The false-alarm fixes narrowed rules; on the fault they exist for they still fire."""
    sc = H.STILL_FIRING[name](lab)
    assert sc.client.connect(H.SERVER_IP, 5000, timeout=1.0).outcome == "timeout"
    run = lab.run_whynet(sc.client, *sc.diagnose_args("--timeout", str(PROBE_TIMEOUT)),
                         env=sc.env, user=sc.user)
    assert run.report is not None, f"no JSON report (exit {run.exit_code}): {run.stderr}"
    assert run.exit_code == 1, run.stderr
    fired = {f["rule"] for f in run.report["findings"]}
    fired |= {s.get("rule") for f in run.report["findings"] for s in f.get("supporting") or []
              if isinstance(s, dict)}
    assert sc.info["expected"] in fired, fired
