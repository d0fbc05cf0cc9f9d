"""The everyday flow with a rule of one's own: rules new → rules test → diagnose → why → why-not.

The rule directory is the user's (``$XDG_CONFIG_HOME/whynet/knowledge``); the target is a
loopback port nothing listens on, so the TCP probe is really refused."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from click.testing import CliRunner

from cli import main
from engine.knowledge import builtin_knowledge_dir


def _closed_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_own_rule_directory_through_diagnose_why_why_not_and_rules_test(
    runner: CliRunner, tmp_path: Path
) -> None:
    user = tmp_path / "config" / "whynet" / "knowledge"
    user.mkdir(parents=True)
    port = _closed_loopback_port()

    # A rule of one's own, from the skeleton, pointed at the port this test uses.
    mine = user / "mysite.yaml"
    res = runner.invoke(main, ["rules", "new", "mysite.dev-server-down", "-o", str(mine)])
    assert res.exit_code == 0, res.output
    mine.write_text(mine.read_text().replace("8080", str(port)))
    # A second rule that cannot fire here (it wants a timeout), and a shipped rule disabled.
    other = user / "other.yaml"
    res = runner.invoke(main, ["rules", "new", "mysite.dev-server-dropped", "-o", str(other)])
    assert res.exit_code == 0, res.output
    other.write_text(other.read_text().replace("8080", str(port))
                     .replace("outcome: refused}", "outcome: timeout}"))  # the match only
    (user / "tuning.yaml").write_text("disabled:\n  - transport.tcp-timeout-silent-drop\n")

    res = runner.invoke(main, ["rules", "test", str(mine), str(other)])
    assert res.exit_code == 1  # other.yaml's firing example is still a refused connection
    assert "FAIL: mysite.dev-server-dropped" in res.output and "3 passed, 1 failed" in res.output
    other.write_text(other.read_text().replace("outcome: refused,", "outcome: timeout,"))
    res = runner.invoke(main, ["rules", "test", str(mine), str(other)])
    assert (res.exit_code, res.output.splitlines()[-1]) == (0, "4 passed, 0 failed")

    report_path = tmp_path / "report.json"
    res = runner.invoke(main, ["diagnose", f"127.0.0.1:{port}", "--format", "json",
                               "--save", str(report_path), "--timeout", "2"])
    assert res.exit_code == 1, res.output
    assert res.stderr == ""  # no warning: every file loaded once, none broken
    report = json.loads(report_path.read_text())
    assert report["findings"][0]["rule"] == "mysite.dev-server-down"
    assert report["findings"][0]["file"].startswith(str(mine))
    assert sorted(report["knowledge"]["user_files"]) == sorted(
        str(f.resolve()) for f in (mine, other, user / "tuning.yaml"))

    res = runner.invoke(main, ["why", "mysite.dev-server-down"])
    assert res.exit_code == 0, res.output
    assert f"probe: tcp connect 127.0.0.1:{port}" in res.output
    assert f"port == {port}, outcome == 'refused'" in res.output

    res = runner.invoke(main, ["why-not", "mysite.dev-server-dropped"])
    assert res.exit_code == 0, res.output
    assert "did not fire" in res.output
    assert "fails: outcome == 'timeout' (has 'refused')" in res.output

    res = runner.invoke(main, ["why-not", "transport.tcp-timeout-silent-drop"])
    assert res.exit_code == 0, res.output
    assert f"is disabled (by `disabled:` in {user / 'tuning.yaml'}:2)" in res.output

    res = runner.invoke(main, ["why", "transport.tcp-timeout-silent-drop"])
    assert res.exit_code == 1 and "is disabled" in res.output

    res = runner.invoke(main, ["rules", "test", str(user)])
    assert (res.exit_code, res.output) == (0, "4 passed, 0 failed\n")
    res = runner.invoke(main, ["rules", "test", str(builtin_knowledge_dir() / "transport.yaml")])
    assert res.exit_code == 0, res.output
    assert "not tested (disabled): transport.tcp-timeout-silent-drop" in res.output
