"""The diagnosis pipeline: facts (collected or from a snapshot) + probes -> inference -> report.

This is the only place that joins the network side (collectors, probes) with the inference side
(knowledge, engine); the inference itself never touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.facts import Fact, Snapshot, unique_ids
from engine.inference import run
from engine.knowledge import KnowledgeBase
from engine.redact import redact_fact
from engine.report import build_report


def diagnose(
    kb: KnowledgeBase,
    targets: list[str],
    *,
    snapshot: str | None = None,
    timeout: float = 3.0,
    listen_ports: list[int] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run a whole diagnosis; raises FactError (bad snapshot) or TargetError (bad target)."""
    from engine.probes.target import parse_target

    parsed = [parse_target(t) for t in targets]  # bad targets fail before any work is done
    if snapshot:
        snap = Snapshot.load(snapshot)
        facts, host, collected_at = list(snap.facts), snap.host, snap.collected_at
    else:
        from engine.collectors import collect_all
        from engine.collectors.base import CollectContext

        snap = Snapshot(collect_all(CollectContext(env=dict(env or {}))))
        facts, host, collected_at = snap.facts, snap.host, snap.collected_at
    probe_facts: list[Fact] = []
    if parsed or listen_ports:
        from engine.probes import probe

        probe_facts = probe(parsed, facts, timeout=timeout, env=dict(env or {}),
                            listen_ports=list(listen_ports or []))
    # Redact before inference: no explanation, report or log line can then carry a secret,
    # whatever a collector or a rule template does.
    all_facts = unique_ids([redact_fact(f) for f in [*facts, *probe_facts]])
    layers: list[dict[str, Any]] = []
    paths: list[dict[str, str]] = []
    if parsed:
        from engine.layers import layer_summary, network_paths, path_summary

        # The drawn path is a fact too (B3), so rules can check that every hop is known.
        all_facts += network_paths(parsed, all_facts)
        layers = layer_summary(parsed, all_facts)
        paths = path_summary(parsed, all_facts)
    result = run(kb, all_facts)
    report = build_report(
        kb=kb, facts=all_facts, result=result,
        targets=[t.to_json() for t in parsed], layers=layers, host=host,
        collected_at=collected_at,
    )
    report["paths"] = paths
    return report
