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
import pwd
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.facts import Fact

DEFAULT_COMMAND_TIMEOUT = 10.0


@dataclass(frozen=True)
class CollectContext:
    """Where collectors look: the environment, the home directory, command timeouts."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    home: Path = field(default_factory=Path.home)
    timeout: float = DEFAULT_COMMAND_TIMEOUT
    etc: Path = Path("/etc")
    proc: Path = Path("/proc")
    euid: int = field(default_factory=os.geteuid)  # whose process this is (SessionUser)
    run: Path = Path("/run")  # /run/user/UID, the session's runtime directory
    var_lib: Path = Path("/var/lib")  # DHCP clients' lease files


@dataclass(frozen=True)
class SessionUser:
    """The user whose desktop settings (GNOME, KDE) a collector reads.

    Desktop proxy settings belong to a person, not to the machine: the browser that follows
    them runs as that person. whynet run by that person reads their own settings. whynet run
    as root through ``sudo`` (``SUDO_USER`` names a user other than root, and ``SUDO_UID``,
    when set, is that user's uid) reads the settings of the user who typed ``sudo``: their
    home directory from the password database and its ``.config``, commands run with their
    uid and gid, their HOME and their runtime directory. root's own settings, which nobody
    browses with, are read only when root runs whynet directly (a root login, a service).
    """

    name: str
    uid: int
    gid: int
    home: Path
    config_home: Path  # $XDG_CONFIG_HOME or ~/.config
    via_sudo: bool  # the settings are SUDO_USER's, not the running user's

    def command_env(self, ctx: CollectContext) -> dict[str, str]:
        """The environment a command reading this user's settings runs in."""
        if not self.via_sudo:
            return {**ctx.env, "LC_ALL": "C"}
        env = {"PATH": ctx.env.get("PATH") or "/usr/bin:/bin", "LC_ALL": "C",
               "HOME": str(self.home), "USER": self.name, "LOGNAME": self.name}
        runtime = ctx.run / "user" / str(self.uid)
        if runtime.is_dir():
            env["XDG_RUNTIME_DIR"] = str(runtime)
        return env

    def describe(self) -> str:
        return f"{self.name} (SUDO_USER)" if self.via_sudo else self.name


def session_user(ctx: CollectContext) -> SessionUser:
    """The user whose desktop settings are read (see :class:`SessionUser`)."""
    sudo_user = ctx.env.get("SUDO_USER", "")
    if ctx.euid == 0 and sudo_user and sudo_user != "root":
        try:
            entry = pwd.getpwnam(sudo_user)
        except KeyError:
            entry = None
        sudo_uid = ctx.env.get("SUDO_UID", "")
        if entry is not None and (not sudo_uid or sudo_uid == str(entry.pw_uid)):
            home = Path(entry.pw_dir)
            return SessionUser(entry.pw_name, entry.pw_uid, entry.pw_gid, home,
                               home / ".config", via_sudo=True)
    try:
        entry = pwd.getpwuid(ctx.euid)
        name, gid = entry.pw_name, entry.pw_gid
    except KeyError:
        name, gid = str(ctx.euid), os.getegid()
    config = ctx.env.get("XDG_CONFIG_HOME", "")
    # The XDG base directory specification ignores a relative XDG_CONFIG_HOME.
    config_home = Path(config) if config.startswith("/") else Path(ctx.home) / ".config"
    return SessionUser(name, ctx.euid, gid, Path(ctx.home), config_home, via_sudo=False)


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


def run_command(argv: list[str], timeout: float = DEFAULT_COMMAND_TIMEOUT,
                env: Mapping[str, str] | None = None,
                user: SessionUser | None = None) -> CommandResult:
    """Run a read-only command with a timeout; never raises. ``env``: its whole environment
    (default: this process's, with LC_ALL=C); ``user``: run it with that user's uid and gid
    (root reading a SUDO_USER's desktop settings)."""
    path = which(argv[0])
    if path is None:
        return CommandResult(tuple(argv), None, "", "", error=f"{argv[0]}: command not found")
    as_user = user if user is not None and user.uid != os.geteuid() else None
    try:
        proc = subprocess.run(
            [path, *argv[1:]], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
            check=False, env=dict(env) if env is not None else {**os.environ, "LC_ALL": "C"},
            user=as_user.uid if as_user else None, group=as_user.gid if as_user else None,
            extra_groups=[] if as_user else None, cwd="/" if as_user else None,
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


def read_present(collector: str, paths: Iterable[Path],
                 limit: int) -> tuple[list[tuple[Path, str]], list[Fact]]:
    """(path, text) of each file of ``paths`` that exists, and a ``collection_error`` for each
    one that exists but cannot be read; missing files are skipped."""
    from engine.facts import collection_error

    texts: list[tuple[Path, str]] = []
    errors: list[Fact] = []
    for path in paths:
        try:
            texts.append((path, read_text(path, limit)))
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(collection_error(collector, f"{path}: {exc.strerror or exc}",
                                           {"file": str(path)}, what=str(path)))
    return texts, errors
