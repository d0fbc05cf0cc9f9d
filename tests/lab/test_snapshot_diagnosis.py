"""A real machine's snapshot, with a second default gateway, diagnosed and explained.

The issue's proof for the engine: `whynet collect` inside a namespace whose routing really has
two default routes; `diagnose --snapshot` of that file finds R1 (exit 1); `why` names the rule,
both route facts and the command they came from; `why-not` names a silent rule's failing
condition.
"""

from __future__ import annotations

import json

from .netlab import Lab


def _two_gateway_client(lab: Lab):  # type: ignore[no-untyped-def]
    client, gw1, gw2 = lab.host("client"), lab.router("gw1"), lab.router("gw2")
    c1, _ = lab.link(client, gw1, "10.61.1.2/24", "10.61.1.1/24")
    c2, _ = lab.link(client, gw2, "10.61.2.2/24", "10.61.2.1/24")
    client.default_route("10.61.1.1", dev=c1, metric=100)
    client.default_route("10.61.2.1", dev=c2, metric=200)
    return client, c1, c2


def test_snapshot_with_two_default_routes_diagnoses_to_r1_and_explains(lab: Lab) -> None:
    client, c1, c2 = _two_gateway_client(lab)
    snap = lab.workdir / "snap.json"
    report_path = lab.workdir / "report.json"
    run = lab.run_whynet(client, "collect", "-o", str(snap))
    assert run.exit_code == 0, run.stderr
    facts = json.loads(snap.read_text())["facts"]
    defaults = [f for f in facts if f["kind"] == "route" and f["destination"] == "default"
                and f["family"] == 4]
    assert {f["gateway"] for f in defaults} == {"10.61.1.1", "10.61.2.1"}

    run = lab.run_whynet(client, "diagnose", "--snapshot", str(snap), "--format", "json",
                         "--save", str(report_path))
    assert run.exit_code == 1, run.stderr
    top = run.report["findings"][0]
    assert top["rule"] == "routing.multiple-default-gateways"
    assert "R1" in top["checklist"]
    # The two routes, and the group of the main table's default routes relating them.
    assert set(top["evidence"]) == {f["id"] for f in defaults} | {"default_routes_of_table:main"}

    run = lab.run_whynet(client, "why", "routing.multiple-default-gateways",
                         "--report", str(report_path))
    assert run.exit_code == 0, run.stderr
    for f in defaults:
        assert f["id"] in run.stdout
    assert "command: ip -j -d -4 route show table all" in run.stdout or \
        "command: ip" in run.stdout
    assert "routing.multiple-default-gateways" in run.stdout

    run = lab.run_whynet(client, "why-not", "routing.no-route-to-target",
                         "--report", str(report_path))
    assert run.exit_code == 0, run.stderr
    assert "did not fire" in run.stdout
    assert "condition 1" in run.stdout and "no probe_route fact at all" in run.stdout


def test_healthy_namespace_has_no_warning(lab: Lab) -> None:
    client, gw = lab.host("client"), lab.router("gw")
    c1, _ = lab.link(client, gw, "10.62.1.2/24", "10.62.1.1/24")
    client.default_route("10.62.1.1", dev=c1)
    gw.dnsmasq("10.62.1.1", {"app.lab": "10.62.1.1"})
    client.write_resolv_conf(["10.62.1.1"])
    run = lab.run_whynet(client, "diagnose", "--format", "json")
    assert run.exit_code == 0, (run.stderr, run.report and run.report["findings"])
    assert not [f for f in run.report["findings"] if f["severity"] != "info"]
