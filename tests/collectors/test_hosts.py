"""hosts collector: the recorded hosts file, odd bytes, huge lists, unreadable files, and a
namespace whose /etc/netns/NS/hosts is full of odd bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from netns_util import NETNS_ETC, collect_in, namespace, require_netns

from engine.collectors import hosts
from engine.collectors.base import CollectContext
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"

# Line by line: what each line of ODD_HOSTS is, so the assertions can name them.
ODD_LINES: list[bytes] = [
    b"# a comment line",                                       # 1  comment
    b"127.0.0.1\tlocalhost\tlocalhost.localdomain\r",           # 2  tabs, CRLF
    b"::1 ip6-localhost ip6-loopback # trailing comment",       # 3
    b"10.0.0.5 caf\xc3\xa9.example bad\xffname",                # 4  invalid UTF-8: kept
    b"10.0.0.6 nul\x00host",                                    # 5  NUL: skipped
    b"10.0.0.7 " + b"x" * 1_000_000,                            # 6  1 MB: skipped
    b"999.1.1.1 bogus",                                         # 7  invalid IP
    b"not-an-ip host",                                          # 8  invalid IP
    b"10.0.0.8",                                                # 9  no name
    b"   \t  \r",                                               # 10 blank
    b"0.0.0.0 ads.example",                                     # 11 unspecified
    b"fe80::1%eth0 router.local",                               # 12 scoped IPv6
    b"\xff\xfe\x00garbage",                                     # 13 binary junk, NUL
    b"192.168.1.10 nas nas.lan",                                # 14 no final newline
]
ODD_HOSTS = b"\n".join(ODD_LINES)


def entries(facts: list[Fact]) -> dict[int, Fact]:
    return {f["line"]: f for f in facts if f.kind == "hosts_entry"}


def errors(facts: list[Fact]) -> list[Fact]:
    return [f for f in facts if f.kind == "collection_error"]


def test_recorded_hosts_file() -> None:
    facts = hosts.parse_hosts((FIXTURES / "host-etc-hosts").read_bytes(), "/etc/hosts")
    assert [(f["ip"], f["names"], f["line"], f["loopback"]) for f in facts] == [
        ("127.0.0.1", ["localhost"], 1, True),
        ("127.0.0.1", ["runsc"], 2, True),
        ("127.0.0.1", ["vm"], 3, True),
    ]
    assert facts[0].id == "hosts:1"
    assert facts[0].source == {"file": "/etc/hosts", "line": 1}
    assert facts[0]["file"] == "/etc/hosts"


def test_odd_bytes_keep_good_lines_and_report_bad_ones_once() -> None:
    facts = hosts.parse_hosts(ODD_HOSTS, "/etc/hosts")
    kept = entries(facts)
    assert sorted(kept) == [2, 3, 4, 11, 12, 14]
    assert kept[2]["names"] == ["localhost", "localhost.localdomain"]  # no \r
    assert kept[3]["names"] == ["ip6-localhost", "ip6-loopback"]
    assert kept[4]["names"] == ["café.example", "bad\ufffdname"]
    assert (kept[11]["ip"], kept[11]["loopback"]) == ("0.0.0.0", True)
    assert (kept[12]["ip"], kept[12]["loopback"]) == ("fe80::1%eth0", False)
    assert kept[14]["names"] == ["nas", "nas.lan"]
    [error] = errors(facts)
    reason = error["reason"]
    assert "2 line(s) with a NUL byte (line 5, 13)" in reason
    assert f"1 line(s) longer than {hosts.MAX_LINE_BYTES} bytes (line 6)" in reason
    assert "2 line(s) without a valid IP address (line 7, 8)" in reason
    assert "1 line(s) with an address but no name (line 9)" in reason
    assert "1 line(s) not UTF-8, kept with U+FFFD for bad bytes (line 4)" in reason
    assert error.source == {"file": "/etc/hosts"}


def test_many_bad_lines_are_summarised_not_listed() -> None:
    facts = hosts.parse_hosts(b"\n".join(b"bad%d host" % i for i in range(1000)))
    [error] = errors(facts)
    assert "1000 line(s) without a valid IP address (line 1, 2, 3, 4, 5, ... (995 more))" \
        in error["reason"]
    assert len(error["reason"]) < 300


def test_addresses_are_normalised() -> None:
    facts = hosts.parse_hosts(b"::0001 a\n2001:DB8::1 b\n")
    assert [f["ip"] for f in facts] == ["::1", "2001:db8::1"]


# --- reading the file ------------------------------------------------------------------------

def test_collect_reads_ctx_etc_hosts(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_bytes(ODD_HOSTS)
    facts = hosts.collect(CollectContext(etc=tmp_path))
    assert sorted(entries(facts)) == [2, 3, 4, 11, 12, 14]
    assert entries(facts)[2].source == {"file": str(tmp_path / "hosts"), "line": 2}
    assert len(errors(facts)) == 1


def test_missing_hosts_file_is_recorded_absent(tmp_path: Path) -> None:
    [fact] = hosts.collect(CollectContext(etc=tmp_path))
    assert fact.kind == "source_absent"
    assert fact.source == {"file": str(tmp_path / "hosts")}


def test_hosts_path_that_cannot_be_read_is_a_collection_error(tmp_path: Path) -> None:
    (tmp_path / "hosts").mkdir()  # root bypasses file modes; a directory fails for everyone
    [fact] = hosts.collect(CollectContext(etc=tmp_path))
    assert fact.kind == "collection_error"
    assert "cannot read" in fact["reason"]


def test_hosts_file_without_read_permission(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(b"10.0.0.1 a\n")
    path.chmod(0)
    try:
        facts = hosts.collect(CollectContext(etc=tmp_path))
    finally:
        path.chmod(0o644)
    if os.geteuid() == 0:  # root reads it anyway
        assert [f.kind for f in facts] == ["hosts_entry"]
    else:
        assert [f.kind for f in facts] == ["collection_error"]
        assert "Permission denied" in facts[0]["reason"]


def test_a_file_larger_than_the_limit_is_cut_at_a_line_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hosts, "MAX_FILE_BYTES", 32)
    (tmp_path / "hosts").write_bytes(b"10.0.0.1 first\n10.0.0.2 second\n10.0.0.3 third\n")
    facts = hosts.collect(CollectContext(etc=tmp_path))
    assert [f["names"] for f in facts if f.kind == "hosts_entry"] == [["first"], ["second"]]
    [error] = errors(facts)
    assert "larger than 32 bytes" in error["reason"]


# --- in a namespace --------------------------------------------------------------------------

def test_in_a_namespace_odd_hosts_file_is_survived() -> None:
    """``ip netns exec`` bind-mounts /etc/netns/NS/hosts over /etc/hosts: the collector reads
    the odd file there, keeps the good lines, reports the bad ones once and exits 0."""
    require_netns()
    with namespace("hosts") as ns:
        etc = NETNS_ETC / ns
        etc.mkdir(parents=True)
        (etc / "hosts").write_bytes(ODD_HOSTS)
        status, facts = collect_in(ns, "hosts")
    assert status == 0
    kept = {f["line"]: f for f in facts if f["kind"] == "hosts_entry"}
    assert sorted(kept) == [2, 3, 4, 11, 12, 14]
    assert kept[2]["source"] == {"file": "/etc/hosts", "line": 2}
    bad = [f for f in facts if f["kind"] == "collection_error"]
    assert len(bad) == 1
    assert "line 5" in bad[0]["reason"] and "line 6" in bad[0]["reason"]
