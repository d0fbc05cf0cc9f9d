"""Loss, latency and jitter to an address, from a short train of ICMP echoes (X12).

A single ping says whether ICMP passes; a train of them says how well the path carries
packets. The train is short and bounded, so it costs a healthy run little and never more than
the probe timeout:

1. **Warm-up**: one echo, repeated every :data:`WARMUP_INTERVAL` until one is answered (at
   most :data:`WARMUP_TRIES`). The first packets to a next hop wait for its ARP/NDP answer
   (a slow proxy-ARP router makes them hundreds of milliseconds late); measuring them would
   report latency the path does not have. Warm-up echoes are not counted.
2. **Train**: :data:`FIRST_ECHOES` echoes :data:`FIRST_INTERVAL` apart. When every echo but the
   last is already answered by the time the last leaves (a clean, fast path: a healthy LAN),
   the train stops there. Otherwise (a loss, or a path slower than the train) it goes on to
   :data:`MAX_ECHOES` at :data:`LATER_INTERVAL`, so loss and jitter are judged on enough
   samples.
0. **After the single ping**: the train waits for ``probe_icmp``'s answer to the same address,
   at most :data:`PING_HEAD_START`. When that ping drew an ICMP error (a router has no route, a
   firewall rejects), the path carries no echoes and nothing is measured: the train is not
   sent. Routers rate-limit the ICMP errors they send to one host (Linux: a burst of six, then
   one a second), so a train of echoes into an unreachable network would use up the errors
   that tell the ping and the TCP connection why they fail.
3. **Wait**: for the answers still missing, until every echo is answered, or
   ``max(1 s, 2 × the slowest round trip seen)`` after the last echo left, never past the
   probe's timeout. An echo unanswered by then counts as lost.

The figures (as ``ping`` and ``mtr`` give them): ``loss_pct`` of the train's echoes; the
minimum, mean and maximum round trip; ``jitter_ms``, the mean difference between the round
trips of consecutive answered echoes (RFC 3550's interarrival jitter without its smoothing; mtr's
"Javg"). The thresholds that make a finding are the rules' (knowledge/quality.yaml), documented
there and in the README.

Sockets as :mod:`engine.probes.icmp`: an unprivileged ping socket where
``net.ipv4.ping_group_range`` allows it, else a raw socket (root or CAP_NET_RAW), else
``not_possible``.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import Stopwatch, describe_exception, once_per_run, probe_fact
from engine.probes.context import ProbeContext
from engine.probes.icmp import ECHO_REPLY, echo_request, open_icmp_socket
from engine.probes.tcp import family_of

WARMUP_TRIES = 5
WARMUP_INTERVAL = 0.2
FIRST_ECHOES = 8
FIRST_INTERVAL = 0.01
MAX_ECHOES = 20
LATER_INTERVAL = 0.02
MIN_GRACE = 1.0
PING_HEAD_START = 0.3
PAYLOAD = b"whynet-path-quality"


@dataclass
class Train:
    """What one train saw: send and answer times (monotonic seconds) per sequence number."""

    method: str
    sent: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)
    warmup: int = 0
    error: str | None = None
    unreachable: bool = False  # the path answered with an ICMP error: nothing was measured

    def rtts_ms(self) -> list[float | None]:
        """Round trips in milliseconds in sending order; None for an echo never answered."""
        return [round((self.answered[s] - t) * 1000, 2) if s in self.answered else None
                for s, t in sorted(self.sent.items(), key=lambda item: item[1])]


@dataclass(frozen=True)
class Figures:
    sent: int
    received: int
    loss_pct: float
    rtt_min_ms: float | None
    rtt_avg_ms: float | None
    rtt_max_ms: float | None
    jitter_ms: float | None


def figures(rtts_ms: Sequence[float | None]) -> Figures:
    """Loss, min/avg/max round trip and jitter of a train (round trips in sending order,
    None for a lost echo)."""
    got = [r for r in rtts_ms if r is not None]
    sent = len(rtts_ms)
    loss = round(100.0 * (sent - len(got)) / sent, 1) if sent else 0.0
    if not got:
        return Figures(sent, 0, loss, None, None, None, None)
    jitter = (round(statistics.fmean(abs(b - a) for a, b in zip(got, got[1:], strict=False)), 2)
              if len(got) > 1 else None)
    return Figures(sent, len(got), loss, round(min(got), 2), round(statistics.fmean(got), 2),
                   round(max(got), 2), jitter)


class _Receiver:
    """Reads echo replies for one train from the socket as they arrive (an event-loop reader)."""

    def __init__(self, sock: socket.socket, family: int, method: str, ip: str, ident: int,
                 train: Train) -> None:
        self.sock, self.family, self.method, self.ip, self.ident = sock, family, method, ip, ident
        self.train = train
        self.changed = asyncio.Event()

    def read(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error queued for a ping socket: not an answer
                self.train.error = describe_exception(exc)
                self.changed.set()
                return
            now = time.monotonic()
            seq = self._echo_reply_seq(data, str(addr[0]))
            if seq is not None and seq in self.train.sent and seq not in self.train.answered:
                self.train.answered[seq] = now
                self.changed.set()

    def _echo_reply_seq(self, data: bytes, sender: str) -> int | None:
        if self.family == socket.AF_INET and self.method == "raw":
            data = data[(data[0] & 0x0F) * 4:]
        if len(data) < 8 or data[0] != ECHO_REPLY[self.family]:
            return None
        _, _, _, ident, seq = struct.unpack("!BBHHH", data[:8])
        if self.method == "raw" and ident != self.ident:
            return None  # another program's ping: a raw socket sees every ICMP packet
        if sender.split("%")[0] != self.ip.split("%")[0]:
            return None
        return int(seq)


async def run_train(ip: str, budget: float) -> Train:
    """The warm-up, the train and the wait of the module docstring, within ``budget`` s."""
    family = family_of(ip)
    sock, method, why = open_icmp_socket(family)
    if sock is None:
        return Train("none", error=why)
    start = time.monotonic()
    deadline = start + budget
    train = Train(method)
    ident = os.getpid() & 0xFFFF
    first_seq = random.getrandbits(15)
    loop = asyncio.get_running_loop()
    with sock:
        sock.setblocking(False)
        rx = _Receiver(sock, family, method, ip, ident, train)
        loop.add_reader(sock.fileno(), rx.read)
        try:
            seq = first_seq
            # 1. warm-up: until the path (and the next hop's link-layer address) answers
            for _ in range(WARMUP_TRIES):
                if not _send(sock, family, ip, ident, seq, train):
                    return train
                seq += 1
                if await _wait_for(rx, lambda: bool(train.answered) or train.error is not None,
                                   min(deadline, time.monotonic() + WARMUP_INTERVAL)):
                    break
            if not train.answered and train.error is not None:
                # an ICMP error, not an echo: stop drawing more of them
                train.warmup, train.unreachable = len(train.sent), True
                train.sent.clear()
                return train
            train.warmup = len(train.sent)
            train.sent.clear()
            train.answered.clear()
            # 2. the train
            for n in range(MAX_ECHOES):
                if time.monotonic() >= deadline:
                    break
                if not _send(sock, family, ip, ident, seq, train):
                    break
                seq += 1
                if n + 1 == FIRST_ECHOES and len(train.answered) >= FIRST_ECHOES - 1:
                    break
                interval = FIRST_INTERVAL if n + 1 < FIRST_ECHOES else LATER_INTERVAL
                await asyncio.sleep(max(0.0, min(interval, deadline - time.monotonic())))
            # 3. the answers still on their way
            await _wait_for(rx, lambda: len(train.answered) == len(train.sent),
                            _grace_end(train, deadline))
        finally:
            loop.remove_reader(sock.fileno())
    return train


def _grace_end(train: Train, deadline: float) -> float:
    last_sent = max(train.sent.values(), default=time.monotonic())
    rtts = [r for r in train.rtts_ms() if r is not None]
    grace = max(MIN_GRACE, 2 * max(rtts, default=0.0) / 1000)
    return min(deadline, last_sent + grace)


def _send(sock: socket.socket, family: int, ip: str, ident: int, seq: int, train: Train) -> bool:
    seq &= 0xFFFF
    packet = echo_request(family, ident, seq, PAYLOAD)
    # Read the clock before sending, as ping does: a busy machine that preempts this thread
    # right after sendto must not shorten the round trip (the answer may already be back).
    sent_at = time.monotonic()
    try:
        sock.sendto(packet, (ip, 0))
    except OSError as exc:
        train.error = describe_exception(exc)
        return False
    train.sent[seq] = sent_at
    return True


async def _wait_for(rx: _Receiver, done: Callable[[], bool], until: float) -> bool:
    """Wait until ``done()`` holds or the monotonic time ``until``; whether it holds."""
    while not done():
        left = until - time.monotonic()
        if left <= 0:
            return False
        rx.changed.clear()
        try:
            await asyncio.wait_for(rx.changed.wait(), left)
        except asyncio.TimeoutError:
            return done()
    return True


async def _after_ping(ping: asyncio.Future[Fact] | None, timeout: float) -> str | None:
    """Step 0: wait for the single ping (at most :data:`PING_HEAD_START`); the ICMP error it
    drew, if it drew one (then no train is sent)."""
    if ping is None:
        return None
    done, _ = await asyncio.wait({ping}, timeout=min(PING_HEAD_START, timeout))
    if ping not in done or ping.cancelled() or ping.exception() is not None:
        return None
    answer = ping.result()
    if answer.get("outcome") != O.UNREACHABLE:
        return None
    return (f"not sent: the single ping drew {answer.get('icmp') or 'an ICMP error'} from "
            f"{answer.get('icmp_from') or 'an unknown sender'}")


async def _train_after_ping(ip: str, ping: asyncio.Future[Fact] | None,
                            timeout: float) -> Train:
    start = time.monotonic()
    why_not = await _after_ping(ping, timeout)
    if why_not is not None:
        return Train("none", error=why_not, unreachable=True)
    return await run_train(ip, max(0.0, timeout - (time.monotonic() - start)))


async def probe_path_quality(target: str, ip: str, ctx: ProbeContext,
                             ping: asyncio.Future[Fact] | None = None) -> Fact:
    """One ``probe_path_quality`` fact for ``ip``; ``ping``: ``probe_icmp``'s answer for the
    same address, still on its way (step 0 of the module docstring)."""
    watch = Stopwatch()
    # Several targets on one address share one train (and its cost).
    train = await once_per_run(("path_quality", ip),
                               lambda: _train_after_ping(ip, ping, ctx.timeout))
    rtts = train.rtts_ms()
    fig = figures(rtts)
    if train.unreachable:
        outcome = O.UNREACHABLE
    elif train.method == "none":
        outcome = O.NOT_POSSIBLE
    elif fig.received:
        outcome = O.REPLY
    elif fig.sent:
        outcome = O.TIMEOUT
    else:
        outcome = O.ERROR
    error = train.error if outcome in (O.NOT_POSSIBLE, O.ERROR, O.UNREACHABLE) else None
    if outcome == O.TIMEOUT:
        error = f"none of {fig.sent} echoes answered within {ctx.timeout:g}s"
    return probe_fact(
        "probe_path_quality", f"probe_path_quality:{target}:{ip}", f"icmp echo train {ip}",
        target=target, layer="route", outcome=outcome, elapsed_ms=watch.ms(), error=error,
        ip=ip, method=train.method, sent=fig.sent, received=fig.received,
        loss_pct=fig.loss_pct, rtt_min_ms=fig.rtt_min_ms, rtt_avg_ms=fig.rtt_avg_ms,
        rtt_max_ms=fig.rtt_max_ms, jitter_ms=fig.jitter_ms, rtts_ms=rtts, warmup=train.warmup,
    )
