"""resolver collector: recorded resolv.conf variants (static, systemd-resolved, resolvconf),
nsswitch.conf, resolvectl, and what happens when files are missing, dangling or unreadable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.collectors import base, resolver
from engine.collectors.base import CollectContext
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "resolver"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def make_etc(tmp_path: Path, resolv: str | None = "host-etc-resolv.conf",
             nsswitch: str | None = "host-etc-nsswitch.conf") -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    if resolv:
        shutil.copy(FIXTURES / resolv, etc / "resolv.conf")
    if nsswitch:
        shutil.copy(FIXTURES / nsswitch, etc / "nsswitch.conf")
    return etc


def no_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolver, "RESOLVED_RUN_DIR", tmp_path / "no-such-run-dir")


def of_kind(facts: list[Fact], kind: str) -> list[Fact]:
    return [f for f in facts if f.kind == kind]


# --- resolv.conf -----------------------------------------------------------------------------

def test_host_resolv_conf_and_nsswitch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_resolved(tmp_path, monkeypatch)
    etc = make_etc(tmp_path)
    facts = resolver.collect(CollectContext(etc=etc))
    [server] = of_kind(facts, "nameserver")
    assert (server["ip"], server["origin"], server["link"], server["stub"]) == (
        "10.255.255.53", "resolv.conf", None, False)
    assert server.id == "nameserver:resolv.conf:1"
    assert server.source == {"file": str(etc / "resolv.conf"), "line": 1}
    [config] = of_kind(facts, "resolver_config")
    assert config["nsswitch_hosts"] == ["files", "dns"]
    assert (config["search"], config["options"], config["nameserver_count"]) == ([], [], 1)
    assert (config["managed_by"], config["resolv_conf"]) == (None, str(etc / "resolv.conf"))
    [resolved] = of_kind(facts, "source_absent")
    assert resolved["what"] == "systemd-resolved"


def test_systemd_static_stub_file() -> None:
    conf = resolver.parse_resolv_conf(fixture_text("systemd-static-resolv.conf"))
    assert conf.nameservers == [(17, "127.0.0.53")]
    assert (conf.search, conf.options) == (["."], ["edns0", "trust-ad"])
    assert resolver.guess_manager(conf.header, None) == "systemd-resolved"
    [fact] = resolver.nameserver_facts(conf, "/etc/resolv.conf")
    assert fact["stub"] is True


def test_systemd_resolved_upstream_file_lists_every_server() -> None:
    conf = resolver.parse_resolv_conf(fixture_text("run-systemd-resolve-resolv.conf"))
    assert [ip for _, ip in conf.nameservers] == [
        "192.0.2.53", "2001:db8::53", "198.51.100.53", "2001:db8:1::53", "10.1.0.1",
        "fe80::1%3"]
    assert len(conf.nameservers) > resolver.GLIBC_MAXNS  # resolved warns in a comment
    assert conf.search == ["example.org", "corp.example"]
    assert resolver.guess_manager(conf.header, None) == "systemd-resolved"


def test_resolvconf_generated_file_is_not_mistaken_for_systemd_resolved() -> None:
    # Its header mentions systemd-resolved's stub, but resolvconf wrote it.
    conf = resolver.parse_resolv_conf(fixture_text("resolvconf-resolv.conf"))
    assert resolver.guess_manager(conf.header, None) == "resolvconf"
    assert [ip for _, ip in conf.nameservers] == ["10.8.0.1", "10.8.0.2", "192.168.1.1"]
    assert conf.search == ["vpn.example", "home.example"]


def test_symlink_target_names_the_manager(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    no_resolved(tmp_path, monkeypatch)
    etc = make_etc(tmp_path, resolv=None)
    target = tmp_path / "run" / "resolvconf" / "resolv.conf"
    target.parent.mkdir(parents=True)
    target.write_text("nameserver 192.0.2.1\n")  # no header: only the symlink tells
    recorded_target = fixture_text("resolvconf-resolv.conf.symlink").strip()
    assert recorded_target == "../run/resolvconf/resolv.conf"
    (etc / "resolv.conf").symlink_to(recorded_target)
    [config] = of_kind(resolver.collect(CollectContext(etc=etc)), "resolver_config")
    assert config["managed_by"] == "resolvconf"
    assert config["nameserver_count"] == 1


def test_dangling_symlink_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_resolved(tmp_path, monkeypatch)
    etc = make_etc(tmp_path, resolv=None)
    (etc / "resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    facts = resolver.collect(CollectContext(etc=etc))
    [error] = of_kind(facts, "collection_error")
    assert "symlink to ../run/systemd/resolve/stub-resolv.conf, which does not exist" in \
        error["reason"]
    [config] = of_kind(facts, "resolver_config")
    assert (config["managed_by"], config["nameserver_count"]) == ("systemd-resolved", 0)
    assert not of_kind(facts, "nameserver")


def test_missing_resolv_conf_is_absent_not_an_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    no_resolved(tmp_path, monkeypatch)
    facts = resolver.collect(CollectContext(etc=make_etc(tmp_path, resolv=None)))
    assert not of_kind(facts, "collection_error")
    assert {f["what"] for f in of_kind(facts, "source_absent")} == {"resolv.conf",
                                                                    "systemd-resolved"}
    [config] = of_kind(facts, "resolver_config")
    assert (config["nameserver_count"], config["nsswitch_hosts"]) == (0, ["files", "dns"])


def test_unreadable_resolv_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_resolved(tmp_path, monkeypatch)
    etc = make_etc(tmp_path, resolv=None)
    (etc / "resolv.conf").mkdir()  # root bypasses file modes; a directory fails for everyone
    facts = resolver.collect(CollectContext(etc=etc))
    [error] = of_kind(facts, "collection_error")
    assert "cannot read" in error["reason"]
    [config] = of_kind(facts, "resolver_config")
    assert (config["search"], config["nameserver_count"]) == (None, None)


def test_glibc_reading_rules() -> None:
    conf = resolver.parse_resolv_conf(
        "# header\n"
        "search a.example b.example\n"
        "nameserver 192.0.2.1 ; comment\n"
        "nameserver 192.0.2.2# glued comment\n"
        "nameserver not-an-ip\n"
        " nameserver 192.0.2.9\n"
        "domain last.example\n"
        "options ndots:2\n"
        "options rotate timeout:1\n"
    )
    assert conf.nameservers == [(3, "192.0.2.1"), (4, "192.0.2.2")]
    assert conf.invalid_lines == [5]
    assert conf.search == ["last.example"]  # the last search/domain line wins
    assert conf.options == ["ndots:2", "rotate", "timeout:1"]


def test_invalid_nameserver_is_one_collection_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    no_resolved(tmp_path, monkeypatch)
    etc = make_etc(tmp_path, resolv=None)
    (etc / "resolv.conf").write_text("nameserver 192.0.2.1\nnameserver dns.example\n")
    facts = resolver.collect(CollectContext(etc=etc))
    [error] = of_kind(facts, "collection_error")
    assert "nameserver line(s) 2 hold no valid IP address" in error["reason"]
    assert len(of_kind(facts, "nameserver")) == 1


# --- nsswitch.conf ---------------------------------------------------------------------------

def test_nsswitch_action_groups_are_tokens_of_their_own() -> None:
    text = ("passwd: files\n"
            "hosts:      files mymachines resolve [!UNAVAIL=return] dns "
            "[NOTFOUND=return  TRYAGAIN=continue] myhostname # comment\n"
            "hosts: dns\n")
    assert resolver.parse_nsswitch_hosts(text) == [
        "files", "mymachines", "resolve", "[!UNAVAIL=return]", "dns",
        "[NOTFOUND=return TRYAGAIN=continue]", "myhostname"]


def test_nsswitch_without_hosts_line_or_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolver.parse_nsswitch_hosts("passwd: files\n# hosts: files\n") is None
    no_resolved(tmp_path, monkeypatch)
    facts = resolver.collect(CollectContext(etc=make_etc(tmp_path, nsswitch=None)))
    assert "nsswitch.conf" in {f["what"] for f in of_kind(facts, "source_absent")}
    assert of_kind(facts, "resolver_config")[0]["nsswitch_hosts"] is None


# --- systemd-resolved ------------------------------------------------------------------------

def test_resolvectl_dns_per_link() -> None:
    facts = resolver.parse_resolvectl_dns(fixture_text("resolvectl-dns.txt"))
    assert [(f["link"], f["ip"]) for f in facts] == [
        (None, "192.0.2.53"), (None, "2001:db8::53"),
        ("wan0", "198.51.100.53"), ("wan0", "2001:db8:1::53"),
        ("lan0", "10.1.0.1"), ("lan0", "fe80::1")]
    assert {f["origin"] for f in facts} == {"systemd-resolved"}
    assert facts[2].id == "nameserver:systemd-resolved:wan0:198.51.100.53"
    assert facts[2].source == {"command": "resolvectl dns", "link": "wan0"}
    assert facts[0].source == {"command": "resolvectl dns"}


@pytest.mark.parametrize("token, address", [
    ("1.1.1.1#cloudflare-dns.com", "1.1.1.1"),
    ("9.9.9.9:853#dns.quad9.net", "9.9.9.9"),
    ("[2001:db8::1]:53", "2001:db8::1"),
    ("fe80::1", "fe80::1"),
    ("garbage", None),
])
def test_resolvectl_server_spellings(token: str, address: str | None) -> None:
    assert resolver.server_address(token) == address


def resolved_run_dir(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run" / "systemd" / "resolve"
    run_dir.mkdir(parents=True)
    shutil.copy(FIXTURES / "run-systemd-resolve-resolv.conf", run_dir / "resolv.conf")
    return run_dir


def test_resolved_running_uses_resolvectl(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = {"dns": "resolvectl-dns.txt", "domain": "resolvectl-domain.txt"}

    def fake_run(argv: list[str], timeout: float) -> base.CommandResult:
        assert argv[0] == "resolvectl" and argv[1:] in (["dns"], ["domain"])
        return base.CommandResult(tuple(argv), 0, fixture_text(outputs[argv[1]]), "")

    monkeypatch.setattr(base, "which", lambda binary: f"/usr/bin/{binary}")
    monkeypatch.setattr(base, "run_command", fake_run)
    facts = resolver.collect_resolved(CollectContext(), resolved_run_dir(tmp_path))
    servers = [f for f in facts if f.kind == "nameserver"]
    assert len(servers) == 6
    assert {f["link"] for f in servers} == {None, "wan0", "lan0"}
    domains = [(f["link"], f["domain"], f["routing_only"]) for f in facts
               if f.kind == "dns_domain"]
    assert domains == [(None, "example.org", False), ("wan0", "corp.example", False),
                       ("wan0", "internal.example", True)]


def test_resolved_config_files(tmp_path: Path) -> None:
    """resolved.conf, then drop-ins by name: a later one replaces a value, an empty DNS= empties
    the list (the files are systemd's own syntax; the shipped resolved.conf of Debian's
    systemd-resolved 252.39 is all comments)."""
    etc = tmp_path / "etc"
    (etc / "systemd" / "resolved.conf.d").mkdir(parents=True)
    shutil.copy(FIXTURES / "resolved.conf", etc / "systemd" / "resolved.conf")
    vendor = tmp_path / "usr-lib"
    vendor.mkdir()
    (vendor / "10-dot.conf").write_text("[Resolve]\nDNS=192.0.2.1\nDNSOverTLS=opportunistic\n")
    (etc / "systemd" / "resolved.conf.d" / "20-mine.conf").write_text(
        "[Resolve]\nDNS=\nDNS=192.0.2.53#dns.example 2001:db8::53\nDNSOverTLS=yes\n"
        "[Other]\nDNS=203.0.113.9\n")
    [fact] = resolver.collect_resolved_conf(etc, (vendor,))
    assert (fact["dns"], fact["dns_over_tls"]) == (["192.0.2.53#dns.example", "2001:db8::53"],
                                                   "yes")
    assert fact.source == {"file": str(etc / "systemd/resolved.conf.d/20-mine.conf"), "line": 4}
    assert fact["files"] == [str(etc / "systemd/resolved.conf"), str(vendor / "10-dot.conf"),
                             str(etc / "systemd/resolved.conf.d/20-mine.conf")]
    assert resolver.collect_resolved_conf(tmp_path / "nothing", ()) == []


def test_the_shipped_resolved_conf_sets_nothing(tmp_path: Path) -> None:
    (tmp_path / "systemd").mkdir()
    shutil.copy(FIXTURES / "resolved.conf", tmp_path / "systemd" / "resolved.conf")
    [fact] = resolver.collect_resolved_conf(tmp_path, ())
    assert (fact["dns"], fact["dns_over_tls"], fact["domains"]) == ([], None, [])


def test_resolved_without_resolvectl_falls_back_to_its_upstream_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "which", lambda binary: None)
    run_dir = resolved_run_dir(tmp_path)
    facts = resolver.collect_resolved(CollectContext(), run_dir)
    assert [f["ip"] for f in facts][:3] == ["192.0.2.53", "2001:db8::53", "198.51.100.53"]
    assert facts[0].source == {"file": str(run_dir / "resolv.conf"), "line": 17}
    assert {f["origin"] for f in facts} == {"systemd-resolved"}


def test_resolvectl_failing_is_reported_and_falls_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(argv: list[str], timeout: float) -> base.CommandResult:
        return base.CommandResult(tuple(argv), None, "", "", error="timed out after 10s")

    monkeypatch.setattr(base, "which", lambda binary: f"/usr/bin/{binary}")
    monkeypatch.setattr(base, "run_command", failing)
    facts = resolver.collect_resolved(CollectContext(), resolved_run_dir(tmp_path))
    assert facts[0].kind == "collection_error"
    assert "resolvectl dns: timed out" in facts[0]["reason"]
    assert len(of_kind(facts, "nameserver")) == 6


# --- live ------------------------------------------------------------------------------------

def test_live_collect_matches_etc_resolv_conf() -> None:
    facts = resolver.collect(CollectContext())
    [config] = of_kind(facts, "resolver_config")
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        pytest.skip("/etc/resolv.conf is not readable here")
    listed = [line.split()[1] for line in text.splitlines()
              if line.startswith("nameserver") and len(line.split()) > 1]
    assert config["nameserver_count"] == len(listed)
    from_file = [f["ip"] for f in of_kind(facts, "nameserver") if f["origin"] == "resolv.conf"]
    assert from_file == listed
