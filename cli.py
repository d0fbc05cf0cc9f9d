"""whynet's command line: parse, call the engine, render. No logic of its own.

Exit codes: 0 fine; 1 findings at warning or above (``diagnose``), a rule that did not fire
(``why``) or failing examples (``rules test``); 2 bad usage or bad input (a broken snapshot, a
report where a snapshot belongs, invalid rules, a bad target, an unknown rule, an unwritable
output). Expected problems are one ``Error:`` line on stderr; ``--debug`` shows a traceback
instead.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import click

from engine import __version__
from engine.redact import redact_text
from engine.safetext import clean


class InputError(click.ClickException):
    """Bad input or usage: one line on stderr, exit 2."""

    exit_code = 2


def fail(message: str) -> NoReturn:
    raise InputError(clean(redact_text(message), one_line=True))


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


def last_report_path() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "whynet" / "last.json"


KNOWLEDGE_HELP = ("Extra rule directory or file (repeatable); added to the shipped rules, "
                  "~/.config/whynet/knowledge and WHYNET_KNOWLEDGE.")


def _load_kb(knowledge: tuple[str, ...], strict: tuple[str, ...] = ()) -> Any:
    """The knowledge base; a broken user rule file is one warning line and is left out."""
    from engine.knowledge import KnowledgeLoadError, load_knowledge

    try:
        kb = load_knowledge(knowledge, strict=strict)
    except KnowledgeLoadError as exc:
        for e in exc.errors[:-1]:
            click.echo(f"Error: {clean(e, one_line=True)}", err=True)
        fail(str(exc.errors[-1]))
    for skipped in kb.skipped:
        click.echo(f"Warning: {clean(skipped, one_line=True)}", err=True)
    return kb


def _check_output(option: str, path: str) -> None:
    """Refuse an output path that cannot be written before any work is done."""
    p = Path(path)
    if p.is_dir():
        fail(f"{option} {path}: is a directory (give a file name)")
    if not p.parent.is_dir():
        fail(f"{option} {path}: directory {p.parent} does not exist")


def _load_report(path: str | None) -> dict[str, Any]:
    p = Path(path) if path else last_report_path()
    if not p.exists():
        fail(f"{p}: no report (run `whynet diagnose --save FILE` first, or pass --report FILE)")
    from engine.files import SNAPSHOT_LIMIT, RefusedFile, read_regular

    try:
        text = read_regular(p, SNAPSHOT_LIMIT).decode("utf-8")
        data = json.loads(text)
    except RefusedFile as exc:
        fail(f"{p}: cannot read report: {exc}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        fail(f"{p}: not a whynet report ({exc.__class__.__name__})")
    from engine.facts import valid_unicode_data

    # A lone surrogate ("\ud800") cannot be shown or written: replaced, as collectors replace
    # them (a report from an older whynet may hold one from a non-UTF-8 environment value).
    try:
        data = valid_unicode_data(text, data)
    except RecursionError:
        fail(f"{p}: not a whynet report (nested too deeply)")
    if isinstance(data, dict) and "facts" in data and "findings" not in data:
        fail(f"{p}: this is a whynet snapshot, not a report (diagnose it first: "
             f"`whynet diagnose --snapshot {p} --save report.json`)")
    if not isinstance(data, dict) or "findings" not in data or "justification" not in data:
        fail(f"{p}: not a whynet report (no findings/justification)")
    return data


MAX_TIMEOUT = 3600.0


def _seconds(value: float) -> float:
    """A --timeout: finite, above 0, at most an hour (nan, inf and 1e400 would reach asyncio
    and the socket layer, which fail on them with tracebacks)."""
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise click.BadParameter(f"{value}: give seconds above 0 and at most {MAX_TIMEOUT:g}")
    return value


def _write(path: str, text: str) -> None:
    """Write an output file whole or not at all: a failed write never truncates what was there."""
    from engine.files import write_atomically

    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        fail(f"{path}: not written: the text is not valid Unicode (a lone surrogate)")
    try:
        write_atomically(path, data)
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
@click.option("--timeout", default=10.0, show_default=True, type=float,
              callback=lambda ctx, param, value: _seconds(value),
              help="Per-command timeout (s).")
def collect(output: str | None, timeout: float) -> None:
    """Collect facts from this machine into a snapshot (secrets redacted)."""
    from engine.collectors import collect_all
    from engine.collectors.base import CollectContext
    from engine.facts import Snapshot

    if output:
        _check_output("-o", output)
    snap = Snapshot(collect_all(CollectContext(timeout=timeout)))
    text = snap.dumps()
    if output:
        _write(output, text + "\n")
        kinds = sorted({f.kind for f in snap.facts})
        click.echo(f"wrote {len(snap.facts)} facts of {len(kinds)} kinds to {output}", err=True)
    else:
        click.echo(text)


# --- diagnose -----------------------------------------------------------------------------------

DIAGNOSE_EPILOG = """\b
TARGETS, as you would write them:
  host, host:port, 192.0.2.7, [2001:db8::1]:22, 2001:db8::1
  URLs: https://host:8443/path, smb://host, postgres://user:pass@host/db
  (the scheme gives the port; credentials are redacted). A target with no port
  and no scheme gets the name, route and ICMP checks only.

