"""whynet's command line: parse, call the engine, render. No logic of its own.

Exit codes (DESIGN.md): 0 fine; 1 findings at warning or above (``diagnose``), a rule that did
not fire (``why``), an unknown rule (``why-not``) or failing examples (``rules test``);
2 bad usage or bad input (a broken snapshot, invalid rules, a bad target). Expected problems are
one ``Error:`` line on stderr; ``--debug`` shows a traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import click

from engine import __version__


class InputError(click.ClickException):
    """Bad input or usage: one line on stderr, exit 2."""

    exit_code = 2


def fail(message: str) -> NoReturn:
    raise InputError(message)


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


def last_report_path() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "whynet" / "last.json"


def _load_kb(knowledge: tuple[str, ...]) -> Any:
    from engine.knowledge import KnowledgeLoadError, load_knowledge

    try:
        return load_knowledge(knowledge)
    except KnowledgeLoadError as exc:
        for e in exc.errors[:-1]:
            click.echo(f"Error: {e}", err=True)
        fail(str(exc.errors[-1]))


def _load_report(path: str | None) -> dict[str, Any]:
    p = Path(path) if path else last_report_path()
    if not p.exists():
        fail(f"{p}: no report (run `whynet diagnose --save FILE` first, or pass --report FILE)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{p}: not a whynet report ({exc.__class__.__name__})")
    if not isinstance(data, dict) or "findings" not in data or "justification" not in data:
        fail(f"{p}: not a whynet report (no findings/justification)")
    return data


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot write ({exc.strerror or exc})")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="whynet")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def main(debug: bool) -> None:
    """whynet: why doesn't it connect? Collects facts, probes targets, explains."""


# --- collect ------------------------------------------------------------------------------------

@main.command()
@click.option("-o", "--output", metavar="FILE", help="Write the snapshot here (default stdout).")
@click.option("--timeout", default=10.0, show_default=True, help="Per-command timeout (s).")
def collect(output: str | None, timeout: float) -> None:
    """Collect facts from this machine into a snapshot (secrets redacted)."""
    from engine.collectors import collect_all
    from engine.collectors.base import CollectContext
    from engine.facts import Snapshot

    snap = Snapshot(collect_all(CollectContext(timeout=timeout)))
    text = snap.dumps()
    if output:
        _write(output, text + "\n")
        kinds = sorted({f.kind for f in snap.facts})
        click.echo(f"wrote {len(snap.facts)} facts of {len(kinds)} kinds to {output}", err=True)
    else:
        click.echo(text)


# --- diagnose -----------------------------------------------------------------------------------

@main.command()
@click.argument("targets", nargs=-1)
@click.option("--snapshot", metavar="FILE", help="Diagnose a saved snapshot instead of this machine.")
@click.option("--listen", "listen_ports", multiple=True, type=int, metavar="PORT",
              help="Can I serve on PORT here? (repeatable)")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
              show_default=True)
@click.option("-o", "--output", metavar="FILE", help="Write the report here instead of stdout.")
@click.option("--save", metavar="FILE", help="Also write the JSON report (for why / why-not).")
@click.option("--timeout", default=3.0, show_default=True, type=float,
              help="Timeout for each probe (s).")
