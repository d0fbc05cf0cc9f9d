"""The diagnosis pipeline: facts (collected or from a snapshot) + probes -> inference -> report.

This is the only place that joins the network side (collectors, probes) with the inference side
(knowledge, engine); the inference itself never touches the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.facts import Fact, Snapshot, unique_ids, valid_unicode
from engine.inference import run
from engine.knowledge import KnowledgeBase
from engine.redact import redact_fact, redact_strings
from engine.report import build_report


def diagnose(
    kb: KnowledgeBase,
    targets: list[str],
    *,
    snapshot: str | None = None,
    timeout: float = 3.0,
    listen_ports: list[int] | None = None,
    env: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    history_file: Path | None = None,
    stun_servers: list[str] | None = None,
    portal_check: str | None = None,
    portal_expect: str | None = None,
    pac_url: str | None = None, doh_url: str | None = None,
) -> dict[str, Any]:
    """Run a whole diagnosis; raises FactError (bad snapshot) or TargetError (bad target).
    ``progress`` hears each stage as it starts (the command line shows it on a terminal).
    ``history_file``: a live run reads the earlier runs' time patterns from it (N4) and
    appends its own outcome per target (``engine.history``). ``stun_servers``: ask each for
    the public address this host is seen from (N3). ``portal_check``: a known-answer URL
    fetched to see whether a captive portal answers instead (``portal_expect``: its body).
    ``pac_url``: the PAC file to hold the proxy variables against (else ``auto_proxy``
    from ``env``; P2). ``doh_url``: a DNS-over-HTTPS server, asked beside plain DNS to the
    same address."""
    from engine.probes.target import parse_target

    def stage(text: str) -> None:
        if progress is not None:
            progress(text)

    parsed = [parse_target(t) for t in targets]  # bad targets fail before any work is done
    stage(f"reading snapshot {snapshot}" if snapshot else "collecting facts from this machine")
    if snapshot:
        snap = Snapshot.load(snapshot)
        facts, host, collected_at = list(snap.facts), snap.host, snap.collected_at
    else:
        from engine.collectors import collect_all
        from engine.collectors.base import CollectContext

        snap = Snapshot(collect_all(CollectContext(env=dict(env or {}))))
        facts, host, collected_at = snap.facts, snap.host, snap.collected_at
    probe_facts: list[Fact] = []
    if parsed or listen_ports or stun_servers or portal_check or doh_url:
        from engine.probes import probe
        from engine.probes.counters import CounterWatch

        waiting = [t.raw for t in parsed]
        others = ", ".join([*(["listen ports"] if listen_ports else []),
                            *(f"STUN {s}" for s in stun_servers or []),
                            *([f"portal check {portal_check}"] if portal_check else []),
                            *([f"DoH {doh_url}"] if doh_url else [])])

        def probing() -> None:
            done = len(parsed) - len(waiting)
            stage(f"probing {', '.join(waiting) or others} (timeout {timeout:g}s each"
                  f"{f'; {done} of {len(parsed)} targets done' if done else ''})")

        def target_done(raw: str) -> None:
            if raw in waiting:
                waiting.remove(raw)
            probing()

        probing()
        # Trust-store paths in a snapshot name files on the machine it came from: probes here
        # never open them (they would open whatever a stranger's snapshot names).
        # Nor a desktop's PAC URL: it would fetch whatever a stranger's snapshot names.
        local = [f for f in facts if f.kind not in ("trust_store", "proxy_autoconfig")] \
            if snapshot else facts
        # The kernel's drop counters around the probes: what this host threw away meanwhile.
        counters = CounterWatch()
        probe_facts = probe(parsed, local, timeout=timeout, env=dict(env or {}),
                            listen_ports=list(listen_ports or []), on_target_done=target_done,
                            stun_servers=list(stun_servers or []),
                            portal_check=portal_check, portal_expect=portal_expect,
                            pac_url=pac_url, doh_url=doh_url)
        probe_facts += counters.changes()
    # Redact before inference: no explanation, report or log line can then carry a secret,
    # whatever a collector or a rule template does.
    # Probes read what remote peers send: lone surrogates become text every output can hold.
    all_facts = unique_ids([redact_fact(f) for f in
                            [*facts, *(valid_unicode(f) for f in probe_facts)]])
    from engine.firewall.files import link
    from engine.firewall.verdicts import firewall_verdicts

    # The firewall files against the live rules (F7), then which rule decides each probed
    # connection (from facts only: a snapshot diagnoses like a live run).
    links = link(all_facts)
    all_facts += links.facts
    if probe_facts:
        all_facts += firewall_verdicts(all_facts, links)
    layers: list[dict[str, Any]] = []
    paths: list[dict[str, str]] = []
    if parsed:
        from engine.layers import layer_summary, network_paths, path_summary

        # The drawn path is a fact too (B3), so rules can check that every hop is known.
        all_facts += network_paths(parsed, all_facts)
        from engine.families import family_splits

        # One address family failing while the other works (X10): both sides in one fact.
        all_facts += family_splits(parsed, all_facts)
        layers = layer_summary(parsed, all_facts)
        paths = path_summary(parsed, all_facts)
    now = datetime.now().astimezone()
    keep_history = history_file is not None and not snapshot and bool(parsed)
    if keep_history and history_file is not None:
        from engine.history import history_facts, read_history

        all_facts += history_facts(read_history(history_file), [t.raw for t in parsed], now,
                                   history_file)
    stage(f"inferring: {len(kb.active_rules)} rules over {len(all_facts)} facts")
    result = run(kb, all_facts)
    report = build_report(
        kb=kb, facts=all_facts, result=result,
        targets=[t.to_json() for t in parsed], layers=layers, host=host,
        collected_at=collected_at,
    )
    report["paths"] = redact_strings(paths)
    if snapshot and (parsed or listen_ports):
        report["notes"] = [mixed_machines_note(host, collected_at)]
    if keep_history and history_file is not None:
        from engine.history import record

        problem = record(history_file, report, now)
        if problem:
            report.setdefault("notes", []).append(f"history not written: {problem}")
    return report


def mixed_machines_note(host: str, collected_at: str) -> str:
    """A snapshot's facts joined with probes run here: say that two machines are mixed."""
    import socket

    here = socket.gethostname()
    return (f"two machines mixed: the collected facts come from the snapshot of "
            f"{host or 'an unnamed host'} ({collected_at or 'time unknown'}), the probes "
            f"ran now from {here}; findings joining both may not hold on either")
