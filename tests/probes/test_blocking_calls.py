"""A blocking call that ignores its timeout (getaddrinfo against a dropping DNS server) can
neither hold the probe past the timeout nor the process at exit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest

from engine import probes
from engine.probes.common import UNWIND_GRACE_S, in_daemon_thread


def test_timeout_returns_while_the_call_goes_on_in_a_daemon_thread() -> None:
    release = threading.Event()

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(in_daemon_thread(release.wait, 30), 0.2)

    start = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - start < 2
    stuck = [t for t in threading.enumerate() if t.name == "whynet-blocking"]
    assert stuck and all(t.daemon for t in stuck)
    release.set()


def test_results_and_exceptions_reach_the_caller() -> None:
    async def main() -> tuple[int, str]:
        value = await in_daemon_thread(lambda a, b: a + b, 2, 3)
        try:
            await in_daemon_thread(int, "x")
        except ValueError as exc:
            return value, type(exc).__name__
        return value, "no error"

    assert asyncio.run(main()) == (5, "ValueError")


def test_the_interpreter_does_not_wait_for_a_stuck_call_at_exit() -> None:
    code = (
        "import asyncio, time\n"
        "from engine.probes.common import in_daemon_thread\n"
        "async def main():\n"
        "    try:\n"
        "        await asyncio.wait_for(in_daemon_thread(time.sleep, 30), 0.1)\n"
        "    except asyncio.TimeoutError:\n"
        "        pass\n"
        "asyncio.run(main())\n"
    )
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True, timeout=20)
    assert time.monotonic() - start < 10


def test_a_task_left_behind_unwinds_before_the_probe_loop_closes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An exchange dropped once its twin answered (pmtu's clamped GET) is cancelled, not
    # awaited; if the loop closed first, its ``finally`` ran later in the garbage collector
    # against a closed loop and printed "RuntimeError: Event loop is closed" on stderr.
    unwound: list[str] = []

    async def dropped_exchange() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            asyncio.get_running_loop().call_soon(lambda: None)  # raises once the loop closed
            unwound.append("finally ran on an open loop")

    async def run_probes(*args: object, **kwargs: object) -> list[object]:
        asyncio.ensure_future(dropped_exchange())
        await asyncio.sleep(0)
        return []

    monkeypatch.setattr(probes, "run_probes", run_probes)
    assert probes.probe([], []) == []
    assert unwound == ["finally ran on an open loop"]


def test_a_task_that_ignores_its_cancellation_cannot_hold_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                continue

    async def run_probes(*args: object, **kwargs: object) -> list[object]:
        asyncio.ensure_future(stubborn())
        await asyncio.sleep(0)
        return []

    monkeypatch.setattr(probes, "run_probes", run_probes)
    start = time.monotonic()
    assert probes.probe([], []) == []
    assert time.monotonic() - start < UNWIND_GRACE_S + 2