@click.option("--knowledge", multiple=True, metavar="DIR", help="Extra rule directory (repeatable).")
@click.option("--quiet", is_flag=True, help="Text: show only findings at warning or above.")
def diagnose(targets: tuple[str, ...], snapshot: str | None, listen_ports: tuple[int, ...],
             fmt: str, output: str | None, save: str | None, timeout: float,
             knowledge: tuple[str, ...], quiet: bool) -> None:
    """Collect (or load), probe TARGETS, infer, and report the likely causes."""
    from engine.diagnose import diagnose as run_diagnosis
    from engine.facts import FactError
    from engine.probes.target import TargetError

    if timeout <= 0:
        fail("--timeout must be positive")
    for port in listen_ports:
        if not 0 < port < 65536:
            fail(f"--listen {port}: port out of range 1-65535")
    kb = _load_kb(knowledge)
    try:
        report = run_diagnosis(kb, list(targets), snapshot=snapshot, timeout=timeout,
                               listen_ports=list(listen_ports), env=dict(os.environ))
    except (FactError, TargetError) as exc:
        fail(str(exc))
    text = json.dumps(report, indent=1, default=str)
    if save:
        _write(save, text + "\n")
    _remember(text)
    if fmt == "json":
        out = text
    elif fmt == "html":
        from engine.render import render_html

        out = render_html(report)
    else:
        out = None
    if out is not None:
        if output:
            _write(output, out + "\n")
        else:
            click.echo(out)
    else:
        from engine.render import console, render_text

        if output:
            with open(output, "w", encoding="utf-8") as fh:
                render_text(report, console(fh, width=100, color=False), quiet=quiet)
        else:
            render_text(report, console(), quiet=quiet)
    from engine.report import exit_code

    sys.exit(exit_code(report))


def _remember(text: str) -> None:
    """Keep the last report for `why` / `why-not` (best effort: a read-only home is fine)."""
    path = last_report_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    except OSError:
        pass


# --- why / why-not ------------------------------------------------------------------------------

def _rule_from(report: Mapping[str, Any], rule_id: str, knowledge: tuple[str, ...]) -> Any:
    kb = _load_kb(knowledge + _report_knowledge_dirs(report))
    rule = kb.get(rule_id)
    if rule is None:
        close = [r.id for r in kb.rules if rule_id.split(".")[-1] in r.id][:5]
        hint = f" (did you mean: {', '.join(close)})" if close else ""
        click.echo(f"Error: unknown rule {rule_id!r}{hint}", err=True)
        sys.exit(1)
    return rule


def _report_knowledge_dirs(report: Mapping[str, Any]) -> tuple[str, ...]:
    """User rule directories a report was made with, so why/why-not find their rules too."""
    from engine.knowledge import builtin_knowledge_dir

    builtin = builtin_knowledge_dir().resolve()
    dirs = {str(Path(f).parent) for f in report.get("knowledge", {}).get("files", [])
            if Path(f).exists() and builtin not in Path(f).resolve().parents}
    return tuple(sorted(dirs))


def _explained_rule_command(name: str) -> Any:
    """The shared signature of `why` and `why-not`: RULE, --report, --knowledge."""

    def decorate(fn: Any) -> Any:
        fn = click.option("--knowledge", multiple=True, metavar="DIR")(fn)
        fn = click.option("--report", "report_path", metavar="FILE",
                          help="Report to read (default: last).")(fn)
        fn = click.argument("rule_id", metavar="RULE")(fn)
        return main.command(name)(fn)

    return decorate


@_explained_rule_command("why")
def why(rule_id: str, report_path: str | None, knowledge: tuple[str, ...]) -> None:
    """Show the rules and facts behind a finding, down to each fact's source line."""
    from engine.explain import why as explain_why
    from engine.facts import FactError
    from engine.render import console

    report = _load_report(report_path)
    rule = _rule_from(report, rule_id, knowledge)
    try:
        tree = explain_why(report, rule)
    except FactError as exc:
        fail(str(exc))
    con = console()
    if tree is None:
        con.print(f"{rule_id} did not fire in this report; try `whynet why-not {rule_id}`.")
        sys.exit(1)
    con.print(tree)


@_explained_rule_command("why-not")
def why_not(rule_id: str, report_path: str | None, knowledge: tuple[str, ...]) -> None:
    """Show which condition kept a rule from firing, and the nearest partial match."""
    from engine.explain import render_why_not
    from engine.explain import why_not as explain_why_not
    from engine.facts import FactError
    from engine.render import console

    report = _load_report(report_path)
    rule = _rule_from(report, rule_id, knowledge)
    try:
        result = explain_why_not(report, rule)
    except FactError as exc:
        fail(str(exc))
    console().print(render_why_not(result))


