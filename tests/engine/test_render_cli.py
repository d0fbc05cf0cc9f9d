"""The diagnose output as a user sees it: a real process, on a pipe and on a terminal (a pty),
probing only loopback; colour, NO_COLOR, the progress line, --quiet, and hostile reports."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.engine.test_render import HOSTILE, recorded

WHYNET = [sys.executable, "-c", "from cli import run; run()"]
ROOT = Path(__file__).resolve().parents[2]
SGR_COLOUR = ("\x1b[31", "\x1b[32", "\x1b[33", "\x1b[36", "\x1b[1;31", "\x1b[2;36", "\x1b[38;")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "WHYNET_KNOWLEDGE")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               TERM="xterm-256color", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def run_piped(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WHYNET, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=60)


def run_on_tty(args: Sequence[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run whynet with stdout and stderr each on its own pseudo-terminal (120 columns)."""
    masters, slaves = [], []
    for _ in range(2):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
        masters.append(master)
        slaves.append(slave)
    proc = subprocess.Popen([*WHYNET, *args], stdin=subprocess.DEVNULL, stdout=slaves[0],
                            stderr=slaves[1], env=env, cwd=ROOT)
    for fd in slaves:
        os.close(fd)
    out = {fd: b"" for fd in masters}
    open_fds = list(masters)
    deadline = time.monotonic() + 60
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(open_fds, [], [], 1.0)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side is closed
                chunk = b""
            if chunk:
                out[fd] += chunk
            else:
                open_fds.remove(fd)
    code = proc.wait(timeout=10)
    for fd in masters:
        os.close(fd)
    return code, out[masters[0]].decode(errors="replace"), out[masters[1]].decode(errors="replace")


