"""Reading the files whynet is handed: regular files only, and never more than a cap.

Snapshots, reports, rule files, certificate bundles and keystores may come from anyone. A FIFO
given as one would block the run forever, ``/dev/zero`` would be read until memory runs out, and
a 50 MB file is no rule file. :func:`read_regular` opens without blocking, checks what the path
is, and reads at most ``limit`` bytes; every refusal is an ``OSError`` whose text says why, so
callers keep their one-line error or ``collection_error`` handling.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

MIB = 1024 * 1024
SNAPSHOT_LIMIT = 512 * MIB  # a snapshot or a report (a 300k-line hosts file is ~30 MB)
RULE_FILE_LIMIT = 2 * MIB  # the largest shipped rule file is under 30 KB
BUNDLE_LIMIT = 32 * MIB  # a CA bundle or a Java keystore (the system bundle is ~200 KB)

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


class RefusedFile(OSError):
    """Not read: not a regular file, or larger than the cap. ``str()`` says which."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(0, reason, str(path))  # errno 0: callers show the reason itself

    def __str__(self) -> str:
        return str(self.strerror)


def what_is(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: str | Path, limit: int) -> os.stat_result:
    """``os.stat`` of ``path`` (links followed), refusing anything but a regular file of at most
    ``limit`` bytes. Raises OSError (FileNotFoundError and the like, or :class:`RefusedFile`)."""
    st = os.stat(path)
    _refuse(path, st, limit)
    return st


def _refuse(path: str | Path, st: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise RefusedFile(path, f"not a regular file ({what_is(st.st_mode)})")
    if st.st_size > limit:
        raise RefusedFile(path, f"too large ({st.st_size} bytes; the limit is {limit})")


def read_regular(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`check_regular`).

    Opened non-blocking, so a FIFO is refused instead of waited on; a file that grows past the
    cap while being read is refused too."""
    data = read_head(path, limit)
    if len(data) > limit:
        raise RefusedFile(path, f"too large (more than {limit} bytes)")
    return data


def read_head(path: str | Path, limit: int) -> bytes:
    """At most the first ``limit + 1`` bytes of a regular file, whatever its size (a caller
    that can use the head of a huge file, such as a hosts file, decides what to do with it).
    Opened non-blocking and checked on the open descriptor, so a FIFO or a device is refused
    (:class:`RefusedFile`) instead of waited on or read for ever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RefusedFile(path, f"not a regular file ({what_is(st.st_mode)})")
    except OSError:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit + 1)


def write_atomically(path: str | Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a
    truncated one: a temporary file in the same directory, renamed over ``path``.

    ``mode`` None keeps an existing file's mode (or the umask default for a new one). A path that
    exists and is not a regular file (``/dev/stdout``, a FIFO) is written to directly, as the
    user asked; a symbolic link is followed, so the file it points to is replaced."""
    target = os.path.realpath(path)
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(target, "wb") as fh:
            fh.write(data)
        return
    if mode is None:
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    folder, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
