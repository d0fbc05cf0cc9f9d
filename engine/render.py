"""Text rendering of reports and rule lists with rich. Colours come from named theme styles."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.theme import Theme

THEME = Theme({
    "whynet.ok": "green",
    "whynet.fail": "bold red",
    "whynet.skipped": "dim",
    "whynet.unknown": "yellow",
    "whynet.error": "bold red",
    "whynet.warning": "yellow",
    "whynet.info": "cyan",
    "whynet.source": "dim cyan",
    "whynet.cond": "magenta",
})


def console(file: Any = None, *, width: int | None = None, color: bool | None = None) -> Console:
    return Console(file=file, theme=THEME, width=width, highlight=False,
                   no_color=color is False, color_system=None if color is False else "auto",
                   soft_wrap=False)


def layer_table(layers: list[Mapping[str, Any]]) -> Table:
    table = Table(title="Layers (lowest first)", show_lines=False, expand=False)
    for col in ("target", "layer", "status", "summary"):
        table.add_column(col)
    for row in layers:
        status = row.get("status", "unknown")
        table.add_row(str(row.get("target", "")), str(row.get("layer", "")),
                      Text(status, style=f"whynet.{status if status != 'fail' else 'fail'}"),
                      str(row.get("summary", "")))
    return table


def first_failures(layers: list[Mapping[str, Any]]) -> dict[str, str]:
    """For each target, the first layer whose status is fail (B2)."""
    out: dict[str, str] = {}
    for row in layers:
        if row.get("status") == "fail" and row["target"] not in out:
            out[row["target"]] = row["layer"]
    return out


def finding_panel(f: Mapping[str, Any]) -> Panel:
    sev = f["severity"]
    body: list[RenderableType] = [Text(f["explanation"])]
    for extra in f.get("also", []):
        body.append(Text(f"also: {extra}"))
    body.append(Text.assemble(("advice: ", "bold"), f["advice"]))
    body.append(Text(f"evidence: {', '.join(f['evidence'])}", style="whynet.source"))
    for s in f.get("supporting", []):  # findings this one explains (engine/report.py folds)
        body.append(Text.assemble(("supporting: ", "bold"), (s["severity"], f"whynet.{s['severity']}"),
                                  f" {s['title']} ({s['rule']}): {s['explanation']}"))
    body.append(Text(f"rule {f['rule']} ({f['file']}) · checklist {', '.join(f['checklist'])}"
                     f" · layer {f['layer']} · {f['confidence']} · `whynet why {f['rule']}`",
                     style="dim"))
    title = Text.assemble((f"#{f['rank']} ", "bold"), (sev.upper(), f"whynet.{sev}"),
                          ("  " + f["title"], "bold"))
    return Panel(Group(*body), title=title, title_align="left", border_style=f"whynet.{sev}")


def render_text(report: Mapping[str, Any], con: Console, *, quiet: bool = False) -> None:
    targets = report.get("targets") or []
    if targets and report.get("layers"):
        con.print(layer_table(report["layers"]))
        for row in report.get("paths", []):
            con.print(Text.assemble(("path ", "dim"), (row["target"], "bold"), ": ", row["path"]))
        for target, layer in first_failures(report["layers"]).items():
            con.print(Text.assemble(("first failing layer for ", ""), (target, "bold"), ": ",
                                    (layer, "whynet.fail")))
    findings = report["findings"]
    shown = [f for f in findings if not quiet or f["severity"] != "info"]
    if not shown:
        con.print(Text("No findings at warning or above." if quiet else "No findings.",
                       style="whynet.ok"))
    for f in shown:
        con.print(finding_panel(f))
    for err in report.get("rule_errors", []):
        con.print(Text(f"rule {err['rule']} skipped a fact: {err['message']}",
                       style="whynet.warning"))
    n = len([f for f in findings if f["severity"] != "info"])
    con.print(Text(f"{len(findings)} finding(s), {n} at warning or above; "
                   f"{len(report.get('facts', []))} facts in report", style="dim"))


def _html_supporting(supporting: list[Mapping[str, Any]]) -> str:
    """The findings folded under one (engine/report.py), as a list under it."""
    if not supporting:
        return ""
    esc = html.escape
    items = "".join(f"<li class='{esc(s['severity'])}'><b>{esc(s['severity'])}</b> "
                    f"{esc(s['title'])} ({esc(s['rule'])}): {esc(s['explanation'])}</li>"
                    for s in supporting)
    return f"<p>supporting findings:</p><ul class='supporting'>{items}</ul>"


def render_html(report: Mapping[str, Any]) -> str:
    """A self-contained HTML page: findings, layers, and the JSON report for reference."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(str(r['target']))}</td><td>{esc(r['layer'])}</td>"
        f"<td class='{esc(r['status'])}'>{esc(r['status'])}</td><td>{esc(str(r['summary']))}</td></tr>"
        for r in report.get("layers", [])
    )
    items = "".join(
        f"<section class='{esc(f['severity'])}'><h2>#{f['rank']} {esc(f['severity'].upper())}: "
        f"{esc(f['title'])}</h2><p>{esc(f['explanation'])}</p><p><b>advice:</b> "
        f"{esc(f['advice'])}</p><p class='meta'>rule {esc(f['rule'])} · checklist "
        f"{esc(', '.join(f['checklist']))} · evidence {esc(', '.join(f['evidence']))}</p>"
        f"{_html_supporting(f.get('supporting', []))}</section>"
        for f in report["findings"]
    )
    data = esc(json.dumps(report["findings"], indent=1))
    return (
        "<!doctype html><meta charset='utf-8'><title>whynet report</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:auto}.error{border-left:4px solid #c00}"
        ".warning{border-left:4px solid #e90}.info{border-left:4px solid #09c}section{padding:0 1em}"
        ".fail{color:#c00}.ok{color:#080}.meta{color:#666;font-size:90%}</style>"
        f"<h1>whynet report</h1><table><tr><th>target</th><th>layer</th><th>status</th>"
        f"<th>summary</th></tr>{rows}</table>{items or '<p>No findings.</p>'}"
        f"<details><summary>findings as JSON</summary><pre>{data}</pre></details>"
    )
