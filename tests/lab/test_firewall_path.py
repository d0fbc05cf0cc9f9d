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
from .netlab import Lab, Namespace

pytestmark = pytest.mark.lab

EXPECT = "firewall.connection-blocked-by-rule"
PORT = 9080  # not a TLS port: the probe stops at TCP


def diagnose(lab: Lab, client: Namespace, target: str) -> dict[str, Any]:
    run = lab.run_whynet(client, "diagnose", target, "--format", "json", "--timeout", "2",
                         "--save", str(lab.workdir / "report.json"))
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


def test_nft_output_rule_is_named(lab: Lab) -> None:
    o = S.office(lab)
    o.server.http_server(S.SERVER_IP, PORT)
    o.client.nft(
        "table inet filter {\n"
        "  chain output {\n"
        "    type filter hook output priority filter; policy accept;\n"
        "    ct state established,related accept\n"
        "    tcp dport 22 accept\n"
        "    ip daddr 192.0.2.0/24 drop\n"
        f"    ip daddr {S.SERVER_IP} tcp dport {PORT} counter drop\n"
        "    udp dport 53 accept\n"
        "  }\n"
        "}\n"
    )
    assert o.client.connect(S.SERVER_IP, PORT, timeout=1.0).outcome == "timeout"
    assert o.client.connect(S.SERVER_IP, 80, timeout=1.0).outcome != "timeout"  # only 8443
    handle = nft_handle(o.client, "inet", "filter", "output", str(PORT))
    report = diagnose(lab, o.client, f"{S.APP}:{PORT}")
    top = assert_top(report)
    assert (f"dropped by rule 4 of chain output in table inet filter (handle {handle})"
            in top["explanation"]), top["explanation"]
    assert f"tcp dport {PORT}" in top["explanation"]
    # `why` shows the verdict fact behind the finding, with the rule it names
    why = lab.run_whynet(o.client, "why", EXPECT, "--report", str(lab.workdir / "report.json"))
    assert why.exit_code == 0, why.stderr
    assert "firewall_verdict" in why.stdout and f"handle {handle}" in why.stdout, why.stdout
    verdicts = [f for f in report["facts"] if f["kind"] == "firewall_verdict"
                and f["protocol"] == "tcp" and f["verdict"] == "drop"]
    assert verdicts and verdicts[0]["handle"] == handle and verdicts[0]["chain"] == "output"
    o.client.exec("nft", "flush", "ruleset")
    assert o.client.connect(S.SERVER_IP, PORT).outcome == "open"


def iptables_save_line(ns: Namespace, needle: str) -> int:
    out = ns.exec("iptables-save").stdout.splitlines()
    return next(n for n, line in enumerate(out, start=1) if needle in line)


def test_iptables_user_chain_reject_is_named(lab: Lab) -> None:
    o = S.office(lab)
    o.server.http_server(S.SERVER_IP, PORT)
    o.client.iptables("-N", "EGRESS")
    o.client.iptables("-A", "OUTPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
                      "-j", "ACCEPT")
    o.client.iptables("-A", "OUTPUT", "-o", "eth+", "-j", "EGRESS")
    o.client.iptables("-A", "EGRESS", "-p", "udp", "--dport", "53", "-j", "RETURN")
    o.client.iptables("-A", "EGRESS", "-d", S.SERVER_IP, "-p", "tcp", "--dport", str(PORT),
                      "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
    got = o.client.connect(S.SERVER_IP, PORT, timeout=1.0)
    assert got.outcome == "unreachable" and got.errno_name == "EHOSTUNREACH", got
    line = iptables_save_line(o.client, "icmp-admin-prohibited")
    report = diagnose(lab, o.client, f"{S.APP}:{PORT}")
    top = assert_top(report)
    assert ("rejected (icmp-admin-prohibited) by rule 2 of chain EGRESS in table ip filter "
            "(iptables)" in top["explanation"]), top["explanation"]
    assert f"-save line {line}" in top["explanation"], top["explanation"]
    o.client.iptables("-F", "EGRESS")
    assert o.client.connect(S.SERVER_IP, PORT).outcome == "open"


def test_a_ruleset_that_accepts_gives_no_warning(lab: Lab) -> None:
    o = S.office(lab)
    o.server.http_server(S.SERVER_IP, PORT)
    o.client.nft(
        "table inet filter {\n"
        "  chain output {\n"
        "    type filter hook output priority filter; policy accept;\n"
        "    ct state established,related accept\n"
        "    tcp dport 25 reject with tcp reset\n"
        "    ip daddr 192.0.2.0/24 drop\n"
        f"    tcp dport {{ 53, 80, {PORT} }} accept\n"
        "    udp dport 53 accept\n"
        "    counter drop\n"
        "  }\n"
        "}\n"
    )
    assert o.client.connect(S.SERVER_IP, PORT).outcome == "open"
    report = diagnose(lab, o.client, f"{S.APP}:{PORT}")
    findings = [(f["rule"], f["severity"]) for f in report["findings"]]
    assert all(severity == "info" for _, severity in findings), findings
    verdicts = [f for f in report["facts"] if f["kind"] == "firewall_verdict"
                and f["protocol"] == "tcp"]
    assert verdicts and verdicts[0]["verdict"] == "accept"
    assert f"tcp dport {{ 53, 80, {PORT} }} accept" in str(verdicts[0]["rule_text"])
