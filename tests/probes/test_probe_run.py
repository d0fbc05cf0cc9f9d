"""run_probes / probe end to end on loopback: which facts, in which order, bounded, redacted."""

from __future__ import annotations

import json
import socket
import time

from probe_helpers import Server, dead_port, http_server, read_head, tarpit

from engine.facts import make_fact
from engine.kinds import KINDS
from engine.probes import outcomes as O
from engine.probes import parse_target, probe
from engine.probes.common import probe_fact
from engine.redact import redacted_json

COMMON = {"target", "layer", "outcome", "elapsed_ms", "error"}
# Fields this package adds beyond engine/kinds.py (reported to its owner; see the report).
EXTRA_FIELDS = {
    "probe_target": {"port_text", "path"},
    "probe_resolve": {"qname", "rcode", "fallback", "hosts_addresses", "nsswitch_hosts"},
    "probe_route": {"route_type", "matched_route"},
    "probe_icmp": {"icmp", "icmp_from"},
    "probe_tcp": {"icmp_local"},
    "probe_tls": {"via_proxy", "default_store", "store_errors", "stores_not_checked",
                  "interception_hint"},
    "probe_proxy": {"caveats", "request_scheme", "no_proxy_variable"},
    "probe_listen": {"cap_net_bind_service", "firewall_evidence"},
}
PROBE_HTTP_FIELDS = {"ip", "port", "url", "status", "reason", "http_version", "server",
                     "location", "via", "via_proxy", "date", "clock_offset_s", "greeting",
                     "greeting_protocol"}


def test_loopback_targets_end_to_end() -> None:
    web, pit = http_server("404 Not Found"), tarpit()
    try:
        targets = [parse_target(t) for t in (
            f"http://127.0.0.1:{web.port}/missing", f"127.0.0.1:{dead_port()}",
            f"https://127.0.0.1:{pit.port}/", "postgres://admin:s3cr3tpw@127.0.0.1:1/db",
            "localhost")]
        began = time.monotonic()
        facts = probe(targets, [], timeout=0.8, env={}, listen_ports=[dead_port()])
        took = time.monotonic() - began
    finally:
        web.stop()
        pit.stop()
    assert took < 4 * 0.8  # resolve + connect + TLS + HTTP at most, whatever the count
    assert "s3cr3tpw" not in json.dumps([f.to_json() for f in facts])
    ids = [f.id for f in facts]
    assert len(ids) == len(set(ids))

    def of(kind: str, target: str) -> list:
        return [f for f in facts if f.kind == kind and f["target"] == target]

    http_target = f"http://127.0.0.1:{web.port}/missing"
    [http] = of("probe_http", http_target)
    assert (http["outcome"], http["status"], http["server"]) == (O.HTTP_ERROR, 404, "probe-test")
    assert [f.kind for f in facts if f["target"] == http_target] == [
        "probe_target", "probe_route", "probe_icmp", "probe_tcp", "probe_path_quality",
        "probe_proxy", "probe_http", "probe_pmtu"]
    [mtu] = of("probe_pmtu", http_target)  # a head-only 404: too small to tell
    assert (mtu["outcome"], mtu["exchange"]) == (O.INCONCLUSIVE, "http_get")
    [quality] = of("probe_path_quality", http_target)  # loopback: a clean path, 8 echoes
    if quality["method"] != "none":
        assert (quality["outcome"], quality["sent"], quality["loss_pct"]) == (O.REPLY, 8, 0.0)

    [tls] = of("probe_tls", f"https://127.0.0.1:{pit.port}/")
    assert tls["outcome"] == O.TIMEOUT
    assert of("probe_http", f"https://127.0.0.1:{pit.port}/") == []  # TLS never completed

    pg = "postgres://***@127.0.0.1:1/db"
    [tcp] = of("probe_tcp", pg)
    assert tcp["outcome"] == O.REFUSED
    assert of("probe_proxy", pg)[0]["outcome"] == O.DIRECT

    bare = of("probe_target", "localhost")[0]
    assert bare["port"] is None and bare["port_text"].startswith("no port")
    assert of("probe_tcp", "localhost") == [] and of("probe_proxy", "localhost") == []
    assert of("probe_resolve", "localhost")[0]["outcome"] == O.RESOLVED

    assert [f["outcome"] for f in facts if f.kind == "probe_listen"] == [O.CAN_LISTEN]

    for f in facts:
        assert f["outcome"] in O.BY_KIND[f.kind], (f.id, f["outcome"])
        assert COMMON <= set(f.fields), f.id
        assert set(f.source) == {"probe"}
        assert f["layer"] in ("link", "address", "route", "name", "transport", "tls", "proxy",
                              "application")
        declared = PROBE_HTTP_FIELDS if f.kind == "probe_http" else (
            set(KINDS[f.kind].fields) | EXTRA_FIELDS.get(f.kind, set()))
        assert set(f.fields) - COMMON <= declared, (f.id, set(f.fields) - COMMON - declared)


