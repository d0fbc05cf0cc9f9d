"""PAC files: which one is in force, fetching it (bounded), evaluating FindProxyForURL in the
sandbox child (real duktape: timeouts, memory, broken scripts), and the probe_pac fact."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from probe_helpers import Server, http_proxy

from engine.facts import make_fact
from engine.probes import outcomes as O
from engine.probes.pac import (
    MAX_PAC_BYTES,
    PacError,
    evaluate_pac,
    fetch_pac,
    pac_source,
    parse_result,
    probe_pac,
)
from engine.probes.target import parse_target

CORPORATE = Path(__file__).resolve().parents[1] / "fixtures" / "pac" / "corporate.pac"


def evaluate(script: str, queries: list[tuple[str, str]], my_ip: str = "10.20.0.10",
             timeout: float = 5.0) -> list[str]:
    return asyncio.run(evaluate_pac(script, queries, my_ip, timeout))


def test_parse_result() -> None:
    entries = parse_result("PROXY 10.0.0.3:3128; SOCKS5 10.0.0.5:1080;DIRECT")
    assert [(text, p.url if p else None) for text, p in entries] == [
        ("PROXY 10.0.0.3:3128", "http://10.0.0.3:3128"),
        ("SOCKS5 10.0.0.5:1080", "socks5://10.0.0.5:1080"), ("DIRECT", None)]
    assert parse_result("HTTPS proxy.test:443")[0][1].url == "https://proxy.test:443"
    assert parse_result("") == [] and parse_result("PROXY") == []
    assert parse_result("BOGUS x; PROXY a:b; DIRECT") == [("DIRECT", None)]


def test_which_pac() -> None:
    assert pac_source({}, None) is None
    assert pac_source({"auto_proxy": "pac+http://wpad/wpad.dat"}, None) == (
        "auto_proxy", "http://wpad/wpad.dat", None)
    assert pac_source({"AUTO_PROXY": "file:///etc/p.pac"}, None) == (
        "AUTO_PROXY", "file:///etc/p.pac", None)
    assert pac_source({"auto_proxy": "http://a/"}, "http://b/") == ("--pac", "http://b/", None)


DESKTOP = Path(__file__).resolve().parents[1] / "fixtures" / "desktop_proxy"


def desktop_facts(tmp_path: Path, kioslaverc: str | None = None,
                  gnome: tuple[str, str | None] | None = None,
                  lease: str | None = None) -> list:
    """proxy_autoconfig facts as the collectors make them from recorded inputs."""
    from engine.collectors import dhcp_wpad, gnome_proxy, kde_proxy
    from engine.collectors.base import SessionUser

    user = SessionUser("alice", 1000, 1000, tmp_path, tmp_path / ".config", False)
    facts = []
    if gnome:
        facts.append(gnome_proxy.settings_fact(*gnome, user, "gsettings get ..."))
    if kioslaverc:
        path = DESKTOP / "kde" / kioslaverc
        fact = kde_proxy.settings_fact(kde_proxy.parse_group(path.read_text(), str(path)), user)
        facts.append(fact)
    if lease:
        path = DESKTOP / "dhclient" / lease
        facts += dhcp_wpad.wpad_facts(path.read_text(), str(path),
                                      datetime(2026, 11, 30, 3, tzinfo=timezone.utc))
    return facts


def test_which_pac_the_desktop_says(tmp_path: Path) -> None:
    kde = desktop_facts(tmp_path, "pac.kioslaverc")
    found = pac_source({}, None, kde)
    assert found is not None and found.url == "http://wpad.corp.example/proxy.pac"
    assert found.source.startswith("KDE [Proxy Settings] ProxyType=2") and \
        "kde/pac.kioslaverc:5; user alice" in found.source
    # --pac and auto_proxy still come first
    assert pac_source({"auto_proxy": "http://a/"}, None, kde).source == "auto_proxy"
    # GNOME first, unless the session is KDE's
    both = desktop_facts(tmp_path, "pac.kioslaverc", gnome=("auto", "http://g/p.pac"))
    assert pac_source({}, None, both).url == "http://g/p.pac"
    assert pac_source({"XDG_CURRENT_DESKTOP": "KDE"}, None, both).url == (
        "http://wpad.corp.example/proxy.pac")
    # a desktop without a PAC gives way to one with it
    assert pac_source({}, None, desktop_facts(tmp_path, "pac.kioslaverc",
                                              gnome=("none", None))).url.startswith("http://wpad")
    assert pac_source({}, None, desktop_facts(tmp_path, gnome=("manual", None))) is None


def test_detecting_takes_dhcp_option_252_first(tmp_path: Path) -> None:
    found = pac_source({}, None, desktop_facts(tmp_path, "wpad.kioslaverc",
                                               lease="wpad-defined.leases"))
    assert found is not None and found.url == "http://10.20.0.3/wpad.dat"
    assert "detecting: DHCP option 252 (wpad) on eth0" in found.source
    assert "wpad-defined.leases:4" in found.source
    found = pac_source({}, None, desktop_facts(tmp_path, "wpad.kioslaverc",
                                               lease="wpad-then-none.leases"))
    assert found is not None and found.url == "auto" and found.source.endswith(
        "detecting: WPAD over DNS")
    # a lease alone: nothing on this desktop is set to detect
    assert pac_source({}, None, desktop_facts(tmp_path, lease="wpad-defined.leases")) is None


def test_a_sudo_users_local_pac_is_read_only_if_they_could(tmp_path: Path) -> None:
    private = tmp_path / "private.pac"
    private.write_text("function FindProxyForURL(u, h) { return 'DIRECT'; }")
    private.chmod(0o600)
    with pytest.raises(PacError, match="not read on the user's behalf"):
        fetch_pac(private.as_uri(), 2.0, reader_uid=os.getuid() + 4242)
    assert "FindProxyForURL" in fetch_pac(private.as_uri(), 2.0, reader_uid=os.getuid())
    private.chmod(0o644)
    assert "FindProxyForURL" in fetch_pac(private.as_uri(), 2.0, reader_uid=os.getuid() + 4242)


def test_corporate_pac() -> None:
    script = CORPORATE.read_text()
    queries = [("http://app.corp.test/", "app.corp.test"), ("http://intranet/", "intranet"),
               ("http://10.1.2.3/", "10.1.2.3"), ("https://x.partner.test/a", "x.partner.test"),
               ("https://a.b.c.d.e.test/", "a.b.c.d.e.test"),
               ("https://www.example.com/", "www.example.com"),
               ("http://127.0.0.1:8080/", "127.0.0.1")]
    assert evaluate(script, queries) == [
        "DIRECT", "DIRECT", "DIRECT", "PROXY 10.20.0.4:8080; PROXY 10.20.0.3:3128",
        "SOCKS5 10.20.0.5:1080", "PROXY 10.20.0.3:3128; DIRECT", "DIRECT"]
    # myIpAddress() answers the address the probe gives it
    assert evaluate(script, [("https://www.example.com/", "www.example.com")],
                    my_ip="10.99.4.2") == ["PROXY 10.99.0.3:3128"]


def test_dns_resolve_uses_this_hosts_resolver() -> None:
    script = ('function FindProxyForURL(u, h) { return "PROXY " + dnsResolve(h) + ":1 ; " +'
              ' isResolvable("localhost") + " " + isInNet("localhost", "127.0.0.0", "255.0.0.0"); }')
    assert evaluate(script, [("http://localhost/", "localhost")]) == [
        "PROXY 127.0.0.1:1 ; true true"]


def test_an_endless_script_is_stopped() -> None:
    began = time.monotonic()
    with pytest.raises(PacError) as caught:
        evaluate("function FindProxyForURL(u, h) { while (true) {} }", [("http://a/", "a")],
                 timeout=1.0)
    assert caught.value.outcome == O.TIMEOUT and "stopped" in str(caught.value)
    assert time.monotonic() - began < 3.0


def test_a_memory_bomb_is_stopped() -> None:
    script = ("function FindProxyForURL(u, h) { var a = [];"
              " while (true) { a.push(new Array(1000000).join('x')); } }")
    began = time.monotonic()
    with pytest.raises(PacError):
        evaluate(script, [("http://a/", "a")], timeout=4.0)
    assert time.monotonic() - began < 6.0


@pytest.mark.parametrize(("script", "says"), [
    ("function FindProxyForURL(u, h) { return ", "the PAC script failed"),
    ("var notAFunction = 1;", "defines no FindProxyForURL"),
    ("function FindProxyForURL(u, h) { throw new Error('nope'); }", "nope"),
])
def test_broken_scripts(script: str, says: str) -> None:
    with pytest.raises(PacError) as caught:
        evaluate(script, [("http://a/", "a")])
    assert caught.value.outcome == O.ERROR and says in str(caught.value)


def test_the_script_reaches_nothing_but_the_pac_functions(monkeypatch) -> None:
    """No require (modules from disk), no process.env (this process's variables), no console,
    no network object; import() of a file fails; call_python reaches only the PAC exports."""
    monkeypatch.setenv("WHYNET_TEST_SECRET", "s3cr3t")
    script = ("function FindProxyForURL(u, h) { return [typeof require, typeof process,"
              " typeof console, typeof XMLHttpRequest, typeof eval('1')].join(' '); }")
    assert evaluate(script, [("http://a/", "a")]) == [
        "undefined undefined undefined undefined number"]
    escape = ("function FindProxyForURL(u, h) { return call_python('dukpy.load_module',"
              " '/etc/hostname'); }")
    with pytest.raises(PacError):
        evaluate(escape, [("http://a/", "a")])
    dynamic = ("var got = 'none'; import('/etc/hostname').then(function (m) { got = 'loaded'; },"
               " function (e) { got = 'refused'; });"
               " function FindProxyForURL(u, h) { return got; }")
    assert evaluate(dynamic, [("http://a/", "a")]) in (["refused"], ["none"])


def test_fetch_from_a_file_and_refusals(tmp_path: Path) -> None:
    assert "FindProxyForURL" in fetch_pac(CORPORATE.as_uri(), 2.0)
    fifo = tmp_path / "pac.fifo"
    os.mkfifo(fifo)
    with pytest.raises(PacError, match="not a regular file"):
        fetch_pac(fifo.as_uri(), 2.0)
    with pytest.raises(PacError, match="unsupported"):
        fetch_pac("ftp://wpad/wpad.dat", 2.0)


def serve_body(body: bytes) -> Server:
    def handle(conn) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return Server(handle)


def test_fetch_over_http_is_bounded() -> None:
    small, huge = serve_body(CORPORATE.read_bytes()), serve_body(b"x" * (MAX_PAC_BYTES + 10))
    try:
        assert "FindProxyForURL" in fetch_pac(f"http://127.0.0.1:{small.port}/wpad.dat", 2.0)
        with pytest.raises(PacError, match="larger than"):
            fetch_pac(f"http://127.0.0.1:{huge.port}/wpad.dat", 2.0)
    finally:
        small.stop()
        huge.stop()


def test_probe_pac_disagreement_tries_the_pac_proxy(make_ctx, tmp_path: Path) -> None:
    proxy = http_proxy(200)
    pac = tmp_path / "p.pac"
    pac.write_text('function FindProxyForURL(u, h) { return "PROXY 127.0.0.1:'
                   + str(proxy.port) + '"; }')
    address = make_fact("address", "address:0", {"file": "recorded"}, interface="eth0",
                        ip="10.20.0.10", prefix=24, family=4, scope="global")
    try:
        ctx = make_ctx(env={"auto_proxy": pac.as_uri()}, facts=[address])
        fact = asyncio.run(probe_pac(parse_target("http://localhost:8080/"), ctx))
    finally:
        proxy.stop()
    assert fact is not None
    assert (fact["outcome"], fact["agrees"], fact["env_proxy"], fact["pac_route_outcome"]) == (
        O.PAC_PROXY, False, None, O.PROXIED_OK)
    assert fact["pac_proxy"] == f"http://127.0.0.1:{proxy.port}"


def test_probe_pac_only_for_web_targets_with_a_pac(make_ctx) -> None:
    ctx = make_ctx(env={"auto_proxy": CORPORATE.as_uri()})
    assert asyncio.run(probe_pac(parse_target("ssh://localhost"), ctx)) is None
    assert asyncio.run(probe_pac(parse_target("http://localhost/"), make_ctx())) is None
    fact = asyncio.run(probe_pac(parse_target("http://localhost/"), ctx))
    assert fact is not None and (fact["outcome"], fact["agrees"]) == (O.PAC_DIRECT, True)


def test_probe_pac_that_cannot_be_fetched(make_ctx, tmp_path: Path) -> None:
    ctx = make_ctx(env={"auto_proxy": (tmp_path / "missing.pac").as_uri()})
    fact = asyncio.run(probe_pac(parse_target("http://localhost/"), ctx))
    assert fact is not None and fact["outcome"] == O.ERROR and "cannot fetch" in fact["error"]


def test_wpad_names() -> None:
    from engine.probes.pac import MAX_WPAD_NAMES, wpad_names

    assert wpad_names(["eng.corp.example.com"]) == [
        "wpad.eng.corp.example.com", "wpad.corp.example.com", "wpad.example.com"]
    assert wpad_names(["example.com.", "EXAMPLE.com"]) == ["wpad.example.com"]
    assert wpad_names(["local"]) == []  # never wpad.TLD
    assert len(wpad_names(["a.b.c.d.e.f.g.h"])) == MAX_WPAD_NAMES


def test_wpad_discovery_takes_the_most_specific_name_that_resolves(monkeypatch) -> None:
    """This host's resolver faked (no query leaves): wpad.corp.example.com resolves."""
    import socket

    from engine.probes.pac import discover_wpad

    asked: list[str] = []

    def fake(host, *args, **kwargs):
        asked.append(host)
        if host in ("wpad.corp.example.com", "wpad.example.com"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.9", 80))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    url = asyncio.run(discover_wpad(["eng.corp.example.com"], 1.0))
    assert url == "http://wpad.corp.example.com/wpad.dat"
    assert sorted(asked) == ["wpad.corp.example.com", "wpad.eng.corp.example.com",
                             "wpad.example.com"]
    with pytest.raises(PacError, match="none of wpad.other.test"):
        asyncio.run(discover_wpad(["other.test"], 1.0))
    with pytest.raises(PacError, match="no search domain"):
        asyncio.run(discover_wpad([], 1.0))


def test_docstring_examples() -> None:
    import doctest

    from engine.collectors import conntrack
    from engine.probes import counters, pac

    for module in (pac, counters, conntrack):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_one_sandbox_child_answers_for_every_target(monkeypatch) -> None:
    from probe_helpers import dead_port

    from engine.probes import pac, run_probes

    started: list[tuple[str, ...]] = []
    real = asyncio.create_subprocess_exec

    async def counted(*argv, **kwargs):
        started.append(argv)
        return await real(*argv, **kwargs)

    monkeypatch.setattr(pac.asyncio, "create_subprocess_exec", counted)
    port = dead_port()
    targets = [parse_target(t) for t in (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/",
                                         f"https://127.0.0.1:{port}/", "ssh://127.0.0.1")]
    facts = asyncio.run(run_probes(targets, [], timeout=1.0,
                                   env={"auto_proxy": CORPORATE.as_uri()}))
    answers = {f["target"]: f["result"] for f in facts if f.kind == "probe_pac"}
    assert answers == {t.raw: "DIRECT" for t in targets[:3]}  # ssh is not asked
    assert len(started) == 1