\b
Exit codes:
  0  nothing at warning or above
  1  findings at warning or above
  2  bad usage or input (bad target, broken snapshot, invalid rules)

\b
Examples:
  whynet diagnose https://app.example:8443
  whynet diagnose --save report.json db.internal:5432 && whynet why RULE
  whynet collect -o snap.json; whynet diagnose --snapshot snap.json
"""

@main.command(epilog=DIAGNOSE_EPILOG)
@click.argument("targets", nargs=-1)
@click.option("--snapshot", metavar="FILE", help="Diagnose a saved snapshot instead of this machine.")
@click.option("--listen", "listen_ports", multiple=True, type=int, metavar="PORT",
              help="Can I serve on PORT here? (repeatable)")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
              show_default=True, help="Report format: text for a person, json for tools "
                                      "(and why/why-not), html for one self-contained page.")
@click.option("-o", "--output", metavar="FILE", help="Write the report here instead of stdout.")
@click.option("--save", metavar="FILE", help="Also write the JSON report (for why / why-not).")
@click.option("--timeout", default=3.0, show_default=True, type=float,
              callback=lambda ctx, param, value: _seconds(value),
              help="Timeout for each probe (s).")
@click.option("--knowledge", multiple=True, metavar="DIR", help=KNOWLEDGE_HELP)
@click.option("--quiet", is_flag=True,
              help="Text: print only the verdict, one line per target (one line without "
                   "targets).")
@click.option("--stun", "stun_servers", multiple=True, metavar="HOST[:PORT]",
              envvar="WHYNET_STUN",
              help="Ask this STUN server which public address this host is seen from (N3); "
                   "default port 3478. Env: WHYNET_STUN (space-separated).")
@click.option("--portal-check", metavar="URL", envvar="WHYNET_PORTAL_CHECK",
              help="Fetch this known-answer URL to see whether a captive portal answers "
                   "instead (expects HTTP 204 unless --portal-expect). Env: "
                   "WHYNET_PORTAL_CHECK.")
@click.option("--portal-expect", metavar="TEXT", envvar="WHYNET_PORTAL_EXPECT",
              help="The body the --portal-check URL answers with (HTTP 200), e.g. 'success'. "
                   "Env: WHYNET_PORTAL_EXPECT.")
@click.option("--pac", "pac_url", metavar="URL",
              help="The proxy auto-config file browsers use here (http, https or file URL; "
                   "default: $auto_proxy), or 'auto' to look for it by WPAD over DNS "
                   "(wpad.DOMAIN of the search domains): where it sends each target, against "
                   "the proxy variables (P2).")
@click.option("--doh", "doh_url", metavar="URL", envvar="WHYNET_DOH",
              help="A DNS-over-HTTPS server (https://host/dns-query) to ask beside plain DNS "
                   "to the same address: is one blocked while the other works? Env: "
                   "WHYNET_DOH.")
def diagnose(targets: tuple[str, ...], snapshot: str | None, listen_ports: tuple[int, ...],
             fmt: str, output: str | None, save: str | None, timeout: float,
             knowledge: tuple[str, ...], quiet: bool, stun_servers: tuple[str, ...],
             portal_check: str | None, portal_expect: str | None,
             pac_url: str | None, doh_url: str | None) -> None:
    """Collect (or load), probe TARGETS, infer, and report the likely causes.

    With no TARGETS, whynet checks this host's own set-up (links, addresses, routes,
    resolvers, firewall, proxies).
    """
    from engine.diagnose import diagnose as run_diagnosis
    from engine.facts import FactError
    from engine.history import history_path
    from engine.probes.target import TargetError

    for port in listen_ports:
        if not 0 < port < 65536:
            fail(f"--listen {port}: port out of range 1-65535")
    from engine.probes.stun import StunError, parse_server

    for server in stun_servers:
        try:
            parse_server(server)
        except StunError as exc:
            fail(str(exc))
    from engine.probes.portal import PortalCheckError, parse_check_url

    if portal_check:
        try:
            parse_check_url(portal_check)
        except PortalCheckError as exc:
            fail(str(exc))
    elif portal_expect is not None:
        fail("--portal-expect needs --portal-check URL")
    from engine.probes.dot import DohUrlError, parse_doh_url

    if doh_url:
        try:
            parse_doh_url(doh_url)
        except DohUrlError as exc:
            fail(str(exc))
    if output:
        _check_output("-o", output)
    if save:
        _check_output("--save", save)
    kb = _load_kb(knowledge)
    from engine.render import progress_line

    try:
        with progress_line() as progress:
            report = run_diagnosis(kb, list(targets), snapshot=snapshot, timeout=timeout,
                                   listen_ports=list(listen_ports), env=dict(os.environ),
                                   progress=progress, history_file=history_path(),
                                   stun_servers=list(stun_servers),
                                   portal_check=portal_check or None,
                                   portal_expect=portal_expect, pac_url=pac_url,
                                   doh_url=doh_url or None)
    except (FactError, TargetError) as exc:
        fail(str(exc))
    text = json.dumps(report, indent=1, default=str)
    if save:
        _write(save, text + "\n")
    _remember(text)
    if fmt == "json":
        out = text
    elif fmt == "html":
        from engine.render_html import render_html

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
            rendered = io.StringIO()
            render_text(report, console(rendered, width=100, color=False), quiet=quiet)
            _write(output, rendered.getvalue())
        else:
            render_text(report, console(), quiet=quiet)
    from engine.report import exit_code

    sys.exit(exit_code(report))


def _remember(text: str) -> None:
    """Keep the last report for `why` / `why-not` (best effort: a read-only home is fine).

    Private (0600: reports describe the machine) and replaced atomically, so parallel runs
    leave one whole report and `why` never reads a half-written one."""
    from engine.files import write_atomically

    path = last_report_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(path, (text + "\n").encode("utf-8"), mode=0o600)
    except (OSError, UnicodeEncodeError):
        pass


# --- why / why-not ------------------------------------------------------------------------------

def _rule_from(report: Mapping[str, Any], rule_id: str,
               knowledge: tuple[str, ...]) -> tuple[Any, Any]:
    """The rule and the knowledge base it comes from (exit 2 for an unknown rule).

    Only rule files the user names (and the usual sources) are loaded: the files a report
    lists came from whoever wrote the report, so they are named in the hint, never opened."""
    kb = _load_kb(knowledge)
    rule = kb.get(rule_id)
    if rule is None:
        close = [r.id for r in kb.rules if rule_id.split(".")[-1] in r.id][:5]
        hint = f" (did you mean: {', '.join(close)})" if close else " (see `whynet rules list`)"
        fail(f"unknown rule {rule_id!r}{hint}{_other_rule_files(report, kb)}")
    return rule, kb


def _other_rule_files(report: Mapping[str, Any], kb: Any) -> str:
    """A hint naming the rule files the report was made with that are not loaded here."""
    knowledge = report.get("knowledge")
    files = (knowledge.get("user_files", knowledge.get("files"))
             if isinstance(knowledge, Mapping) else None)
    if not isinstance(files, list):
        return ""
    loaded = {str(Path(f).resolve()) for f in kb.files}
    others = [str(f) for f in files if isinstance(f, str) and f not in loaded][:3]
    if not others:
        return ""
    return f"; the report was made with rules from {', '.join(others)}: pass --knowledge DIR"


def _disabled_note(kb: Any, rule_id: str) -> str | None:
    where = kb.disabled_at.get(rule_id)
    return f"{rule_id} is disabled (by `disabled:` in {where}), so it never runs" if where else None


def _complete_rule_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion for RULE: the ids of every rule that loads (quietly)."""
    from engine.knowledge import KnowledgeLoadError, load_knowledge

    try:
        kb = load_knowledge()
    except KnowledgeLoadError:
        return []
    return [r.id for r in kb.rules if r.id.startswith(incomplete)]


