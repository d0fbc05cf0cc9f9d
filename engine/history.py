"""A local history of diagnoses, and the time patterns in it (checklist N4).

Routers and wifi access points often have time-based access controls (parental controls,
office-hours rules, a scheduled firewall policy): a target fails at certain hours, or on certain
days, and works otherwise, so one diagnosis at one moment cannot see the pattern. Every live
``whynet diagnose`` appends one line per target to a JSON-lines file::

    $XDG_STATE_HOME/whynet/history.jsonl   (default ~/.local/state/whynet/history.jsonl)
    {"at": "2026-11-29T22:14:05+01:00", "target": "https://app.example/", "ok": false,
     "layer": "transport", "rule": "transport.tcp-timeout-silent-drop", "hour": 22, "weekday": 6}

Times are local (a router's schedule follows its local clock); ``weekday`` is 0 for Monday.
Targets are redacted before they are written (a URL's credentials never reach the file). The
file keeps the last :data:`MAX_ENTRIES` lines. Diagnoses of a snapshot are not recorded: their
facts describe another machine at another time.

Before inference, :func:`history_facts` derives one ``history_pattern`` fact per target from
the earlier runs: how many runs and failures, and whether the failures cluster in a window of
hours (or on some weekdays) in which the target never worked, while it worked outside it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.facts import Fact, make_fact
from engine.redact import redact_text

MAX_ENTRIES = 5000
MIN_FAILURES = 3          # fewer failures are no pattern
MIN_SUCCESSES = 2         # the target must be seen working outside the window
MIN_FAILURE_DAYS = 2      # failures on one day only are one outage, not a schedule
MAX_HOUR_WINDOW = 8       # hours: wider is "often", not "at certain hours"
MAX_WEEKDAYS = 2
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def history_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    state = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home())
                                             / ".local" / "state")
    return Path(state) / "whynet" / "history.jsonl"


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every well-formed entry; unreadable files and broken lines are skipped, never raised."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (isinstance(entry, dict) and isinstance(entry.get("target"), str)
                and isinstance(entry.get("ok"), bool) and isinstance(entry.get("hour"), int)
                and isinstance(entry.get("weekday"), int) and isinstance(entry.get("at"), str)):
            entries.append(entry)
    return entries


def entries_for(report: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    """One entry per target of a report: did it work, and if not, where and why."""
    out = []
    for target in report.get("targets") or []:
        raw = str(target.get("raw") if isinstance(target, Mapping) else target)
        rows = [r for r in report.get("layers") or [] if r.get("target") == raw]
        failing = [r["layer"] for r in rows if r.get("status") == "fail"]
        top = next((f["rule"] for f in report.get("findings") or []
                    if raw in (f.get("targets") or [raw]) and f.get("severity") != "info"),
                   None)
        out.append({"at": now.isoformat(timespec="seconds"), "target": redact_text(raw),
                    "ok": not failing, "layer": failing[0] if failing else None,
                    "rule": top if failing else None, "hour": now.hour,
                    "weekday": now.weekday()})
    return out


def record(path: Path, report: Mapping[str, Any], now: datetime) -> str | None:
    """Append the report's entries; returns why it could not, or None. Never raises."""
    new = entries_for(report, now)
    if not new:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            for entry in new:
                out.write(json.dumps(entry, sort_keys=True) + "\n")
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_ENTRIES:
            path.write_text("\n".join(lines[-MAX_ENTRIES:]) + "\n", encoding="utf-8")
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    return None


def _hour_window(failed: set[int]) -> tuple[int, int] | None:
    """The shortest run of consecutive hours (wrapping at midnight) holding every failure
    hour: (first hour, width)."""
    if not failed:
        return None
    best: tuple[int, int] | None = None
    for start in failed:
        width = max((h - start) % 24 for h in failed) + 1
        if best is None or width < best[1]:
            best = (start, width)
    return best


def _in_window(hour: int, window: tuple[int, int]) -> bool:
    return (hour - window[0]) % 24 < window[1]


def pattern_of(entries: Sequence[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """The time pattern of one target's runs (see the module docstring)."""
    failures = [e for e in entries if not e["ok"]]
    successes = [e for e in entries if e["ok"]]
    found: dict[str, Any] = {"runs": len(entries), "failures": len(failures),
                             "successes": len(successes), "clustered_by": None, "window": None,
                             "now_in_window": None, "failure_days": 0}
    days = {str(e["at"])[:10] for e in failures}
    found["failure_days"] = len(days)
    if (len(failures) < MIN_FAILURES or len(successes) < MIN_SUCCESSES
            or len(days) < MIN_FAILURE_DAYS):
        return found
    window = _hour_window({int(e["hour"]) % 24 for e in failures})
    if window is not None and window[1] <= MAX_HOUR_WINDOW and not any(
            _in_window(int(e["hour"]), window) for e in successes):
        end = (window[0] + window[1]) % 24
        found.update(clustered_by="hour", window=f"{window[0]:02d}:00-{end:02d}:00",
                     now_in_window=_in_window(now.hour, window))
        return found
    weekdays = sorted({int(e["weekday"]) % 7 for e in failures})
    if len(weekdays) <= MAX_WEEKDAYS and not any(int(e["weekday"]) in weekdays
                                                for e in successes):
        found.update(clustered_by="weekday",
                     window=", ".join(WEEKDAYS[d] for d in weekdays),
                     now_in_window=now.weekday() in weekdays)
    return found


def history_facts(entries: Iterable[Mapping[str, Any]], targets: Iterable[str],
                  now: datetime, path: Path) -> list[Fact]:
    """One ``history_pattern`` fact per target with earlier runs."""
    by_target: dict[str, list[Mapping[str, Any]]] = {}
    for e in entries:
        by_target.setdefault(str(e["target"]), []).append(e)
    out = []
    for target in targets:
        runs = by_target.get(redact_text(target))
        if not runs:
            continue
        p = pattern_of(runs, now)
        out.append(make_fact("history_pattern", f"history_pattern:{target}",
                             {"file": str(path)}, target=target,
                             first_run=str(runs[0]["at"]), last_run=str(runs[-1]["at"]), **p))
    return out
