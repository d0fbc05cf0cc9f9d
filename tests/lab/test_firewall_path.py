"""Lab proofs that whynet names the firewall rule that blocks a connection (issue 12).

Each fault is proved with a plain socket inside the client first; then whynet runs there and
the test asserts exactly one thing: ``firewall.connection-blocked-by-rule`` ranked first, naming
the table, chain and handle (nftables) or the line of ``iptables-save`` (iptables), the first
failing layer ``transport``, and no other finding at error level. The healthy control (a
ruleset that accepts the connection) gives no warning at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from . import scenarios as S
from .firewall_path import EXPECT, PORT
from .netlab import Lab, Namespace
from .registry import runs
from .scenarios import Scenario

pytestmark = pytest.mark.lab


def diagnose(lab: Lab, sc: Scenario) -> dict[str, Any]:
    run = lab.run_whynet(sc.client, *sc.diagnose_args("--timeout", "2", "--save",
                                                      str(lab.workdir / "report.json")),
                         env=sc.env, user=sc.user)
    assert run.report is not None, f"no JSON report (exit {run.exit_code}): {run.stderr}"
    report: dict[str, Any] = run.report
    return report


def assert_top(report: dict[str, Any]) -> dict[str, Any]:
    findings = report["findings"]
    summary = [(f["rank"], f["rule"], f["checklist"], f["severity"]) for f in findings]
    assert findings and findings[0]["rule"] == EXPECT, summary
    errors = [f["rule"] for f in findings if f["severity"] == "error"]
    assert errors == [EXPECT], summary
    failing = [row["layer"] for row in report["layers"] if row["status"] == "fail"]
    assert failing[:1] == ["transport"], report["layers"]
    top: dict[str, Any] = findings[0]
    return top


def nft_handle(ns: Namespace, family: str, table: str, chain: str, needle: str) -> int:
    """The handle of the rule of ``chain`` whose text contains ``needle``, from nft itself."""
    data = json.loads(ns.exec("nft", "-j", "-a", "list", "ruleset").stdout)
    for item in data["nftables"]:
        rule = item.get("rule")
        if (rule and (rule["family"], rule["table"], rule["chain"]) == (family, table, chain)
                and needle in json.dumps(rule["expr"])):
            return int(rule["handle"])
    raise AssertionError(f"no rule with {needle} in {family} {table} {chain}")


@runs("nft-output-rule-named")
def test_nft_output_rule_is_named(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(S.SERVER_IP, PORT, timeout=1.0).outcome == "timeout"
    assert sc.client.connect(S.SERVER_IP, 80, timeout=1.0).outcome != "timeout"  # only 9080
    handle = nft_handle(sc.client, "inet", "filter", "output", str(PORT))
    report = diagnose(lab, sc)
    top = assert_top(report)
    assert (f"dropped by rule 4 of chain output in table inet filter (handle {handle})"
            in top["explanation"]), top["explanation"]
    assert f"tcp dport {PORT}" in top["explanation"]
    # `why` shows the verdict fact behind the finding, with the rule it names
    why = lab.run_whynet(sc.client, "why", EXPECT, "--report", str(lab.workdir / "report.json"))
    assert why.exit_code == 0, why.stderr
    assert "firewall_verdict" in why.stdout and f"handle {handle}" in why.stdout, why.stdout
    verdicts = [f for f in report["facts"] if f["kind"] == "firewall_verdict"
                and f["protocol"] == "tcp" and f["verdict"] == "drop"]
    assert verdicts and verdicts[0]["handle"] == handle and verdicts[0]["chain"] == "output"
    sc.client.exec("nft", "flush", "ruleset")
    assert sc.client.connect(S.SERVER_IP, PORT).outcome == "open"


def iptables_save_line(ns: Namespace, needle: str) -> int:
    out = ns.exec("iptables-save").stdout.splitlines()
    return next(n for n, line in enumerate(out, start=1) if needle in line)


@runs("iptables-user-chain-reject-named")
def test_iptables_user_chain_reject_is_named(lab: Lab, sc: Scenario) -> None:
    got = sc.client.connect(S.SERVER_IP, PORT, timeout=1.0)
    assert got.outcome == "unreachable" and got.errno_name == "EHOSTUNREACH", got
    line = iptables_save_line(sc.client, "icmp-admin-prohibited")
    report = diagnose(lab, sc)
    top = assert_top(report)
    assert ("rejected (icmp-admin-prohibited) by rule 2 of chain EGRESS in table ip filter "
            "(iptables)" in top["explanation"]), top["explanation"]
    assert f"-save line {line}" in top["explanation"], top["explanation"]
    sc.client.iptables("-F", "EGRESS")
    assert sc.client.connect(S.SERVER_IP, PORT).outcome == "open"


@runs("ruleset-accepts")
def test_a_ruleset_that_accepts_gives_no_warning(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(S.SERVER_IP, PORT).outcome == "open"
    report = diagnose(lab, sc)
    findings = [(f["rule"], f["severity"]) for f in report["findings"]]
    assert all(severity == "info" for _, severity in findings), findings
    verdicts = [f for f in report["facts"] if f["kind"] == "firewall_verdict"
                and f["protocol"] == "tcp"]
    assert verdicts and verdicts[0]["verdict"] == "accept"
    assert f"tcp dport {{ 53, 80, {PORT} }} accept" in str(verdicts[0]["rule_text"])
