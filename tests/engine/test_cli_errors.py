"""The error table: every mistake a user can type is one line on stderr and exit 2.

Run through ``cli.run``, the installed entry point, because that is where click's usage errors
are turned into one line (CliRunner calls the group directly)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pytest

import cli
from engine.facts import Fact, Snapshot


@pytest.fixture()
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("WHYNET_KNOWLEDGE", raising=False)
    snap = tmp_path / "snap.json"
    Snapshot([Fact("route", "route:main:default:eth0", {"command": "ip -j route"},
                   {"destination": "default", "gateway": "192.168.1.1", "interface": "eth0",
                    "table": "main", "family": 4})], host="testhost").save(snap)
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"whynet": "0", "facts": [], "findings": [],
                                  "justification": {"activations": [], "derived": {}}}))
    return {"SNAP": str(snap), "REPORT": str(report), "DIR": str(tmp_path),
            "MISSING": str(tmp_path / "no" / "such" / "x")}


def _run(argv: list[str], monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["whynet", *argv])
    code = 0
    try:
        cli.run()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


ERROR_TABLE = [
    # (command line, what the one line must say)
    ("diagnose --snapshot SNAP -o DIR", "-o DIR: is a directory"),
    ("diagnose --snapshot SNAP -o MISSING", "directory DIR/no/such does not exist"),
    ("diagnose --snapshot SNAP --save DIR", "--save DIR: is a directory"),
    ("collect -o DIR", "-o DIR: is a directory"),
    ("diagnose --snapshot REPORT", "this is a whynet report, not a snapshot"),
    ("diagnose --snapshot MISSING", "cannot read snapshot"),
    ("why no.such-rule --report REPORT", "unknown rule 'no.such-rule'"),
    ("why-not no.such-rule --report REPORT", "unknown rule 'no.such-rule'"),
    ("why transport.tcp-refused --report SNAP", "this is a whynet snapshot, not a report"),
    ("diagnose --bogus", "No such option '--bogus' (see `whynet diagnose --help`)"),
    ("nosuch", "No such command 'nosuch'"),
    ("diagnose --format xml", "'xml' is not one of"),
    ("diagnose --timeout abc", "'abc' is not a valid float"),
    ("why", "Missing argument 'RULE'"),
    ("rules validate MISSING", "no such file or directory"),
    ("rules test MISSING", "no such file or directory"),
    ("rules new Not_An_Id", "bad rule id 'Not_An_Id'"),
    ("rules new proxy.dead -o DIR/new.yaml", "already used by"),
    ("diagnose --knowledge MISSING --snapshot SNAP", "no such knowledge directory or file"),
    ("diagnose --snapshot SNAP host:99999", "99999"),
]


@pytest.mark.parametrize("command, message", ERROR_TABLE)
def test_every_bad_input_is_one_line_and_exit_2(
    command: str, message: str, files: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("SNAP", "REPORT", "MISSING", "DIR"):  # DIR last: it is part of the others
        command = command.replace(name, files[name])
        message = message.replace(name, files[name])
    code, out, err = _run(command.split(), monkeypatch, capsys)
    lines = err.splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ") and message in lines[0], lines[0]
    assert "internal error" not in err and "Traceback" not in err


def _commands(group: click.Group, prefix: str = "whynet") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = [(prefix, group)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _commands(command, f"{prefix} {name}")
        else:
            out.append((f"{prefix} {name}", command))
    return out


def test_every_option_of_every_command_has_help() -> None:
    missing = [f"{path} {param.opts[0]}" for path, command in _commands(cli.main)
               for param in command.params
               if isinstance(param, click.Option) and not (param.help or "").strip()]
    assert missing == []
    assert all((command.help or "").strip() for _, command in _commands(cli.main))


def test_diagnose_help_shows_target_forms_and_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["diagnose", "--help"], monkeypatch, capsys)
    assert code == 0
    assert "[2001:db8::1]:22" in out and "https://host:8443/path" in out
    assert "Exit codes:" in out and "1  findings at warning or above" in out
