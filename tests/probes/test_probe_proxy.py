"""Proxies: which variable applies, NO_PROXY matching, and a fake proxy on loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from probe_helpers import (
    CA,
    Server,
    dead_port,
    http_proxy,
    http_server,
    tls_server,
    trust_store_fact,
)

from engine.probes import outcomes as O
from engine.probes import run_probes
from engine.probes.proxy import probe_proxy
from engine.probes.proxy_env import decide, match_no_proxy, parse_proxy_url
from engine.probes.target import parse_target

NO_PROXY_TABLE = [
    # host, port, NO_PROXY value, matched entry (or None), caveat fragment (or None)
    ("anything.example", 443, "*", "*", None),
    ("example.com", 443, "example.com", "example.com", None),
    ("www.example.com", 443, "example.com", "example.com", None),
    ("www.example.com", 443, ".example.com", ".example.com", None),
    ("example.com", 443, ".example.com", ".example.com", None),
    ("notexample.com", 443, "example.com", None, None),
    ("WWW.EXAMPLE.COM", 443, "Example.Com", "Example.Com", None),
    ("www.example.com", 443, "foo.org, example.com", "example.com", None),
    ("www.example.com", 443, "foo.org example.com", "example.com", None),
    ("10.1.2.3", 443, "10.1.2.3", "10.1.2.3", None),
    ("10.1.2.4", 443, "10.1.2.3", None, None),
    ("10.1.2.3", 443, "10.0.0.0/8", "10.0.0.0/8", "Python's urllib does not"),
    ("192.168.1.1", 443, "10.0.0.0/8", None, None),
    ("2001:db8::1", 443, "2001:db8::/32", "2001:db8::/32", "CIDR"),
    ("::1", 443, "[::1]", "[::1]", None),
    ("internal.example", 8080, "internal.example:8080", "internal.example:8080", "curl ignores"),
    ("internal.example", 443, "internal.example:8080", None, None),
    ("a.example.com", 443, "*.example.com", None, "Go-style wildcard"),
    ("a.example.com", 443, "foo,*,bar", None, "only as the whole value"),
    ("example.com", 443, "", None, None),
]


@pytest.mark.parametrize(("host", "port", "value", "entry", "caveat"), NO_PROXY_TABLE)
def test_no_proxy_matching(host, port, value, entry, caveat) -> None:
    matched, caveats = match_no_proxy(host, port, value)
    assert matched == entry
    if caveat:
        assert any(caveat in c for c in caveats), caveats
    else:
        assert caveats == []


DECIDE_TABLE = [
    # target, env, proxy url, variable, bypassed
    ("https://example.com/", {"https_proxy": "http://p:3128"}, "http://p:3128", "https_proxy",
     False),
    ("https://example.com/", {"HTTPS_PROXY": "p:3128"}, "http://p:3128", "HTTPS_PROXY", False),
    ("https://example.com/", {"https_proxy": "http://a:1", "HTTPS_PROXY": "http://b:2"},
     "http://a:1", "https_proxy", False),
    ("https://example.com/", {"http_proxy": "http://p:3128"}, None, None, False),
    ("http://example.com/", {"http_proxy": "http://p:3128"}, "http://p:3128", "http_proxy",
     False),
    ("http://example.com/", {"ALL_PROXY": "socks5://s:1080"}, "socks5://s:1080", "ALL_PROXY",
     False),
    ("example.com:443", {"https_proxy": "http://p:3128"}, "http://p:3128", "https_proxy", False),
    ("example.com:8080", {"http_proxy": "http://p:3128"}, "http://p:3128", "http_proxy", False),
    ("ssh://example.com", {"https_proxy": "http://p:3128", "all_proxy": "http://p:3128"}, None,
     None, False),
    ("example.com:5432", {"all_proxy": "http://p:3128"}, None, None, False),
    ("https://git.corp.example/", {"https_proxy": "http://p:3128", "no_proxy": ".corp.example"},
     "http://p:3128", "https_proxy", True),
    ("https://git.corp.example/", {"https_proxy": "http://p:3128", "NO_PROXY": "*"},
     "http://p:3128", "https_proxy", True),
    ("https://example.com/", {"https_proxy": "   "}, None, None, False),
]


@pytest.mark.parametrize(("target", "env", "url", "variable", "bypassed"), DECIDE_TABLE)
def test_decide(target, env, url, variable, bypassed) -> None:
    decision = decide(parse_target(target), env)
    assert (decision.proxy.url if decision.proxy else None) == url
    assert decision.variable == variable
    assert decision.bypassed is bypassed


def test_caveats_for_tool_differences() -> None:
    upper = decide(parse_target("http://h/"), {"HTTP_PROXY": "http://p:1"})
    assert any("curl ignores upper-case HTTP_PROXY" in c for c in upper.caveats)
    all_proxy = decide(parse_target("https://h/"), {"all_proxy": "http://p:1"})
    assert any("ALL_PROXY" in c for c in all_proxy.caveats)
    no_port = decide(parse_target("https://h/"), {"https_proxy": "http://p"})
    assert no_port.proxy is not None and no_port.proxy.port == 80
    assert any("curl uses 1080" in c for c in no_port.caveats)


def test_proxy_url_credentials_stay_out_of_the_url() -> None:
    proxy, _ = parse_proxy_url("http://us%40er:pa%3Ass@proxy.example:3128")
    assert proxy.url == "http://proxy.example:3128"
    assert (proxy.username, proxy.password) == ("us@er", "pa:ss")
    assert "pa:ss" not in repr(proxy)


@pytest.mark.parametrize("value", ["ftp://p:21", "http://:3128", "http://p:99999"])
def test_bad_proxy_values_are_errors_not_crashes(value: str) -> None:
    decision = decide(parse_target("https://h/"), {"https_proxy": value})
    assert decision.error and decision.proxy is None


# --- against a fake proxy on loopback --------------------------------------------------------

@pytest.fixture
def servers():
    started: list[Server] = []
    yield started
    for s in started:
        s.stop()


def run_proxy(target: str, env: dict[str, str], make_ctx, timeout: float = 2.0):
    return asyncio.run(probe_proxy(parse_target(target), make_ctx(timeout=timeout, env=env)))[0]


def test_connect_200_is_proxied_ok_and_credentials_are_sent_not_shown(make_ctx,
                                                                       servers) -> None:
    upstream = http_server()
    proxy = http_proxy(200)
    servers += [upstream, proxy]
    env = {"https_proxy": f"http://alice:s3cr3tpw@127.0.0.1:{proxy.port}"}
    fact = run_proxy(f"https://127.0.0.1:{upstream.port}/", env, make_ctx)
    assert fact["outcome"] == O.PROXIED_OK
    assert (fact["proxy_reachable"], fact["connect_status"]) == (True, 200)
    assert fact["variable"] == "https_proxy"
    assert fact["proxy"] == f"http://127.0.0.1:{proxy.port}"
    assert "s3cr3tpw" not in json.dumps(fact.to_json())
    assert proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{upstream.port} HTTP/1.1".encode())
    assert b"Proxy-Authorization: Basic YWxpY2U6czNjcjN0cHc=" in proxy.requests[0]


@pytest.mark.parametrize(("status", "outcome"), [
    (403, O.PROXY_REFUSED), (407, O.PROXY_REFUSED), (502, O.PROXY_UPSTREAM_ERROR),
    (504, O.PROXY_UPSTREAM_ERROR),
])
def test_connect_refusals(make_ctx, servers, status: int, outcome: str) -> None:
    proxy = http_proxy(status, "Nope")
    servers.append(proxy)
    fact = run_proxy("https://example.com/", {"https_proxy": f"http://127.0.0.1:{proxy.port}"},
                     make_ctx)
    assert (fact["outcome"], fact["connect_status"], fact["proxy_reachable"]) == (
        outcome, status, True)


def test_plain_http_target_goes_as_absolute_form(make_ctx, servers) -> None:
    proxy = http_proxy(403, "Forbidden")
    servers.append(proxy)
    fact = run_proxy("http://example.com/path", {"http_proxy": f"http://127.0.0.1:{proxy.port}"},
                     make_ctx)
    assert fact["outcome"] == O.PROXY_REFUSED
    assert proxy.requests[0].startswith(b"HEAD http://example.com:80/path HTTP/1.1")


def test_dead_proxy(make_ctx) -> None:
    fact = run_proxy("https://example.com/", {"https_proxy": f"http://127.0.0.1:{dead_port()}"},
                     make_ctx)
    assert fact["outcome"] == O.PROXY_DEAD
    assert fact["proxy_reachable"] is False
    assert "Connection refused" in fact["error"]


def test_silent_proxy_times_out(make_ctx, servers) -> None:
    from probe_helpers import tarpit

    silent = tarpit()
    servers.append(silent)
    fact = run_proxy("https://example.com/", {"https_proxy": f"http://127.0.0.1:{silent.port}"},
                     make_ctx, timeout=0.5)
    assert fact["outcome"] == O.TIMEOUT
    assert fact["elapsed_ms"] < 1500


def test_bypassed_and_direct(make_ctx) -> None:
    env = {"https_proxy": "http://127.0.0.1:9", "no_proxy": "localhost,.example.com"}
    bypassed = run_proxy("https://www.example.com/", env, make_ctx)
    assert bypassed["outcome"] == O.BYPASSED
    assert bypassed["no_proxy_match"] == ".example.com"
    assert bypassed["no_proxy_variable"] == "no_proxy"
    direct = run_proxy("ssh://www.example.com", env, make_ctx)
    assert direct["outcome"] == O.DIRECT and direct["proxy"] is None


def test_tls_and_http_go_through_the_tunnel(tmp_path: Path, make_ctx, servers) -> None:

    ca = CA(tmp_path)
    leaf = ca.issue([], ["127.0.0.1"])
    origin = tls_server(leaf.cert_path, leaf.key_path)
    proxy = http_proxy(200)
    servers += [origin, proxy]
    env = {"https_proxy": f"http://127.0.0.1:{proxy.port}", "SSL_CERT_FILE": str(ca.path)}
    facts = asyncio.run(run_probes([parse_target(f"https://127.0.0.1:{origin.port}/")],
                                   [trust_store_fact(str(ca.path))], timeout=2.0, env=env))
    tunnelled = [f for f in facts if f.kind == "probe_tls" and f["via_proxy"]]
    assert len(tunnelled) == 1
    assert tunnelled[0]["outcome"] == O.TLS_OK
    assert str(ca.path) in tunnelled[0]["trusted_by"]
    http = [f for f in facts if f.kind == "probe_http"]
    assert [(f["outcome"], f["status"], f["via_proxy"]) for f in http] == [(O.HTTP_OK, 200, True)]


@pytest.mark.parametrize(("reply", "outcome"), [
    (0, O.PROXIED_OK), (2, O.PROXY_REFUSED), (5, O.PROXY_UPSTREAM_ERROR)])
def test_socks5_proxy(make_ctx, servers, reply: int, outcome: str) -> None:
    from probe_helpers import socks5_proxy

    proxy = socks5_proxy(reply)
    servers.append(proxy)
    env = {"https_proxy": f"socks5h://bob:s3cr3tpw@127.0.0.1:{proxy.port}"}
    fact = run_proxy("https://localhost:8443/", env, make_ctx)
    assert (fact["outcome"], fact["connect_status"]) == (outcome, reply)
    assert fact["proxy"] == f"socks5h://127.0.0.1:{proxy.port}"
    assert (fact["name_resolved_by"], fact["sent_address"]) == ("proxy", None)
    # socks5h sends the name; the other way (socks5, tried at once) sends the address.
    assert (fact["other_scheme"], fact["other_outcome"]) == ("socks5", outcome)
    assert proxy.requests.count(b"\x01\x03bob\x08s3cr3tpw") == 2
    connects = [r for r in proxy.requests if r.startswith(b"\x05\x01")]
    assert b"\x05\x01\x00\x03\x09localhost\x20\xfb" in connects
    assert {r[3] for r in connects} in ({3, 1}, {3, 4})  # a name, and 127.0.0.1 or ::1
    assert "s3cr3tpw" not in json.dumps(fact.to_json())


def test_socks5_resolves_the_name_here(make_ctx, servers) -> None:
    from probe_helpers import socks5_proxy

    proxy = socks5_proxy(0)
    servers.append(proxy)
    fact = run_proxy("http://localhost:8080/", {"http_proxy": f"socks5://127.0.0.1:{proxy.port}"},
                     make_ctx)
    assert (fact["outcome"], fact["name_resolved_by"]) == (O.PROXIED_OK, "client")
    assert fact["sent_address"] in ("127.0.0.1", "::1")
    assert (fact["other_scheme"], fact["other_outcome"]) == ("socks5h", O.PROXIED_OK)


def test_socks5_name_that_does_not_resolve_here(make_ctx, servers, monkeypatch) -> None:
    """A name only the proxy's side knows (this host's resolver faked: no DNS query leaves)."""
    import socket

    from probe_helpers import socks5_proxy

    real = socket.getaddrinfo

    def only_loopback(host, *args, **kwargs):
        if host == "intranet.corp.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", only_loopback)
    proxy = socks5_proxy(0)
    servers.append(proxy)
    fact = run_proxy("http://intranet.corp.test/",
                     {"http_proxy": f"socks5://127.0.0.1:{proxy.port}"}, make_ctx)
    assert (fact["outcome"], fact["proxy_reachable"], fact["sent_address"]) == (
        O.LOCAL_NAME_FAILED, None, None)
    assert "Name or service not known" in fact["error"]
    assert (fact["other_scheme"], fact["other_outcome"]) == ("socks5h", O.PROXIED_OK)
    # only the socks5h attempt reached the proxy, with the name
    assert [r for r in proxy.requests if r.startswith(b"\x05\x01")] == [
        b"\x05\x01\x00\x03\x12intranet.corp.test\x00\x50"]


def test_socks5_address_target_is_tried_one_way(make_ctx, servers) -> None:
    from probe_helpers import socks5_proxy

    proxy = socks5_proxy(0)
    servers.append(proxy)
    fact = run_proxy("http://127.0.0.1:8080/", {"http_proxy": f"socks5://127.0.0.1:{proxy.port}"},
                     make_ctx)
    assert (fact["outcome"], fact["sent_address"], fact.get("other_scheme")) == (
        O.PROXIED_OK, None, None)
    assert len(proxy.requests) == 1
