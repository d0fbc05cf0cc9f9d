"""The HTML report: one self-contained page (no script, no external resource).

It says what the terminal says, for a person who was not at the terminal: where and when it was
made, the verdict per target, each target's path drawn as an inline SVG with the failing hop
marked, its layers, then the findings with their advice (backticks as code), the chain of rules
and facts behind each (``<details>``, as ``whynet why`` shows it) and those facts with their
sources. Every value is cleaned (:func:`engine.safetext.clean`) and HTML-escaped; NUL and lone
surrogates never reach the page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from engine.facts import describe_source
from engine.render import (
    finding_targets,
    first_failures,
    report_findings,
    report_notes,
    rule_file,
    target_names,
    verdicts,
)
from engine.safetext import clean

_NOT_IN_HTML = re.compile("[\x00\ud800-\udfff]")
_CODE = re.compile(r"`([^`]+)`")

# Which drawn hop a failing layer points at.
HOP_OF_LAYER = {"link": "source", "address": "source", "route": "gateway", "name": "resolver",
                "proxy": "proxy", "transport": "target", "tls": "target", "application": "target"}
HOP_ROLES = ("source", "gateway", "resolver", "proxy", "target")
# Fields every fact has, not shown among its values.
_FACT_META = ("kind", "id", "source")
MAX_CHAIN_DEPTH = 10


def esc(value: Any) -> str:
    """``value`` cleaned and HTML-escaped (quotes too: values also land in attributes)."""
    return html.escape(clean(value))


def prose(value: Any) -> str:
    """Text with `code` spans (rule explanations and advice) as HTML, everything escaped."""
    parts = _CODE.split(clean(value))
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                   for i, p in enumerate(parts))


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- the path, drawn ----------------------------------------------------------------------------

def path_hops(path: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(role, caption, value)`` for each hop of a ``network_path`` fact, in drawing order:
    interface and source, gateway, resolver, proxy, address and port."""
    src = path.get("src")
    source = (f"{src} ({path.get('interface')})" if src and path.get("interface")
              else str(src) if src else "not probed")
    gateway = (str(path["gateway"]) if path.get("gateway")
               else "on the link" if path.get("next_hop") else "not probed")
    if path.get("next_hop_answers") is False:
        gateway += " (no ARP answer)"
    ip, port = path.get("ip"), path.get("port")
    address = (f"[{ip}]:{port}" if ip and port is not None and ":" in str(ip)
               else f"{ip}:{port}" if ip and port is not None
               else str(ip) if ip else "not resolved")
    resolver = str(path.get("resolver") or "unknown")
    return [("source", "this host", source), ("gateway", "gateway", gateway),
            ("resolver", "name", resolver.removeprefix("name via ")),
            ("proxy", "proxy", str(path.get("proxy") or "unknown")),
            ("target", "target", address)]


def failing_hop(path: Mapping[str, Any], failing_layer: str | None) -> str | None:
    """The hop to mark: the first failing layer's, else the first hop no probe could show."""
    if failing_layer in HOP_OF_LAYER:
        return HOP_OF_LAYER[failing_layer]
    unknown = {"name": "resolver", "address": "target", "source": "source",
               "next hop": "gateway"}
    first = path.get("first_unknown")
    return unknown.get(str(first)) if first else None


