"""Facts derived from recorded lab probes: one family broken (engine.families), the figures
of an echo train (engine.probes.quality), and a path-MTU black hole's readings and findings
(engine.probes.pmtu)."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine.facts import Fact
from engine.families import family_splits
from engine.inference import run
from engine.knowledge import load_knowledge
from engine.layers import layer_summary
from engine.probes.context import ProbeContext
from engine.probes.pmtu import TcpInfo, parse_tcp_info
from engine.probes.quality import (
    FIRST_ECHOES,
    PING_HEAD_START,
    Figures,
    figures,
    probe_path_quality,
    run_train,
)
from engine.report import build_findings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ipfaults"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def probes(data: dict[str, Any]) -> list[Fact]:
    return [Fact.from_json(f) for f in data["facts"] if f["kind"].startswith("probe_")]


def derived(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in data["facts"] if f["kind"] == kind]


@pytest.mark.parametrize("name", ["ipv6-dropped-at-gateway", "ipv4-dropped-at-gateway",
                                  "dual-stack-v6-first"])
def test_family_split_as_recorded(name: str) -> None:
    data = recorded(name)
    again = [f.to_json() for f in family_splits(data["targets"], probes(data))]
    assert again == derived(data, "family_split")


def test_ipv6_dropped_reads_the_resolver_order() -> None:
    [split] = family_splits(["http://app.corp.test/"],
                            probes(recorded("ipv6-dropped-at-gateway")))
    assert split.get("broken_family") == 6 and split.get("broken_first") is True
    assert split.get("order") == ["2001:db8:51::20", "198.51.100.20"]
    assert split.get("broken_outcome") == "timeout" and split.get("broken_ms") >= 2900


def _changed(name: str, ip: str, kinds: tuple[str, ...] = ("probe_tcp",), **fields: Any
             ) -> list[Fact]:
    """The recorded probes with ``fields`` changed in the facts of ``kinds`` about ``ip``."""
    data = copy.deepcopy(recorded(name))
    for f in data["facts"]:
        if f.get("ip") == ip and f["kind"] in kinds:
            f.update(fields)
    return probes(data)


def test_no_route_for_the_family_is_not_a_broken_family() -> None:
    """A host without IPv6 routes gets ENETUNREACH at once: nothing waits, no split."""
    facts = _changed("ipv6-dropped-at-gateway", "2001:db8:51::20", ("probe_tcp", "probe_route"),
                     outcome="no_route")
    assert family_splits(["http://app.corp.test/"], facts) == []


def test_refused_on_one_family_is_not_a_broken_path() -> None:
    facts = _changed("ipv4-dropped-at-gateway", "198.51.100.20", outcome="refused")
    assert family_splits(["http://app.corp.test/"], facts) == []


def test_an_icmp_error_counts_as_broken() -> None:
    facts = _changed("ipv6-dropped-at-gateway", "2001:db8:51::20", outcome="unreachable",
                     icmp="addr-unreachable", icmp_from="2001:db8:20::1")
    [split] = family_splits(["http://app.corp.test/"], facts)
    assert (split.get("broken_outcome"), split.get("icmp")) == ("unreachable", "addr-unreachable")


# --- X12: the figures of an echo train --------------------------------------------------------

QUALITY = ["heavy-loss", "high-latency", "high-jitter", "normal-latency", "heavy-loss-v6",
           "high-latency-v6"]
FIGURE_FIELDS = ("sent", "received", "loss_pct", "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms",
                 "jitter_ms")


@pytest.mark.parametrize("name", QUALITY)
def test_figures_as_recorded(name: str) -> None:
    [fact] = [f for f in recorded(name)["facts"] if f["kind"] == "probe_path_quality"]
    again = figures(fact["rtts_ms"])
    assert tuple(getattr(again, k) for k in FIGURE_FIELDS) == tuple(
        fact[k] for k in FIGURE_FIELDS)


def test_figures_of_nothing_and_of_one_echo() -> None:
    assert figures([]) == Figures(0, 0, 0.0, None, None, None, None)
    assert figures([None, None]).loss_pct == 100.0
    one = figures([None, 12.5])
    assert (one.received, one.loss_pct, one.rtt_min_ms, one.jitter_ms) == (1, 50.0, 12.5, None)


def test_jitter_is_the_mean_difference_of_consecutive_answers() -> None:
    """A lost echo is skipped: its neighbours are compared (as mtr does)."""
    assert figures([10.0, 30.0, None, 20.0]).jitter_ms == 15.0


def test_a_clean_path_stops_after_the_first_echoes() -> None:
    """On loopback (a clean, fast path) the train stops at FIRST_ECHOES, well within budget."""
    train = asyncio.run(run_train("127.0.0.1", 2.0))
    if train.method == "none":
        pytest.skip(f"no ICMP socket here: {train.error}")
    fig = figures(train.rtts_ms())
    assert (fig.sent, fig.received, train.warmup) == (FIRST_ECHOES, FIRST_ECHOES, 1)
    assert fig.rtt_max_ms is not None and fig.rtt_max_ms < 100


# --- X11: a path-MTU black hole -----------------------------------------------------------------

def test_tcp_info_of_a_stalled_connection() -> None:
    """TCP_INFO read in the lab on a connection whose TLS handshake stalled in the black hole
    (tests/fixtures/ipfaults/tcp_info_stalled.json): established, the full-size path MTU still
    believed, nothing received."""
    recorded_info = json.loads((FIXTURES / "tcp_info_stalled.json").read_text())
    for family, (payload, full) in {"v4": (1448, 1500), "v6": (1428, 1500)}.items():
        raw = bytes.fromhex(recorded_info[family]["tcp_info_hex"])
        info = parse_tcp_info(raw)
        assert info is not None
        assert (info.state, info.advmss, info.snd_mss, info.pmtu, info.bytes_received) == (
            1, payload, payload, full, 0)
        assert recorded_info[family]["ip_mtu"] == full
        assert parse_tcp_info(raw[:100]) is None  # too short: not guessed
        assert parse_tcp_info(raw[:104]) == TcpInfo(1, payload, info.rcv_mss, full, payload,
                                                     info.total_retrans, None)


@pytest.mark.parametrize("name", ["mtu-black-hole-v4", "mtu-black-hole-v6"])
def test_black_hole_figures_as_recorded(name: str) -> None:
    [m] = [f for f in recorded(name)["facts"] if f["kind"] == "probe_pmtu"]
    header = 40 if m["family"] == 4 else 60
    assert (m["default_outcome"], m["clamped_outcome"]) == ("timeout", "tls_ok")
    assert m["passed_packet"] == m["clamped_mss"] + header
    assert m["lost_packet"] == m["advertised_mss"] + header == m["kernel_path_mtu"] == 1500


# The HTTP exchanges of tests/lab/mtufaults.py: the rule on top and the application layer,
# read again from the recorded probes by the knowledge base and the layer table.
HTTP_BLACK_HOLES = [
    ("mtu-black-hole-http-v4", "path.mtu-black-hole-http", "fail"),  # not even the head
    ("mtu-black-hole-http-v6", "path.mtu-black-hole-http", "fail"),  # the head, then nothing
    ("mtu-black-hole-upload-v4", "path.mtu-black-hole-upload", "ok"),  # answers arrive
    ("small-answer-behind-black-hole", None, "ok"),  # too small to tell: no claim
]


@pytest.mark.parametrize(("name", "rule", "application"), HTTP_BLACK_HOLES)
def test_http_black_holes_as_recorded(name: str, rule: str | None, application: str) -> None:
    data = recorded(name)
    facts = [Fact.from_json(f) for f in data["facts"]]
    kb = load_knowledge(include_user=False)
    findings = build_findings(kb, run(kb, facts))
    assert [f.rule.id for f in findings] == data["findings"] == ([rule] if rule else [])
    rows = {r["layer"]: r for r in layer_summary(data["targets"], facts)}
    assert rows["application"]["status"] == application, rows["application"]
    [m] = [f for f in data["facts"] if f["kind"] == "probe_pmtu"]
    if rule is None:
        assert m["outcome"] == "inconclusive" and m["answer_bytes"] < m["clamped_mss"], m
        return
    header = 40 if m["family"] == 4 else 60
    assert m["passed_packet"] == m["clamped_mss"] + header
    assert m["lost_packet"] == m["kernel_path_mtu"] == 1500  # no ICMP came back
    if m["direction"] == "download":
        # The whole answer needed full-size segments; the default exchange got only a part.
        assert m["answer_bytes"] > m["advertised_mss"] > m["default_answer_bytes"], m
    else:
        assert m["upload_request_bytes"] > 2 * m["advertised_mss"], m


# --- the train and the single ping --------------------------------------------------------------

def test_no_train_into_a_path_that_answers_with_icmp_errors() -> None:
    """The ping of two-default-gateways (recorded) drew net-unreachable: the train is not sent,
    so it cannot use up the router's rate-limited ICMP errors (the lab saw the TCP connection
    get none and time out instead of failing with ENETUNREACH)."""
    facts = json.loads((FIXTURES / "two-default-gateways-ping.json").read_text())["facts"]
    [ping] = [Fact.from_json(f) for f in facts if f["kind"] == "probe_icmp"]
    [recorded_quality] = [f for f in facts if f["kind"] == "probe_path_quality"]

    async def after_the_ping() -> Fact:
        answered: asyncio.Future[Fact] = asyncio.get_running_loop().create_future()
        answered.set_result(ping)
        return await probe_path_quality(ping["target"], ping["ip"], ProbeContext(timeout=2.0),
                                        answered)

    fact = asyncio.run(after_the_ping())
    assert (fact["outcome"], fact["sent"], fact["method"]) == ("unreachable", 0, "none")
    assert fact["error"] == recorded_quality["error"]
    assert "net-unreachable from 10.30.0.1" in fact["error"]


def test_a_ping_still_on_its_way_holds_the_train_only_a_moment() -> None:
    """A ping that has not answered yet (a silent path) delays the train by PING_HEAD_START at
    most; the train then runs within what is left of the timeout."""

    async def with_a_silent_ping() -> tuple[Fact, float]:
        silent: asyncio.Future[Fact] = asyncio.get_running_loop().create_future()
        start = time.monotonic()
        fact = await probe_path_quality("127.0.0.1", "127.0.0.1", ProbeContext(timeout=2.0),
                                        silent)
        return fact, time.monotonic() - start

    fact, took = asyncio.run(with_a_silent_ping())
    if fact["method"] == "none":
        pytest.skip(f"no ICMP socket here: {fact['error']}")
    assert (fact["outcome"], fact["sent"]) == ("reply", FIRST_ECHOES)
    assert PING_HEAD_START <= took < 2.0
