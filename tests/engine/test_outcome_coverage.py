"""No failing probe goes unexplained: for every probe kind and every outcome of the closed set
that is a failure, some rule fires at warning or above on that probe fact alone.

A new outcome (or probe kind) fails here until a rule reads it: the floor rules in
knowledge/floor.yaml list the failing outcomes of each kind explicitly.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.inference import example_facts, run
from engine.knowledge import KnowledgeBase, load_knowledge
from engine.probes import outcomes as O
from engine.report import build_findings

TARGET = "https://app.example.test:8443/"

#: The fields a probe of each kind carries besides its outcome (as the probes fill them).
FIELDS: dict[str, dict[str, Any]] = {
    "probe_target": {"host": "app.example.test", "port": 8443, "port_reason": "explicit",
                     "scheme": "https", "tls": True},
    "probe_resolve": {"host": "app.example.test", "via": "system", "transport": "system",
                      "error": "the lookup failed"},
    "probe_route": {"ip": "192.0.2.80", "error": "the lookup failed"},
    "probe_icmp": {"ip": "192.0.2.80", "error": "no echo reply"},
    "probe_tcp": {"ip": "192.0.2.80", "port": 8443, "error": "it failed"},
    "probe_tls": {"ip": "192.0.2.80", "port": 8443, "sni": "app.example.test",
                  "error": "it failed", "self_signed": False, "name_matches": True},
    "probe_proxy": {"proxy": "http://192.0.2.3:3128", "variable": "HTTPS_PROXY",
                    "error": "it failed"},
    "probe_http": {"ip": "192.0.2.80", "port": 8443, "url": TARGET, "error": "it failed"},
    "probe_pac": {"pac_url": "http://192.0.2.3/wpad.dat", "pac_source": "--pac",
                  "error": "it failed"},
    "probe_listen": {"port": 8443, "protocol": "tcp", "error": "it failed"},
    "probe_udp": {"ip": "192.0.2.80", "port": 8443, "error": "Operation not permitted"},
    "probe_arp": {"ip": "192.0.2.1", "interface": "eth0", "macs": []},
    "probe_dad": {"ip": "192.0.2.10", "interface": "eth0", "macs": []},
    "probe_portal": {"url": "http://detect.example.test/success.txt", "expected": "HTTP 204",
                     "ip": "192.0.2.80", "status": 302, "location": "http://192.0.2.1/login",
                     "redirect": True, "login_form": False, "error": "it failed"},
    "probe_dns_transport": {"via": "192.0.2.53", "port": 853, "transport": "dot",
                            "sni": "dns.example.test", "dns_over_tls": "yes",
                            "error": "it failed"},
    "probe_nxdomain": {"via": "192.0.2.53", "qname": "whynet-nx-0123456789abcdef.com",
                       "addresses": ["192.0.2.99"], "rcode": "NOERROR"},
    "probe_stun": {"server": "stun.example.test:3478", "ip": "192.0.2.30", "port": 3478,
                   "error": "it failed"},
    "probe_path_quality": {"ip": "192.0.2.80", "method": "raw", "sent": 8, "received": 0,
                           "loss_pct": 100.0, "error": "it failed"},
    "probe_pmtu": {"ip": "192.0.2.80", "port": 8443, "family": 4, "clamped_mss": 536,
                   "error": "it failed"},
}
#: What an outcome implies for other fields (an HTTP error has a status, two ARP answers...).
IMPLIED: dict[tuple[str, str], dict[str, Any]] = {
    ("probe_http", O.HTTP_ERROR): {"status": 503, "error": None},
    ("probe_arp", O.DUPLICATE): {"macs": ["52:54:00:00:00:01", "52:54:00:00:00:02"]},
    ("probe_dad", O.DUPLICATE): {"macs": ["52:54:00:00:00:02"]},
    ("probe_proxy", O.PROXY_REFUSED): {"connect_status": 403},
    ("probe_proxy", O.PROXY_UPSTREAM_ERROR): {"connect_status": 502},
}

FAILING = sorted((kind, outcome) for kind, outcomes in O.BY_KIND.items()
                 for outcome in outcomes - O.PASSING.get(kind, frozenset()))


def test_every_probe_kind_says_which_outcomes_pass() -> None:
    assert set(O.PASSING) == set(O.BY_KIND)
    assert set(FIELDS) == set(O.BY_KIND)
    for kind, passing in O.PASSING.items():
        assert passing <= O.BY_KIND[kind], kind


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(include_user=False)


@pytest.mark.parametrize(("kind", "outcome"), FAILING)
def test_a_failing_probe_outcome_gives_a_finding(kb: KnowledgeBase, kind: str,
                                                 outcome: str) -> None:
    fact = {"kind": kind, "id": f"{kind}:x", "target": TARGET, "layer": "x",
            "outcome": outcome, **FIELDS[kind], **IMPLIED.get((kind, outcome), {})}
    # every diagnosed target has its parsed form beside its probes
    parsed = {"kind": "probe_target", "target": TARGET, "layer": "transport",
              "outcome": O.PARSED, **FIELDS["probe_target"]}
    facts = example_facts([fact] if kind == "probe_target" else [fact, parsed])
    findings = build_findings(kb, run(kb, facts))
    raised = [g for f in findings for g in (f, *f.supporting)
              if g.at_least_warning and f"{kind}:x" in g.evidence]
    assert raised, f"no rule at warning or above reads {kind} outcome {outcome}"
    assert any(f.at_least_warning for f in findings)
