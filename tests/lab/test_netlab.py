"""Self-tests of the lab: if these fail, a scenario's failure says nothing about whynet."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from .netlab import (
    FRESH_NFTABLES_CONF,
    NETNS_ETC,
    REPO,
    Lab,
    LabError,
    check_lab_address,
    sh,
)

pytestmark = pytest.mark.lab


def test_two_hosts_on_a_switch_ping_and_talk_tcp(lab: Lab) -> None:
    a, b = lab.host("a"), lab.host("b")
    sw = lab.switch()
    assert sw.plug(a, "10.20.0.10/24") == "eth0"
    sw.plug(b, "10.20.0.20/24")
    srv = b.tcp_server("10.20.0.20", 7000, banner="hello")
    assert srv.port == 7000
    assert a.ping("10.20.0.20")
    assert a.connect("10.20.0.20", 7000).outcome == "open"
    got = a.connect("10.20.0.20", 7001)
    assert (got.outcome, got.errno) == ("refused", errno.ECONNREFUSED)


def test_server_reports_the_peer_address_it_sees(lab: Lab) -> None:
    a, b = lab.host("a"), lab.host("b")
    lab.link(a, b, "10.20.0.1/30", "10.20.0.2/30")
    b.tcp_server("10.20.0.2", 9000, peer=True)
    out = a.python(
        "import socket; s = socket.create_connection(('10.20.0.2', 9000), timeout=2)\n"
        "print(s.makefile().readline().split()[0])"
    )
    assert out.stdout.strip() == "10.20.0.1", out.stderr


def test_router_with_nat_forwards_and_hides_the_client(lab: Lab) -> None:
    client, gw, server = lab.host("client"), lab.router("gw"), lab.host("server")
    lan = lab.switch("lan")
    lan.plug(client, "10.20.0.10/24")
    lan.plug(gw, "10.20.0.1/24")
    _, outside = lab.link(server, gw, "198.51.100.20/24", "198.51.100.1/24")
    client.default_route("10.20.0.1")
    # The server has no route back to 10.20.0.0/24: only NAT makes the reply find its way.
    lab.masquerade(gw, outside)
    server.tcp_server("198.51.100.20", 9000, peer=True)
    out = client.python(
        "import socket; s = socket.create_connection(('198.51.100.20', 9000), timeout=2)\n"
        "print(s.makefile().readline().split()[0])"
    )
    assert out.stdout.strip() == "198.51.100.1", out.stderr


def test_dnsmasq_answers_and_resolv_conf_is_per_namespace(lab: Lab) -> None:
    client, dns = lab.host("client"), lab.host("dns")
    lab.link(client, dns, "10.20.0.10/24", "10.20.0.53/24")
    dns.dnsmasq("10.20.0.53", {"app.corp.test": "198.51.100.20"})
    client.write_resolv_conf(["10.20.0.53"])
    assert client.dns("10.20.0.53", "app.corp.test") == ["198.51.100.20"]
    assert client.getaddrinfo("app.corp.test") == ["198.51.100.20"]
    import dns.resolver

    with pytest.raises(dns.resolver.NXDOMAIN):
        client.dns("10.20.0.53", "missing.corp.test")


def test_hosts_file_is_per_namespace(lab: Lab) -> None:
    a = lab.host("a")
    a.write_hosts({"10.20.0.99": "app.corp.test"})
    assert a.getaddrinfo("app.corp.test") == ["10.20.0.99"]
    assert "app.corp.test" in a.exec("cat", "/etc/hosts").stdout


def test_nftables_conf_is_per_namespace(lab: Lab) -> None:
    """whynet reads /etc/nftables.conf: inside the lab it is the namespace's fresh file, never
    the rules of the machine running the lab (which would add findings to every scenario)."""
    if not Path("/etc/nftables.conf").exists():
        pytest.skip("this machine has no /etc/nftables.conf: ip netns exec has nothing to cover")
    a = lab.host("a")
    assert a.exec("cat", "/etc/nftables.conf").stdout == FRESH_NFTABLES_CONF
    a.write_etc("nftables.conf", "#!/usr/sbin/nft -f\nflush ruleset\n")
    assert a.exec("cat", "/etc/nftables.conf").stdout == "#!/usr/sbin/nft -f\nflush ruleset\n"


def test_ufw_is_fresh_per_namespace_and_the_host_file_untouched(lab: Lab) -> None:
    """ufw's state (/etc/ufw) and default policies (/etc/default/ufw, which ``ufw default``
    rewrites in place) are the namespace's own fresh copies: a scenario that denies outgoing
    traffic changes neither the host's files nor the next scenario's ufw."""
    if not shutil.which("ufw"):
        pytest.skip("ufw is not installed")
    host_defaults = Path("/etc/default/ufw").read_bytes()
    a, b = lab.host("a"), lab.host("b")
    assert "ENABLED=no" in a.exec("cat", "/etc/ufw/ufw.conf").stdout
    a.exec("ufw", "default", "deny", "outgoing")
    assert 'DEFAULT_OUTPUT_POLICY="DROP"' in a.exec("cat", "/etc/default/ufw").stdout
    assert 'DEFAULT_OUTPUT_POLICY="ACCEPT"' in b.exec("cat", "/etc/default/ufw").stdout
    assert Path("/etc/default/ufw").read_bytes() == host_defaults
    # The rest of /etc/default is the host's.
    assert a.exec("ls", "/etc/default").stdout == sh("ls", "/etc/default").stdout


def test_tls_server_presents_the_certificate(lab: Lab) -> None:
    a, b = lab.host("a"), lab.host("b")
    lab.link(a, b, "10.20.0.10/24", "10.20.0.20/24")
    ca = lab.ca("Corp Root CA")
    b.tls_server("10.20.0.20", 443, ca.issue(["app.corp.test"]))
    good = a.tls("10.20.0.20", 443, "app.corp.test", cafile=ca.cert_path)
    assert good.ok and good.issuer_cn == "Corp Root CA" and good.names == ("app.corp.test",)
    untrusted = a.tls("10.20.0.20", 443, "app.corp.test")  # default store: not our CA
    assert not untrusted.ok and "unable to get local issuer" in untrusted.error
    wrong = a.tls("10.20.0.20", 443, "www.corp.test", cafile=ca.cert_path)
    assert not wrong.ok and "mismatch" in wrong.error.lower()
    https = a.python(
        "import ssl, urllib.request\n"
        "ctx = ssl.create_default_context()\n"
        "ctx.check_hostname = False\n"
        "ctx.verify_mode = ssl.CERT_NONE\n"
        "print(urllib.request.urlopen('https://10.20.0.20/', context=ctx, timeout=3).read())"
    )
    assert "b'ok\\n'" in https.stdout, https.stderr


def test_proxy_tunnels_and_intercepting_proxy_resigns(lab: Lab) -> None:
    client, proxy, server = lab.host("client"), lab.host("proxy"), lab.host("server")
    lab.link(client, proxy, "10.20.0.10/24", "10.20.0.3/24")
    lab.link(proxy, server, "198.51.100.1/24", "198.51.100.20/24")
    proxy.write_hosts({"198.51.100.20": "app.corp.test"})
    corp = lab.ca("Corp Root CA")
    server.tls_server("198.51.100.20", 443, corp.issue(["app.corp.test"]))
    server.http_server("198.51.100.20", 80, body="plain")
    proxy.proxy("10.20.0.3", 3128)
    mitm = lab.ca("Intercept Proxy CA")
    proxy.intercepting_proxy("10.20.0.3", 3129, mitm.issue(["app.corp.test"]))

    assert client.connect("198.51.100.20", 443).outcome == "unreachable"  # no route: proxy only
    via = client.tls("198.51.100.20", 443, "app.corp.test", corp.cert_path, proxy=("10.20.0.3", 3128))
    assert via.ok and via.issuer_cn == "Corp Root CA"
    cut = client.tls("198.51.100.20", 443, "app.corp.test", corp.cert_path, proxy=("10.20.0.3", 3129))
    assert not cut.ok and cut.issuer_cn == "Intercept Proxy CA"
    http = client.python(
        "import urllib.request\n"
        "print(urllib.request.urlopen('http://app.corp.test/', timeout=3).read())",
        env={"http_proxy": "http://10.20.0.3:3128"},
    )
    assert "b'plain\\n'" in http.stdout, http.stderr


def test_tarpit_accepts_and_stays_silent(lab: Lab) -> None:
    a, b = lab.host("a"), lab.host("b")
    lab.link(a, b, "10.20.0.10/24", "10.20.0.20/24")
    b.tarpit("10.20.0.20", 443)
    assert a.connect("10.20.0.20", 443).outcome == "open"
    with pytest.raises(TimeoutError):
        a.tls("10.20.0.20", 443, "app.corp.test", timeout=0.3)


def test_udp_echo_and_nft_ruleset(lab: Lab) -> None:
    a, b = lab.host("a"), lab.host("b")
    lab.link(a, b, "10.20.0.10/24", "10.20.0.20/24")
    b.udp_echo("10.20.0.20", 5353)
    assert a.udp("10.20.0.20", 5353, b"x") == b"x"
    b.nft("""
        table inet filter {
          chain input {
            type filter hook input priority 0; policy accept;
            udp dport 5353 drop
          }
        }
    """)
    assert a.udp("10.20.0.20", 5353, b"x", timeout=0.3) is None
    assert "udp dport 5353 drop" in b.exec("nft", "list", "ruleset").stdout


def test_iptables_rules_load(lab: Lab) -> None:
    a, b = lab.host("a"), lab.host("b")
    lab.link(a, b, "10.20.0.10/24", "10.20.0.20/24")
    b.tcp_server("10.20.0.20", 22)
    b.iptables("-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "REJECT",
               "--reject-with", "tcp-reset")
    assert a.connect("10.20.0.20", 22).outcome == "refused"


def test_arp_shows_every_owner_of_an_address(lab: Lab) -> None:
    client, one, two = lab.host("client"), lab.host("one"), lab.host("two")
    sw = lab.switch()
    sw.plug(client, "10.20.0.10/24")
    sw.plug(one, "10.20.0.20/24", mac="52:54:00:00:00:01")
    sw.plug(two, "10.20.0.20/24", mac="52:54:00:00:00:02")
    assert sorted(client.arp("eth0", "10.20.0.20")) == ["52:54:00:00:00:01", "52:54:00:00:00:02"]


def test_run_as_nobody(lab: Lab) -> None:
    a = lab.host("a")
    out = a.python("import os; print(os.getuid(), os.environ['HOME'])", user="nobody")
    uid, home = out.stdout.split()
    assert uid == "65534" and home.endswith("home-nobody")


def test_addresses_outside_the_lab_ranges_are_refused() -> None:
    for ok in ("10.1.2.3/8", "172.31.0.1/24", "192.168.1.1", "203.0.113.0/24", "2001:db8::1/64",
               "169.254.37.5/16", "fe80::1"):  # link-local: never forwarded
        check_lab_address(ok)
    for bad in ("8.8.8.8", "1.1.1.0/24", "172.32.0.1/24", "2606:4700::1111"):
        with pytest.raises(ValueError):
            check_lab_address(bad)


def test_cleanup_leaves_nothing_behind() -> None:
    lab = Lab()
    try:
        a, b = lab.host("a"), lab.host("b")
        lab.switch().plug(a, "10.20.0.10/24")
        lab.link(a, b, "10.21.0.1/30", "10.21.0.2/30")
        a.write_hosts({"10.20.0.99": "x.test"})
        server = b.tcp_server("10.21.0.2", 7000)
        names, workdir = lab.netns_names(), lab.workdir
    finally:
        lab.cleanup()
    listed = sh("ip", "netns", "list").stdout
    assert not [n for n in names if n in listed]
    assert not [n for n in names if (NETNS_ETC / n).exists()]
    assert server.proc.poll() is not None
    assert not workdir.exists()
    lab.cleanup()  # idempotent


def test_a_server_that_cannot_start_fails_fast(lab: Lab) -> None:
    a = lab.host("a")
    start = time.monotonic()
    with pytest.raises(LabError, match="did not become ready"):
        a.tcp_server("10.99.0.1", 80)  # address not on any interface here
    assert time.monotonic() - start < 5


@pytest.mark.skipif(not (REPO / "cli.py").exists(), reason="cli.py has not landed yet")
@pytest.mark.parametrize("user", [None, "nobody"])
def test_run_whynet_inside_a_namespace(lab: Lab, user: str | None) -> None:
    a = lab.host("a")
    code, report, stderr = lab.run_whynet(a, "--help", user=user)
    assert code == 0, stderr
    assert report is None  # help is text, not JSON


def test_leftovers_of_a_dead_run_are_removed_and_a_live_runs_kept() -> None:
    import subprocess

    from .netlab import NETNS_RUN, remove_stale

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that existed and is gone: like a SIGKILLed pytest
    stale, live = f"wl{dead.pid:x}-1-client", f"wl{os.getpid():x}-ffff-client"
    stale_dir = Path(tempfile.mkdtemp(prefix=f"wl{dead.pid:x}-1-"))  # a Lab's workdir
    live_dir = Path(tempfile.mkdtemp(prefix=f"wl{os.getpid():x}-ffff-"))
    for name in (stale, live):
        sh("ip", "netns", "add", name)
        (NETNS_ETC / name).mkdir(parents=True, exist_ok=True)
    try:
        removed = remove_stale()
        assert stale in removed and str(stale_dir) in removed
        assert not (NETNS_RUN / stale).exists() and not (NETNS_ETC / stale).exists()
        assert not stale_dir.exists()
        assert (NETNS_RUN / live).exists() and (NETNS_ETC / live).exists()  # our pid is alive
        assert live_dir.exists()
    finally:
        for name in (stale, live):
            sh("ip", "netns", "del", name, check=False)
            shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
        for workdir in (stale_dir, live_dir):
            shutil.rmtree(workdir, ignore_errors=True)
