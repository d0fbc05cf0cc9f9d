"""Per-link DNS routing domains (X24), on a real systemd-resolved: the recorded resolvectl
outputs go through the resolver collector's parsers, the recorded probe facts of whynet's run
against that resolved join them, and the knowledge base decides (see
tests/fixtures/resolved_routing/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.collectors.resolver import parse_resolvectl_dns, parse_resolvectl_domain
from engine.facts import Fact, make_fact
from engine.inference import run
from engine.knowledge import load_knowledge
from engine.report import build_findings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "resolved_routing"
RULE = "name.routing-domain-misses-name"


def test_resolvectl_domain() -> None:
    facts = parse_resolvectl_domain((FIXTURES / "resolvectl-domain.txt").read_text())
    assert [(f["link"], f["domain"], f["routing_only"]) for f in facts] == [
        ("vpn0", "corp.example", True)]
    assert facts[0].source == {"command": "resolvectl domain", "link": "vpn0"}


def test_resolvectl_domain_of_the_older_recording() -> None:
    text = (FIXTURES.parent / "resolver" / "resolvectl-domain.txt").read_text()
    facts = parse_resolvectl_domain(text)
    assert [(f["link"], f["domain"], f["routing_only"]) for f in facts] == [
        (None, "example.org", False), ("wan0", "corp.example", False),
        ("wan0", "internal.example", True)]


def recorded_facts(name: str) -> list[Fact]:
    """The collector's facts from the recorded resolvectl outputs, and the recorded probes and
    resolv.conf nameservers (the stub, which sends the system resolver through resolved)."""
    report = json.loads((FIXTURES / f"report-{name}.json").read_text())
    probes = [make_fact(f["kind"], f["id"], f["source"],
                        **{k: v for k, v in f.items() if k not in ("kind", "id", "source")})
              for f in report["facts"] if f["kind"].startswith("probe_")
              or (f["kind"] == "nameserver" and f.get("origin") == "resolv.conf")]
    collected = [*parse_resolvectl_dns((FIXTURES / "resolvectl-dns.txt").read_text()),
                 *parse_resolvectl_domain((FIXTURES / "resolvectl-domain.txt").read_text())]
    return [*collected, *probes]


@pytest.fixture(scope="module")
def kb():  # type: ignore[no-untyped-def]
    return load_knowledge()


def test_a_zone_the_vpn_does_not_route(kb) -> None:  # type: ignore[no-untyped-def]
    findings = build_findings(kb, run(kb, recorded_facts("build.corp-lab.example")))
    top = findings[0]
    assert top.rule.id == RULE, [f.rule.id for f in findings]
    assert "vpn0" in top.explanation and "10.66.5.30" in top.explanation
    assert [f.rule.id for f in findings if f.severity == "error"] == [RULE]


def test_a_routed_zone_is_left_alone(kb) -> None:  # type: ignore[no-untyped-def]
    findings = build_findings(kb, run(kb, recorded_facts("wiki.corp.example")))
    assert RULE not in {f.rule.id for f in findings}


def test_silent_where_resolv_conf_bypasses_the_stub(kb) -> None:  # type: ignore[no-untyped-def]
    """The same run, but resolv.conf naming the public server itself: glibc asks it directly,
    routing domains play no part, so the rule must not blame them."""
    facts = [f for f in recorded_facts("build.corp-lab.example")
             if not (f.kind == "nameserver" and f.get("origin") == "resolv.conf")]
    facts.append(make_fact("nameserver", "nameserver:resolv.conf:198.51.100.53",
                           {"file": "/etc/resolv.conf", "line": 1}, ip="198.51.100.53",
                           origin="resolv.conf", link=None, stub=False))
    findings = build_findings(kb, run(kb, facts))
    assert RULE not in [f.rule.id for f in findings]
