"""The HTML report: one self-contained page (no script, no external resource)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from engine.safetext import clean

_NOT_IN_HTML = re.compile("[\x00\ud800-\udfff]")


def esc(value: Any) -> str:
    """``value`` cleaned and HTML-escaped (quotes too: values also land in attributes)."""
    return html.escape(clean(value))


def _supporting(supporting: list[Mapping[str, Any]]) -> str:
    """The findings folded under one (engine/report.py), as a list under it."""
    if not supporting:
        return ""
    items = "".join(f"<li class='{esc(s['severity'])}'><b>{esc(s['severity'])}</b> "
                    f"{esc(s['title'])} ({esc(s['rule'])}): {esc(s['explanation'])}</li>"
                    for s in supporting)
    return f"<p>supporting findings:</p><ul class='supporting'>{items}</ul>"


def render_html(report: Mapping[str, Any]) -> str:
    """A self-contained HTML page: findings, layers, and the JSON report for reference."""
    rows = "".join(
        f"<tr><td>{esc(r['target'])}</td><td>{esc(r['layer'])}</td>"
        f"<td class='{esc(r['status'])}'>{esc(r['status'])}</td><td>{esc(r['summary'])}</td></tr>"
        for r in report.get("layers", [])
    )
    items = "".join(
        f"<section class='{esc(f['severity'])}'><h2>#{esc(f['rank'])} {esc(f['severity'].upper())}: "
        f"{esc(f['title'])}</h2><p>{esc(f['explanation'])}</p><p><b>advice:</b> "
        f"{esc(f['advice'])}</p><p class='meta'>rule {esc(f['rule'])} · checklist "
        f"{esc(', '.join(f['checklist']))} · evidence {esc(', '.join(f['evidence']))}</p>"
        f"{_supporting(f.get('supporting', []))}</section>"
        for f in report["findings"]
    )
    data = esc(json.dumps(report["findings"], indent=1))
    page = (
        "<!doctype html><meta charset='utf-8'><title>whynet report</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:auto}.error{border-left:4px solid #c00}"
        ".warning{border-left:4px solid #e90}.info{border-left:4px solid #09c}section{padding:0 1em}"
        ".fail{color:#c00}.ok{color:#080}.meta{color:#666;font-size:90%}</style>"
        f"<h1>whynet report</h1><table><tr><th>target</th><th>layer</th><th>status</th>"
        f"<th>summary</th></tr>{rows}</table>{items or '<p>No findings.</p>'}"
        f"<details><summary>findings as JSON</summary><pre>{data}</pre></details>"
    )
    return _NOT_IN_HTML.sub("", page)
