"""Lab proofs for firewalld (tests/lab/fwdfaults.py): a real firewalld daemon in a lab namespace.

Each test proves its set-up first (firewall-cmd's own view, the ruleset firewalld loaded in the
namespace, plain sockets from the client), then runs whynet in the same namespaces and holds it
to ``verdict()``. Every test also checks, after the lab's cleanup, that firewalld and its bus
are gone and that this machine's own ruleset (nft and iptables) is what it was before.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from . import fwdfaults as F
from .netlab import Lab, sh
from .registry import runs
from .scenarios import SERVER_IP, Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab


def host_firewall() -> tuple[str, str]:
    """This machine's own ruleset, as nft and iptables-save show it (comments dropped: they
    carry the time)."""
    nft = sh("nft", "list", "ruleset", check=False, timeout=10).stdout
    saved = sh("iptables-save", check=False, timeout=10).stdout
    return nft, "\n".join(line for line in saved.splitlines() if not line.startswith("#"))


@pytest.fixture
def untouched_host(request: pytest.FixtureRequest) -> Iterator[list[F.Firewalld]]:
    """Requested before ``lab`` (so torn down after its cleanup): the host's ruleset before
    and after, and firewalld's processes killed. Tests append their Firewalld."""
    before = host_firewall()
    started: list[F.Firewalld] = []
    yield started
    assert host_firewall() == before, "the host's own ruleset changed"
    for fw in started:
        for name, pid in fw.pids.items():
            try:
                proc = psutil.Process(pid)
                proc.wait(timeout=5)  # the lab's SIGKILL takes effect asynchronously
            except psutil.NoSuchProcess:
                continue
            except psutil.TimeoutExpired:
                status = proc.status()
                assert status == psutil.STATUS_ZOMBIE, f"{name} (pid {pid}) still runs: {status}"


def facts_of(report: dict[str, Any], kind: str, **match: object) -> list[dict[str, Any]]:
    return [f for f in report["facts"]
            if f["kind"] == kind and all(f.get(k) == v for k, v in match.items())]


def running_default_zone(fw: F.Firewalld) -> None:
    """firewalld runs in the namespace with the nftables backend and the default zone public,
    no interface bound to a zone, and its ruleset is the namespace's."""
    assert fw.cmd("--state").strip() == "running"
    assert fw.cmd("--get-default-zone").strip() == "public"
    assert fw.cmd("--get-active-zones").strip() == ""
    assert "FirewallBackend=nftables" in (fw.system_config / "firewalld.conf").read_text()
    tables = fw.ns.exec("nft", "list", "tables").stdout.split("\n")
    assert "table inet firewalld" in tables, tables


@runs("firewalld-zone-closes-listen-port")
def test_zone_closes_listen_port(untouched_host: list[F.Firewalld], lab: Lab,
                                 sc: Scenario) -> None:
    fw = F.firewalld_of(sc)
    untouched_host.append(fw)
    running_default_zone(fw)
    assert fw.cmd("--list-ports").strip() == ""
    report = verdict(lab, sc)
    top = report["findings"][0]
    assert "zone public" in top["explanation"], top
    [listen] = facts_of(report, "probe_listen", port=F.SERVICE_PORT)
    assert (listen["outcome"], listen["firewall_blocks"]) == ("can_listen", True), listen
    assert listen["firewall_evidence"].startswith(
        "firewall_rule:nftables:inet:firewalld:filter_IN_public:"), listen
    [zone] = facts_of(report, "firewalld_zone", name="public")
    assert (zone["default"], zone["active"], zone["applies"]) == (True, False, True), zone
    # Ground truth: the service started, its clients get firewalld's reject ("No route to
    # host") until the port is opened as the advice says.
    sc.servers["web"] = sc.client.http_server(SERVER_IP, F.SERVICE_PORT)
    refused = sc.nodes["client"].connect(SERVER_IP, F.SERVICE_PORT)
    assert refused.errno == errno.EHOSTUNREACH, refused
    fw.cmd(f"--add-port={F.SERVICE_PORT}/tcp")
    assert sc.nodes["client"].connect(SERVER_IP, F.SERVICE_PORT).outcome == "open"


@runs("firewalld-rejects-admin-prohibited")
def test_rejects_admin_prohibited(untouched_host: list[F.Firewalld], lab: Lab,
                                  sc: Scenario) -> None:
    fw = F.firewalld_of(sc)
    untouched_host.append(fw)
    running_default_zone(fw)
    refused = sc.client.connect(SERVER_IP, F.SERVICE_PORT)
    assert refused.errno == errno.EHOSTUNREACH, refused  # icmpx admin-prohibited
    assert sc.client.ping(SERVER_IP)  # the zone lets ICMP in: the host is up
    report = verdict(lab, sc)
    assert "admin-prohibited" in report["findings"][0]["explanation"]


