"""F7 on recorded files (tests/fixtures/firewall_files): the files people edit against what the
kernel loaded from them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.collectors import iptables, nftables
from engine.collectors.firewall_files import collect_files, host_bits, values
from engine.facts import Fact, Snapshot, make_fact
from engine.firewall.evaluate import Packet, Ruleset
from engine.firewall.files import link

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "firewall_files"


def live() -> list[Fact]:
    return [*nftables.parse_ruleset((FIXTURES / "live-ruleset.json").read_text()),
            *iptables.parse_save((FIXTURES / "live-iptables-nft-save.txt").read_text(),
                                 "iptables-nft-save", "iptables")]


def rules_by_line(facts: list[Fact]) -> dict[tuple[str, int], Fact]:
    return {(Path(str(f.get("file"))).name, int(f.get("line"))): f for f in facts
            if f.kind == "firewall_file_rule"}


def test_host_bits_found_where_written() -> None:
    rules = rules_by_line(collect_files(FIXTURES / "etc"))
    assert rules[("nftables.conf", 18)]["host_bits"] == ["10.20.0.5/24"]  # via `define`
    assert rules[("nftables.conf", 18)]["text"] == "ip saddr 10.20.0.5/24 tcp dport ssh accept"
    assert rules[("nftables.conf", 11)]["host_bits"] == ["192.168.10.7/24"]  # set elements
    assert rules[("extra.nft", 4)]["host_bits"] == ["172.16.5.130/25"]  # through the include
    assert rules[("rules.v4", 6)]["host_bits"] == ["10.50.0.7/16"]
    assert rules[("internal.xml", 4)]["host_bits"] == ["10.60.1.9/24"]
    assert rules[("internal.xml", 7)]["host_bits"] == []
    assert rules[("nftables.conf", 26)]["host_bits"] == []


def test_values_are_what_the_kernel_keeps() -> None:
    assert values("ip saddr 10.20.0.5/24 tcp dport ssh accept") == ["10.20.0.0/24", "22"]
    assert values("ip saddr 10.20.0.0/24 tcp dport 22 accept") == ["10.20.0.0/24", "22"]
    assert values("-A INPUT -s 10.9.9.9/32 -p tcp -m tcp --dport 1000:2000 -j DROP") == [
        "10.9.9.9", "1000-2000"]
    assert host_bits(["10.0.0.0/24", "10.0.0.5", "10.0.0.5/24", "2001:db8::1/64"]) == [
        "10.0.0.5/24", "2001:db8::1/64"]


def test_live_rules_map_to_their_file_line_and_nothing_drifts() -> None:
    files = collect_files(FIXTURES / "etc")
    links = link([*files, *live()])
    assert [f for f in links.facts if f.kind == "firewall_file_drift"] == []
    assert links.not_in_file == {}
    lines = {live_id.split(":", 2)[-1]: (Path(file).name, line)
             for live_id, (file, line) in links.lines.items()}
    assert lines["inet:filter:output:11"] == ("nftables.conf", 26)
    assert lines["ip:extra:forward:2"] == ("extra.nft", 4)
    assert lines["nf_tables:filter:INPUT:2"] == ("rules.v4", 7)
    verdict = Ruleset(live(), links.lines).evaluate(
        Packet("output", 4, "tcp", "10.0.0.1", "10.9.9.9", None, 8443, None, "eth0"))
    assert verdict.describe().endswith("nftables.conf line 26)")


def test_edited_not_reloaded(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    shutil.copytree(FIXTURES / "etc", etc)
    conf = etc / "nftables.conf"
    conf.write_text(conf.read_text().replace("tcp dport 8443 counter drop",
                                             "tcp dport 8444 counter drop"))
    drift = [f for f in link([*collect_files(etc), *live()]).facts
             if f.kind == "firewall_file_drift"]
    assert len(drift) == 1
    d = drift[0]
    assert (d["table"], d["chain"], d["line"], d["chain_loaded"]) == ("filter", "output", 26,
                                                                       True)
    assert d["not_loaded"] == ["line 26: tcp dport 8444 counter drop"]
    assert d["not_in_file"] == ["tcp dport 8443 counter drop"]
    # The live rule the file no longer has is named as such by a verdict, not as a file line.
    links = link([*collect_files(etc), *live()])
    missing = {Path(file).name for file in links.not_in_file.values()}
    assert len(links.not_in_file) == 1 and missing == {"nftables.conf"}
    verdict = Ruleset(live(), links.lines, links.not_in_file).evaluate(
        Packet("output", 4, "tcp", "10.0.0.1", "10.9.9.9", None, 8443, None, "eth0"))
    assert verdict.verdict == "drop"
    assert verdict.describe().endswith(f"not in {conf})"), verdict.describe()
    assert f"{conf} line" not in verdict.describe()


def test_prefix_wider_than_the_local_subnet() -> None:
    address = make_fact("address", "address:eth0:10.40.0.7", {"command": "ip -j addr"},
                        interface="eth0", ip="10.40.0.7", prefix=24, family=4, scope="global",
                        network="10.40.0.0/24")
    wide = [f for f in link([*collect_files(FIXTURES / "etc"), address]).facts
            if f.kind == "firewall_file_wide_prefix"]
    assert [(Path(str(f["file"])).name, f["line"], f["cidr"], f["subnet"]) for f in wide] == [
        ("nftables.conf", 25, "10.40.0.0/16", "10.40.0.0/24")]


def test_a_file_not_in_use_is_not_drift(tmp_path: Path) -> None:
    """nftables.conf of a disabled service (no live table), ufw's user.rules while ufw is off
    (its chains absent from the shared filter table): nothing to compare."""
    etc = tmp_path / "etc"
    shutil.copytree(FIXTURES / "etc", etc)
    (etc / "ufw").mkdir(exist_ok=True)
    (etc / "ufw" / "user.rules").write_text(
        "*filter\n:ufw-user-input - [0:0]\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n"
        "COMMIT\n")
    only_iptables = [f for f in live() if f.get("backend") != "nftables"]
    assert [f for f in link([*collect_files(etc), *only_iptables]).facts
            if f.kind == "firewall_file_drift"] == []


@pytest.mark.parametrize("missing", ["nftables.conf", "iptables"])
def test_missing_files_are_simply_absent(tmp_path: Path, missing: str) -> None:
    etc = tmp_path / "etc"
    shutil.copytree(FIXTURES / "etc", etc)
    target = etc / missing
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    facts = collect_files(etc)
    assert facts and not [f for f in facts if f.kind == "collection_error"]
    Snapshot(facts).dumps()  # every fact fits its declared kind


def test_unreadable_include_is_a_collection_error(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "nftables.conf").write_text('include "/nonexistent/dir/rules.nft"\n')
    errors = [f for f in collect_files(etc) if f.kind == "collection_error"]
    assert errors and "/nonexistent/dir/rules.nft" in str(errors[0]["reason"])
