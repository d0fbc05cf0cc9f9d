"""F4: Windows network and firewall profiles, from a snapshot the PowerShell collector writes.

The fixture (tests/fixtures/windows, see its README) has the collector's shape; diagnosing it
must name the Public-profile block, and the same machine on a Private network must be clean.
The script itself is checked against the fact kinds it claims to write.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine.kinds import KINDS

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "windows" / "public-profile.json"
SCRIPT = REPO / "engine" / "collectors" / "windows_profiles.ps1"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


def diagnose(runner: CliRunner, snapshot: Path) -> tuple[int, dict]:
    res = runner.invoke(main, ["diagnose", "--snapshot", str(snapshot), "--format", "json"])
    return res.exit_code, json.loads(res.output)


def test_public_network_blocks_a_private_only_rule(runner: CliRunner) -> None:
    code, report = diagnose(runner, FIXTURE)
    assert code == 1
    top = report["findings"][0]
    assert top["rule"] == "windows.allow-rule-misses-active-profile"
    assert "F4" in top["checklist"]
    assert "Public" in top["explanation"] and "port 5000" in top["explanation"]
    errors = [f["rule"] for f in report["findings"] if f["severity"] == "error"]
    assert errors == [top["rule"]]  # Windows' own Private-only rules (SMB, RDP) are not faults


def test_same_laptop_on_a_private_network_is_clean(runner: CliRunner, tmp_path: Path) -> None:
    snap = json.loads(FIXTURE.read_text())
    for fact in snap["facts"]:
        if fact["kind"] == "windows_network_profile":
            fact.update(name="Home", category="Private", firewall_profile="Private")
    path = tmp_path / "private.json"
    path.write_text(json.dumps(snap))
    code, report = diagnose(runner, path)
    assert code == 0, [f["rule"] for f in report["findings"]]
    assert [f["severity"] for f in report["findings"]] == []


def test_the_script_writes_declared_kinds_and_fields() -> None:
    text = SCRIPT.read_text()
    calls = re.findall(r'Add-Fact "(\w+)" [^@]*@\{(.*?)\}', text, re.S)
    kinds = {kind for kind, _ in calls}
    assert kinds == {"windows_network_profile", "windows_firewall_profile",
                     "windows_firewall_rule", "collection_error"}
    for kind, body in calls:
        fields = set(re.findall(r"(\w+) = ", body))
        assert fields and fields <= set(KINDS[kind].fields), (kind, fields - set(KINDS[kind].fields))
    for cmdlet in ("Get-NetConnectionProfile", "Get-NetFirewallProfile", "Get-NetFirewallRule",
                   "Get-NetFirewallPortFilter"):
        assert cmdlet in text
    assert not re.search(r"\b(Set|New|Remove|Enable|Disable)-Net", text)  # read-only


def test_the_fixture_has_the_scripts_shape() -> None:
    snap = json.loads(FIXTURE.read_text())
    assert snap["schema"] == 1 and snap["whynet"]
    for fact in snap["facts"]:
        assert set(fact) - {"kind", "id", "source"} <= set(KINDS[fact["kind"]].fields), fact
        assert list(fact["source"]) == ["command"]