def _explained_rule_command(name: str) -> Any:
    """The shared signature of `why` and `why-not`: RULE, --report, --knowledge."""

    def decorate(fn: Any) -> Any:
        fn = click.option("--knowledge", multiple=True, metavar="DIR", help=KNOWLEDGE_HELP)(fn)
        fn = click.option("--report", "report_path", metavar="FILE",
                          help="Report to read (default: last).")(fn)
        fn = click.argument("rule_id", metavar="RULE", shell_complete=_complete_rule_id)(fn)
        return main.command(name)(fn)

    return decorate


@_explained_rule_command("why")
def why(rule_id: str, report_path: str | None, knowledge: tuple[str, ...]) -> None:
    """Show the rules and facts behind a finding, down to each fact's source line."""
    from engine.explain import why as explain_why
    from engine.facts import FactError
    from engine.render import clean, console

    report = _load_report(report_path)
    rule, kb = _rule_from(report, rule_id, knowledge)
    try:
        tree = explain_why(report, rule)
    except FactError as exc:
        fail(str(exc))
    con = console()
    if tree is None:
        disabled = _disabled_note(kb, rule_id)
        if disabled:
            click.echo(f"{clean(disabled)}.")
        else:
            click.echo(f"{clean(rule_id)} did not fire in this report; "
                       f"try `whynet why-not {clean(rule_id)}`.")
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
    rule, kb = _rule_from(report, rule_id, knowledge)
    disabled = _disabled_note(kb, rule_id)
    if disabled:
        click.echo(f"{clean(disabled)}: it did not fire. Remove it from that list to run it.")
        return
    try:
        result = explain_why_not(report, rule, kb.relations)
    except FactError as exc:
        fail(str(exc))
    console().print(render_why_not(result))


