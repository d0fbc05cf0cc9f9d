"""Kernel drop counters read before and after the probes: what the kernel threw away while
whynet was asking (X40 reverse-path filtering, X41 a full conntrack table).

A timeout says only that nothing came back. Some silent drops are counted by the kernel of
this host, per network namespace, and reading the counters around the probes names them:

* ``TcpExt.IPReversePathFilter`` (``/proc/net/netstat``, as ``nstat`` shows it): packets
  refused by reverse-path filtering (``rp_filter``), e.g. replies that came in on an interface
  that is not the route back to their sender;
* ``nf_conntrack.drop``, ``nf_conntrack.early_drop``, ``nf_conntrack.insert_failed``
  (``/proc/net/stat/nf_conntrack``, summed over CPUs): packets dropped because no
  connection-tracking entry could be made (the table is full), entries evicted to make room.

Each counter read both times gives one ``counter_change`` fact (``before``, ``after``,
``delta``). Counters are host-wide, so other traffic in the same seconds counts too: rules
read a growth together with a failing probe, never alone. Reading is two small files, twice:
no network, no measurable time.
"""

from __future__ import annotations

from pathlib import Path

from engine.collectors.conntrack import STAT_FILE, parse_stat
from engine.facts import Fact, make_fact

NETSTAT_FILE = "net/netstat"
NETSTAT_COUNTERS = (("TcpExt", "IPReversePathFilter"),)
CONNTRACK_COUNTERS = ("drop", "early_drop", "insert_failed")


def parse_netstat(text: str) -> dict[str, int]:
    """``/proc/net/netstat`` (pairs of lines: ``TcpExt: names...`` then ``TcpExt: values...``)
    -> ``{"TcpExt.IPReversePathFilter": 4, ...}``; lines that do not pair up are skipped.

    >>> parse_netstat("TcpExt: SyncookiesSent IPReversePathFilter\\nTcpExt: 0 4\\n")
    {'TcpExt.SyncookiesSent': 0, 'TcpExt.IPReversePathFilter': 4}
    """
    found: dict[str, int] = {}
    lines = text.splitlines()
    for names_line, values_line in zip(lines[::2], lines[1::2], strict=False):
        prefix, _, names = names_line.partition(":")
        other, _, values = values_line.partition(":")
        if prefix != other or not prefix:
            continue
        for name, value in zip(names.split(), values.split(), strict=False):
            if value.lstrip("-").isdigit():
                found[f"{prefix}.{name}"] = int(value)
    return found


def read_counters(proc: Path = Path("/proc")) -> dict[str, tuple[int, str]]:
    """The watched counters this kernel has: name -> (value, file read)."""
    counters: dict[str, tuple[int, str]] = {}
    netstat = proc / NETSTAT_FILE
    try:
        values = parse_netstat(netstat.read_text(encoding="ascii", errors="replace"))
    except OSError:
        values = {}
    for group, name in NETSTAT_COUNTERS:
        key = f"{group}.{name}"
        if key in values:
            counters[key] = (values[key], str(netstat))
    stat = proc / STAT_FILE
    try:
        totals = parse_stat(stat.read_text(encoding="ascii", errors="replace"))
    except (OSError, ValueError):
        totals = {}
    for name in CONNTRACK_COUNTERS:
        if name in totals:
            counters[f"nf_conntrack.{name}"] = (totals[name], str(stat))
    return counters


class CounterWatch:
    """Read the counters now; :meth:`changes` reads them again and gives the facts."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = proc
        self.before = read_counters(proc)

    def changes(self) -> list[Fact]:
        after = read_counters(self.proc)
        return [counter_change(name, self.before[name][0], value, path)
                for name, (value, path) in after.items() if name in self.before]


def counter_change(name: str, before: int, after: int, path: str) -> Fact:
    return make_fact("counter_change", f"counter_change:{name}",
                     {"file": path, "read": "before and after the probes"},
                     name=name, before=before, after=after, delta=after - before)
