"""sysctl collector: recorded /proc/sys trees (host and a namespace), missing and unreadable
settings, the live kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.collectors import sysctl
from engine.collectors.base import CollectContext
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sysctl"


def collect_from(proc: Path) -> dict[str, Fact]:
    return {f.id: f for f in sysctl.collect(CollectContext(proc=proc))}


def values(facts: dict[str, Fact]) -> dict[str, tuple[str, int | None]]:
    return {f["name"]: (f["value"], f["int_value"]) for f in facts.values()
            if f.kind == "sysctl"}


def test_namespace_settings() -> None:
    found = values(collect_from(FIXTURES / "netns" / "proc"))
    assert found["net.ipv4.ip_unprivileged_port_start"] == ("80", 80)
    assert found["net.ipv4.ip_forward"] == ("1", 1)
    assert found["net.ipv4.conf.all.rp_filter"] == ("1", 1)
    assert found["net.ipv4.conf.default.rp_filter"] == ("2", 2)
    assert found["net.ipv4.conf.lan0.rp_filter"] == ("2", 2)
    assert found["net.ipv4.ping_group_range"] == ("0 2147483647", 0)
    assert found["net.ipv6.conf.all.forwarding"] == ("1", 1)
    assert found["net.ipv6.conf.all.disable_ipv6"] == ("0", 0)
    # flannel.1's directory is spelled with a dot, its sysctl name with a slash.
    assert found["net.ipv4.conf.flannel/1.rp_filter"] == ("0", 0)
    per_interface = {n for n in found if n.startswith("net.ipv4.conf.")} - {
        "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"}
    assert len(per_interface) == 15


def test_host_settings_and_sources() -> None:
    facts = collect_from(FIXTURES / "host" / "proc")
    assert values(facts)["net.ipv4.ping_group_range"] == ("1 0", 1)  # tab collapsed
    fact = facts["sysctl:net.ipv4.conf.eth0.rp_filter"]
    assert fact.source == {
        "file": str(FIXTURES / "host" / "proc" / "sys/net/ipv4/conf/eth0/rp_filter"),
        "sysctl": "net.ipv4.conf.eth0.rp_filter"}
    assert [f.id for f in facts.values()][:len(sysctl.SETTINGS)] == [
        f"sysctl:{name}" for name in sysctl.SETTINGS]


def test_names_map_to_proc_paths() -> None:
    assert sysctl.sysctl_path("net.ipv4.ip_forward") == "sys/net/ipv4/ip_forward"
    assert sysctl.sysctl_path("net.ipv4.conf.eth0/100.rp_filter") == \
        "sys/net/ipv4/conf/eth0.100/rp_filter"
    assert sysctl.interface_setting("eth0.100", "rp_filter") == \
        "net.ipv4.conf.eth0/100.rp_filter"


@pytest.mark.parametrize("value, first", [("1", 1), ("0 2147483647", 0), ("-1", -1),
                                          ("", None), ("on", None)])
def test_first_int(value: str, first: int | None) -> None:
    assert sysctl.first_int(value) == first


def test_kernel_without_ipv6_records_absence(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(FIXTURES / "host" / "proc", proc)
    shutil.rmtree(proc / "sys" / "net" / "ipv6")
    facts = collect_from(proc)
    absent = {f["what"] for f in facts.values() if f.kind == "source_absent"}
    assert absent == {"net.ipv6.conf.all.forwarding", "net.ipv6.conf.all.disable_ipv6"}
    assert "sysctl:net.ipv4.ip_forward" in facts


def test_unreadable_setting_is_a_collection_error(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(FIXTURES / "host" / "proc", proc)
    forward = proc / "sys" / "net" / "ipv4" / "ip_forward"
    forward.unlink()
    forward.mkdir()  # root bypasses file modes; a directory fails for everyone
    facts = collect_from(proc)
    [error] = [f for f in facts.values() if f.kind == "collection_error"]
    assert "ip_forward: cannot read" in error["reason"]
    assert error.source["sysctl"] == "net.ipv4.ip_forward"
    assert len([f for f in facts.values() if f.kind == "sysctl"]) == len(facts) - 1


def test_no_proc_at_all_is_recorded_not_raised(tmp_path: Path) -> None:
    facts = sysctl.collect(CollectContext(proc=tmp_path / "nothing"))
    assert {f.kind for f in facts} == {"source_absent"}
    assert len(facts) == len(sysctl.SETTINGS)


def test_live_settings_match_proc() -> None:
    facts = collect_from(Path("/proc"))
    for fact in facts.values():
        if fact.kind != "sysctl":
            continue
        text = Path(fact.source["file"]).read_text()
        assert fact["value"] == " ".join(text.split())
    assert {f"sysctl:{n}" for n in sysctl.SETTINGS} <= set(facts) | {
        f"source_absent:sysctl:{n}" for n in sysctl.SETTINGS}