# --- rules --------------------------------------------------------------------------------------

@main.group()
def rules() -> None:
    """List, write, validate and test knowledge-base rules (see docs/writing-rules.md)."""


@main.command("history")
@click.option("--target", "only", metavar="TARGET", help="Only this target (as typed).")
@click.option("-n", "--limit", default=50, show_default=True, type=click.IntRange(min=1),
              help="Show the latest N runs.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for a person, json for tools.")
def history(only: str | None, limit: int, fmt: str) -> None:
    """Earlier diagnoses of this machine's targets (N4): when each failed, and whether the
    failures cluster by hour of day or weekday. Kept in $XDG_STATE_HOME/whynet/history.jsonl."""
    from datetime import datetime

    from engine.history import history_path, pattern_of, read_history

    path = history_path()
    entries = [e for e in read_history(path) if only is None or e["target"] == only]
    now = datetime.now().astimezone()
    by_target: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_target.setdefault(e["target"], []).append(e)
    patterns = {t: pattern_of(runs, now) for t, runs in by_target.items()}
    if fmt == "json":
        click.echo(json.dumps({"file": str(path), "entries": entries[-limit:],
                               "patterns": patterns}, indent=1))
        return
    from rich.table import Table
    from rich.text import Text

    from engine.render import clean, console

    con = console()
    if not entries:
        con.print(Text(clean(f"no diagnoses recorded in {path}")))
        return
    table = Table(title=Text(clean(f"{min(limit, len(entries))} of {len(entries)} runs ({path})")))
    for col in ("at", "target", "result", "first failing layer", "top finding"):
        table.add_column(col)
    for e in entries[-limit:]:  # values from a file: shown as text, never read as markup
        table.add_row(*(Text(clean(v, one_line=True)) for v in (
            e["at"], e["target"], "ok" if e["ok"] else "fail", e.get("layer") or "",
            e.get("rule") or "")))
    con.print(table)
    for target, p in patterns.items():
        when = (f"failures cluster by {p['clustered_by']}: {p['window']}" if p["clustered_by"]
                else "no time pattern")
        con.print(Text(clean(f"{target}: {p['runs']} runs, {p['failures']} failed; {when}")),
                  highlight=False)


