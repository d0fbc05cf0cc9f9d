"""The connection-tracking table: how full it is, and what the kernel could not track (X41).

Reads:   ``/proc/sys/net/netfilter/nf_conntrack_count`` and ``nf_conntrack_max`` (the entries
         of this network namespace, and the kernel's limit), and ``/proc/net/stat/nf_conntrack``
         (one row of hexadecimal counters per CPU, under a header naming the columns).
Never:   lists the table itself (``conntrack -L`` would show every peer this host talks to) and
         never changes a setting.
Produces: one ``conntrack_table`` fact (``id`` ``conntrack_table``): ``count``, ``max``,
         ``fill_percent``, and the per-CPU counters summed: ``drop`` (packets dropped because no
         entry could be made: the table was full), ``early_drop`` (entries evicted to make room),
         ``insert_failed``, ``invalid``. Where nf_conntrack is not loaded (nothing uses
         connection tracking) a ``source_absent`` fact instead; ``collection_error`` for a file
         that cannot be read.

When the count reaches the limit, the kernel first evicts entries that never saw a reply; when
it finds none, every packet that would start a new connection is dropped, silently, and
``drop`` grows ("nf_conntrack: table full, dropping packet" in the kernel log).
"""

from __future__ import annotations

from pathlib import Path

from engine.collectors.base import CollectContext
from engine.facts import Fact, absent, collection_error, make_fact

NAME = "conntrack"
KINDS = ("conntrack_table",)

COUNT_FILE = "sys/net/netfilter/nf_conntrack_count"
MAX_FILE = "sys/net/netfilter/nf_conntrack_max"
STAT_FILE = "net/stat/nf_conntrack"
# Counters summed over the CPUs' rows. ``entries`` (the first column) is the table's size,
# the same on every row, so it is not summed.
SUMMED = ("drop", "early_drop", "insert_failed", "invalid", "search_restart")


def parse_stat(text: str) -> dict[str, int]:
    """``/proc/net/stat/nf_conntrack`` -> each column summed over the CPUs (``entries`` from the
    first row). Raises ValueError for text that is not that table.

    >>> parse_stat("entries  clashres drop early_drop\\n0000000a 00000000 00000002 00000000\\n"
    ...            "0000000a 00000000 00000001 00000003\\n")
    {'entries': 10, 'clashres': 0, 'drop': 3, 'early_drop': 3}
    """
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0][0] != "entries":
        raise ValueError("no 'entries' header: not /proc/net/stat/nf_conntrack")
    header = lines[0]
    totals = dict.fromkeys(header, 0)
    for row in lines[1:]:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} columns under a header of {len(header)}")
        for name, value in zip(header, row, strict=True):
            number = int(value, 16)
            totals[name] = number if name == "entries" else totals[name] + number
    totals["entries"] = int(lines[1][0], 16)
    return totals


def table_fact(count: int, maximum: int, stats: dict[str, int] | None, proc: Path) -> Fact:
    fill = count * 100 // maximum if maximum > 0 else None
    summed = {name: (stats or {}).get(name) for name in SUMMED}
    return make_fact(
        "conntrack_table", "conntrack_table",
        {"file": str(proc / COUNT_FILE), "also": [str(proc / MAX_FILE), str(proc / STAT_FILE)]},
        count=count, max=maximum, fill_percent=fill, **summed,
    )


def _read_int(path: Path) -> int:
    return int(path.read_text(encoding="ascii", errors="replace").split()[0])


def collect(ctx: CollectContext) -> list[Fact]:
    count_path, max_path = ctx.proc / COUNT_FILE, ctx.proc / MAX_FILE
    source = {"file": str(count_path)}
    if not count_path.exists():
        return [absent(NAME, "nf_conntrack", f"{count_path} does not exist: nf_conntrack is "
                       "not loaded, no connection is tracked", source)]
    try:
        count, maximum = _read_int(count_path), _read_int(max_path)
    except (OSError, ValueError, IndexError) as exc:
        return [collection_error(NAME, f"cannot read the conntrack count and limit: {exc}",
                                 source)]
    facts = []
    stats: dict[str, int] | None = None
    try:
        stats = parse_stat((ctx.proc / STAT_FILE).read_text(encoding="ascii", errors="replace"))
    except (OSError, ValueError) as exc:
        facts.append(collection_error(NAME, f"{ctx.proc / STAT_FILE}: {exc}",
                                      {"file": str(ctx.proc / STAT_FILE)}, "stat"))
    facts.append(table_fact(count, maximum, stats, ctx.proc))
    return facts