@pytest.fixture()
def ports() -> Iterator[tuple[int, int]]:
    """An open port on ::1 (a listener of this test) and a closed one on 127.0.0.1."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.bind(("::1", 0))
    listener.listen(8)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed = probe.getsockname()[1]
    probe.close()
    try:
        yield listener.getsockname()[1], closed
    finally:
        listener.close()


def test_quiet_prints_one_line_per_target_ipv6_included(tmp_path: Path,
                                                       ports: tuple[int, int]) -> None:
    open_port, closed = ports
    res = run_piped(["diagnose", f"[::1]:{open_port}", f"127.0.0.1:{closed}", "--quiet"],
                    _env(tmp_path))
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2, res.stdout
    assert lines[0].startswith(f"[::1]:{open_port}: ") and "fails" not in lines[0]
    assert lines[1] == (f"127.0.0.1:{closed}: transport fails: 127.0.0.1:{closed} refused — "
                        "Connection refused (B1, F5; transport.tcp-refused)")
    assert res.stderr == ""  # no progress line off a terminal


def test_no_color_on_a_pipe_and_on_a_terminal(tmp_path: Path, ports: tuple[int, int]) -> None:
    _, closed = ports
    args = ["diagnose", f"127.0.0.1:{closed}"]
    piped = run_piped(args, _env(tmp_path, NO_COLOR="1"))
    assert piped.returncode == 1 and "\x1b" not in piped.stdout and "transport fails" in piped.stdout
    code, out, _ = run_on_tty(args, _env(tmp_path))
    assert code == 1 and any(s in out for s in SGR_COLOUR), "a terminal gets colour"
    code, out, _ = run_on_tty(args, _env(tmp_path, NO_COLOR="1"))
    assert code == 1 and "transport fails" in out
    assert not any(s in out for s in SGR_COLOUR), repr(out[:400])


def test_progress_line_on_a_terminal_only(tmp_path: Path, ports: tuple[int, int]) -> None:
    open_port, closed = ports
    code, out, err = run_on_tty(["diagnose", f"127.0.0.1:{closed}", f"[::1]:{open_port}",
                                 "--quiet"], _env(tmp_path))
    assert code == 1
    assert "collecting facts from this machine" in err
    assert f"probing 127.0.0.1:{closed}, [::1]:{open_port} (timeout 3s each)" in err
    assert "1 of 2 targets done" in err and "inferring: " in err
    assert "probing" not in out


def test_a_snapshot_with_live_targets_says_two_machines_are_mixed(
        tmp_path: Path, ports: tuple[int, int]) -> None:
    _, closed = ports
    env = _env(tmp_path)
    snap = tmp_path / "snap.json"
    assert run_piped(["collect", "-o", str(snap)], env).returncode == 0
    alone = json.loads(run_piped(["diagnose", "--snapshot", str(snap), "--format", "json"],
                                 env).stdout)
    assert "notes" not in alone
    mixed = run_piped(["diagnose", "--snapshot", str(snap), f"127.0.0.1:{closed}",
                       "--format", "json"], env)
    assert json.loads(mixed.stdout)["notes"][0].startswith("two machines mixed: the collected "
                                                           "facts come from the snapshot of ")
    text = run_piped(["diagnose", "--snapshot", str(snap), f"127.0.0.1:{closed}"], env).stdout
    assert "note: two machines mixed" in text


def test_why_on_a_report_with_markup_and_escapes_in_its_facts(tmp_path: Path) -> None:
    report = copy.deepcopy(recorded("firewall-drop-at-server.json"))
    for f in report["facts"]:
        if f["kind"] == "probe_tcp":
            f["error"] = HOSTILE
            f["target"] = "[fd00::99]:22"
    report["justification"]["activations"][0]["explanation"] = HOSTILE
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    res = run_piped(["why", "transport.ping-ok-tcp-dropped", "--report", str(path)],
                    _env(tmp_path, COLUMNS="400"))
    assert res.returncode == 0, res.stderr
    assert not any(ch in res.stdout for ch in "\x1b\x00\x07\r\u202e"), repr(res.stdout)
    assert "target=[fd00::99]:22" in res.stdout
    assert "[link=https://evil.example/]click[/link] [/x]" in res.stdout


def test_rules_list_shows_a_hostile_rule_title_as_text(tmp_path: Path) -> None:
    """A colleague's rule file is input too: its title is never markup or a terminal code."""
    env = _env(tmp_path)
    rule = tmp_path / "mine.yaml"
    assert run_piped(["rules", "new", "mine.odd-title", "-o", str(rule)], env).returncode == 0
    text = rule.read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.strip().startswith("title:"))
    hostile = '"[/x] [link=https://evil.example/]t[/link] \\e[31mred \\e]8;;https://x\\a"'
    rule.write_text(text.replace(title, title.split(":")[0] + ": " + hostile), encoding="utf-8")
    for columns in ("300", "60"):  # the table, and the narrow block layout
        res = run_piped(["rules", "list", "--knowledge", str(tmp_path)],
                        {**env, "COLUMNS": columns})
        assert res.returncode == 0, res.stderr
        assert "mine.odd-title" in res.stdout
        assert "[/x] [link=https://evil.example/]t[/link]" in " ".join(res.stdout.split())
        assert not any(ch in res.stdout for ch in "\x1b\x07"), repr(res.stdout)


def test_history_shows_an_ipv6_target(tmp_path: Path, ports: tuple[int, int]) -> None:
    _, closed = ports
    env = _env(tmp_path, XDG_STATE_HOME=str(tmp_path / "state"), COLUMNS="200")
    assert run_piped(["diagnose", f"[::1]:{closed}", "--quiet"], env).returncode == 1
    history = tmp_path / "state" / "whynet" / "history.jsonl"
    entry = json.loads(history.read_text(encoding="utf-8").splitlines()[-1])
    # A target rich would read as a markup tag (this test probes nothing beyond loopback).
    entry["target"] = "[fd00::99]:22"
    with history.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
    res = run_piped(["history"], env)
    assert res.returncode == 0, res.stderr
    assert f"[::1]:{closed}" in res.stdout
    assert "│ [fd00::99]:22 " in res.stdout  # its table row: read as markup, it vanished