@rules.command("list")
@click.option("--knowledge", multiple=True, metavar="DIR", help=KNOWLEDGE_HELP)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for a person, json for tools.")
def rules_list(knowledge: tuple[str, ...], fmt: str) -> None:
    """The rules (id, title, severity, checklist, layer, file) and the checklist coverage."""
    kb = _load_kb(knowledge)
    rows = [{"id": r.id, "title": r.title, "severity": r.severity,
             "checklist": list(r.checklist), "layer": r.layer, "file": r.location,
             "examples": len(r.examples), "disabled": r.id in kb.disabled,
             "disabled_by": kb.disabled_at.get(r.id)} for r in kb.rules]
    coverage = kb.checklist_coverage()
    if fmt == "json":
        click.echo(json.dumps({"rules": rows, "checklist": coverage}, indent=1))
        return
    from rich.table import Table
    from rich.text import Text

    from engine.render import clean, console, rule_file

    con = console()
    # The id is what `why` needs: it is never shrunk or wrapped. Below the width a table needs
    # to stay readable, each rule is a block: the id whole on its own line, then the rest.
    id_width = max((len(r["id"]) for r in rows), default=2)
    if con.width >= id_width + 90:
        table = Table(title=f"{len(rows)} rules ({len(kb.disabled)} disabled)")
        table.add_column("id", no_wrap=True, min_width=id_width, overflow="ignore")
        for col in ("severity", "layer", "checklist"):
            table.add_column(col, no_wrap=True)
        table.add_column("title", ratio=2)
        table.add_column("file", ratio=1, overflow="fold")
        for r in rows:
            state = Text("disabled", style="dim") if r["disabled"] else Text(r["severity"])
            table.add_row(Text(clean(r["id"]), style="dim" if r["disabled"] else ""), state,
                          r["layer"], Text(clean(",".join(r["checklist"]))), Text(clean(r["title"])),
                          Text(rule_file(r["file"])))
        con.print(table)
    else:
        con.print(f"{len(rows)} rules ({len(kb.disabled)} disabled)")
        for r in rows:
            severity = "disabled" if r["disabled"] else r["severity"]
            con.print(Text(clean(r["id"]), style="bold"), soft_wrap=True)
            con.print(Text(clean(f"  {severity}, {r['layer']}, {','.join(r['checklist'])}: "
                                 f"{r['title']} ({rule_file(r['file'])})")))
    for r in rows:
        if r["disabled"]:
            con.print(Text(clean(f"disabled: {r['id']} (by {r['disabled_by']})")), soft_wrap=True)
    items = {c: ids for c, ids in coverage.items() if not c.startswith("X")}
    covered = [c for c, ids in items.items() if ids]
    missing = [c for c, ids in items.items() if not ids]
    con.print(Text(clean(f"checklist items with rules: {len(covered)}/{len(items)}: "
                         f"{' '.join(covered)}")))
    beyond = [c for c, ids in coverage.items() if c.startswith("X") and ids]
    if beyond:
        con.print(Text(clean(f"beyond the checklist: {' '.join(beyond)}")))
    if missing:
        con.print(Text(clean(f"without rules: {' '.join(missing)}")))