def test_nameservers_come_from_the_facts(monkeypatch) -> None:
    # Every nameserver fact is asked directly, A and AAAA (on port 53 of loopback here: whatever
    # it answers, the wiring is what this checks; the answers are tested in test_probe_dns).
    # localhost itself is never asked of DNS servers (RFC 6761), so the target is another name,
    # which the system resolver answers as it answers localhost: nothing leaves loopback.
    from engine.probes import dns

    system = dns.resolve_system

    async def as_localhost(target: str, host: str, ctx):  # type: ignore[no-untyped-def]
        return await system(target, "localhost", ctx)

    monkeypatch.setattr(dns, "resolve_system", as_localhost)
    ns = make_fact("nameserver", "nameserver:0", {"file": "/etc/resolv.conf", "line": 1},
                   ip="127.0.0.1", origin="resolv.conf", link=None, stub=True)
    facts = probe([parse_target("wiring.example.test")], [ns], timeout=0.5, env={})
    direct = [f for f in facts if f.kind == "probe_resolve" and f["via"] == "127.0.0.1"]
    assert sorted(f["rdtype"] for f in direct) == ["A", "AAAA"]


def test_every_outcome_has_a_meaning() -> None:
    used = set().union(*O.BY_KIND.values())
    assert used <= set(O.MEANINGS)
    assert all(O.MEANINGS[o] and "\n" not in O.MEANINGS[o] for o in O.MEANINGS)
    design = {"open", "refused", "timeout", "unreachable", "resolved", "nxdomain", "no_answer",
              "tls_ok", "tls_untrusted", "error"}
    assert design <= used


def test_server_class_is_loopback_only() -> None:
    server = Server(None, accept=False)
    try:
        assert server.sock.getsockname()[0] == "127.0.0.1"
    finally:
        server.stop()


def test_a_token_in_the_query_is_sent_but_never_recorded() -> None:
    # The request carries what the user wrote (a signed URL fails without its signature);
    # every fact, report and log line shows the token's name only.
    seen: list[bytes] = []

    def handle(conn: socket.socket) -> None:
        seen.append(read_head(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    web = Server(handle)
    try:
        target = parse_target(f"http://127.0.0.1:{web.port}/file?token=s3cr3tvalue&part=2")
        facts = probe([target], [], timeout=0.8, env={})
    finally:
        web.stop()
    assert any(head.startswith(b"GET /file?token=s3cr3tvalue&part=2 ") for head in seen), seen
    written = "".join(redacted_json(f) + f.id + json.dumps(f.source) for f in facts)
    assert "s3cr3tvalue" not in written
    [http] = [f for f in facts if f.kind == "probe_http"]
    assert http["url"].endswith("/file?token=<redacted>&part=2")
    assert http["target"] == f"http://127.0.0.1:{web.port}/file?token=<redacted>&part=2"


def test_a_probe_facts_id_and_words_never_hold_a_url_secret() -> None:
    # A portal check or DoH URL the user gave becomes part of the id and the words; redaction
    # before writing reads fields only, so the fact is born redacted.
    url = "http://ops:pw-s3cr3t@portal.example/check?token=t0k3n"
    fact = probe_fact("probe_portal", f"probe_portal:{url}", f"http GET {url} (known answer)",
                      target=url, layer="application", outcome=O.HTTP_OK, elapsed_ms=1,
                      error=None)
    shown = fact.id + json.dumps(fact.source)
    assert "pw-s3cr3t" not in shown and "t0k3n" not in shown
    assert fact.id == "probe_portal:http://***@portal.example/check?token=<redacted>"
