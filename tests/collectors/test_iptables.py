"""iptables collector: recorded iptables-save outputs (nft and legacy), bad input, missing tools."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from netns_util import collect_in, namespace, require_netns

from engine.collectors import base, iptables
from engine.collectors.base import CollectContext, CommandResult
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "iptables"


def _facts(name: str, backend: str = "iptables", variant: str | None = None) -> dict[str, Fact]:
    text = (FIXTURES / name).read_text()
    return {f.id: f for f in iptables.parse_save(text, name.removesuffix(".txt"), backend,
                                                  variant)}


@pytest.fixture(scope="module")
def nft4() -> dict[str, Fact]:
    return _facts("iptables-nft-save.txt")


def rule(facts: dict[str, Fact], chain: str, n: int, table: str = "filter",
         prefix: str = "iptables:nf_tables") -> Fact:
    return facts[f"firewall_rule:{prefix}:{table}:{chain}:{n}"]


def test_backend_variant_from_header_and_counts(nft4: dict[str, Fact]) -> None:
    backend = nft4["firewall_backend:iptables:nf_tables"]
    assert (backend["variant"], backend["active"], backend["rule_count"]) == \
        ("nf_tables", True, 21)
    assert backend["legacy_tables_present"] is False
    legacy = _facts("iptables-legacy-save.txt")["firewall_backend:iptables:legacy"]
    assert (legacy["variant"], legacy["rule_count"]) == ("legacy", 21)


def test_chains_with_policies_and_priorities(nft4: dict[str, Fact]) -> None:
    inp = nft4["firewall_chain:iptables:nf_tables:filter:INPUT"]
    assert (inp["hook"], inp["policy"], inp["priority"], inp["rule_count"]) == \
        ("input", "drop", 0, 14)
    user = nft4["firewall_chain:iptables:nf_tables:filter:LOGDROP"]
    assert (user["hook"], user["policy"], user["reached_from"]) == (None, None, ["input"])
    post = nft4["firewall_chain:iptables:nf_tables:nat:POSTROUTING"]
    assert (post["priority"], post["policy"]) == (100, "accept")
    assert nft4["firewall_chain:iptables:nf_tables:nat:PREROUTING"]["priority"] == -100


def test_rule_source_is_command_and_line(nft4: dict[str, Fact]) -> None:
    first = rule(nft4, "INPUT", 1)
    assert first.source == {"command": "iptables-nft-save", "line": 7}
    assert first["text"] == "-A INPUT -i lo -j ACCEPT"
    assert (first["iifname"], first["verdict"], first["position"]) == ("lo", "accept", 1)


def test_matches(nft4: dict[str, Fact]) -> None:
    assert rule(nft4, "INPUT", 2)["ct_state"] == ["related", "established"]  # -m conntrack
    assert rule(nft4, "INPUT", 3)["ct_state"] == ["invalid"]                 # -m state
    ssh = rule(nft4, "INPUT", 5)
    assert (ssh["protocol"], ssh["dports"], ssh["saddr"]) == ("tcp", [22], ["10.0.0.0/8"])
    multi = rule(nft4, "INPUT", 6)
    assert multi["dports"] == [80, 443, *range(8000, 8011)]
    assert multi["dport_ranges"] == ["8000-8010"]
    assert rule(nft4, "INPUT", 7)["dport_ranges"] == ["5000-5010"]
    assert rule(nft4, "INPUT", 12)["sports"] == [53]
    negated = rule(nft4, "INPUT", 13)
    assert negated["saddr"] == [] and negated["not_saddr"] == ["10.1.2.3/32"]
    fwd = rule(nft4, "FORWARD", 1)
    assert (fwd["iifname"], fwd["oifname"], fwd["hook"]) == ("br0", "eth0", "forward")
    assert rule(nft4, "OUTPUT", 1)["daddr"] == ["192.0.2.0/24"]


@pytest.mark.parametrize(("n", "expected"), [
    (8, "tcp-reset"),
    (9, "icmp-port-unreachable"),
    (10, "icmp-admin-prohibited"),
    (11, "icmp-host-prohibited"),
])
def test_reject_with(nft4: dict[str, Fact], n: int, expected: str) -> None:
    r = rule(nft4, "INPUT", n)
    assert (r["verdict"], r["reject_with"]) == ("reject", expected)


def test_ip6tables_reject_names_use_nft_vocabulary() -> None:
    facts = _facts("ip6tables-nft-save.txt", backend="ip6tables")
    prefix = "ip6tables:nf_tables"
    assert rule(facts, "INPUT", 2, prefix=prefix)["protocol"] == "icmpv6"  # -p ipv6-icmp
    assert rule(facts, "INPUT", 5, prefix=prefix)["reject_with"] == "icmpv6-admin-prohibited"
    assert rule(facts, "INPUT", 6, prefix=prefix)["reject_with"] == "icmpv6-port-unreachable"
    assert rule(facts, "INPUT", 4, prefix=prefix)["family"] == "ip6"


def test_jump_log_and_nat_targets(nft4: dict[str, Fact]) -> None:
    jump = rule(nft4, "INPUT", 14)
    assert (jump["verdict"], jump["target"], jump["dports"]) == ("jump", "LOGDROP", [9090])
    assert "metrics port" in jump["text"]
    log = rule(nft4, "LOGDROP", 1)
    assert (log["verdict"], log["action"], log["reached_from"]) == (None, "LOG", ["input"])
    nat = "iptables:nf_tables"
    masq = rule(nft4, "POSTROUTING", 1, table="nat", prefix=nat)
    assert (masq["verdict"], masq["oifname"]) == ("masquerade", "eth0")
    snat = rule(nft4, "POSTROUTING", 2, table="nat", prefix=nat)
    assert (snat["verdict"], snat["target"]) == ("snat", "203.0.113.5")
    dnat = rule(nft4, "PREROUTING", 1, table="nat", prefix=nat)
    assert (dnat["verdict"], dnat["target"]) == ("dnat", "10.10.0.5:443")


def test_legacy_and_nft_give_the_same_rules() -> None:
    legacy = _facts("iptables-legacy-save.txt")
    nft = _facts("iptables-nft-save.txt")

    def rules(facts: dict[str, Fact]) -> dict[str, dict]:
        return {f.id.split(":", 3)[3]: {k: v for k, v in f.fields.items() if k != "variant"}
                for f in facts.values() if f.kind == "firewall_rule"}
    assert rules(legacy) == rules(nft)


def test_legacy_warning_of_the_nft_variant() -> None:
    facts = _facts("iptables-nft-save-with-legacy.txt")
    assert facts["firewall_backend:iptables:nf_tables"]["legacy_tables_present"] is True
    # Live, the warning comes on stderr (the fixture holds 2>&1): split it back.
    warning, stdout = (FIXTURES / "iptables-nft-save-with-legacy.txt").read_text().split("\n", 1)
    backend = iptables.parse_save(stdout, "iptables-nft-save", stderr=warning + "\n")[0]
    assert backend["legacy_tables_present"] is True and backend["rule_count"] == 1


def test_ufw_chains_are_marked_and_unknown_options_named() -> None:
    facts = _facts("iptables-save-ufw.txt")
    rules = [f for f in facts.values() if f.kind == "firewall_rule"]
    user_input = [r for r in rules if r["chain"] == "ufw-user-input"]
    assert all(r["managed_by"] == "ufw" for r in user_input)
    assert [r["dports"] for r in user_input[:2]] == [[22], [8080]]
    assert user_input[0]["reached_from"] == ["input"]
    recent = next(r for r in user_input if "--update" in r["unparsed"])
    assert recent["dports"] == [2222] and recent["verdict"] == "jump"
    assert next(r for r in rules if r["chain"] == "INPUT")["managed_by"] is None


def test_empty_output_is_an_inactive_backend() -> None:
    facts = iptables.parse_save("", "iptables-nft-save", "iptables", "nf_tables")
    assert [f.kind for f in facts] == ["firewall_backend"]
    assert (facts[0]["active"], facts[0]["rule_count"]) == (False, 0)


def test_garbage_lines_are_a_collection_error_not_an_exception() -> None:
    text = "*filter\n:INPUT ACCEPT [0:0]\nthis is not iptables\n-A INPUT -m comment --comment \"x\n"
    facts = iptables.parse_save(text, "iptables-save")
    errors = [f for f in facts if f.kind == "collection_error"]
    assert len(errors) == 1 and errors[0].source["line"] == 3
    assert any(f.kind == "firewall_rule" for f in facts)


def _fake_tools(monkeypatch: pytest.MonkeyPatch, present: set[str],
                results: dict[str, CommandResult]) -> list[list[str]]:
    ran: list[list[str]] = []
    monkeypatch.setattr(base, "which", lambda b: f"/usr/sbin/{b}" if b in present else None)

    def run(argv: list[str], timeout: float = 0) -> CommandResult:
        ran.append(argv)
        return results.get(argv[0], CommandResult(tuple(argv), 0, "", ""))
    monkeypatch.setattr(base, "run_command", run)
    return ran


def test_no_iptables_at_all_is_recorded_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tools(monkeypatch, set(), {})
    facts = iptables.collect(CollectContext(env={}))
    backends = [f for f in facts if f.kind == "firewall_backend"]
    assert {b["backend"] for b in backends} == {"iptables", "ip6tables"}
    assert all(b["present"] is False for b in backends)
    assert sum(f.kind == "source_absent" for f in facts) == 2


def test_legacy_not_run_when_no_legacy_table_is_loaded(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    tools = {"iptables-nft-save", "iptables-legacy-save", "ip6tables-nft-save",
             "ip6tables-legacy-save"}
    nft_out = (FIXTURES / "iptables-nft-save.txt").read_text()
    ran = _fake_tools(monkeypatch, tools, {
        "iptables-nft-save": CommandResult(("iptables-nft-save",), 0, nft_out, "")})
    (tmp_path / "net").mkdir()
    facts = iptables.collect(CollectContext(env={}, proc=tmp_path))
    assert ["iptables-legacy-save"] not in ran and ["iptables-nft-save"] in ran
    legacy = next(f for f in facts if f.id == "firewall_backend:iptables:legacy")
    assert (legacy["present"], legacy["active"], legacy["rule_count"]) == (True, False, 0)
    assert len({f.id for f in facts}) == len(facts)


def test_failing_save_is_a_collection_error(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    stderr = (FIXTURES / "nonroot-iptables-save.stderr").read_text()
    _fake_tools(monkeypatch, {"iptables-nft-save"}, {
        "iptables-nft-save": CommandResult(("iptables-nft-save",), 4, "", stderr)})
    facts = iptables.collect(CollectContext(env={}, proc=tmp_path))
    errors = [f for f in facts if f.kind == "collection_error"]
    assert len(errors) == 1 and "Permission denied" in errors[0]["reason"]
    backend = next(f for f in facts if f.id == "firewall_backend:iptables:nf_tables")
    assert backend["active"] is None


# --------------------------------------------------------------------------------------------
# Live: iptables-nft and iptables-legacy rules in a namespace, read by collect().
# --------------------------------------------------------------------------------------------

def test_live_collect_reads_both_variants() -> None:
    require_netns()
    tools = {t: base.which(t) for t in ("iptables-nft", "iptables-legacy", "ip6tables-legacy")}
    if not all(tools.values()):
        pytest.skip(f"needs {', '.join(tools)}")
    env = {**os.environ, "IPT": "iptables-legacy", "IP6T": "ip6tables-legacy"}
    with namespace("ipt") as ns:
        subprocess.run(["ip", "netns", "exec", ns, "sh", str(FIXTURES / "rules.sh")],
                       check=True, env=env, timeout=60)
        subprocess.run(["ip", "netns", "exec", ns, str(tools["iptables-nft"]), "-A", "INPUT",
                        "-p", "tcp", "--dport", "7777", "-j", "ACCEPT"], check=True, timeout=30)
        _, facts = collect_in(ns, "iptables")
    live = {f["id"]: f for f in facts}
    assert live["firewall_backend:iptables:legacy"]["rule_count"] == 21
    nft = live["firewall_backend:iptables:nf_tables"]
    assert (nft["rule_count"], nft["legacy_tables_present"]) == (1, True)
    for fid, fact in _facts("iptables-legacy-save.txt").items():
        if fact.kind == "firewall_rule":
            assert {k: v for k, v in live[fid].items() if k not in ("kind", "id", "source")} \
                == dict(fact.fields)
