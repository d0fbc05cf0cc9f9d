"""What every collector shares: the context it runs in and a bounded command runner.

A collector is a module in this package with::

    NAME = "hosts"                     # the collector's name, used in collection_error facts
    KINDS = ("hosts_entry",)           # the fact kinds it produces (see engine/kinds.py)
    def collect(ctx: CollectContext) -> list[Fact]: ...

and, kept apart from ``collect`` so tests can feed recorded outputs, one ``parse_*`` function
per raw source (text in, facts out). ``collect`` never raises for a missing or unreadable
source: it returns a ``collection_error`` (could not read) or ``source_absent`` (not here) fact.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_COMMAND_TIMEOUT = 10.0


@dataclass(frozen=True)
class CollectContext:
    """Where collectors look: the environment, the home directory, command timeouts."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    home: Path = field(default_factory=Path.home)
    timeout: float = DEFAULT_COMMAND_TIMEOUT
    etc: Path = Path("/etc")
    proc: Path = Path("/proc")


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    error: str | None = None  # set when the command could not run or timed out

    @property
    def ok(self) -> bool:
        return self.error is None and self.returncode == 0

    @property
    def command(self) -> str:
        return " ".join(self.argv)

    def failure(self) -> str:
        """One line saying why the command did not give usable output."""
        if self.error:
            return self.error
        first = (self.stderr.strip().splitlines() or [""])[0]
        return f"exit status {self.returncode}: {first}".rstrip(": ")


def which(binary: str) -> str | None:
    """Find a binary also in the sbin directories a non-root PATH often lacks."""
    found = shutil.which(binary)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        candidate = Path(d) / binary
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def run_command(argv: list[str], timeout: float = DEFAULT_COMMAND_TIMEOUT) -> CommandResult:
    """Run a read-only command with a timeout; never raises."""
    path = which(argv[0])
    if path is None:
        return CommandResult(tuple(argv), None, "", "", error=f"{argv[0]}: command not found")
    try:
        proc = subprocess.run(
            [path, *argv[1:]], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
            check=False, env={**os.environ, "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired:
        return CommandResult(tuple(argv), None, "", "", error=f"timed out after {timeout:g}s")
    except OSError as exc:
        return CommandResult(tuple(argv), None, "", "", error=f"{exc.__class__.__name__}: {exc}")
    return CommandResult(
        tuple(argv), proc.returncode, proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def read_text(path: Path, limit: int = 64 * 1024 * 1024) -> str:
    """Read a regular file of at most ``limit`` bytes as text whatever its bytes (undecodable
    bytes become U+FFFD).

    Raises OSError like open() (and for a FIFO, a device, a file over the limit); callers turn
    that into a collection_error fact.
    """
    from engine.files import read_regular

    return read_regular(path, limit).decode("utf-8", "replace")
