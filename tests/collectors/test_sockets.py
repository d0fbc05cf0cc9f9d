"""sockets collector: recorded psutil and ss outputs (root and nobody), the ss fallback, and a
listener opened by the test itself."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from engine.collectors import base, sockets
from engine.collectors.base import CollectContext
from engine.facts import Fact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sockets"

# What the recording script started in its namespace: (protocol, ip, port) -> owner.
RECORDED = {
    ("tcp", "0.0.0.0", 8080): "root",
    ("tcp", "::", 8443): "root",
    ("udp", "127.0.0.1", 5353): "nobody",
    ("tcp", "fd00:1::2", 9000): "nobody",
    ("tcp", "10.1.0.2", 80): "nobody",
    ("udp", "0.0.0.0", 8472): "root",  # the kernel's vxlan socket: no process
}


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def recorded_psutil(who: str) -> tuple[list[Any], dict[int, tuple[str | None, str | None]]]:
    """The recorded ``net_connections`` rows as objects with sconn's attributes, and owners."""
    data = json.loads(fixture_text(f"netns-{who}-psutil.json"))
    conns = [SimpleNamespace(**{**row, "laddr": tuple(row["laddr"]),
                                "raddr": tuple(row["raddr"])})
             for row in data["net_connections"]]
    owners = {int(pid): (p.get("name"), p.get("username"))
              for pid, p in data["processes"].items()}
    return conns, owners


def key(listener: sockets.Listener) -> tuple[str, str, int]:
    return listener.protocol, listener.ip, listener.port


# --- psutil ----------------------------------------------------------------------------------

def test_psutil_as_root_sees_every_process() -> None:
    found = {key(x): x for x in sockets.listeners_from_psutil(*recorded_psutil("root"))}
    assert set(found) == set(RECORDED)
    for k, owner in RECORDED.items():
        if k[2] == 8472:
            assert (found[k].pid, found[k].process, found[k].user) == (None, None, None)
        else:
            assert (found[k].process, found[k].user) == ("python3", owner)
            assert isinstance(found[k].pid, int)


def test_psutil_as_nobody_sees_only_its_own_processes() -> None:
    found = {key(x): x for x in sockets.listeners_from_psutil(*recorded_psutil("nobody"))}
    assert set(found) == set(RECORDED)
    hidden = {k for k, x in found.items() if x.pid is None}
    assert hidden == {k for k, owner in RECORDED.items() if owner == "root"}
    assert all(found[k].process is None and found[k].user is None for k in hidden)


# --- ss --------------------------------------------------------------------------------------

def test_ss_as_root_with_uids() -> None:
    found = {key(x): x for x in sockets.parse_ss(fixture_text("netns-root-ss-H-tulpne.txt"))}
    assert set(found) == set(RECORDED)
    assert {k: x.user for k, x in found.items()} == RECORDED
    assert found[("tcp", "::", 8443)].process == "python3"
    assert found[("udp", "0.0.0.0", 8472)].pid is None


def test_ss_as_nobody_hides_other_processes_but_not_their_uid() -> None:
    found = {key(x): x for x in sockets.parse_ss(fixture_text("netns-nobody-ss-H-tulpne.txt"))}
    assert {k: x.user for k, x in found.items()} == RECORDED
    assert found[("tcp", "0.0.0.0", 8080)].pid is None
    assert found[("tcp", "10.1.0.2", 80)].process == "python3"


def test_ss_without_e_has_no_user() -> None:
    found = sockets.parse_ss(fixture_text("netns-root-ss-H-tulpn.txt"), with_details=False)
    assert {key(x) for x in found} == set(RECORDED)
    assert {x.user for x in found} == {None}


def test_ss_host_recording() -> None:
    [listener] = sockets.parse_ss(fixture_text("host-root-ss-H-tulpne.txt"))
    assert key(listener) == ("tcp", "0.0.0.0", 2024)