# --- rules --------------------------------------------------------------------------------------

@main.group()
def rules() -> None:
    """List, validate and test knowledge-base rules."""


@rules.command("list")
@click.option("--knowledge", multiple=True, metavar="DIR")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def rules_list(knowledge: tuple[str, ...], fmt: str) -> None:
    """The rules (id, title, severity, checklist, layer, file) and the checklist coverage."""
    kb = _load_kb(knowledge)
    rows = [{"id": r.id, "title": r.title, "severity": r.severity,
             "checklist": list(r.checklist), "layer": r.layer, "file": r.location,
             "examples": len(r.examples), "disabled": r.id in kb.disabled} for r in kb.rules]
    coverage = kb.checklist_coverage()
    if fmt == "json":
        click.echo(json.dumps({"rules": rows, "checklist": coverage}, indent=1))
        return
    from rich.table import Table

    from engine.render import console

    table = Table(title=f"{len(rows)} rules")
    for col in ("id", "severity", "layer", "checklist", "title", "file"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], r["severity"], r["layer"], ",".join(r["checklist"]), r["title"],
                      r["file"])
    con = console()
    con.print(table)
    items = {c: ids for c, ids in coverage.items() if not c.startswith("X")}
    covered = [c for c, ids in items.items() if ids]
    missing = [c for c, ids in items.items() if not ids]
    con.print(f"checklist items with rules: {len(covered)}/{len(items)}: {' '.join(covered)}")
    beyond = [c for c, ids in coverage.items() if c.startswith("X") and ids]
    if beyond:
        con.print(f"beyond the checklist: {' '.join(beyond)}")
    if missing:
        con.print(f"without rules: {' '.join(missing)}")


@rules.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def rules_validate(paths: tuple[str, ...]) -> None:
    """Check rule files: schema and syntax; errors as FILE:LINE: message (exit 2)."""
    from engine.knowledge import KnowledgeLoadError, load_files, rule_files

    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            fail(f"{p}:1: no such file or directory")
        found = rule_files(path)
        if not found:
            fail(f"{p}:1: no *.yaml rule files here")
        files.extend(found)
    try:
        # Validate the given files together with the shipped ones, so ids and derived
        # kinds are checked across the whole knowledge base a user will run.
        from engine.knowledge import builtin_knowledge_dir

        builtin = rule_files(builtin_knowledge_dir())
        given = {f.resolve() for f in files}
        kb = load_files([f for f in builtin if f.resolve() not in given] + files)
    except KnowledgeLoadError as exc:
        for e in exc.errors:
            click.echo(str(e), err=True)
        sys.exit(2)
    n = sum(1 for r in kb.rules if Path(r.file).resolve() in given)
    click.echo(f"{len(files)} file(s), {n} rule(s): ok")


@rules.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--knowledge", multiple=True, metavar="DIR")
@click.option("-v", "--verbose", is_flag=True, help="Show passing examples too.")
def rules_test(paths: tuple[str, ...], knowledge: tuple[str, ...], verbose: bool) -> None:
    """Run every rule's examples (fires / silent); ends with `N passed, N failed`."""
    from engine.knowledge import rule_files
    from engine.ruletest import run_examples

    kb = _load_kb(knowledge + paths)
    only = None
    if paths:
        only = {str(f) for p in paths for f in rule_files(Path(p))}
    results = run_examples(kb, only)
    for r in results:
        if verbose or not r.passed or r.example.expect == "known-miss":
            click.echo(r.describe())
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def run() -> None:
    """Entry point wrapper: expected errors are one line; anything else too, unless --debug."""
    try:
        main(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if "--debug" in sys.argv:
            raise
        click.echo(f"Error: internal error: {exc.__class__.__name__}: {exc} "
                   "(run with --debug for a traceback)", err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
