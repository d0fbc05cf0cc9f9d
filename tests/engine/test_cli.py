"""The CLI contracts: exit codes, one-line errors, why / why-not from a saved report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine.facts import Fact, Snapshot

SRC = {"command": "ip -j route show table all"}


def _snapshot(tmp_path: Path, second_default: bool) -> Path:
    facts = [
        Fact("route", "route:main:default:eth0", SRC,
             {"destination": "default", "gateway": "192.168.1.1", "interface": "eth0",
              "metric": 100, "table": "main", "family": 4, "protocol": "dhcp"}),
        Fact("address", "address:eth0:192.168.1.10/24", {"command": "ip -j addr show"},
             {"interface": "eth0", "ip": "192.168.1.10", "prefix": 24, "family": 4,
              "scope": "global", "network": "192.168.1.0/24"}),
    ]
    if second_default:
        facts.append(Fact("route", "route:main:default:eth1", SRC,
                          {"destination": "default", "gateway": "10.0.0.1", "interface": "eth1",
                           "metric": 600, "table": "main", "family": 4, "protocol": "static"}))
    path = tmp_path / "snap.json"
    Snapshot(facts, host="testhost").save(path)
    return path


def test_second_default_route_diagnoses_to_r1_and_why_names_both_routes(
    runner: CliRunner, tmp_path: Path
) -> None:
    snap = _snapshot(tmp_path, second_default=True)
    report_path = tmp_path / "report.json"
    res = runner.invoke(main, ["diagnose", "--snapshot", str(snap), "--format", "json",
                               "--save", str(report_path)])
    assert res.exit_code == 1, res.output
    report = json.loads(res.output)
    top = report["findings"][0]
    assert top["rule"] == "routing.multiple-default-gateways" and top["rank"] == 1
    assert top["checklist"] == ["R1"]
    # The two routes, and the group of the table's default routes that relates them.
    assert set(top["evidence"]) == {"route:main:default:eth0", "route:main:default:eth1",
                                    "default_routes_of_table:main"}

    why = runner.invoke(main, ["why", "routing.multiple-default-gateways",
                               "--report", str(report_path)])
    assert why.exit_code == 0, why.output
    assert "route:main:default:eth0" in why.output and "route:main:default:eth1" in why.output
    assert "command: ip -j route show table all" in why.output


def test_healthy_snapshot_exits_0_and_why_not_names_the_failing_condition(
    runner: CliRunner, tmp_path: Path
) -> None:
    snap = _snapshot(tmp_path, second_default=False)
    res = runner.invoke(main, ["diagnose", "--snapshot", str(snap)])
    assert res.exit_code == 0, res.output
    # Without --report, why-not reads the last report.
    res = runner.invoke(main, ["why-not", "routing.multiple-default-gateways"])
    assert res.exit_code == 0, res.output
    assert "did not fire" in res.output
    assert "✗ condition 1" in res.output
    assert "1 route fact(s) pass its match; no two of them share table" in " ".join(
        res.output.split())
    res = runner.invoke(main, ["why", "routing.multiple-default-gateways"])
    assert res.exit_code == 1


@pytest.mark.parametrize("command", ["why", "why-not"])
def test_unknown_rule_is_bad_input_exit_2(runner: CliRunner, tmp_path: Path,
                                          command: str) -> None:
    runner.invoke(main, ["diagnose", "--snapshot", str(_snapshot(tmp_path, False))])
    res = runner.invoke(main, [command, "no.such-rule"])
    assert res.exit_code == 2
    assert "unknown rule 'no.such-rule'" in res.output


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not JSON"),
        ('{"whynet": "0.1.0", "schema": 99, "facts": []}', "schema 99 is not supported"),
        ('{"hello": 1}', "not a whynet snapshot"),
        ('{"whynet": "0.1.0", "schema": 1, "facts": [{"kind": "route"}]}', "missing or non-string 'id'"),
    ],
)
def test_broken_snapshot_is_one_line_and_exit_2(
    runner: CliRunner, tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    res = runner.invoke(main, ["diagnose", "--snapshot", str(bad)])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_rules_validate_broken_yaml_says_file_line_and_exits_2(
    runner: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("rules:\n  - id: x\n    title: 'unclosed\n")
    res = runner.invoke(main, ["rules", "validate", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:" in res.output and "YAML error" in res.output


def test_rules_validate_shipped_knowledge_is_clean(runner: CliRunner) -> None:
    from engine.knowledge import builtin_knowledge_dir

    res = runner.invoke(main, ["rules", "validate", str(builtin_knowledge_dir())])
    assert res.exit_code == 0, res.output


def test_dropped_in_rule_file_is_listed_and_runs(runner: CliRunner, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "eth0.yaml").write_text("""\
rules:
  - id: local.eth0-gateway
    title: eth0 has a gateway
    checklist: [R1]
    severity: warning
    layer: route
    when:
      - fact: route
        as: r
        match: {destination: default, interface: eth0}
    explanation: "eth0 routes to {r.gateway}"
    advice: "expected here"
    examples:
      - name: eth0 default
        facts: [{kind: route, destination: default, interface: eth0, gateway: 10.0.0.1}]
        expect: fires
      - name: other NIC
        facts: [{kind: route, destination: default, interface: eth1, gateway: 10.0.0.1}]
        expect: silent
