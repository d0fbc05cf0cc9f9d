"""What every probe shares: building ``probe_*`` facts, timing, errno names."""

from __future__ import annotations

import asyncio
import errno as _errno
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, TypeVar

from engine.facts import Fact, make_fact
from engine.redact import redact_text

T = TypeVar("T")


class Stopwatch:
    """Milliseconds since creation, as the ``elapsed_ms`` field wants them."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def ms(self) -> int:
        return int((time.monotonic() - self._start) * 1000)

    def remaining(self, budget: float) -> float:
        """Seconds left of ``budget`` (never below a small positive floor)."""
        return max(0.05, budget - (time.monotonic() - self._start))


def probe_fact(
    kind: str, fid: str, probe: str, *, target: str, layer: str, outcome: str,
    elapsed_ms: int | None, error: str | None, **fields: Any,
) -> Fact:
    """A ``probe_*`` fact with the common fields; ``probe`` says what was done, in words.

    The id and the words often hold a URL the user gave (a portal check, a DoH server): they
    are redacted here, since redaction before writing looks at fields, never at ids."""
    return make_fact(
        kind, redact_text(fid), {"probe": redact_text(probe)}, target=target, layer=layer,
        outcome=outcome,
        elapsed_ms=elapsed_ms, error=redact_text(error) if error else None, **fields,
    )


def errno_name(exc: BaseException) -> str | None:
    """``ECONNREFUSED`` for an OSError carrying errno 111; None for anything else."""
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number > 0:
        return _errno.errorcode.get(number)
    return None


def describe_exception(exc: BaseException) -> str:
    """One line: the OS text when there is one, else the exception's class and message."""
    if isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.errno > 0:
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def unique(items: Iterable[T]) -> list[T]:
    """``items`` without repeats, first occurrence kept."""
    return list(dict.fromkeys(items))


def host_for_url(host: str) -> str:
    """IPv6 addresses in brackets, as URLs and ``host:port`` strings need them."""
    return f"[{host}]" if ":" in host else host


def in_daemon_thread(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking call that may outlive its timeout (``getaddrinfo`` cannot be cancelled)
    in a daemon thread, so neither the event loop nor the interpreter's exit waits for it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def work() -> None:
        try:
            result, exc = fn(*args), None
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
            result, exc = None, error
        try:
            loop.call_soon_threadsafe(settle, result, exc)
        except RuntimeError:  # the loop is closed: nobody waits for this answer any more
            pass

    threading.Thread(target=work, name="whynet-blocking", daemon=True).start()
    return future


# How long the tasks a run leaves behind get to unwind once cancelled (closing sockets).
UNWIND_GRACE_S = 1.0


def finish_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks a run left behind (an exchange dropped once its twin had answered) and
    let them unwind, as ``asyncio.run`` does, before the loop closes: a task still pending at
    close runs its ``finally`` later, in the garbage collector, against a closed loop, and
    prints a traceback. Bounded by :data:`UNWIND_GRACE_S` (a task that ignores its
    cancellation cannot hold the run)."""
    leftover = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if leftover:
        loop.run_until_complete(cancel_and_wait(*leftover))
    loop.run_until_complete(loop.shutdown_asyncgens())


async def cancel_and_wait(*tasks: asyncio.Future[Any], grace: float = UNWIND_GRACE_S) -> None:
    """Cancel ``tasks`` (those not done) and wait until they have unwound (their ``finally``
    closes sockets), at most ``grace`` seconds: a task cancelled and left behind unwinds only
    when the loop next runs it, or never (see :func:`finish_leftover_tasks`). Their errors are
    retrieved: whoever cancels a task has stopped wanting its answer."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=grace)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()


# The questions each run has asked (one event loop per run), by what was asked.
_ASKED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, asyncio.Future[Any]]] \
    = weakref.WeakKeyDictionary()


def once_per_run(key: Hashable, ask: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
    """``ask()`` the first time ``key`` is asked in this run; later askers share its answer.
    Fifty targets behind one gateway need one route lookup and one ARP question, not fifty."""
    asked = _ASKED.setdefault(asyncio.get_running_loop(), {})
    if key not in asked:
        asked[key] = asyncio.ensure_future(ask())
    return asked[key]
