"""DHCP option 252 from systemd-networkd lease files recorded in the lab (tests/fixtures/
desktop_proxy/networkd, README there): requested, not requested, sent unasked, ending in a NUL;
then damaged variants of the recorded files (cut, not hex, not text, unreadable), which must
give a collection_error and never raise; and the files ``collect`` finds where."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.collectors import networkd_wpad
from engine.collectors.base import CollectContext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "desktop_proxy" / "networkd"
URL = "http://10.20.0.3/wpad.dat"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)
OPTION_LINE = 15  # the recorded files' OPTION_252 line


def recorded(name: str) -> str:
    return (FIXTURES / name).read_text()


def facts_of(text: str, path: str = "/run/systemd/netif/leases/2",
             written: datetime | None = None) -> list[dict]:
    return [{"kind": f.kind, "source": f.source, "id": f.id, **f.fields}
            for f in networkd_wpad.wpad_facts(text, path, "eth0", NOW, written)]


def test_requested_option_252() -> None:
    [fact] = facts_of(recorded("wpad-requested"))
    assert (fact["id"], fact["kind"], fact["interface"], fact["url"]) == (
        "proxy_autoconfig:dhcp:eth0", "proxy_autoconfig", "eth0", URL)
    assert fact["source"] == {"file": "/run/systemd/netif/leases/2", "line": OPTION_LINE}
    assert recorded("wpad-requested").splitlines()[OPTION_LINE - 1].startswith("OPTION_252=")
    assert (fact["origin"], fact["mode"], fact["uses_pac"], fact["auto_detect"]) == (
        "dhcp", "wpad", False, False)
    assert fact["setting"] == f"DHCP option 252 (wpad) on eth0: {URL}"  # as dhcp_wpad says it
    assert (fact["expires"], fact["expired"]) == (None, False)


def test_not_requested_means_no_option() -> None:
    """networkd does not ask for 252 by default, and dnsmasq sends it only when asked."""
    assert "252" not in recorded("wpad-not-requested.requested")
    assert "252" in recorded("wpad-requested.requested")
    assert facts_of(recorded("wpad-not-requested")) == []


def test_sent_unasked_is_saved_and_read() -> None:
    [fact] = facts_of(recorded("wpad-forced-not-requested"))
    assert fact["url"] == URL


def test_trailing_nul_is_dropped() -> None:
    assert recorded("wpad-trailing-nul").splitlines()[OPTION_LINE - 1].endswith("7400")
    [fact] = facts_of(recorded("wpad-trailing-nul"))
    assert fact["url"] == URL


def test_expired_when_the_lifetime_is_over_since_the_last_write() -> None:
    text = recorded("wpad-requested")
    assert "LIFETIME=3600" in text
    [fresh] = facts_of(text, written=NOW - timedelta(minutes=10))
    [stale] = facts_of(text, written=NOW - timedelta(hours=2))
    assert (fresh["expired"], stale["expired"]) == (False, True)


def test_user_info_in_the_url_is_redacted() -> None:
    secret = b"http://alice:s3cret@10.20.0.3/wpad.dat".hex()
    text = recorded("wpad-requested").replace(URL.encode().hex(), secret)
    [fact] = facts_of(text)
    assert "s3cret" not in str(fact) and fact["url"].endswith("@10.20.0.3/wpad.dat")


def damaged(option_hex: str) -> str:
    """The recorded lease with its OPTION_252 value replaced."""
    return recorded("wpad-requested").replace(URL.encode().hex(), option_hex)


@pytest.mark.parametrize(("option_hex", "reason"), [
    (URL.encode().hex()[:-1], "odd number of hex digits"),        # cut mid-byte
    (URL.encode().hex()[:-2] + "zz", "is not hex"),
    (URL.encode().hex() + "ff", "is not UTF-8"),
    ("68747470" + "00" + "3a2f2f", "control characters"),          # a NUL inside
    ("687474700a3a2f2f", "control characters"),                    # a newline inside
])
def test_damaged_option_is_a_collection_error(option_hex: str, reason: str) -> None:
    [error] = facts_of(damaged(option_hex))
    assert error["kind"] == "collection_error" and reason in error["reason"]
    assert error["source"] == {"file": "/run/systemd/netif/leases/2", "line": OPTION_LINE}
    assert error["collector"] == "networkd_wpad"


def test_file_cut_before_the_option() -> None:
    text = recorded("wpad-requested")
    assert facts_of(text[:text.index("OPTION_252")]) == []
    assert facts_of(text[:text.index("OPTION_252") + len("OPTION_252=")]) == []  # empty value
    assert facts_of("") == []


def test_quoted_value_and_last_assignment_win() -> None:
    text = recorded("wpad-requested")
    quoted = text.replace(f"OPTION_252={URL.encode().hex()}", f'OPTION_252="{URL.encode().hex()}"')
    assert facts_of(quoted)[0]["url"] == URL
    other = "http://10.20.0.4/other.pac"
    twice = text + f"OPTION_252={other.encode().hex()}\n"
    [fact] = facts_of(twice)
    assert (fact["url"], fact["source"]["line"]) == (other, OPTION_LINE + 1)


def as_json(text: str) -> str:
    """The recorded lease in the JSON form of systemd's development sources (sd-dhcp-lease.c,
    dhcp_lease_append_json: ``Private_Options`` of ``{"Option": code, "Data": hex}``); derived
    from the recording, not recorded: systemd 252 writes the KEY=VALUE form."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    lease = {"Address": [int(b) for b in fields["ADDRESS"].split(".")],
             "Lifetime": f"{fields['LIFETIME']}s",
             "Private_Options": [{"Option": int(k.split("_")[1]), "Data": v}
                                 for k, v in fields.items() if k.startswith("OPTION_")]}
    return json.dumps(lease, indent=2)


