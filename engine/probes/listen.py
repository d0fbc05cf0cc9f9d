"""``--listen PORT``: can this user serve TCP on PORT here, now? (checklist C2)

Binds (with ``SO_REUSEADDR``, as servers do) on ``0.0.0.0`` and ``::`` (v6-only), then closes at
once. Outcome:

* ``can_listen``: both binds worked (or the one family this host has);
* ``in_use``: EADDRINUSE; ``holder_pid``/``holder_process`` from the ``listener`` facts, else
  psutil (other users' processes are visible to root only);
* ``privileged``: EACCES, the port is below ``net.ipv4.ip_unprivileged_port_start`` and this user
  is not root and lacks CAP_NET_BIND_SERVICE;
* ``error``: anything else.

``privileged`` (field) is true whenever the port is below that sysctl, also for root, so a rule
can say "works as root only". ``firewall_blocks``: whether a new TCP connection to the port from a
client the ruleset does not name (on the default route's interface, per family) is dropped or rejected, walked
through the collected ruleset by ``engine.firewall`` (jumps and gotos included, as the kernel
does). ``null`` when no firewall facts were collected or the walk is undecided.
"""

from __future__ import annotations

import asyncio
import errno as _errno
import os
import socket
from collections.abc import Sequence

import psutil

from engine.facts import Fact
from engine.firewall.evaluate import Ruleset
from engine.firewall.verdicts import listen_packets
from engine.probes import outcomes as O
from engine.probes.common import Stopwatch, describe_exception, probe_fact
from engine.probes.context import ProbeContext

CAP_NET_BIND_SERVICE = 10
_BLOCKING = ("drop", "reject")


def try_bind(family: int, port: int) -> OSError | None:
    """Bind and close at once; the error, or None when it worked (or the family is missing)."""
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        return None if exc.errno == _errno.EAFNOSUPPORT else exc
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
        except OSError as exc:
            if family == socket.AF_INET6 and exc.errno == _errno.EADDRNOTAVAIL:
                return None  # IPv6 disabled on this host
            return exc
    return None


def has_cap_net_bind_service(proc: str = "/proc") -> bool:
    """Whether this process holds CAP_NET_BIND_SERVICE in its effective set."""
    try:
        with open(f"{proc}/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_BIND_SERVICE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def holder(port: int, facts: Sequence[Fact]) -> tuple[int | None, str | None]:
    """(pid, process) of who listens on TCP ``port``: listener facts first, else psutil."""
    for f in facts:
        if f.kind == "listener" and f.get("port") == port and f.get("protocol", "tcp") == "tcp":
            return f.get("pid"), f.get("process")
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None, None  # not visible to this user: the holder stays unknown
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid, _process_name(conn.pid)
    return None, None


def _process_name(pid: int | None) -> str | None:
    if not pid:
        return None
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return None


def firewall_blocks(port: int, facts: Sequence[Fact]) -> tuple[bool | None, str | None]:
    """(does this host's ruleset drop/reject a new TCP connection to ``port`` from a client
    it does not name, the fact id of the rule or chain policy that decides).

    The packet is walked through the ruleset as the kernel does (``engine.firewall``: jumps,
    gotos, every base chain of the input hooks), so a zone's reject at the end of a chain
    that an earlier jump's accept never reaches does not count (firewalld's ``filter_IN_public``
    after ``filter_IN_public_allow``). (None, None) when no firewall facts were collected or
    the walk meets a match it does not model.
    """
    if not any(f.kind in ("firewall_rule", "firewall_chain") for f in facts):
        return None, None
    ruleset = Ruleset(facts)
    if not ruleset:
        return None, None
    verdicts = [ruleset.evaluate(packet) for packet in listen_packets(facts, port)]
    for verdict in verdicts:
        if verdict.verdict in _BLOCKING:
            return True, verdict.deciding.fact_id if verdict.deciding else None
    if any(v.verdict == "unknown" for v in verdicts):
        return None, None
    return False, None


def check_listen(port: int, ctx: ProbeContext) -> Fact:
    """One ``probe_listen`` fact (blocking: binds sockets; cheap)."""
    watch = Stopwatch()
    if not 1 <= port <= 65535:
        return probe_fact(
            "probe_listen", f"probe_listen:{port}", f"check port {port}", target=f"listen:{port}",
            layer="transport", outcome=O.ERROR, elapsed_ms=0,
            error=f"port {port} is out of range (1-65535)", port=port, protocol="tcp")
    start_text = ctx.sysctl("net.ipv4.ip_unprivileged_port_start")
    start = int(start_text) if start_text and start_text.strip().isdigit() else 1024
    is_root = os.geteuid() == 0
    cap = has_cap_net_bind_service(str(ctx.proc))
    errors = [e for e in (try_bind(socket.AF_INET, port), try_bind(socket.AF_INET6, port)) if e]
    pid, process = (None, None)
    outcome, error = O.CAN_LISTEN, None
    if any(e.errno == _errno.EADDRINUSE for e in errors):
        pid, process = holder(port, ctx.facts)
        who = f" by {process or 'pid'} {pid}" if pid else ""
        outcome, error = O.IN_USE, f"port {port} is already in use{who}"
    elif any(e.errno in (_errno.EACCES, _errno.EPERM) for e in errors):
        outcome = O.PRIVILEGED if port < start else O.ERROR
        error = (f"port {port} is below net.ipv4.ip_unprivileged_port_start={start}: binding "
                 "needs root or CAP_NET_BIND_SERVICE" if port < start
                 else describe_exception(errors[0]))
    elif errors:
        outcome, error = O.ERROR, describe_exception(errors[0])
    blocks, rule_id = firewall_blocks(port, ctx.facts)
    return probe_fact(
        "probe_listen", f"probe_listen:{port}", f"bind tcp 0.0.0.0:{port} and [::]:{port}",
        target=f"listen:{port}", layer="transport", outcome=outcome, elapsed_ms=watch.ms(),
        error=error, port=port, protocol="tcp", in_use=outcome == O.IN_USE, holder_pid=pid,
        holder_process=process, privileged=port < start, unprivileged_port_start=start,
        is_root=is_root, cap_net_bind_service=cap, firewall_blocks=blocks,
        firewall_evidence=rule_id,
    )


async def probe_listen(port: int, ctx: ProbeContext) -> Fact:
    return await asyncio.to_thread(check_listen, port, ctx)
