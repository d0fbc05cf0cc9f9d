"""Rendering reports for people: the terminal (rich) and a self-contained HTML page.

Every value shown comes from facts, rule files or reports that other people control (a
certificate's subject, a firewall comment, a snapshot from another machine). So each value is
cleaned of control characters before it is shown (:func:`clean`: no terminal escape
sequences, OSC-8 links, NUL, bidi overrides or lone surrogates) and, where it meets rich
markup, escaped (:func:`markup`). Text objects are never parsed as markup; strings given to
``Console.print`` or to a ``Tree`` label are, so they are built with :func:`markup` only.

The text report starts with the verdict: one line per target (or one for a run without
targets), built from the layer summary and the top finding that concerns the target.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape as escape_markup
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.theme import Theme

from engine.safetext import clean

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
    "whynet.code": "bold",
})


def prose(value: Any) -> Text:
    """Rule text (explanation, advice) with its `code` spans shown as code, backticks gone
    (the rule format's one piece of markup; the HTML report renders it as <code>)."""
    parts = clean(value).split("`")
    if len(parts) % 2 == 0:  # unbalanced: show the text as written
        return Text(clean(value))
    return Text.assemble(*[(p, "whynet.code") if i % 2 else p for i, p in enumerate(parts)])


def markup(value: Any) -> str:
    """``value`` cleaned and escaped for a string that rich reads as markup."""
    return escape_markup(clean(value))


def console(file: Any = None, *, width: int | None = None, color: bool | None = None,
            stderr: bool = False) -> Console:
    """A console with whynet's theme. ``color=None`` lets rich decide: colour only on a
    terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    return Console(file=file, theme=THEME, width=width, highlight=False, stderr=stderr,
                   no_color=True if color is False else None,
                   color_system=None if color is False else "auto", soft_wrap=False)


@contextmanager
def progress_line(stream: Any = None) -> Iterator[Callable[[str], None]]:
    """A live line on stderr naming the stage a run is in, on a terminal only (and gone when
    the run ends); elsewhere a callback that does nothing."""
    stream = sys.stderr if stream is None else stream
    if not (hasattr(stream, "isatty") and stream.isatty()):
        yield lambda text: None
        return
    from rich.live import Live
    from rich.spinner import Spinner

    spinner = Spinner("dots", text="starting")
    with Live(spinner, console=console(stream), transient=True, refresh_per_second=10) as live:

        def show(text: str) -> None:
            spinner.update(text=Text(clean(text, one_line=True) + " …"))
            live.refresh()  # each stage is seen, however short

        yield show


# --- what the report says about each target ----------------------------------------------------

def first_failures(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """For each target, the row of its lowest layer whose status is fail (B2)."""
    out: dict[str, Mapping[str, Any]] = {}
    for row in report.get("layers", []):
        if (isinstance(row, Mapping) and row.get("status") == "fail"
                and isinstance(row.get("target"), str) and row["target"] not in out):
            out[row["target"]] = row
    return out


def target_names(report: Mapping[str, Any]) -> list[str]:
    """The targets as the user typed them, in order (layers and paths name them so)."""
    names = [str(t.get("raw", "")) if isinstance(t, Mapping) else str(t)
             for t in report.get("targets") or []]
    return [n for n in names if n]


def finding_targets(report: Mapping[str, Any]) -> list[list[str]]:
    """For each finding (in report order), the targets its evidence concerns: probe facts
    carry their target; a derived fact is followed back to the facts that made it."""
    names = set(target_names(report))
    facts = {f.get("id"): f for f in report.get("facts", []) if isinstance(f, Mapping)}
    justification = report.get("justification") or {}
    activations = {a.get("id"): a for a in justification.get("activations", [])
                   if isinstance(a, Mapping)}
    derived_by: Mapping[str, str] = justification.get("derived") or {}

    def targets_of(fact_id: str, seen: set[str]) -> set[str]:
        if fact_id in seen or len(seen) > 200:
            return set()
        seen.add(fact_id)
        fact = facts.get(fact_id) or {}
        target = fact.get("target")
        found = {target} if isinstance(target, str) and target in names else set()
        act = activations.get(derived_by.get(fact_id, ""))
        for bound in (act or {}).get("bindings", {}).values():
            found |= targets_of(str(bound), seen)
        return found

    out = []
    for finding in report_findings(report):
        if isinstance(finding.get("targets"), list):  # reports name them since 2026-11-29
            out.append([n for n in target_names(report) if n in finding["targets"]])
            continue
        seen: set[str] = set()
        found: set[str] = set()
        for fact_id in finding.get("evidence", []):
            found |= targets_of(str(fact_id), seen)
        out.append([n for n in target_names(report) if n in found])
    return out


def report_findings(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in report.get("findings", []) if isinstance(f, Mapping)]


def _at_least_warning(finding: Mapping[str, Any]) -> bool:
    return finding.get("severity") in ("warning", "error")


def _title_alone(finding: Mapping[str, Any]) -> str:
    """The finding's title without the `` — TARGETS`` the report adds (the verdict line
    already starts with the target)."""
    title = str(finding.get("title", ""))
    targets = finding.get("targets")
    suffix = f" — {', '.join(map(str, targets))}" if isinstance(targets, list) and targets else ""
    return title[:-len(suffix)] if suffix and title.endswith(suffix) else title


def _cause(finding: Mapping[str, Any]) -> str:
    """``title (checklist; rule id)``: what a verdict line says about a finding."""
    checklist = ", ".join(clean(c) for c in finding.get("checklist", []))
    return (f"{clean(_title_alone(finding), one_line=True)} "
            f"({checklist + '; ' if checklist else ''}{clean(finding.get('rule', ''))})")


def verdicts(report: Mapping[str, Any]) -> list[str]:
    """One line per target, lowest failing layer and the top finding that concerns it; for a
    run without targets, one line: the top finding, or that nothing is wrong."""
    findings = report_findings(report)
    serious = [f for f in findings if _at_least_warning(f)]
    names = target_names(report)
    if not names:
        if not serious:
            return ["no problem found"]
        more = (f" — and {len(serious) - 1} more finding(s) at warning or above"
                if len(serious) > 1 else "")
        return [f"{clean(serious[0].get('severity'))}: {_cause(serious[0])}{more}"]
    concerns = finding_targets(report)
    untargeted = [f for f, ts in zip(findings, concerns, strict=True)
                  if not ts and _at_least_warning(f)]
    failures = first_failures(report)
    lines = []
    for name in names:
        own = [f for f, ts in zip(findings, concerns, strict=True)
               if name in ts and _at_least_warning(f)]
        top: Mapping[str, Any] | None = own[0] if own else (untargeted[0] if untargeted else None)
        failing = failures.get(name)
        label = clean(name, one_line=True)
        if failing is not None:
            where = (f"{clean(failing.get('layer'))} fails: "
                     f"{clean(failing.get('summary', ''), one_line=True)}")
            why = _cause(top) if top else "no rule names the cause"
            lines.append(f"{label}: {where} — {why}")
        elif top is not None:
            lines.append(f"{label}: every layer passed, but {clean(top.get('severity'))}: "
                         f"{_cause(top)}")
        else:
            lines.append(f"{label}: no problem found")
    return lines


def verdict_texts(report: Mapping[str, Any]) -> list[Text]:
    """The verdict lines styled: the target bold, a failing layer red, a clean bill green."""
    out = []
    names = [clean(n, one_line=True) for n in target_names(report)] or [""]
    for name, line in zip(names, verdicts(report), strict=False):
        text = Text(line)
        if name:
            text.stylize("bold", 0, len(name) + 1)
        fails = line.find(" fails: ", len(name))
        if fails >= 0:
            text.stylize("whynet.fail", len(name) + 2, fails + len(" fails"))
        elif line.endswith("no problem found"):
            text.stylize("whynet.ok", len(line) - len("no problem found"))
        elif not name:
            severity = line.split(":", 1)[0]
            text.stylize(f"whynet.{severity}", 0, len(severity))
        out.append(text)
    return out


# --- the terminal --------------------------------------------------------------------------------

def layer_table(target: str, layers: Sequence[Mapping[str, Any]]) -> Table:
    """The layers of one target, lowest first (the target is in the title, not on each row)."""
    table = Table(title=Text(f"Layers of {clean(target, one_line=True)} (lowest first)"),
                  show_lines=False, expand=False)
    table.add_column("layer", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("summary")
    for row in layers:
        status = clean(row.get("status", "unknown"))
        table.add_row(Text(clean(row.get("layer", ""))), Text(status, style=f"whynet.{status}"),
                      Text(clean(row.get("summary", ""))))
    return table


def _id_line(text: str, style: str = "dim") -> Text:
    """A line holding rule ids: never wrapped inside an id (``why`` needs the id whole)."""
    return Text(text, style=style, no_wrap=True, overflow="ignore")


def finding_panel(f: Mapping[str, Any], targets: Sequence[str] = (), *,
                  why_inside: bool = True) -> Panel:
    """A finding in a box; the ``whynet why RULE`` line inside it unless the box is too narrow
    to hold it whole (the caller then prints it below)."""
    sev = clean(f.get("severity", "info"))
    body: list[RenderableType] = [prose(f.get("explanation", ""))]
    for extra in f.get("also", []):
        body.append(Text.assemble("also: ", prose(extra)))
    body.append(Text.assemble(("advice: ", "bold"), prose(f.get("advice", ""))))
    body.append(Text(f"evidence: {', '.join(clean(e) for e in f.get('evidence', []))}",
                     style="whynet.source"))
    for sub in f.get("supporting", []) or []:
        body.append(supporting_line(sub))
    body.append(Text(f"{rule_file(f.get('file', ''))} · checklist "
                     f"{', '.join(clean(c) for c in f.get('checklist', []))} · layer "
                     f"{clean(f.get('layer', ''))} · {clean(f.get('confidence', ''))}",
                     style="dim"))
    if why_inside:
        body.append(_id_line(why_line(f)))
    title = Text.assemble((f"#{clean(f.get('rank', ''))} ", "bold"),
                          (sev.upper(), f"whynet.{sev}"),
                          ("  " + clean(f.get("title", ""), one_line=True), "bold"))
    if targets and "targets" not in f:  # older reports' titles do not name their targets
        title.append(f" — {', '.join(clean(t, one_line=True) for t in targets)}")
    return Panel(Group(*body), title=title, title_align="left", border_style=f"whynet.{sev}")


def rule_file(location: Any) -> str:
    """Where a rule is written, shown short for the packaged rules (``knowledge/x.yaml:5``,
    wherever whynet is installed); a user's rule file keeps its full path."""
    from engine.knowledge import builtin_knowledge_dir

    text = clean(location, one_line=True)
    builtin = str(builtin_knowledge_dir())
    return "knowledge" + text[len(builtin):] if text.startswith(builtin + "/") else text


