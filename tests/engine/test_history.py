"""The local history of diagnoses (N4): what is written, what is read back, which patterns."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine import history as H

TZ = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 29, 22, 10, tzinfo=TZ)  # a Sunday


def entry(days_ago: int, hour: int, ok: bool, target: str = "https://t.example/") -> dict:
    at = (NOW - timedelta(days=days_ago)).replace(hour=hour)
    return {"at": at.isoformat(), "target": target, "ok": ok, "layer": None, "rule": None,
            "hour": at.hour, "weekday": at.weekday()}


def test_failures_in_a_window_across_midnight() -> None:
    runs = [entry(1, 23, False), entry(2, 0, False), entry(3, 1, False), entry(3, 23, False),
            entry(1, 12, True), entry(2, 15, True)]
    p = H.pattern_of(runs, NOW)
    assert (p["clustered_by"], p["window"], p["now_in_window"]) == ("hour", "23:00-02:00", False)
    assert (p["runs"], p["failures"], p["failure_days"]) == (6, 4, 3)


def test_failures_on_weekends_only() -> None:
    # 2026-11-28 is a Saturday, 11-22 a Sunday; failures at varied hours, successes on weekdays.
    runs = [entry(1, 9, False), entry(7, 18, False), entry(8, 3, False), entry(2, 9, True),
            entry(3, 18, True), entry(4, 3, True)]
    p = H.pattern_of(runs, NOW)
    assert (p["clustered_by"], p["window"], p["now_in_window"]) == (
        "weekday", "Saturday, Sunday", True)


@pytest.mark.parametrize("runs", [
    [entry(1, 22, False), entry(1, 22, False), entry(1, 23, False), entry(2, 12, True),
     entry(3, 12, True)],                                   # one bad evening: an outage
    [entry(1, 22, False), entry(2, 22, False), entry(3, 22, False), entry(4, 22, True),
     entry(4, 12, True)],                                   # it also worked at 22:00
    [entry(1, 22, False), entry(2, 22, False), entry(3, 22, False)],  # never seen working
])
def test_no_pattern(runs: list[dict]) -> None:
    assert H.pattern_of(runs, NOW)["clustered_by"] is None


def test_record_redacts_and_read_skips_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "whynet" / "history.jsonl"
    report = {"targets": [{"raw": "http://bob:s3cret@app.example/"}],
              "layers": [{"target": "http://bob:s3cret@app.example/", "layer": "transport",
                          "status": "fail"}],
              "findings": [{"rule": "transport.tcp-refused", "severity": "error"}]}
    assert H.record(path, report, NOW) is None
    with path.open("a") as out:
        out.write("not json\n{\"target\": 1}\n")
    assert "s3cret" not in path.read_text()
    [e] = H.read_history(path)
    assert (e["ok"], e["layer"], e["rule"], e["hour"], e["weekday"]) == (
        False, "transport", "transport.tcp-refused", 22, 6)


def test_record_keeps_the_latest_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(H, "MAX_ENTRIES", 3)
    path = tmp_path / "history.jsonl"
    for i in range(5):
        H.record(path, {"targets": [{"raw": f"t{i}:1"}], "layers": [], "findings": []}, NOW)
    assert [e["target"] for e in H.read_history(path)] == ["t2:1", "t3:1", "t4:1"]


def test_record_says_why_it_could_not_write(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = H.record(blocker / "history.jsonl", {"targets": [{"raw": "t:1"}]}, NOW)
    assert problem and str(blocker) in problem


def test_history_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    runner = CliRunner()
    assert "no diagnoses recorded" in runner.invoke(main, ["history"]).output
    path = tmp_path / "whynet" / "history.jsonl"
    path.parent.mkdir()
    runs = [entry(1, 23, False), entry(2, 23, False), entry(3, 23, False), entry(1, 12, True),
            entry(2, 12, True), entry(1, 12, True, target="ssh://other")]
    path.write_text("".join(json.dumps(e) + "\n" for e in runs))
    res = runner.invoke(main, ["history", "--format", "json", "--target", "https://t.example/"])
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert len(data["entries"]) == 5
    assert data["patterns"]["https://t.example/"]["window"] == "23:00-00:00"
    text = runner.invoke(main, ["history", "-n", "2"]).output
    assert "failures cluster by hour: 23:00-00:00" in text and "2 of 6 runs" in text
