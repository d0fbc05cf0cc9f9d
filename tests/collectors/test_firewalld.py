"""firewalld collector: recorded firewall-offline-cmd outputs, running/not running, absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.collectors import base, firewalld
from engine.collectors.base import CollectContext, CommandResult
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "firewalld"
SOURCE = {"command": "firewall-offline-cmd --list-all-zones"}

# Written from firewall-cmd's source (the get_active_zones branch prints the zone, then
# "  interfaces: ..." and "  sources: ..."), NOT recorded: no daemon can run here.
ACTIVE_ZONES_FROM_SOURCE = "public\n  interfaces: eth0 eth1\ntrusted\n  sources: 10.10.0.0/16\n"


def _zones(name: str, default: str | None = "home",
           active: dict | None = None) -> dict[str, Fact]:
    text = (FIXTURES / name).read_text()
    return {f["name"]: f for f in firewalld.parse_zones(text, default, SOURCE, active)}


def test_configured_zones() -> None:
    zones = _zones("offline-list-all-zones.txt")
    assert len(zones) == 9
    public = zones["public"]
    assert (public["active"], public["default"], public["interfaces"]) == (True, False, ["eth0"])
    assert public["services"] == ["dhcpv6-client", "https", "ssh"]
    assert public["ports"] == ["8080/tcp", "5000-5010/udp"]
    assert public["masquerade"] is True
    assert public["forward_ports"] == ["port=8443:proto=tcp:toport=443:toaddr=10.0.0.5"]
    assert public["icmp_blocks"] == ["echo-request"]
    assert public["rich_rules"] == ['rule family="ipv4" source address="203.0.113.0/24" '
                                    'port port="3306" protocol="tcp" reject']
    assert public.source == {**SOURCE, "line": 91}
    assert zones["home"]["default"] is True and zones["home"]["active"] is False
    assert (zones["trusted"]["sources"], zones["trusted"]["target"]) == \
        (["10.10.0.0/16"], "ACCEPT")
    assert zones["drop"]["target"] == "DROP" and zones["drop"]["interfaces"] == ["wg0"]


def test_stock_zones() -> None:
    zones = _zones("offline-list-all-zones-stock.txt", "public")
    assert zones["block"]["target"] == "REJECT"  # %%REJECT%%
    assert zones["public"]["default"] is True
    assert not any(z["active"] for z in zones.values())


def test_active_zones_add_runtime_interfaces() -> None:
    active = firewalld.parse_active_zones(ACTIVE_ZONES_FROM_SOURCE)
    assert active == {"public": {"interfaces": ["eth0", "eth1"]},
                      "trusted": {"sources": ["10.10.0.0/16"]}}
    zones = _zones("offline-list-all-zones.txt", active=active)
    assert zones["public"]["interfaces"] == ["eth0", "eth1"]
    assert zones["trusted"]["sources"] == ["10.10.0.0/16"]


def test_summary() -> None:
    text = (FIXTURES / "offline-list-all-zones.txt").read_text()
    zones = firewalld.parse_zones(text, "home", SOURCE)
    backend = firewalld.summarize(zones, "home", False, SOURCE)
    assert (backend["active"], backend["default_zone"], backend["default_incoming"]) == \
        (False, "home", "reject")
    # public: 3 services + 2 ports + 1 rich rule; trusted and drop: nothing listed
    assert backend["rule_count"] == 6
    assert firewalld.summarize(None, None, False, SOURCE)["rule_count"] is None


def _fake(monkeypatch: pytest.MonkeyPatch, present: set[str],
          outputs: dict[tuple[str, ...], CommandResult]) -> list[tuple[str, ...]]:
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(base, "which", lambda b: f"/usr/bin/{b}" if b in present else None)

    def run(argv: list[str], timeout: float = 0) -> CommandResult:
        ran.append(tuple(argv))
        return outputs.get(tuple(argv), CommandResult(tuple(argv), 1, "", "unexpected"))
    monkeypatch.setattr(base, "run_command", run)
    return ran


def test_not_running_reads_the_permanent_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    no_dbus = (FIXTURES / "state-no-dbus.stderr").read_text()
    zones_text = (FIXTURES / "offline-list-all-zones.txt").read_text()
    default = (FIXTURES / "offline-get-default-zone.txt").read_text()
    off = "firewall-offline-cmd"
    ran = _fake(monkeypatch, {"firewall-cmd", off}, {
        ("firewall-cmd", "--state"): CommandResult(("firewall-cmd",), 36, "", no_dbus),
        (off, "--get-default-zone"): CommandResult((off,), 0, default, ""),
        (off, "--list-all-zones"): CommandResult((off,), 0, zones_text, ""),
    })
    facts = firewalld.collect(CollectContext(env={}))
    backend = facts[0]
    assert (backend.kind, backend["present"], backend["active"]) == ("firewall_backend", True, False)
    assert backend.source == {"command": "firewall-offline-cmd --list-all-zones"}
    assert sum(f.kind == "firewalld_zone" for f in facts) == 9
    assert not any(f.kind == "collection_error" for f in facts)
    assert ("firewall-cmd", "--get-active-zones") not in ran


def test_running_uses_firewall_cmd(monkeypatch: pytest.MonkeyPatch) -> None:
    zones_text = (FIXTURES / "offline-list-all-zones.txt").read_text()
    cmd = "firewall-cmd"
    _fake(monkeypatch, {cmd}, {
        (cmd, "--state"): CommandResult((cmd,), 0, "running\n", ""),
        (cmd, "--get-default-zone"): CommandResult((cmd,), 0, "public\n", ""),
        (cmd, "--get-active-zones"): CommandResult((cmd,), 0, ACTIVE_ZONES_FROM_SOURCE, ""),
        (cmd, "--list-all-zones"): CommandResult((cmd,), 0, zones_text, ""),
    })
    facts = {f.id: f for f in firewalld.collect(CollectContext(env={}))}
    backend = facts["firewall_backend:firewalld"]
    assert (backend["active"], backend["default_zone"]) == (True, "public")
    assert facts["firewalld_zone:public"]["interfaces"] == ["eth0", "eth1"]


def test_offline_tool_needing_root_is_a_collection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = (FIXTURES / "offline-nonroot.stderr").read_text()
    off = "firewall-offline-cmd"
    _fake(monkeypatch, {off}, {
        (off, "--get-default-zone"): CommandResult((off,), 255, "", stderr),
        (off, "--list-all-zones"): CommandResult((off,), 255, "", stderr),
    })
    facts = firewalld.collect(CollectContext(env={}))
    assert facts[0]["present"] is True and facts[0]["rule_count"] is None
    errors = [f for f in facts if f.kind == "collection_error"]
    assert len(errors) == 2 and "need to be root" in errors[0]["reason"]
    assert len({f.id for f in facts}) == len(facts)


def test_not_installed_is_recorded_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, set(), {})
    facts = {f.kind: f for f in firewalld.collect(CollectContext(env={}))}
    assert facts["firewall_backend"]["present"] is False
    assert facts["source_absent"]["collector"] == "firewalld"


def test_live_collect_never_raises() -> None:
    facts = firewalld.collect(CollectContext())
    assert any(f.kind == "firewall_backend" for f in facts)


# --- a running firewalld (recorded in the lab: tests/fixtures/firewalld/README.md) ----------

def _running(name: str, active: str = "running-get-active-zones-none.txt") -> dict[str, Fact]:
    text = (FIXTURES / name).read_text()
    zones = firewalld.parse_active_zones((FIXTURES / active).read_text())
    return {f["name"]: f for f in firewalld.parse_zones(text, "public", SOURCE, zones,
                                                        running=True)}


def test_running_default_zone_applies_with_no_interface_bound() -> None:
    """No NetworkManager: no zone binds an interface, none is 'active', and the default
    zone, the catch-all of firewalld's zone dispatch, filters everything."""
    zones = _running("running-list-all-zones-stock.txt")
    assert len(zones) == 9
    public = zones["public"]
    assert (public["default"], public["active"], public["applies"]) == (True, False, True)
    assert public["services"] == ["dhcpv6-client", "ssh"] and public["ports"] == []
    assert [n for n, z in zones.items() if z["applies"]] == ["public"]
    backend = firewalld.summarize(list(zones.values()), "public", True, SOURCE)
    assert (backend["rule_count"], backend["default_incoming"]) == (2, "reject")


