"""The per-layer summary, from facts only (as a snapshot would give them)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.facts import Fact, make_fact
from engine.layers import first_failing_layer, layer_summary
from engine.probes.target import parse_target


def probe(kind: str, target: str, outcome: str, **fields: Any) -> Fact:
    return make_fact(kind, f"{kind}:{target}:{len(fields)}:{outcome}", {"probe": "test"},
                     target=target, layer="x", outcome=outcome, elapsed_ms=1, error=fields.pop(
                         "error", None), **fields)


def host_facts(state: str = "up", address: bool = True) -> list[Fact]:
    facts = [make_fact("interface", "interface:lo", {"netlink": "x"}, name="lo", state="unknown",
                       link_kind="loopback", flags=["LOOPBACK", "UP", "LOWER_UP"]),
             make_fact("interface", "interface:eth0", {"netlink": "x"}, name="eth0", state=state,
                       link_kind="physical", flags=["UP"] if state == "up" else [])]
    facts.append(make_fact("address", "address:eth0:ll", {"netlink": "x"}, interface="eth0",
                           ip="fe80::1", prefix=64, family=6, scope="link"))
    if address:
        facts.append(make_fact("address", "address:eth0", {"netlink": "x"}, interface="eth0",
                               ip="192.0.2.5", prefix=24, family=4, scope="global"))
    return facts


def web_target(t: str, *, tcp: str = "open", tls: str | None = "tls_ok",
               proxy_outcome: str = "direct", http: int | None = 200, resolved: bool = True,
               **proxy_fields: Any) -> list[Fact]:
    target = parse_target(t)
    facts = [probe("probe_target", t, "parsed", host=target.host, port=target.port,
                   port_reason=target.port_reason, scheme=target.scheme, is_ip=target.is_ip,
                   tls=target.tls)]
    if not target.is_ip:
        facts.append(probe("probe_resolve", t, "resolved" if resolved else "nxdomain",
                           via="system", addresses=["192.0.2.80"] if resolved else [],
                           from_hosts=False, error=None if resolved else "Name or service not known"))
        if not resolved:
            return facts
    facts.append(probe("probe_route", t, "routed", ip="192.0.2.80", gateway="192.0.2.1",
                       interface="eth0", src="192.0.2.5", table="main", matched_route="default"))
    if target.port is not None:
        facts.append(probe("probe_tcp", t, tcp, ip="192.0.2.80", port=target.port, icmp=None))
        if tls and tcp == "open":
            facts.append(probe("probe_tls", t, tls, ip="192.0.2.80", version="TLSv1.3",
                               issuer="CN=Test CA", error=None if tls == "tls_ok" else
                               "self-signed certificate", via_proxy=False))
        facts.append(probe("probe_proxy", t, proxy_outcome, **proxy_fields))
        if http is not None:
            facts.append(probe("probe_http", t, "http_ok" if http < 400 else "http_error",
                               status=http, reason="OK"))
    return facts


def statuses(rows: list[dict[str, str]], target: str) -> dict[str, str]:
    return {r["layer"]: r["status"] for r in rows if r["target"] == target}


def test_healthy_https_target() -> None:
    t = "https://www.example.org/"
    rows = layer_summary([parse_target(t)], host_facts() + web_target(t))
    assert statuses(rows, t) == {
        "link": "ok", "address": "ok", "route": "ok", "name": "ok", "transport": "ok",
        "tls": "ok", "proxy": "skipped", "application": "ok"}
    assert first_failing_layer(rows, t) is None
    assert [r["layer"] for r in rows] == ["link", "address", "route", "name", "transport",
                                          "tls", "proxy", "application"]
    assert all(set(r) == {"target", "layer", "status", "summary"} and r["summary"] for r in rows)


def test_name_that_does_not_resolve() -> None:
    t = "https://nope.example.org/"
    rows = layer_summary([t], host_facts() + web_target(t, resolved=False))
    st = statuses(rows, t)
    assert st["name"] == "fail" and st["route"] == "unknown"
    assert first_failing_layer(rows, t) == "name"
    route = next(r for r in rows if r["layer"] == "route")
    assert "did not resolve" in route["summary"]
    tls = next(r for r in rows if r["layer"] == "tls")
    assert tls["status"] == "unknown" and "not reached" in tls["summary"]


def test_address_target_with_dropped_port() -> None:
    t = "192.0.2.80:8443"
    rows = layer_summary([t], host_facts() + web_target(t, tcp="timeout", http=None))
    st = statuses(rows, t)
    assert (st["name"], st["transport"], st["tls"]) == ("skipped", "fail", "unknown")
    assert st["application"] == "unknown"
    assert first_failing_layer(rows, t) == "transport"


def test_bare_host_has_no_transport() -> None:
    t = "fileserver.example.org"
    rows = layer_summary([t], host_facts() + web_target(t, http=None))
    st = statuses(rows, t)
    assert (st["transport"], st["tls"], st["proxy"]) == ("skipped", "skipped", "skipped")


def test_proxied_target_uses_the_proxy_for_transport() -> None:
    t = "https://www.example.org/"
    facts = host_facts() + web_target(t, tcp="timeout", proxy_outcome="proxied_ok",
                                      proxy="http://10.0.0.3:3128", proxy_reachable=True,
                                      connect_status=200, variable="https_proxy")
    rows = layer_summary([t], facts)
    st = statuses(rows, t)
    assert (st["transport"], st["proxy"]) == ("ok", "ok")
    transport = next(r for r in rows if r["layer"] == "transport")
    assert "direct" in transport["summary"] and "timeout" in transport["summary"]


def test_dead_proxy_fails_transport_first() -> None:
    t = "https://www.example.org/"
    facts = host_facts() + web_target(t, tcp="timeout", proxy_outcome="proxy_dead",
                                      proxy="http://10.0.0.3:3128", proxy_reachable=False,
                                      variable="https_proxy", http=None,
                                      error="Connection refused")
    rows = layer_summary([t], facts)
    assert statuses(rows, t)["proxy"] == "fail"
    assert first_failing_layer(rows, t) == "transport"


@pytest.mark.parametrize(("state", "address", "layer"), [("down", True, "link"),
                                                          ("up", False, "address")])
def test_link_and_address(state: str, address: bool, layer: str) -> None:
    t = "https://www.example.org/"
    rows = layer_summary([t], host_facts(state, address) + web_target(t))
    assert first_failing_layer(rows, t) == layer


def test_untrusted_tls_and_server_error() -> None:
    t = "https://www.example.org/"
    rows = layer_summary([t], host_facts() + web_target(t, tls="tls_untrusted", http=503))
    st = statuses(rows, t)
    assert (st["tls"], st["application"]) == ("fail", "fail")
    assert first_failing_layer(rows, t) == "tls"


def test_no_collected_facts_is_unknown_not_fail() -> None:
    t = "https://www.example.org/"
    rows = layer_summary([t], web_target(t))
    st = statuses(rows, t)
    assert (st["link"], st["address"]) == ("unknown", "unknown")


def test_loopback_target() -> None:
    t = "127.0.0.1:8080"
    facts = [probe("probe_target", t, "parsed", host="127.0.0.1", port=8080, is_ip=True,
                   tls=False, scheme=None),
             probe("probe_route", t, "routed", ip="127.0.0.1", interface="lo", table="local",
                   gateway=None, src="127.0.0.1"),
             probe("probe_tcp", t, "refused", ip="127.0.0.1", port=8080, icmp=None),
             probe("probe_proxy", t, "direct")]
    rows = layer_summary([t], facts)
    st = statuses(rows, t)
    assert (st["link"], st["address"], st["route"], st["transport"]) == ("ok", "ok", "ok",
                                                                          "fail")


def _rows(facts: list[Fact], t: str) -> dict[str, tuple[str, str]]:
    return {r["layer"]: (r["status"], r["summary"]) for r in layer_summary([t], facts)}


def test_an_icmp_net_unreachable_from_the_gateway_fails_the_route_layer() -> None:
    t = "http://192.0.2.80/"
    facts = host_facts() + [f for f in web_target(t, http=None) if f.kind != "probe_tcp"]
    facts.append(probe("probe_tcp", t, "unreachable", ip="192.0.2.80", port=80,
                       icmp="net-unreachable", icmp_from="192.0.2.1"))
    status, summary = _rows(facts, t)["route"]
    assert status == "fail" and summary.endswith("but net-unreachable from 192.0.2.1 for "
                                                 "192.0.2.80")
    assert first_failing_layer(layer_summary([t], facts), t) == "route"


def test_a_ping_answered_net_unreachable_fails_the_route_when_tcp_only_times_out() -> None:
    t = "http://192.0.2.80/"  # the router rate-limits ICMP errors: TCP saw no answer
    facts = host_facts() + [f for f in web_target(t, tcp="timeout", http=None)] + [
        probe("probe_icmp", t, "unreachable", ip="192.0.2.80", icmp="net-unreachable",
              icmp_from="192.0.2.1")]
    assert first_failing_layer(layer_summary([t], facts), t) == "route"


def test_a_firewall_prohibited_answer_is_not_a_route_failure() -> None:
    t = "http://192.0.2.80/"
    facts = host_facts() + [f for f in web_target(t, http=None) if f.kind != "probe_tcp"]
    facts.append(probe("probe_tcp", t, "unreachable", ip="192.0.2.80", port=80,
                       icmp="admin-prohibited", icmp_from="192.0.2.80"))
    assert first_failing_layer(layer_summary([t], facts), t) == "transport"


def test_two_arp_answers_fail_the_address_layer() -> None:
    t = "http://192.0.2.80/"
    macs = ["52:54:00:00:00:01", "52:54:00:00:00:99"]
    duplicate = host_facts() + web_target(t, tcp="refused", http=None) + [
        probe("probe_arp", t, "duplicate", ip="192.0.2.80", interface="eth0", macs=macs)]
    assert _rows(duplicate, t)["address"] == (
        "fail", "2 machines answer ARP for 192.0.2.80 on eth0: 52:54:00:00:00:01, "
                "52:54:00:00:00:99")
    assert first_failing_layer(layer_summary([t], duplicate), t) == "address"


def _v6_host(*duplicate: bool) -> list[Fact]:
    """eth0 up with one global IPv6 address per flag (``True``: dadfailed)."""
    facts = host_facts(address=False)
    facts += [make_fact("address", f"address:eth0:{n}", {"netlink": "x"}, interface="eth0",
                        ip=f"2001:db8:60::{10 + n}", prefix=64, family=6, scope="global",
                        duplicate=dup) for n, dup in enumerate(duplicate)]
    return facts


def _v6_target(t: str, tcp: str) -> list[Fact]:
    return [probe("probe_route", t, "routed", ip="2001:db8:61::20", gateway="2001:db8:60::1",
                  interface="eth0", src="2001:db8:60::10", table="main",
                  matched_route="default"),
            probe("probe_tcp", t, tcp, ip="2001:db8:61::20", port=80, icmp=None)]


def test_an_address_that_failed_dad_is_no_address() -> None:
    """The only global IPv6 address is dadfailed (the lab's v6-duplicate-address builds it for
    real): the address layer fails, naming it; a second, unique address keeps it ok."""
    t = "http://[2001:db8:61::20]/"
    rows = _rows(_v6_host(True) + _v6_target(t, "unreachable"), t)
    assert rows["address"] == (
        "fail", "no usable global IPv6 address on eth0: 2001:db8:60::10 (eth0) failed "
                "duplicate address detection (another machine holds it)")
    assert _rows(_v6_host(True, False) + _v6_target(t, "open"), t)["address"][0] == "ok"
    assert _rows(_v6_host(False) + _v6_target(t, "open"), t)["address"][0] == "ok"


def test_a_link_local_target_needs_only_a_link_local_address() -> None:
    """A router's web page at fe80::99%eth0 is reached from eth0's fe80:: address: no global
    IPv6 address is needed, and without any IPv6 address the layer says which it wanted."""
    t = "http://[fe80::99%25eth0]/"
    target = [probe("probe_route", t, "routed", ip="fe80::99%eth0", gateway=None,
                    interface="eth0", src="fe80::1", table="main", matched_route="fe80::/64"),
              probe("probe_tcp", t, "open", ip="fe80::99%eth0", port=80, icmp=None)]
    host = host_facts(address=False)  # eth0 has fe80::1/64 only
    assert _rows(host + target, t)["address"] == (
        "ok", "link-local or global address on eth0: fe80::1/64 (eth0)")
    no_ipv6 = [f for f in host_facts() if f.get("family") != 6]  # IPv4 only
    assert _rows(no_ipv6 + target, t)["address"] == (
        "fail", "no global or link-local IPv6 address on eth0")
    # a global target still wants a global address
    v6 = "http://[2001:db8:61::20]/"
    assert _rows(host + _v6_target(v6, "open"), v6)["address"] == (
        "fail", "no global IPv6 address on eth0")


def test_the_proxy_resolves_a_proxied_targets_name() -> None:
    t = "https://app.example.test/"
    facts = host_facts() + web_target(t, resolved=False) + [
        probe("probe_proxy", t, "proxied_ok", proxy="http://192.0.2.3:3128",
              variable="HTTPS_PROXY", proxy_reachable=True, connect_status=200)]
    assert _rows(facts, t)["name"] == (
        "skipped", "the proxy http://192.0.2.3:3128 resolves the name (here: nxdomain)")


def test_plain_service_on_a_port_where_tls_was_only_guessed_is_not_a_failure() -> None:
    t = "app.example.test:8443"  # no scheme: TLS tried because 8443 usually carries it
    facts = host_facts() + web_target(t, tls="not_tls", http=None)
    assert _rows(facts, t)["tls"] == (
        "skipped", "port 8443 answers without TLS (no scheme given: TLS was only tried)")
    assert first_failing_layer(layer_summary([t], facts), t) is None
    asked = "https://app.example.test:8443/"
    facts = host_facts() + web_target(asked, tls="not_tls", http=None)
    assert first_failing_layer(layer_summary([asked], facts), asked) == "tls"