def _given_files(paths: tuple[str, ...]) -> list[Path]:
    """The rule files PATHS name; a missing path or one without rule files is exit 2."""
    from engine.knowledge import rule_files

    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            fail(f"{p}:1: no such file or directory")
        found = rule_files(path)
        if not found:
            fail(f"{p}:1: no *.yaml rule files here")
        files.extend(found)
    return files


@rules.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def rules_validate(paths: tuple[str, ...]) -> None:
    """Check rule files: schema and syntax; errors as FILE:LINE: message (exit 2)."""
    from engine.knowledge import KnowledgeLoadError, load_knowledge

    files = _given_files(paths)
    given = {f.resolve() for f in files}
    try:
        # Validate the given files together with the shipped ones, so ids and derived
        # kinds are checked across the whole knowledge base a user will run.
        kb = load_knowledge(strict=paths, include_user=False)
    except KnowledgeLoadError as exc:
        for e in exc.errors:
            click.echo(clean(e, one_line=True), err=True)
        sys.exit(2)
    n = sum(1 for r in kb.rules if Path(r.file).resolve() in given)
    click.echo(f"{len(files)} file(s), {n} rule(s): ok")


@rules.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--knowledge", multiple=True, metavar="DIR", help=KNOWLEDGE_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Show passing examples too.")
def rules_test(paths: tuple[str, ...], knowledge: tuple[str, ...], verbose: bool) -> None:
    """Run the examples (fires / silent) of the rules in PATHS, or of every rule; ends with
    `N passed, N failed`."""
    from engine.ruletest import run_examples

    wanted = {f.resolve() for f in _given_files(paths)}
    kb = _load_kb(knowledge, strict=paths)
    only = {r.file for r in kb.rules if Path(r.file).resolve() in wanted} if paths else None
    results = run_examples(kb, only)
    for r in results:
        if verbose or not r.passed or r.example.expect == "known-miss":
            click.echo(clean(r.describe()))
    untested = sorted(r.id for r in kb.rules if r.id in kb.disabled
                      and (only is None or r.file in only) and r.examples)
    if untested:  # a disabled rule never runs, so its examples are not run either
        click.echo(clean(f"not tested (disabled): {', '.join(untested)}"))
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


@rules.command("new")
@click.argument("rule_id", metavar="ID")
@click.option("-o", "--output", metavar="FILE",
              help="Where to write the rule file (default: ./ID.yaml). Never overwrites.")
def rules_new(rule_id: str, output: str | None) -> None:
    """Write a skeleton rule file for ID, with a firing and a silent example, ready for
    `whynet rules test FILE`. Edit it, test it, then put it in ~/.config/whynet/knowledge."""
    from engine.knowledge import KnowledgeLoadError, load_knowledge
    from engine.skeleton import rule_skeleton

    path = Path(output or f"{rule_id}.yaml")
    try:
        text = rule_skeleton(rule_id, str(path))
    except ValueError as exc:
        fail(str(exc))
    if path.exists():
        fail(f"{path}: already exists (choose another file with -o)")
    _check_output("-o", str(path))
    try:
        existing = load_knowledge().get(rule_id)
    except KnowledgeLoadError:
        existing = None
    if existing is not None:
        fail(f"rule id {rule_id!r} is already used by {existing.location}")
    _write(str(path), text)
    click.echo(f"wrote {path}: edit it, then `whynet rules test {path}`", err=True)


def run() -> None:
    """Entry point wrapper: expected errors are one line; anything else too, unless --debug."""
    try:
        main(standalone_mode=False)
    except click.UsageError as exc:
        # click prints usage, a hint and the error on four lines; one line says it all.
        command = exc.ctx.command_path if exc.ctx else "whynet"
        message = redact_text(exc.format_message().rstrip('.'))
        click.echo(f"Error: {clean(message, one_line=True)} (see `{command} --help`)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        shown = io.StringIO()
        exc.show(file=shown)
        sys.stderr.write(redact_text(shown.getvalue()))  # a URL's password never reaches stderr
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
        message = redact_text(str(exc))
        click.echo(f"Error: internal error: {exc.__class__.__name__}: "
                   f"{clean(message, one_line=True)} "
                   "(run with --debug for a traceback)", err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