""")
    res = runner.invoke(main, ["rules", "list", "--knowledge", str(mine), "--format", "json"])
    assert res.exit_code == 0
    assert "local.eth0-gateway" in [r["id"] for r in json.loads(res.output)["rules"]]
    res = runner.invoke(main, ["diagnose", "--snapshot", str(_snapshot(tmp_path, False)),
                               "--knowledge", str(mine), "--format", "json"])
    assert res.exit_code == 1
    assert json.loads(res.output)["findings"][0]["rule"] == "local.eth0-gateway"
    res = runner.invoke(main, ["rules", "test", str(mine)])
    assert res.output.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_rules_test_reports_a_failing_example(runner: CliRunner, tmp_path: Path) -> None:
    mine = tmp_path / "bad"
    mine.mkdir()
    (mine / "r.yaml").write_text("""\
rules:
  - id: local.never
    title: never
    checklist: [R1]
    severity: info
    layer: route
    when:
      - fact: route
        match: {destination: nowhere}
    explanation: x
    advice: y
    examples:
      - name: wrongly expected
        facts: [{kind: route, destination: default}]
        expect: fires
""")
    res = runner.invoke(main, ["rules", "test", str(mine)])
    assert res.exit_code == 1
    assert "FAIL: local.never / wrongly expected" in res.output
    assert res.output.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_empty_knowledge_dir_is_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(main, ["rules", "list", "--knowledge", str(empty)])
    assert res.exit_code == 2
    assert f"{empty}:1: no *.yaml rule files here" in res.output


def test_snapshot_fact_with_a_wrong_field_type_is_one_line_exit_2(
    runner: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"whynet": "0.1.0", "schema": 1, "facts": [
        {"kind": "address", "id": "a1", "source": {"command": "ip"}, "ip": "10.0.0.1",
         "prefix": "twenty-four"}]}))
    res = runner.invoke(main, ["diagnose", "--snapshot", str(bad)])
    assert res.exit_code == 2
    assert res.output.strip() == (
        f"Error: {bad}: fact #0 (a1): field 'prefix' should be int, not 'twenty-four'")


def test_why_on_a_report_with_a_broken_fact_is_one_line_exit_2(
    runner: CliRunner, tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"findings": [], "facts": [{"kind": "route"}],
                                  "justification": {"activations": [], "derived": {}}}))
    for command in ("why", "why-not"):
        res = runner.invoke(main, [command, "routing.multiple-default-gateways",
                                   "--report", str(report)])
        assert res.exit_code == 2, res.output
        assert "missing or non-string 'id'" in res.output and "Traceback" not in res.output
