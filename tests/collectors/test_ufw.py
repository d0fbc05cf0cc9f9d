"""ufw collector: recorded `ufw status verbose` outputs, non-root fallback, missing ufw."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.collectors import base, ufw
from engine.collectors.base import CollectContext, CommandResult
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ufw"


def _facts(name: str) -> dict[str, Fact]:
    return {f.id: f for f in ufw.parse_status((FIXTURES / name).read_text())}


@pytest.fixture(scope="module")
def active() -> dict[str, Fact]:
    return _facts("ufw-status-active.txt")


def test_backend_status_defaults_logging(active: dict[str, Fact]) -> None:
    b = active["firewall_backend:ufw"]
    assert (b["present"], b["active"], b["rule_count"]) == (True, True, 16)
    assert (b["default_incoming"], b["default_outgoing"], b["default_routed"]) == \
        ("deny", "allow", "disabled")
    assert b["logging"] == "on (low)"


def test_inactive() -> None:
    facts = _facts("ufw-status-inactive.txt")
    assert list(facts) == ["firewall_backend:ufw"]
    assert facts["firewall_backend:ufw"]["active"] is False


def test_rules_in(active: dict[str, Fact]) -> None:
    ssh = active["firewall_rule:ufw:ip:in:1"]
    assert (ssh["protocol"], ssh["dports"], ssh["verdict"], ssh["hook"], ssh["chain"]) == \
        ("tcp", [22], "accept", "input", "ufw-user-input")
    assert ssh.source == {"command": "ufw status verbose", "line": 8}
    any_proto = active["firewall_rule:ufw:ip:in:2"]  # "8080": tcp and udp
    assert (any_proto["protocol"], any_proto["protocols"], any_proto["verdict"]) == \
        (None, ["tcp", "udp"], "drop")
    reject = active["firewall_rule:ufw:ip:in:3"]
    assert (reject["verdict"], reject["reject_with"]) == ("reject", "tcp-reset")
    assert active["firewall_rule:ufw:ip:in:4"]["saddr"] == ["10.0.0.0/8"]
    limit = active["firewall_rule:ufw:ip:in:5"]
    assert (limit["verdict"], limit["action"]) == ("accept", "LIMIT IN")
    web = active["firewall_rule:ufw:ip:in:6"]
    assert (web["iifname"], web["dports"]) == ("eth0", [443])
    assert web["text"].endswith("# web")
    assert active["firewall_rule:ufw:ip:in:7"]["dport_ranges"] == ["6000-6007"]


def test_rules_v6_and_out(active: dict[str, Fact]) -> None:
    v6 = active["firewall_rule:ufw:ip6:in:1"]
    assert (v6["family"], v6["chain"], v6["dports"]) == ("ip6", "ufw6-user-input", [22])
    out = active["firewall_rule:ufw:ip:out:2"]
    assert (out["daddr"], out["verdict"], out["hook"]) == (["192.0.2.0/24"], "drop", "output")
    assert all(f["authoritative"] is False for f in active.values() if f.kind == "firewall_rule")


def test_deny_outgoing_routes_addresses_and_source_ports() -> None:
    facts = _facts("ufw-status-active-deny-out.txt")
    assert facts["firewall_backend:ufw"]["default_outgoing"] == "deny"
    to_addr = facts["firewall_rule:ufw:ip:in:1"]
    assert (to_addr["daddr"], to_addr["dports"], to_addr["protocol"]) == \
        (["10.0.0.1"], [80, 443], "tcp")
    from_port = facts["firewall_rule:ufw:ip:in:2"]
    assert (from_port["saddr"], from_port["sports"], from_port["dports"], from_port["protocol"]) \
        == (["192.168.1.0/24"], [53], [], "udp")
    assert facts["firewall_rule:ufw:ip6:in:1"]["saddr"] == ["2001:db8::/32"]
    out = facts["firewall_rule:ufw:ip:out:1"]
    assert (out["verdict"], out["reject_with"], out["dports"]) == ("reject", "tcp-reset", [25])
    fwd = facts["firewall_rule:ufw:ip:fwd:1"]
    assert (fwd["iifname"], fwd["oifname"], fwd["hook"]) == ("br0", "eth0", "forward")


def test_numbered_output_parses_too() -> None:
    facts = _facts("ufw-status-numbered.txt")
    rules = [f for f in facts.values() if f.kind == "firewall_rule"]
    assert len(rules) == 16
    assert facts["firewall_rule:ufw:ip:out:1"]["dports"] == [53]
    assert facts["firewall_rule:ufw:ip:in:1"]["dports"] == [22]


def test_location_parser() -> None:
    loc = ufw.parse_location("443/tcp (v6) on eth0")
    assert (loc.ports, loc.protocol, loc.v6, loc.interface) == ("443", "tcp", True, "eth0")
    app = ufw.parse_location("22/tcp (OpenSSH)")
    assert (app.ports, app.app) == ("22", "OpenSSH")
    assert ufw.parse_location("10.0.0.0/8/tcp").address == "10.0.0.0/8"
    assert ufw.parse_location("Anywhere/udp").protocol == "udp"


def test_garbage_status_is_a_collection_error() -> None:
    facts = ufw.parse_status("something else entirely\n")
    assert [f.kind for f in facts] == ["firewall_backend", "collection_error"]


def test_missing_ufw_is_recorded_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "which", lambda binary: None)
    facts = {f.kind: f for f in ufw.collect(CollectContext(env={}))}
    assert facts["firewall_backend"]["present"] is False
    assert facts["source_absent"]["collector"] == "ufw"


def _etc_with_conf(tmp_path: Path, enabled: str) -> Path:
    (tmp_path / "ufw").mkdir()
    conf = (FIXTURES / "ufw.conf").read_text().replace("ENABLED=no", f"ENABLED={enabled}")
    (tmp_path / "ufw" / "ufw.conf").write_text(conf)
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "ufw").write_text('DEFAULT_INPUT_POLICY="DROP"\n'
                                              'DEFAULT_OUTPUT_POLICY="ACCEPT"\n')
    return tmp_path


def test_config_fallback_without_root(tmp_path: Path) -> None:
    facts = ufw.from_config(_etc_with_conf(tmp_path, "yes"))
    b = facts[0]
    assert (b["active"], b["active_source"], b["rule_count"]) == (True, "ufw.conf ENABLED", None)
    assert (b["default_incoming"], b["default_outgoing"]) == ("deny", "allow")
    assert ufw.from_config(Path(FIXTURES.parent / "nowhere"))[1].kind == "collection_error"


def test_failing_status_falls_back_to_config(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    stderr = (FIXTURES / "nonroot.stderr").read_text()
    monkeypatch.setattr(base, "which", lambda binary: f"/usr/sbin/{binary}")
    monkeypatch.setattr(base, "run_command", lambda argv, timeout=0: CommandResult(
        tuple(argv), 1, "", stderr))
    monkeypatch.setattr(ufw.os, "geteuid", lambda: 0)
    facts = {f.kind: f for f in ufw.collect(CollectContext(env={},
                                                             etc=_etc_with_conf(tmp_path, "no")))}
    assert facts["firewall_backend"]["active"] is False
    assert "need to be root" in facts["collection_error"]["reason"]
