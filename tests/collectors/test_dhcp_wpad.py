"""DHCP option 252 from dhclient lease files recorded in the lab (tests/fixtures/desktop_proxy/
dhclient, README there): the named and the unnamed option, the current lease per interface,
expiry, and the -lf file of a running dhclient."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from engine.collectors import dhcp_wpad
from engine.collectors.base import CollectContext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "desktop_proxy" / "dhclient"
BEFORE_EXPIRY = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)
AFTER_EXPIRY = datetime(2026, 12, 1, tzinfo=timezone.utc)


def facts_of(name: str, now: datetime = BEFORE_EXPIRY) -> list[dict]:
    path = FIXTURES / name
    return [{"source": f.source, "id": f.id, **f.fields}
            for f in dhcp_wpad.wpad_facts(path.read_text(), str(path), now)]


def test_option_declared_as_wpad() -> None:
    [fact] = facts_of("wpad-defined.leases")
    assert (fact["id"], fact["interface"], fact["url"]) == (
        "proxy_autoconfig:dhcp:eth0", "eth0", "http://10.20.0.3/wpad.dat")
    assert fact["source"]["line"] == 4
    assert (fact["expires"], fact["expired"]) == ("2026/11/30 03:39:38", False)
    assert (fact["uses_pac"], fact["auto_detect"]) == (False, False)  # offered, not chosen


def test_option_unknown_to_dhclient() -> None:
    [fact] = facts_of("debian-default-conf.leases")
    assert fact["url"] == "http://10.20.0.3/wpad.dat"


def test_the_last_lease_of_an_interface_is_the_one_in_force() -> None:
    leases = dhcp_wpad.parse_leases((FIXTURES / "wpad-then-none.leases").read_text())
    assert [lease.url for lease in leases] == ["http://10.20.0.3/wpad.dat", None]
    assert facts_of("wpad-then-none.leases") == []


def test_expired_lease() -> None:
    [fact] = facts_of("wpad-defined.leases", AFTER_EXPIRY)
    assert fact["expired"] is True


def test_lease_files_found_and_absent(tmp_path: Path) -> None:
    ctx = CollectContext(env={}, home=tmp_path, var_lib=tmp_path, proc=tmp_path / "proc")
    [absent] = dhcp_wpad.collect(ctx)
    assert (absent.kind, absent["what"]) == ("source_absent", "leases")
    (tmp_path / "dhcp").mkdir()
    shutil.copy(FIXTURES / "wpad-defined.leases", tmp_path / "dhcp" / "dhclient.eth0.leases")
    shutil.copy(FIXTURES / "wpad-then-none.leases", tmp_path / "dhcp" / "dhclient.leases")
    [fact] = dhcp_wpad.collect(ctx, now=BEFORE_EXPIRY)
    assert fact.source == {"file": str(tmp_path / "dhcp" / "dhclient.eth0.leases"), "line": 4}


def test_lease_file_of_a_running_dhclient(tmp_path: Path) -> None:
    """A process named dhclient with ``-lf PATH``: its lease file is read. (A script named
    dhclient stands in for the client, which is started for real in the lab: the kernel
    names a script's process after the script.)"""
    lease = tmp_path / "custom.leases"
    shutil.copy(FIXTURES / "wpad-defined.leases", lease)
    client = tmp_path / "dhclient"
    client.write_text("#!/bin/sh\nsleep 30\n")
    client.chmod(0o755)
    proc = subprocess.Popen([str(client), "-lf", str(lease), "eth0"], start_new_session=True)
    try:
        found = _wait_for(lambda: lease in dhcp_wpad.running_lease_files(Path("/proc")))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and its sleep
        proc.wait()
    assert found


def _wait_for(check: object) -> bool:
    import time

    assert callable(check)
    for _ in range(50):
        if check():
            return True
        time.sleep(0.05)
    return False
