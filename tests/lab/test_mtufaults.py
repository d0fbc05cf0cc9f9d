"""Lab proofs for tests/lab/mtufaults.py: path-MTU black holes beyond TLS (X11), and loss,
latency and jitter over IPv6 (X12).

Each test proves its set-up with plain sockets in the client namespace (a GET at the default
MSS against the same GET with the MSS clamped by ``TCP_MAXSEG``; echoes over IPv6 against
echoes over IPv4), then runs whynet there and holds it to ``verdict``: the expected rule on
top, the expected first failing layer, no other error; each healthy control asserts no warning
at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .ipfaults import SERVER_V6
from .netlab import Lab, Namespace
from .registry import runs
from .scenarios import APP, SERVER_IP, Scenario
from .test_coverage_scenarios import verdict
from .test_ipfaults import (
    check_heavy_loss,
    check_high_jitter,
    check_high_latency,
    check_normal_latency,
    facts_of,
    ping_rtts,
)

pytestmark = pytest.mark.lab


def get_with_mss(ns: Namespace, ip: str, port: int, mss: int | None,
                 timeout: float = 2.0, pad: int = 0, cafile: str | None = None
                 ) -> dict[str, Any]:
    """A plain ``GET /`` from ``ns`` (with a ``pad``-byte header when given; over TLS,
    verified against ``cafile``, when given), the MSS clamped with TCP_MAXSEG when ``mss`` is
    given, read until the server closes: ``{"ended": bool, "bytes": n}`` (ended False: it
    stalled; over TLS the handshake completed first, else it raises)."""
    code = (
        "import json, socket, ssl, time\n"
        f"ip, port, mss, timeout, pad = {ip!r}, {port!r}, {mss!r}, {timeout!r}, {pad!r}\n"
        "s = socket.socket(socket.AF_INET6 if ':' in ip else socket.AF_INET)\n"
        "if mss: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)\n"
        "s.settimeout(timeout)\n"
        "s.connect((ip, port))\n"
        f"if {cafile!r}: s = ssl.create_default_context(cafile={cafile!r}).wrap_socket("
        f"s, server_hostname={APP!r})\n"
        "padding = b'X-Pad: ' + b'x' * pad + b'\\r\\n' if pad else b''\n"
        f"s.sendall(b'GET / HTTP/1.1\\r\\nHost: {APP}\\r\\nConnection: close\\r\\n' + padding"
        " + b'\\r\\n')\n"
        "got, ended, end = b'', False, time.monotonic() + timeout\n"
        "while time.monotonic() < end:\n"
        "    try: chunk = s.recv(65536)\n"
        "    except socket.timeout: break\n"
        "    if not chunk: ended = True; break\n"
        "    got += chunk\n"
        "print(json.dumps({'ended': ended, 'bytes': len(got)}))\n"
    )
    return dict(json.loads(ns.python(code).stdout))


def pmtu_fact(report: dict[str, Any]) -> dict[str, Any]:
    [fact] = facts_of(report, "probe_pmtu")
    return fact


@runs("mtu-black-hole-http-v4", "mtu-black-hole-http-v6")
def test_http_black_hole(lab: Lab, sc: Scenario) -> None:
    ip, port, family = sc.info["ip"], sc.info["port"], sc.info["family"]
    small = 536 if family == 4 else 1220
    assert sc.client.connect(ip, port).outcome == "open"  # the handshake's small packets pass
    stalled = get_with_mss(sc.client, ip, port, None)
    assert not stalled["ended"], stalled  # full-size segments vanish
    if family == 4:  # head and body in one write: not even the head comes
        assert stalled["bytes"] == 0, stalled
    else:  # the head alone arrives, the body does not
        assert 0 < stalled["bytes"] < 400, stalled
    whole = get_with_mss(sc.client, ip, port, small)
    assert whole["ended"] and whole["bytes"] > sc.info["page_bytes"], whole
    report = verdict(lab, sc)
    m = pmtu_fact(report)
    header = 40 if family == 4 else 60
    assert (m["outcome"], m["exchange"], m["default_outcome"], m["clamped_outcome"]) == (
        "black_hole", "http_get", "timeout", "http_ok"), m
    assert (m["passed_packet"], m["lost_packet"], m["kernel_path_mtu"]) == (
        small + header, 1500, 1500), m
    assert m["answer_bytes"] == whole["bytes"], m
    assert m["default_answer_bytes"] == stalled["bytes"], m
    [http] = facts_of(report, "probe_http")
    assert http["outcome"] == ("timeout" if family == 4 else "http_ok"), http
    # The cure the rule advises: let the ICMP through, and the page arrives at full size.
    for router in (sc.nodes["gw"], sc.nodes["wan"]):
        router.exec("nft", "delete", "table", "inet", "no_pmtud")
    healed = get_with_mss(sc.client, ip, port, None, timeout=4.0)
    assert healed["ended"] and healed["bytes"] == whole["bytes"], healed


def segment_sizes(family: int) -> tuple[int, int, int]:
    """The clamped MSS, the IP and TCP headers, and a full segment's payload (``tcpi_advmss``:
    a 1500-byte MTU less the headers and the 12 bytes of timestamps) for ``family``."""
    return (536, 40, 1448) if family == 4 else (1220, 60, 1428)


@runs("mtu-black-hole-https-body-v4", "mtu-black-hole-https-body-v6")
def test_https_body_black_hole(lab: Lab, sc: Scenario) -> None:
    ip, port, cafile = sc.info["ip"], sc.info["port"], sc.info["cafile"]
    small, header, full_payload = segment_sizes(sc.info["family"])
    # The handshake (a one-segment certificate flight) passes at the default MSS, then the
    # page stalls; with the MSS clamped it arrives whole. The head is written alone, but
    # whether it travels alone depends on Nagle (it waits behind the unacknowledged TLS 1.3
    # session tickets, and the body joins it): at most the head arrives.
    stalled = get_with_mss(sc.client, ip, port, None, cafile=cafile)
    assert not stalled["ended"] and stalled["bytes"] < 400, stalled
    whole = get_with_mss(sc.client, ip, port, small, cafile=cafile)
    assert whole["ended"] and whole["bytes"] > sc.info["page_bytes"], whole
    report = verdict(lab, sc)
    [tls] = facts_of(report, "probe_tls")
    assert tls["outcome"] == "tls_ok", tls  # the check the handshake alone would pass
    m = pmtu_fact(report)
    assert (m["outcome"], m["exchange"], m["default_outcome"], m["clamped_outcome"]) == (
        "black_hole", "https_get", "timeout", "http_ok"), m
    assert (m["passed_packet"], m["lost_packet"], m["kernel_path_mtu"]) == (
        small + header, 1500, 1500), m
    assert 536 <= m["default_largest_segment"] < full_payload, m  # no full-size segment came
    assert m["default_answer_bytes"] < 400 and m["answer_bytes"] == whole["bytes"], m
    [http] = facts_of(report, "probe_http")
    # The HTTP probe (its own connection) saw the head, or nothing at all.
    assert (http["outcome"], http.get("status")) in (("http_ok", 200), ("timeout", None)), http
    assert "handshake completes" in report["findings"][0]["explanation"]
    for router in (sc.nodes["gw"], sc.nodes["wan"]):
        router.exec("nft", "delete", "table", "inet", "no_pmtud")
    healed = get_with_mss(sc.client, ip, port, None, timeout=4.0, cafile=cafile)
    assert healed["ended"] and healed["bytes"] == whole["bytes"], healed


@runs("small-mtu-pmtud-works-https-body-v4", "small-mtu-pmtud-works-https-body-v6")
def test_small_mtu_with_pmtud_https_body(lab: Lab, sc: Scenario) -> None:
    ip, port, cafile = sc.info["ip"], sc.info["port"], sc.info["cafile"]
    page = get_with_mss(sc.client, ip, port, None, timeout=4.0, cafile=cafile)
    assert page["ended"] and page["bytes"] > sc.info["page_bytes"], page
    report = verdict(lab, sc)
    m = pmtu_fact(report)
    # The handshake came in one small segment: the GET followed, and the page came at the
    # default size in segments the narrow link carries: no clamped exchange needed.
    assert (m["outcome"], m["exchange"], m.get("clamped_outcome")) == (
        "http_ok", "https_get", None), m
    _, header, _ = segment_sizes(sc.info["family"])
    assert 536 < m["default_largest_segment"] <= 1400 - header, m
    # The padded GET over TLS: this host's full-size packets get their ICMP and shrink.
    assert (m["direction"], m["upload_outcome"], m["upload_clamped_outcome"]) == (
        "download", "http_ok", None), m


@runs("mtu-black-hole-upload-v4", "mtu-black-hole-upload-v6",
      "mtu-black-hole-https-upload-v4", "mtu-black-hole-https-upload-v6")
def test_upload_black_hole(lab: Lab, sc: Scenario) -> None:
    ip, port, cafile = sc.info["ip"], sc.info["port"], sc.info.get("cafile")
    small_mss, header, _ = segment_sizes(sc.info["family"])
    # No full-size answer before whynet runs: a server that has learned the smaller path MTU
    # to this host (by PMTUD on its own packets) announces a smaller MSS in its next SYN-ACK
    # for about ten minutes, and this host's packets then fit the narrow link. (Over TLS the
    # handshake completes first: the ClientHello and the one-segment certificate flight are
    # small.)
    big = get_with_mss(sc.client, ip, port, None, pad=4000, cafile=cafile)
    assert (big["ended"], big["bytes"]) == (False, 0), big  # this host's full-size packets vanish
    small = get_with_mss(sc.client, ip, port, small_mss, pad=4000, cafile=cafile)
    assert small["ended"] and small["bytes"] > 0, small
    report = verdict(lab, sc)
    m = pmtu_fact(report)
    assert (m["outcome"], m["direction"], m["upload_outcome"], m["upload_clamped_outcome"]) == (
        "black_hole", "upload", "timeout", "http_ok"), m
    assert m["exchange"] == ("https_get" if cafile else "http_get"), m
    assert (m["passed_packet"], m["lost_packet"], m["kernel_path_mtu"]) == (
        small_mss + header, 1500, 1500), m
    assert m["upload_request_bytes"] > 4000 and m["default_outcome"] == "http_ok", m
    if cafile:  # the handshake and the page at the default size, the padded GET after it
        [tls] = facts_of(report, "probe_tls")
        assert tls["outcome"] == "tls_ok", tls
        assert m["default_answer_bytes"] > sc.info["page_bytes"], m
        assert "sent over TLS after the handshake" in report["findings"][0]["explanation"]
    page = get_with_mss(sc.client, ip, port, None, timeout=4.0, cafile=cafile)
    assert page["ended"] and page["bytes"] > sc.info["page_bytes"], page  # answers arrive
    sc.nodes["gw"].exec("nft", "delete", "table", "inet", "no_pmtud")
    healed = get_with_mss(sc.client, ip, port, None, timeout=4.0, pad=4000, cafile=cafile)
    assert healed["ended"] and healed["bytes"] > 0, healed


@runs("small-mtu-pmtud-works-http-v4")
def test_small_mtu_with_pmtud_http(lab: Lab, sc: Scenario) -> None:
    page = get_with_mss(sc.client, sc.info["ip"], sc.info["port"], None, timeout=4.0)
    assert page["ended"] and page["bytes"] > sc.info["page_bytes"], page
    report = verdict(lab, sc)
    m = pmtu_fact(report)
    # The page came at the default size, in segments the narrow link carries (1348 bytes of
    # payload after PMTUD), larger than the clamped exchange's: no clamped exchange needed.
    assert (m["outcome"], m.get("clamped_outcome")) == ("http_ok", None), m
    assert 536 < m["default_largest_segment"] <= 1400 - 40, m
    assert (m["direction"], m["upload_outcome"]) == ("download", "http_ok"), m


@runs("small-answer-behind-black-hole", "small-answer-behind-black-hole-https")
def test_small_answer_behind_black_hole(lab: Lab, sc: Scenario) -> None:
    ip, port, cafile = sc.info["ip"], sc.info["port"], sc.info.get("cafile")
    # Small answers pass the hole (over TLS, the one-segment handshake too).
    assert get_with_mss(sc.client, ip, port, None, cafile=cafile)["ended"]
    report = verdict(lab, sc)
    m = pmtu_fact(report)
    assert m["outcome"] == "inconclusive" and "too small to tell" in m["error"], m
    assert m["exchange"] == ("https_get" if cafile else "http_get"), m
    assert m["answer_bytes"] < 536, m
    assert m["upload_outcome"] == "http_ok", m  # this host's large packets get their ICMP


@runs("raw-port-behind-black-hole")
def test_raw_port_behind_black_hole(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(sc.info["ip"], sc.info["port"]).outcome == "open"
    report = verdict(lab, sc)
    m = pmtu_fact(report)
    assert (m["outcome"], m["exchange"], m.get("default_outcome")) == ("not_possible", "none",
                                                                       None), m
    assert "nothing large to ask for" in m["error"], m


# --- X12 over IPv6 ------------------------------------------------------------------------------

def assert_ipv4_clean(sc: Scenario) -> None:
    """The fault is IPv6's alone: echoes to the same server over IPv4 come back at once."""
    rtts = ping_rtts(sc.client, SERVER_IP, 5)
    assert all(r is not None and r < 100 for r in rtts), rtts


@runs("heavy-loss-v6")
def test_heavy_loss_v6(lab: Lab, sc: Scenario) -> None:
    assert_ipv4_clean(sc)
    check_heavy_loss(lab, sc, SERVER_V6)  # measured on the address programs try first


@runs("high-latency-v6")
def test_high_latency_v6(lab: Lab, sc: Scenario) -> None:
    assert_ipv4_clean(sc)
    report = check_high_latency(lab, sc, SERVER_V6)
    assert SERVER_V6 in report["findings"][0]["explanation"]


@runs("high-jitter-v6")
def test_high_jitter_v6(lab: Lab, sc: Scenario) -> None:
    assert_ipv4_clean(sc)
    check_high_jitter(lab, sc, SERVER_V6)


@runs("normal-latency-v6")
def test_normal_latency_v6_control(lab: Lab, sc: Scenario) -> None:
    check_normal_latency(lab, sc, SERVER_V6)