def test_json_lease() -> None:
    text = as_json(recorded("wpad-requested"))
    [fact] = facts_of(text)
    assert fact["url"] == URL
    assert URL.encode().hex() in text.splitlines()[fact["source"]["line"] - 1]
    assert networkd_wpad.parse_lease(text).address == "10.20.0.100"  # type: ignore[union-attr]
    assert facts_of(as_json(recorded("wpad-not-requested"))) == []
    [error] = facts_of(text[: len(text) // 2])  # cut
    assert error["kind"] == "collection_error" and "not a JSON lease" in error["reason"]
    [error] = facts_of(text.replace('"Data": "', '"Data": "zz'))
    assert "not hex" in error["reason"]
    [error] = facts_of('{"a":' * 20000 + "1" + "}" * 20000)  # nested past the stack
    assert "not a JSON lease" in error["reason"]


def test_collect_finds_networkd_and_networkmanager_leases(tmp_path: Path) -> None:
    run, var_lib = tmp_path / "run", tmp_path / "var-lib"
    ctx = CollectContext(env={}, home=tmp_path, run=run, var_lib=var_lib, proc=tmp_path)
    [nothing] = networkd_wpad.collect(ctx, now=NOW)
    assert (nothing.kind, nothing["what"]) == ("source_absent", "leases")
    leases = run / "systemd" / "netif" / "leases"
    leases.mkdir(parents=True)
    shutil.copy(FIXTURES / "wpad-requested", leases / "2")
    shutil.copy(FIXTURES / "wpad-not-requested", leases / "3")
    nm = var_lib / "NetworkManager"
    nm.mkdir(parents=True)
    shutil.copy(FIXTURES / "wpad-trailing-nul",
                nm / "internal-3c2f5ad4-7b8e-4e3a-9c1d-0b6f7a8e9d10-wlan0.lease")
    (nm / "internal6-3c2f5ad4-7b8e-4e3a-9c1d-0b6f7a8e9d10-wlan0.lease").write_text("junk")
    names = {2: "eth0", 3: "eth1"}
    here = {"10.20.0.100", "10.20.0.108"}  # the addresses of wpad-requested, wpad-trailing-nul
    facts = networkd_wpad.collect(ctx, now=NOW, name_of=names.__getitem__,
                                  local=here.__contains__)
    assert sorted((f.id, f.source["file"], f["url"]) for f in facts) == [
        ("proxy_autoconfig:dhcp:eth0", str(leases / "2"), URL),
        ("proxy_autoconfig:dhcp:wlan0",
         str(nm / "internal-3c2f5ad4-7b8e-4e3a-9c1d-0b6f7a8e9d10-wlan0.lease"), URL)]
    # A lease whose address is not here is not in force here (an old NetworkManager lease,
    # another namespace's networkd): no offer from it.
    facts = networkd_wpad.collect(ctx, now=NOW, name_of=names.__getitem__,
                                  local={"10.20.0.100"}.__contains__)
    assert [f.id for f in facts] == ["proxy_autoconfig:dhcp:eth0"]


def test_local_addresses() -> None:
    assert networkd_wpad.is_local("127.0.0.1")
    assert not networkd_wpad.is_local("198.51.100.7")  # TEST-NET-2: no machine has it
    assert not networkd_wpad.is_local("not an address")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_unreadable_lease_is_a_collection_error(tmp_path: Path) -> None:
    leases = tmp_path / "systemd" / "netif" / "leases"
    leases.mkdir(parents=True)
    shutil.copy(FIXTURES / "wpad-requested", leases / "2")
    (leases / "2").chmod(0)
    ctx = CollectContext(env={}, home=tmp_path, run=tmp_path, var_lib=tmp_path, proc=tmp_path)
    [error] = networkd_wpad.collect(ctx, now=NOW, name_of=lambda i: "eth0")
    assert error.kind == "collection_error"


def test_a_lease_that_is_not_a_regular_file_is_a_collection_error(tmp_path: Path) -> None:
    """A lease path that is a directory (or a FIFO: read_regular refuses both) is recorded,
    not raised: the unreadable case that holds for root too."""
    leases = tmp_path / "systemd" / "netif" / "leases"
    (leases / "2").mkdir(parents=True)
    ctx = CollectContext(env={}, home=tmp_path, run=tmp_path, var_lib=tmp_path, proc=tmp_path)
    [error] = networkd_wpad.collect(ctx, now=NOW, name_of=lambda i: "eth0")
    assert error.kind == "collection_error" and str(leases / "2") in error["reason"]


def test_interface_gone() -> None:
    assert networkd_wpad.interface_name(1) == "lo"  # this namespace's loopback
    assert networkd_wpad.interface_name(2 ** 31 - 1) == f"ifindex {2 ** 31 - 1}"