@pytest.mark.parametrize("text, expected", [
    ("0.0.0.0:22", ("0.0.0.0", 22)),
    ("[::]:22", ("::", 22)),
    ("127.0.0.53%lo:53", ("127.0.0.53", 53)),
    ("[fe80::1]%eth0:123", ("fe80::1", 123)),
    ("*:68", ("0.0.0.0", 68)),
    ("[::ffff:127.0.0.1]:8080", ("::ffff:127.0.0.1", 8080)),
    ("0.0.0.0:*", None),
    ("garbage", None),
])
def test_ss_address_spellings(text: str, expected: tuple[str, int] | None) -> None:
    assert sockets.split_host_port(text) == expected


def test_ss_process_field() -> None:
    field = 'users:(("nginx",pid=812,fd=6),("nginx",pid=811,fd=6))'
    assert sockets.parse_ss_process(field) == (812, "nginx")
    assert sockets.parse_ss_process("") == (None, None)


# --- facts -----------------------------------------------------------------------------------

def test_listener_facts_ids_and_fields() -> None:
    facts = {f.id: f for f in sockets.listener_facts(
        sockets.parse_ss(fixture_text("netns-root-ss-H-tulpne.txt")), {"command": "ss"})}
    assert set(facts) == {
        "listener:tcp:0.0.0.0:8080", "listener:tcp:[::]:8443", "listener:udp:127.0.0.1:5353",
        "listener:tcp:[fd00:1::2]:9000", "listener:tcp:10.1.0.2:80",
        "listener:udp:0.0.0.0:8472"}
    v6 = facts["listener:tcp:[::]:8443"]
    assert (v6["ip"], v6["port"], v6["protocol"], v6["family"], v6["user"]) == (
        "::", 8443, "tcp", 6, "root")


# --- collect ---------------------------------------------------------------------------------

def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def find_port(facts: list[Fact], port: int) -> Fact:
    return next(f for f in facts if f.kind == "listener" and f["port"] == port)


def test_live_collect_sees_our_own_listener() -> None:
    with listening_socket() as sock:
        port = sock.getsockname()[1]
        facts = sockets.collect(CollectContext())
    mine = find_port(facts, port)
    assert (mine["ip"], mine["protocol"], mine["family"]) == ("127.0.0.1", "tcp", 4)
    assert mine["pid"] == os.getpid()
    assert mine["process"] == psutil.Process().name()
    assert mine.source == sockets.PSUTIL_SOURCE


def test_access_denied_falls_back_to_ss(monkeypatch: pytest.MonkeyPatch) -> None:
    if base.which("ss") is None:
        pytest.skip("ss is not installed")

    def denied(kind: str = "inet") -> list[Any]:
        raise psutil.AccessDenied(msg="simulated: net_connections needs root here")

    monkeypatch.setattr(psutil, "net_connections", denied)
    with listening_socket() as sock:
        port = sock.getsockname()[1]
        facts = sockets.collect(CollectContext())
    mine = find_port(facts, port)
    assert mine.source == {"command": "ss -H -tulpne"}
    assert mine["pid"] == os.getpid()
    assert not [f for f in facts if f.kind == "collection_error"]


def test_no_psutil_and_no_ss_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(kind: str = "inet") -> list[Any]:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", denied)
    monkeypatch.setattr(base, "which", lambda binary: None)
    facts = sockets.collect(CollectContext())
    assert [f.kind for f in facts] == ["collection_error", "collection_error"]
    assert "AccessDenied" in facts[0]["reason"]
    assert "ss: command not found" in facts[1]["reason"]
    assert len({f.id for f in facts}) == 2


def test_ss_timing_out_is_a_collection_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "ss"
    script.write_text("#!/bin/sh\nexec sleep 5\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    facts = sockets.collect_ss(CollectContext(timeout=0.2))
    assert [f.kind for f in facts] == ["collection_error"]
    assert "timed out" in facts[0]["reason"]