def path_svg(path: Mapping[str, Any], failing_layer: str | None) -> str:
    """The path as an inline SVG: one box per hop, arrows between, the failing hop in red."""
    hops = path_hops(path)
    bad = failing_hop(path, failing_layer)
    box_w, box_h, gap, top = 168, 58, 30, 8
    width = len(hops) * box_w + (len(hops) - 1) * gap + 2
    parts = [f"<svg class='path' xmlns='http://www.w3.org/2000/svg' width='{width}' "
             f"height='{box_h + top + 22}' viewBox='0 0 {width} {box_h + top + 22}' role='img' "
             f"aria-label='{esc(path.get('text', 'path'))}'>"
             "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
             "markerHeight='7' orient='auto'><path d='M0,0 L10,5 L0,10 z' fill='#555'/></marker>"
             "</defs>"]
    for i, (role, caption, value) in enumerate(hops):
        x = 1 + i * (box_w + gap)
        state = "fail" if role == bad else "ok"
        parts.append(
            f"<g class='hop {state}' data-role='{role}'><title>{esc(caption)}: {esc(value)}"
            f"</title><rect x='{x}' y='{top}' width='{box_w}' height='{box_h}' rx='8'/>"
            f"<text x='{x + box_w / 2}' y='{top + 22}' class='caption'>{esc(caption)}</text>"
            f"<text x='{x + box_w / 2}' y='{top + 42}' class='value'>{esc(_short(value))}</text>")
        if state == "fail":
            parts.append(f"<text x='{x + box_w / 2}' y='{top + box_h + 17}' class='mark'>"
                         f"✗ fails here ({esc(failing_layer or 'not shown')})</text>")
        parts.append("</g>")
        if i:
            parts.append(f"<line x1='{x - gap + 2}' y1='{top + box_h / 2}' x2='{x - 2}' "
                         f"y2='{top + box_h / 2}' marker-end='url(#arrow)'/>")
    parts.append("</svg>")
    return "".join(parts)


# --- the why chain and its facts ----------------------------------------------------------------

class _Chain:
    """The report's facts and activations, to draw ``why`` for a finding."""

    def __init__(self, report: Mapping[str, Any]) -> None:
        self.facts = {f.get("id"): f for f in report.get("facts", []) if isinstance(f, Mapping)}
        justification = report.get("justification") or {}
        self.activations = {a.get("id"): a for a in justification.get("activations", [])
                            if isinstance(a, Mapping)}
        self.derived: Mapping[str, str] = justification.get("derived") or {}

    def fact_label(self, fact_id: Any) -> str:
        fact = self.facts.get(fact_id)
        if fact is None:
            return f"<code>{esc(fact_id)}</code> (not in the report)"
        values = ", ".join(f"{k}={v}" for k, v in fact.items()
                           if k not in _FACT_META and v not in (None, [], ""))
        source = fact.get("source")
        where = describe_source(source) if isinstance(source, Mapping) else "unknown"
        return (f"<code>{esc(fact_id)}</code> ({esc(fact.get('kind', ''))}) "
                f"<span class='values'>{esc(_short(values, 300))}</span> "
                f"<span class='src'>← {esc(where)}</span>")

    def activation(self, act_id: Any, depth: int = 0) -> str:
        act = self.activations.get(act_id)
        if act is None:
            return f"<li>activation {esc(act_id)} is not in the report</li>"
        items = []
        for cond in act.get("conditions", []):
            label = (f"<span class='cond'>{esc(cond.get('condition', ''))}</span> "
                     f"<span class='src'>(line {esc(cond.get('line', '?'))})</span>")
            if cond.get("negated"):
                items.append(f"<li>{label}<ul><li>no fact matched: the absence is the evidence"
                             "</li></ul></li>")
                continue
            fact_id = cond.get("fact")
            if fact_id is None:
                items.append(f"<li>{label}</li>")
                continue
            inner = [self.fact_label(fact_id)]
            for name, related in (cond.get("related") or {}).items():
                inner.append(f"{esc(name)}: {self.fact_label(related)}")
            below = ""
            parent = self.derived.get(fact_id)
            if parent and depth < MAX_CHAIN_DEPTH and parent in self.activations:
                below = (f"<ul><li>derived by rule <code>"
                         f"{esc(self.activations[parent].get('rule', ''))}</code>"
                         f"<ul>{self.activation(parent, depth + 1)}</ul></li></ul>")
            items.append(f"<li>{label}<ul><li>{'<br>'.join(inner)}{below}</li></ul></li>")
        return (f"<li>fired ({esc(act_id)}): {prose(act.get('explanation', ''))}"
                f"<ul>{''.join(items)}</ul></li>")

    def facts_table(self, fact_ids: Sequence[Any]) -> str:
        rows = []
        for fact_id in fact_ids:
            fact = self.facts.get(fact_id)
            if fact is None:
                continue
            source = fact.get("source")
            where = describe_source(source) if isinstance(source, Mapping) else "unknown"
            values = "<br>".join(f"{esc(k)} = {esc(v)}" for k, v in fact.items()
                                 if k not in _FACT_META and v not in (None, [], ""))
            rows.append(f"<tr><td><code>{esc(fact_id)}</code><br>{esc(fact.get('kind', ''))}"
                        f"</td><td>{values}</td><td>{esc(where)}</td></tr>")
        if not rows:
            return ""
        return ("<table class='facts'><tr><th>fact</th><th>values</th><th>source</th></tr>"
                f"{''.join(rows)}</table>")