def test_running_zone_bound_to_an_interface() -> None:
    """`--zone=public --add-interface=eth0` (as NetworkManager does) and `--add-port`:
    the real `--get-active-zones` and the zone's "(active)" flag."""
    assert (FIXTURES / "running-get-active-zones.txt").read_text() == \
        "public\n  interfaces: eth0\n"
    zones = _running("running-list-all-zones-port.txt", "running-get-active-zones.txt")
    public = zones["public"]
    assert (public["active"], public["applies"], public["interfaces"], public["ports"]) == \
        (True, True, ["eth0"], ["8080/tcp"])
    assert not any(z["applies"] for n, z in zones.items() if n != "public")


def test_running_drop_target() -> None:
    zones = _running("running-list-all-zones-drop.txt")
    assert (zones["public"]["target"], zones["public"]["applies"]) == ("DROP", True)
    backend = firewalld.summarize(list(zones.values()), "public", True, SOURCE)
    assert backend["default_incoming"] == "drop"


def test_offline_zones_never_apply() -> None:
    """A stopped daemon's permanent configuration filters nothing, active zone or not."""
    zones = _zones("offline-list-all-zones.txt")
    assert zones["public"]["active"] is True
    assert not any(z["applies"] for z in zones.values())


def test_collect_from_the_recorded_running_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    cmd = "firewall-cmd"
    recorded = {
        (cmd, "--state"): "running-state.txt",
        (cmd, "--get-default-zone"): "running-get-default-zone.txt",
        (cmd, "--get-active-zones"): "running-get-active-zones-none.txt",
        (cmd, "--list-all-zones"): "running-list-all-zones-stock.txt",
    }
    _fake(monkeypatch, {cmd}, {argv: CommandResult(argv, 0, (FIXTURES / name).read_text(), "")
                               for argv, name in recorded.items()})
    facts = {f.id: f for f in firewalld.collect(CollectContext(env={}))}
    backend = facts["firewall_backend:firewalld"]
    assert (backend["active"], backend["default_zone"], backend["rule_count"]) == \
        (True, "public", 2)
    assert facts["firewalld_zone:public"]["applies"] is True
    assert not any(f.kind == "collection_error" for f in facts.values())