@runs("firewalld-drop-zone-times-out")
def test_drop_zone_times_out(untouched_host: list[F.Firewalld], lab: Lab, sc: Scenario) -> None:
    fw = F.firewalld_of(sc)
    untouched_host.append(fw)
    assert "  target: DROP" in fw.cmd("--zone=public", "--list-all").splitlines()
    assert "<zone target=\"DROP\">" in (fw.system_config / "zones" / "public.xml").read_text()
    silent = sc.client.connect(SERVER_IP, F.SERVICE_PORT, timeout=1.5)
    assert silent.outcome == "timeout", silent
    assert not sc.client.ping(SERVER_IP)  # a DROP zone lets no ICMP in either
    report = verdict(lab, sc)
    assert "firewall-cmd" in report["findings"][0]["advice"]
    # Back to the default target: firewalld rejects again, at once.
    fw.cmd("--permanent", "--zone=public", "--set-target=default")
    fw.cmd("--reload")
    assert sc.client.connect(SERVER_IP, F.SERVICE_PORT).errno == errno.EHOSTUNREACH


@runs("firewalld-drop-zone-listen")
def test_drop_zone_listen(untouched_host: list[F.Firewalld], lab: Lab, sc: Scenario) -> None:
    fw = F.firewalld_of(sc)
    untouched_host.append(fw)
    assert "  target: DROP" in fw.cmd("--zone=public", "--list-all").splitlines()
    report = verdict(lab, sc)
    top = report["findings"][0]
    assert "zone public" in top["explanation"] and "DROP" in top["explanation"], top
    [blocked] = facts_of(report, "firewall_verdict", target=f"listen:{F.SERVICE_PORT}")
    assert (blocked["verdict"], blocked["chain"], blocked["rule_text"]) == \
        ("drop", "filter_IN_public", "drop"), blocked


@runs("firewalld-dual-stack-listen")
def test_dual_stack_listen(untouched_host: list[F.Firewalld], lab: Lab, sc: Scenario) -> None:
    fw = F.firewalld_of(sc)
    untouched_host.append(fw)
    running_default_zone(fw)
    assert "IPv6_rpfilter=yes" in (fw.system_config / "firewalld.conf").read_text()
    assert "fib saddr . mark . iif oif missing drop" in fw.ns.exec(
        "nft", "list", "chain", "inet", "firewalld", "filter_PREROUTING").stdout
    report = verdict(lab, sc)
    verdicts = facts_of(report, "firewall_verdict", target=f"listen:{F.SERVICE_PORT}")
    assert sorted((v["family"], v["ip"], v["verdict"], v["chain"]) for v in verdicts) == [
        (4, SERVER_IP, "reject", "filter_IN_public"),
        (6, F.SERVER_IP6, "reject", "filter_IN_public")], verdicts
    assert all(v["assumed"] == [] for v in verdicts), verdicts
    # Ground truth over IPv6: the service's clients get ICMPv6 admin-prohibited (EACCES, on
    # the retransmitted SYN), then get in once the port is opened.
    sc.servers["web"] = sc.client.http_server("::", F.SERVICE_PORT)
    client = sc.nodes["client"]
    assert client.connect(F.SERVER_IP6, F.SERVICE_PORT, timeout=3.0).errno == errno.EACCES
    fw.cmd(f"--add-port={F.SERVICE_PORT}/tcp")
    assert client.connect(F.SERVER_IP6, F.SERVICE_PORT).outcome == "open"
    assert client.connect(SERVER_IP, F.SERVICE_PORT).outcome == "open"


@runs("firewalld-port-open-listen")
def test_port_open_listen(untouched_host: list[F.Firewalld], lab: Lab, sc: Scenario) -> None:
    fw = F.firewalld_of(sc)
    untouched_host.append(fw)
    running_default_zone(fw)
    assert fw.cmd("--list-ports").split() == [f"{F.SERVICE_PORT}/tcp"]
    report = verdict(lab, sc)
    [listen] = facts_of(report, "probe_listen", port=F.SERVICE_PORT)
    assert listen["firewall_blocks"] is False, listen
    [accepted] = facts_of(report, "firewall_verdict", target=f"listen:{F.SERVICE_PORT}")
    assert (accepted["verdict"], accepted["chain"]) == ("accept", "filter_IN_public_allow")
    # whynet only read firewalld: the zone is as the test left it
    assert fw.cmd("--list-ports").split() == [f"{F.SERVICE_PORT}/tcp"]
    sc.servers["web"] = sc.client.http_server(SERVER_IP, F.SERVICE_PORT)
    assert sc.nodes["client"].connect(SERVER_IP, F.SERVICE_PORT).outcome == "open"


@runs("firewalld-port-open-client")
def test_port_open_client(untouched_host: list[F.Firewalld], lab: Lab, sc: Scenario) -> None:
    fw = F.firewalld_of(sc)
    untouched_host.append(fw)
    running_default_zone(fw)
    for ip, port in sc.info["reach"]:
        assert sc.client.connect(ip, port).outcome == "open"
    verdict(lab, sc)


@runs("firewalld-client-https")
def test_client_https(untouched_host: list[F.Firewalld], lab: Lab, sc: Scenario) -> None:
    fw = F.firewalld_of(sc)
    untouched_host.append(fw)
    running_default_zone(fw)
    for ip, port in sc.info["reach"]:
        assert sc.client.connect(ip, port).outcome == "open"
    report = verdict(lab, sc)
    out = facts_of(report, "firewall_verdict", direction="output", protocol="tcp")
    assert out and all(v["verdict"] == "accept" for v in out), out
    [zone] = facts_of(report, "firewalld_zone", name="public")
    assert zone["applies"] is True and zone["ports"] == []
