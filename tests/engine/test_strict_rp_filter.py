"""Strict reverse-path filtering on any of several default gateways' NICs (issue 13).

``routing.default-gateways-with-strict-rp-filter`` chains on the group of a table's default
routes: every member's interface counts, not only the two the group names. The expression
function it needs, ``sysctl_interface``, maps a per-interface setting back to its interface.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine import expr
from engine.facts import Fact, Snapshot

RULE = "routing.default-gateways-with-strict-rp-filter"
ROUTES = {"command": "ip -j route show table all"}


@pytest.mark.parametrize(("name", "interface"), [
    ("net.ipv4.conf.eth0.rp_filter", "eth0"),
    ("net.ipv4.conf.eth0/100.rp_filter", "eth0.100"),  # sysctl(8) writes a VLAN's dot as /
    ("net.ipv6.conf.wg0.forwarding", "wg0"),
    ("net.ipv4.conf.all.rp_filter", None),
    ("net.ipv4.conf.default.rp_filter", None),
    ("net.ipv4.ip_forward", None),
    ("net.ipv4.conf.rp_filter", None),
    ("net.ipv4.conf..rp_filter", None),
    ("kernel.conf.eth0.x", None),
    (None, None),
    (42, None),
])
def test_sysctl_interface_names_the_interface_of_a_per_interface_setting(
        name: object, interface: str | None) -> None:
    assert expr.sysctl_interface(name) == interface


def test_membership_in_a_list_field_is_by_element_not_by_substring() -> None:
    scope = {"s": {"name": "net.ipv4.conf.eth1.rp_filter"},
             "c": {"interfaces": ["eth0", "eth10", "eth2"]}}
    assert expr.evaluate("sysctl_interface(s.name) in c.interfaces", scope) is False
    scope["c"]["interfaces"].append("eth1")
    assert expr.evaluate("sysctl_interface(s.name) in c.interfaces", scope) is True


def test_the_vocabulary_stays_closed() -> None:
    for source in ("[sysctl_interface(i) for i in c.interfaces]", "c.interfaces[0]",
                   "sysctl_interface.__call__(s.name)"):
        with pytest.raises(expr.ExprError):
            expr.parse(source)


def _sysctl(name: str, value: int) -> Fact:
    path = "/proc/sys/" + name.replace(".", "/")
    return Fact("sysctl", f"sysctl:{name}", {"file": path, "sysctl": name},
                {"name": name, "value": str(value), "int_value": value})


def _route(interface: str, gateway: str, metric: int) -> Fact:
    return Fact("route", f"route:main:default:{interface}", ROUTES,
                {"destination": "default", "gateway": gateway, "interface": interface,
                 "metric": metric, "table": "main", "family": 4, "protocol": "static"})


def _diagnose(runner: CliRunner, tmp_path: Path, filters: dict[str, int]) -> tuple[
        dict[str, object], Path]:
    facts = [_route("eth0", "192.168.1.1", 100), _route("eth1", "10.0.0.1", 600),
             _route("eth2", "172.16.0.1", 700),
             *(_sysctl(f"net.ipv4.conf.{name}.rp_filter", value)
               for name, value in filters.items())]
    snap, saved = tmp_path / "snap.json", tmp_path / "report.json"
    Snapshot(facts, host="testhost").save(snap)
    res = runner.invoke(main, ["diagnose", "--snapshot", str(snap), "--format", "json",
                               "--save", str(saved)])
    assert res.exit_code == 1, res.output
    return json.loads(res.output), saved


def test_a_third_gateways_strict_nic_is_named_and_why_shows_every_route(
        runner: CliRunner, tmp_path: Path) -> None:
    report, saved = _diagnose(runner, tmp_path, {"all": 0, "eth0": 2, "eth1": 0, "eth2": 1})
    [finding] = [f for f in report["findings"] if f["rule"] == RULE]  # type: ignore[union-attr]
    text = finding["explanation"]
    assert "has 3 default routes, on eth0, eth1, eth2" in text
    assert "eth2 filters strictly: net.ipv4.conf.eth2.rp_filter=1" in text
    assert "eth0 filters" not in text and "eth1 filters" not in text
    assert "rp_filter=2 on eth2" in finding["advice"]
    why = runner.invoke(main, ["why", RULE, "--report", str(saved)], env={"COLUMNS": "400"})
    assert why.exit_code == 0, why.output
    members = why.output.split("members (3), all with the key main:", 1)[1].splitlines()[1:4]
    for interface, line in zip(("eth0", "eth1", "eth2"), members, strict=True):
        # every member of the group, with its source
        assert f"route:main:default:{interface} (route)" in line
        assert line.endswith("← command: ip -j route show table all")
    assert "name=net.ipv4.conf.eth2.rp_filter, value=1, int_value=1  ← " \
        "/proc/sys/net/ipv4/conf/eth2/rp_filter" in why.output


def test_strict_nics_of_two_gateways_make_one_finding_naming_both(
        runner: CliRunner, tmp_path: Path) -> None:
    report, _ = _diagnose(runner, tmp_path, {"all": 1, "eth0": 2, "eth1": 0, "eth2": 0})
    [finding] = [f for f in report["findings"] if f["rule"] == RULE]  # type: ignore[union-attr]
    assert finding["instances"] == 2
    texts = json.dumps(finding)
    assert "eth1 filters strictly" in texts and "eth2 filters strictly" in texts
    assert "eth0 filters strictly" not in texts


def test_loose_gateway_nics_beside_a_strict_one_without_a_gateway_stay_silent(
        runner: CliRunner, tmp_path: Path) -> None:
    report, _ = _diagnose(runner, tmp_path,
                          {"all": 0, "eth0": 2, "eth1": 0, "eth2": 2, "eth3": 1})
    assert RULE not in {f["rule"] for f in report["findings"]}  # type: ignore[union-attr]