def why_line(f: Mapping[str, Any]) -> str:
    return f"whynet why {clean(f.get('rule', ''), one_line=True)}"


def supporting_line(sub: Any) -> Text:
    """A finding folded under this one as its evidence (engine/report.py): one line."""
    if not isinstance(sub, Mapping):
        return Text(f"supporting: {clean(sub, one_line=True)}", style="whynet.source")
    sev = clean(sub.get("severity", "info"))
    return Text.assemble(("supporting: ", "bold"), (sev, f"whynet.{sev}"),
                         f" {clean(sub.get('title', ''), one_line=True)} "
                         f"({clean(sub.get('rule', ''))}): ", prose(sub.get("explanation", "")))


def report_notes(report: Mapping[str, Any]) -> list[str]:
    return [clean(n, one_line=True) for n in report.get("notes", []) or []]


def render_text(report: Mapping[str, Any], con: Console, *, quiet: bool = False) -> None:
    """The verdict lines; then (unless ``quiet``) the notes, each target's layers and path,
    the findings, rule errors and a count."""
    for verdict in verdict_texts(report):
        con.print(verdict, soft_wrap=True)  # one line each, whatever the width
    if quiet:
        return
    for note in report_notes(report):
        con.print(Text(f"note: {note}", style="whynet.warning"))
    layers = [row for row in report.get("layers", []) if isinstance(row, Mapping)]
    paths = [row for row in report.get("paths", []) if isinstance(row, Mapping)]
    for name in target_names(report):
        con.print()
        con.print(layer_table(name, [r for r in layers if r.get("target") == name]))
        for row in paths:
            if row.get("target") == name:
                con.print(Text.assemble(("path: ", "dim"), clean(row.get("path", ""))))
    findings = report_findings(report)
    if not findings:
        con.print(Text("No findings.", style="whynet.ok"))
    for f, targets in zip(findings, finding_targets(report), strict=True):
        ids = [why_line(f)] + [why_line(sub) for sub in f.get("supporting", []) or []
                               if isinstance(sub, Mapping)]
        fits = max(map(len, ids)) + 4 <= con.width  # the box's borders and padding
        con.print(finding_panel(f, targets, why_inside=fits))
        if not fits:  # too narrow for a rule id: below the box, each on its own line
            for line in ids:
                con.print(_id_line(line), soft_wrap=True)
    for err in report.get("rule_errors", []):
        con.print(Text(f"rule {clean(err.get('rule'))} skipped a fact: "
                       f"{clean(err.get('message'))}", style="whynet.warning"))
    n = len([f for f in findings if _at_least_warning(f)])
    con.print(Text(f"{len(findings)} finding(s), {n} at warning or above; "
                   f"{len(report.get('facts', []))} facts in report", style="dim"))