# --- the page ------------------------------------------------------------------------------------

def _layer_rows(layers: Sequence[Mapping[str, Any]]) -> str:
    return "".join(
        f"<tr><td>{esc(r.get('layer', ''))}</td><td class='{esc(r.get('status', ''))}'>"
        f"{esc(r.get('status', ''))}</td><td>{esc(r.get('summary', ''))}</td></tr>"
        for r in layers)


def _target_section(report: Mapping[str, Any], name: str, verdict: str) -> str:
    layers = [r for r in report.get("layers", []) if isinstance(r, Mapping)
              and r.get("target") == name]
    failing_row = first_failures(report).get(name)
    failing = str(failing_row.get("layer")) if failing_row is not None else None
    paths = [f for f in report.get("facts", []) if isinstance(f, Mapping)
             and f.get("kind") == "network_path" and f.get("target") == name]
    if paths:
        drawn = "".join(f"<figure>{path_svg(p, failing)}<figcaption>{esc(p.get('text', ''))}"
                        "</figcaption></figure>" for p in paths)
    else:  # a report without path facts: the path as the text report says it
        drawn = "".join(f"<p class='pathtext'>path: {esc(p.get('path', ''))}</p>"
                        for p in report.get("paths", [])
                        if isinstance(p, Mapping) and p.get("target") == name)
    state = "fail" if failing else "ok"
    return (f"<section class='target'><h2 class='verdict {state}'>{esc(verdict)}</h2>{drawn}"
            "<table class='layers'><caption>layers, lowest first</caption><tr><th>layer</th>"
            f"<th>status</th><th>summary</th></tr>{_layer_rows(layers)}</table></section>")


def _supporting(supporting: list[Mapping[str, Any]]) -> str:
    """The findings folded under one (engine/report.py), as a list under it."""
    if not supporting:
        return ""
    items = "".join(f"<li class='{esc(s.get('severity', ''))}'><b>{esc(s.get('severity', ''))}"
                    f"</b> {esc(s.get('title', ''))} (<code>{esc(s.get('rule', ''))}</code>): "
                    f"{prose(s.get('explanation', ''))}</li>"
                    for s in supporting if isinstance(s, Mapping))
    return f"<p>supporting findings:</p><ul class='supporting'>{items}</ul>"


