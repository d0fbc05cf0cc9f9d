"""The hosts file: which names are pinned to which addresses before DNS is asked.

Reads: ``/etc/hosts`` (``ctx.etc / "hosts"``; inside ``ip netns exec NS`` that is
``/etc/netns/NS/hosts``), as bytes, at most :data:`MAX_FILE_BYTES`.
Never reads: other files, DNS; sends no traffic.
Produces: one ``hosts_entry`` per line that names an address (``id`` ``hosts:LINE``, source
``{"file": path, "line": LINE}``); at most one ``collection_error`` for the whole file that
says which lines were skipped and why; ``source_absent`` when there is no hosts file.

Parsing follows glibc's ``files`` backend: ``#`` starts a comment anywhere on a line; fields are
separated by ASCII blanks (space, tab, CR, VT, FF), so CRLF line ends are harmless; the first
field is the address and the rest are names. Skipped and reported: lines longer than
:data:`MAX_LINE_BYTES`, lines holding a NUL byte (a text file with NULs is damaged; what a
resolver makes of the rest of such a line differs between libcs), lines whose address does not
parse, and lines with an address but no name. Kept and reported: lines with bytes that are not
UTF-8 (shown with U+FFFD). It is one pass over the bytes with no regular expression, and
addresses are parsed once per distinct spelling: a 300,000-line ad-blocking list takes about
a second on a slow VM, most of it spent allocating the facts themselves.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from engine import files
from engine.collectors.base import CollectContext
from engine.facts import Fact, absent, collection_error

NAME = "hosts"
KINDS = ("hosts_entry",)

MAX_LINE_BYTES = 64 * 1024
MAX_FILE_BYTES = 256 * 1024 * 1024
LINES_SHOWN = 5  # line numbers quoted per kind of problem in the collection_error

# Parsed address per spelling: (normalised text, loopback-or-unspecified), None if invalid.
AddressInfo = tuple[str, bool] | None


@dataclass
class SkippedLines:
    """Lines left out or read with replacements, by reason, for one collection_error."""

    by_reason: dict[str, list[int]] = field(default_factory=dict)

    def add(self, reason: str, line: int) -> None:
        self.by_reason.setdefault(reason, []).append(line)

    def summary(self) -> str | None:
        if not self.by_reason:
            return None
        parts = []
        for reason, lines in self.by_reason.items():
            shown = ", ".join(str(n) for n in lines[:LINES_SHOWN])
            more = f", ... ({len(lines) - LINES_SHOWN} more)" if len(lines) > LINES_SHOWN else ""
            parts.append(f"{len(lines)} line(s) {reason} (line {shown}{more})")
        return "; ".join(parts)


def parse_address(token: bytes) -> AddressInfo:
    """The address a hosts line starts with, normalised, and whether it is loopback/any."""
    try:
        ip = ipaddress.ip_address(token.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return str(ip), ip.is_loopback or ip.is_unspecified


def decode_with_replacement(joined: bytes, line: int, skipped: SkippedLines) -> list[str]:
    skipped.add("not UTF-8, kept with U+FFFD for bad bytes", line)
    return joined.decode("utf-8", "replace").split(" ")


_UNSEEN = ("", False)


def parse_hosts(data: bytes, path: str = "/etc/hosts", truncated: bool = False) -> list[Fact]:
    """``hosts_entry`` facts, and at most one ``collection_error``, from a hosts file's bytes.

    ``truncated`` says ``data`` is only the first :data:`MAX_FILE_BYTES` of a larger file; the
    error then says so too.
    """
    facts: list[Fact] = []
    keep = facts.append
    skipped = SkippedLines()
    cache: dict[bytes, AddressInfo] = {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if len(raw) > MAX_LINE_BYTES:
            skipped.add(f"longer than {MAX_LINE_BYTES} bytes", number)
            continue
        comment = raw.find(b"#")
        tokens = (raw if comment < 0 else raw[:comment]).split()
        if not tokens:
            continue
        if b"\0" in raw:
            skipped.add("with a NUL byte", number)
            continue
        address = cache.get(tokens[0], _UNSEEN)
        if address is _UNSEEN:
            address = cache[tokens[0]] = parse_address(tokens[0])
        if address is None:
            skipped.add("without a valid IP address", number)
            continue
        if len(tokens) == 1:
            skipped.add("with an address but no name", number)
            continue
        # One decode per line: the tokens hold no ASCII blank, so joining them with spaces
        # and splitting on spaces gives them back (str.split() would also split on Unicode
        # blanks, which glibc does not).
        joined = b" ".join(tokens[1:])
        try:
            names = joined.decode("utf-8").split(" ")
        except UnicodeDecodeError:
            names = decode_with_replacement(joined, number, skipped)
        # Fact() inline rather than make_fact(): on a 300,000-line file the extra call and
        # dict copies are a third of the time.
        keep(Fact(
            "hosts_entry", f"hosts:{number}", {"file": path, "line": number},
            {"ip": address[0], "names": names, "line": number, "loopback": address[1],
             "file": path},
        ))
    problems = [s for s in (skipped.summary(),) if s]
    if truncated:
        problems.append(f"larger than {MAX_FILE_BYTES} bytes: only the lines before that were read")
    if problems:
        facts.append(collection_error(NAME, f"{path}: " + "; ".join(problems), {"file": path}))
    return facts


def read_head(path: Path) -> tuple[bytes, bool]:
    """The file's first :data:`MAX_FILE_BYTES` cut at a line end, and whether it was longer."""
    data = files.read_head(path, MAX_FILE_BYTES)  # a FIFO or a device is refused, not read
    if len(data) <= MAX_FILE_BYTES:
        return data, False
    return data[: data.rfind(b"\n", 0, MAX_FILE_BYTES) + 1], True


def collect(ctx: CollectContext) -> list[Fact]:
    path = ctx.etc / "hosts"
    source = {"file": str(path)}
    try:
        data, truncated = read_head(path)
    except FileNotFoundError:
        return [absent(NAME, "hosts", f"{path} does not exist", source)]
    except OSError as exc:
        return [collection_error(NAME, f"{path}: cannot read ({exc.strerror or exc})", source)]
    return parse_hosts(data, str(path), truncated)
