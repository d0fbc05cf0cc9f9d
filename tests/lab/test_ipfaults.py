"""Lab proofs for the IP-level faults of issue 13 (tests/lab/ipfaults.py).

Each test proves its fault with plain sockets inside the client namespace, then runs whynet
there and holds it to ``verdict`` (the expected rule on top, the expected first failing layer,
no other error); each healthy control asserts no warning at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from . import ipfaults as I
from .netlab import Lab, Namespace
from .registry import runs
from .scenarios import APP, SERVER_IP, Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab


def resolver_order(ns: Namespace, name: str) -> list[str]:
    """The system resolver's addresses in its own order (RFC 6724 sorting), as a program
    connecting one address after the other tries them."""
    proc = ns.python("import json, socket\n"
                     f"r = socket.getaddrinfo({name!r}, 80, type=socket.SOCK_STREAM)\n"
                     "print(json.dumps(list(dict.fromkeys(a[4][0] for a in r))))\n")
    return list(json.loads(proc.stdout))


def facts_of(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in report["facts"] if f["kind"] == kind]


# --- X10: one address family broken ------------------------------------------------------------

@pytest.mark.parametrize(("sc", "broken"), [("ipv6-dropped-at-gateway", 6),
                                             ("ipv4-dropped-at-gateway", 4)], indirect=["sc"])
def test_one_family_dropped(lab: Lab, sc: Scenario, broken: int) -> None:
    # The system resolver lists the AAAA first: the client has a global IPv6 address.
    assert resolver_order(sc.client, APP) == [I.SERVER_V6, SERVER_IP]
    assert sc.client.connect(sc.info["broken"], 80, timeout=1.0).outcome == "timeout"
    assert sc.client.connect(sc.info["working"], 80).outcome == "open"
    report = verdict(lab, sc)
    [split] = facts_of(report, "family_split")
    assert (split["broken_family"], split["broken_ips"], split["working_ips"]) == (
        broken, [sc.info["broken"]], [sc.info["working"]])
    assert split["order"] == [I.SERVER_V6, SERVER_IP]
    assert split["broken_first"] is (broken == 6)
    text = report["findings"][0]["explanation"]
    assert ("waits for its connect timeout on IPv6" in text) is (broken == 6)
    sc.nodes["gw"].exec("nft", "delete", "table", "inet", "family_block")
    assert sc.client.connect(sc.info["broken"], 80).outcome == "open"


@runs("dual-stack-v6-first")
def test_dual_stack_control(lab: Lab, sc: Scenario) -> None:
    for ip, port in sc.info["reach"]:
        assert sc.client.connect(ip, port).outcome == "open"
    report = verdict(lab, sc)
    assert facts_of(report, "family_split") == []
    tcp = sorted((f["ip"], f["outcome"]) for f in facts_of(report, "probe_tcp"))
    assert tcp == sorted([(SERVER_IP, "open"), (I.SERVER_V6, "open")])


# --- X12: loss, latency, jitter ----------------------------------------------------------------

def ping_rtts(ns: Namespace, ip: str, count: int = 10) -> list[float | None]:
    """Round trips (ms) of ``count`` echoes 50 ms apart, measured with a plain raw socket
    (ICMPv6 for an IPv6 ``ip``: no IP header in front, echo reply type 129)."""
    v6 = ":" in ip
    code = (
        "import json, os, socket, struct, time\n"
        "from engine.probes.icmp import echo_request\n"
        f"v6 = {v6!r}\n"
        "family = socket.AF_INET6 if v6 else socket.AF_INET\n"
        "s = socket.socket(family, socket.SOCK_RAW,"
        " socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)\n"
        "s.settimeout(0.05)\n"
        "sent, got, ident = {}, {}, os.getpid() & 0xFFFF\n"
        f"for seq in range({count}):\n"
        "    sent[seq] = time.monotonic()\n"
        f"    s.sendto(echo_request(family, ident, seq, b'x'), ({ip!r}, 0))\n"
        "    end = time.monotonic() + (0.05 if seq < %d else 2.0)\n" % (count - 1) +
        "    while time.monotonic() < end:\n"
        "        try: data = s.recv(2048)\n"
        "        except socket.timeout: continue\n"
        "        icmp = data if v6 else data[(data[0] & 15) * 4:]\n"
        "        t, _, _, i, q = struct.unpack('!BBHHH', icmp[:8])\n"
        "        if t == (129 if v6 else 0) and i == ident and q in sent and q not in got:\n"
        "            got[q] = round((time.monotonic() - sent[q]) * 1000, 1)\n"
        f"print(json.dumps([got.get(q) for q in range({count})]))\n"
    )
    return list(json.loads(ns.python(code).stdout))


def quality_fact(report: dict[str, Any]) -> dict[str, Any]:
    [fact] = facts_of(report, "probe_path_quality")
    return fact


# The checks of each path fault take the server address the train goes to, so the IPv6
# scenarios (tests/lab/test_mtufaults.py) hold whynet to the same standard.

def check_heavy_loss(lab: Lab, sc: Scenario, ip: str) -> dict[str, Any]:
    rtts = ping_rtts(sc.client, ip, 20)
    assert 0 < rtts.count(None) < 20, rtts  # some echoes lost, some answered
    report = verdict(lab, sc)
    q = quality_fact(report)
    assert q["ip"] == ip and q["sent"] == 20 and q["loss_pct"] >= 15, q
    assert q["rtt_max_ms"] < 50, q  # loss, not delay
    sc.nodes["gw"].exec("nft", "delete", "table", "inet", "lossy")
    assert ping_rtts(sc.client, ip, 10).count(None) == 0
    return report


def check_high_latency(lab: Lab, sc: Scenario, ip: str) -> dict[str, Any]:
    rtts = ping_rtts(sc.client, ip, 3)
    assert all(r is not None and r >= 590 for r in rtts), rtts
    report = verdict(lab, sc)
    q = quality_fact(report)
    assert q["ip"] == ip and q["rtt_min_ms"] >= 590 and q["loss_pct"] == 0, q
    assert "took " in report["findings"][0]["explanation"]
    return report


def check_high_jitter(lab: Lab, sc: Scenario, ip: str) -> dict[str, Any]:
    rtts = [r for r in ping_rtts(sc.client, ip, 6) if r is not None]
    assert max(rtts) - min(rtts) >= 350, rtts
    report = verdict(lab, sc)
    q = quality_fact(report)
    assert q["ip"] == ip and q["jitter_ms"] >= 100 and q["rtt_min_ms"] < 400, q
    return report


def check_normal_latency(lab: Lab, sc: Scenario, ip: str) -> dict[str, Any]:
    # The responder holds each answer 20-25 ms; a machine busy with other tests adds its own
    # scheduling delay, so only the floor is exact.
    rtts = ping_rtts(sc.client, ip, 5)
    assert all(r is not None and r >= 19 for r in rtts), rtts
    report = verdict(lab, sc)
    q = quality_fact(report)
    assert q["ip"] == ip and q["loss_pct"] == 0 and q["rtt_min_ms"] >= 19, q
    return report


@runs("heavy-loss")
def test_heavy_loss(lab: Lab, sc: Scenario) -> None:
    check_heavy_loss(lab, sc, SERVER_IP)


@runs("high-latency")
def test_high_latency(lab: Lab, sc: Scenario) -> None:
    check_high_latency(lab, sc, SERVER_IP)


@runs("high-jitter")
def test_high_jitter(lab: Lab, sc: Scenario) -> None:
    check_high_jitter(lab, sc, SERVER_IP)


@runs("normal-latency")
def test_normal_latency_control(lab: Lab, sc: Scenario) -> None:
    check_normal_latency(lab, sc, SERVER_IP)


# --- X11: a path-MTU black hole ----------------------------------------------------------------

def handshake_with_mss(ns: Namespace, ip: str, name: str, mss: int | None,
                       timeout: float = 2.0) -> str:
    """A plain TLS handshake from ``ns`` (certificate not checked), the MSS clamped with
    TCP_MAXSEG when ``mss`` is given: "ok", "timeout" or the error."""
    code = (
        "import socket, ssl\n"
        f"ip, name, mss = {ip!r}, {name!r}, {mss!r}\n"
        "s = socket.socket(socket.AF_INET6 if ':' in ip else socket.AF_INET)\n"
        "if mss: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)\n"
        f"s.settimeout({timeout})\n"
        "s.connect((ip, 443))\n"
        "c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname = False\n"
        "c.verify_mode = ssl.CERT_NONE\n"
        "try: c.wrap_socket(s, server_hostname=name); print('ok')\n"
        "except socket.timeout: print('timeout')\n"
        "except OSError as e: print(e)\n"
    )
    return str(ns.python(code).stdout.strip())


@runs("mtu-black-hole-v4", "mtu-black-hole-v6")
def test_mtu_black_hole(lab: Lab, sc: Scenario) -> None:
    family = sc.info["family"]
    ip, small = sc.info["ip"], 536 if family == 4 else 1220
    assert sc.client.connect(ip, 443).outcome == "open"  # the handshake's small packets pass
    assert handshake_with_mss(sc.client, ip, APP, None) == "timeout"  # full-size ones vanish
    assert handshake_with_mss(sc.client, ip, APP, small) == "ok"
    report = verdict(lab, sc)
    [m] = facts_of(report, "probe_pmtu")
    assert (m["outcome"], m["clamped_mss"], m["passed_packet"], m["lost_packet"]) == (
        "black_hole", small, small + (40 if family == 4 else 60), 1500), m
    assert m["kernel_path_mtu"] == 1500  # no ICMP came back: the host never learned
    for router in (sc.nodes["gw"], sc.nodes["wan"]):
        router.exec("nft", "delete", "table", "inet", "no_pmtud")
    assert handshake_with_mss(sc.client, ip, APP, None, timeout=3.0) == "ok"  # PMTUD works


@runs("small-mtu-pmtud-works-v4", "small-mtu-pmtud-works-v6")
def test_small_mtu_with_pmtud(lab: Lab, sc: Scenario) -> None:
    assert handshake_with_mss(sc.client, sc.info["ip"], APP, None, timeout=3.0) == "ok"
    report = verdict(lab, sc)
    # The handshake completed in segments the narrow link carries (after PMTUD: less than a
    # full one), so the GET followed over TLS; the two-byte page is too small to tell.
    [m] = facts_of(report, "probe_pmtu")
    assert (m["exchange"], m["outcome"], m.get("clamped_outcome")) == (
        "https_get", "inconclusive", None), m