def _finding(f: Mapping[str, Any], targets: Sequence[str], chain: _Chain) -> str:
    sev = clean(f.get("severity", "info"))
    about = f" — {esc(', '.join(targets))}" if targets and "targets" not in f else ""
    also = "".join(f"<p>also: {prose(a)}</p>" for a in f.get("also", []))
    acts = "".join(chain.activation(a) for a in f.get("activations", []))
    evidence = list(f.get("evidence", []))
    return (
        f"<section class='finding {esc(sev)}'><h3>#{esc(f.get('rank', ''))} "
        f"<span class='sev'>{esc(sev.upper())}</span> {esc(f.get('title', ''))}{about}</h3>"
        f"<p>{prose(f.get('explanation', ''))}</p>{also}"
        f"<p class='advice'><b>advice:</b> {prose(f.get('advice', ''))}</p>"
        f"{_supporting(list(f.get('supporting', []) or []))}"
        f"<p class='meta'>rule <code>{esc(f.get('rule', ''))}</code> · checklist "
        f"{esc(', '.join(map(str, f.get('checklist', []))))} · layer {esc(f.get('layer', ''))} · "
        f"{esc(f.get('confidence', ''))} · {esc(rule_file(f.get('file', '')))}</p>"
        f"<details class='why'><summary>why: the rules and facts behind it</summary>"
        f"<ul class='chain'>{acts or '<li>no activation in the report</li>'}</ul></details>"
        f"<details class='facts'><summary>the facts ({len(evidence)})</summary>"
        f"{chain.facts_table(evidence)}</details></section>")


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:72em;margin:1em auto;padding:0 1em;"
    "color:#222;background:#fff}header p{margin:.2em 0;color:#555}"
    "h2.verdict{font-size:1.1em;padding:.4em .6em;border-radius:4px}"
    "h2.fail{background:#fdecea;border-left:6px solid #c00}"
    "h2.ok{background:#eaf7ea;border-left:6px solid #080}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
    "text-align:left;vertical-align:top}caption{text-align:left;color:#555}"
    ".fail{color:#c00;font-weight:bold}.ok{color:#080}.skipped{color:#888}.unknown{color:#b80}"
    "section.finding{border-left:5px solid #09c;padding:.1em 1em;margin:1em 0}"
    "section.error{border-color:#c00}section.warning{border-color:#e90}"
    ".meta,.src{color:#666;font-size:90%}.cond{color:#808}code{background:#f3f3f3;"
    "padding:0 .2em}.note{background:#fff4d6;padding:.4em .6em;border-left:6px solid #e90}"
    "svg.path rect{fill:#f4f8ff;stroke:#4a6fa5;stroke-width:1.5}"
    "svg.path g.fail rect{fill:#fdecea;stroke:#c00;stroke-width:3}"
    "svg.path text{text-anchor:middle;font-size:13px;fill:#222}"
    "svg.path text.caption{fill:#666;font-size:11px}svg.path text.mark{fill:#c00;"
    "font-weight:bold;font-size:12px}svg.path line{stroke:#555;stroke-width:1.5}"
    "figure{margin:.5em 0}figcaption{color:#666;font-size:90%}"
)


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page as one string."""
    from engine import __version__

    findings = report_findings(report)
    serious = [f for f in findings if f.get("severity") in ("warning", "error")]
    names = target_names(report)
    lines = verdicts(report)
    head = (f"<header><h1>whynet report</h1><p>host <b>{esc(report.get('host') or 'unknown')}"
            f"</b> · collected {esc(report.get('collected_at') or 'unknown')} · whynet "
            f"{esc(report.get('whynet') or __version__)}</p><p>{len(names)} target(s) · "
            f"{len(findings)} finding(s), {len(serious)} at warning or above · "
            f"{len(report.get('facts', []))} facts</p></header>")
    notes = "".join(f"<p class='note'>note: {esc(n)}</p>" for n in report_notes(report))
    if names:
        targets = "".join(_target_section(report, n, v) for n, v in zip(names, lines, strict=True))
    else:
        state = "fail" if serious else "ok"
        targets = f"<section class='target'><h2 class='verdict {state}'>{esc(lines[0])}</h2></section>"
    chain = _Chain(report)
    items = "".join(_finding(f, ts, chain)
                    for f, ts in zip(findings, finding_targets(report), strict=True))
    errors = "".join(f"<li>rule <code>{esc(e.get('rule', ''))}</code> skipped a fact: "
                     f"{esc(e.get('message', ''))}</li>"
                     for e in report.get("rule_errors", []) if isinstance(e, Mapping))
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        # Nothing runs and nothing loads, even if a value ever escaped its escaping.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>whynet report: {esc(report.get('host') or 'unknown host')}</title>"
        f"<style>{STYLE}</style></head><body>{head}{notes}{targets}"
        f"<h2>Findings</h2>{items or '<p>No findings.</p>'}"
        f"{f'<h2>Rule errors</h2><ul>{errors}</ul>' if errors else ''}</body></html>"
    )
    return _NOT_IN_HTML.sub("", page)
