"""Listening sockets: what is already serving on which address and port, and who owns it.

Reads: the kernel's socket tables through ``psutil.net_connections("inet")`` with each owning
process's name and user; when psutil is refused (``AccessDenied``, as on macOS or with a
hardened /proc) or fails, ``ss -H -tulpne`` instead.
Never reads: established connections' peers, socket buffers or traffic; opens no socket.
Produces: one ``listener`` per listening TCP socket and per unconnected UDP socket (a UDP
socket has no LISTEN state: one bound and unconnected is one that receives), with ``pid``,
``process`` and ``user`` null when this user may not see them (other users' sockets, without
root); a ``collection_error`` when neither source answers.

With ``ss``, ``-e`` gives the owning uid even when the process is hidden; ss prints no
``uid:`` for root-owned sockets, so no ``uid:`` means root.
"""

from __future__ import annotations

import ipaddress
import pwd
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from engine.collectors import base
from engine.collectors.base import CollectContext
from engine.facts import Fact, collection_error, make_fact, unique_ids

NAME = "sockets"
KINDS = ("listener",)

PSUTIL_SOURCE = {"psutil": "net_connections(kind='inet')"}
SS_COMMAND = ("ss", "-H", "-tulpne")


@dataclass(frozen=True)
class Listener:
    protocol: str  # tcp or udp
    ip: str
    port: int
    pid: int | None
    process: str | None
    user: str | None

    @property
    def family(self) -> int:
        return 6 if ":" in self.ip else 4


def listener_id(listener: Listener) -> str:
    host = f"[{listener.ip}]" if listener.family == 6 else listener.ip
    return f"listener:{listener.protocol}:{host}:{listener.port}"


def listener_facts(listeners: Iterable[Listener], source: Mapping[str, Any]) -> list[Fact]:
    unique = sorted(set(listeners), key=lambda x: (x.protocol, x.port, x.ip, x.pid or 0))
    return unique_ids(
        make_fact(
            "listener", listener_id(x), source, ip=x.ip, port=x.port, protocol=x.protocol,
            family=x.family, pid=x.pid, process=x.process, user=x.user,
        )
        for x in unique
    )


# --- psutil ----------------------------------------------------------------------------------

def is_listening(conn: Any) -> bool:
    if conn.type == socket.SOCK_STREAM:
        return conn.status == psutil.CONN_LISTEN
    return conn.type == socket.SOCK_DGRAM and not conn.raddr


def process_owner(pid: int) -> tuple[str | None, str | None]:
    """(name, user) of a process, each None when hidden from this user or already gone."""
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return None, None
    name = user = None
    try:
        name = proc.name()
    except psutil.Error:
        pass
    try:
        user = proc.username()
    except (psutil.Error, KeyError):
        pass
    return name, user


def listeners_from_psutil(
    connections: Iterable[Any], owners: Mapping[int, tuple[str | None, str | None]],
) -> list[Listener]:
    """Listeners from psutil's ``sconn`` tuples (or anything with the same attributes);
    ``owners`` maps pid -> (process name, user)."""
    found = []
    for conn in connections:
        if not is_listening(conn) or not conn.laddr:
            continue
        protocol = "tcp" if conn.type == socket.SOCK_STREAM else "udp"
        name, user = owners.get(conn.pid, (None, None)) if conn.pid else (None, None)
        found.append(Listener(protocol, conn.laddr[0], conn.laddr[1], conn.pid, name, user))
    return found


def collect_psutil() -> list[Listener]:
    """Raises psutil.Error (AccessDenied...) or OSError when the tables cannot be read."""
    connections = [c for c in psutil.net_connections(kind="inet") if is_listening(c)]
    owners = {pid: process_owner(pid) for pid in {c.pid for c in connections if c.pid}}
    return listeners_from_psutil(connections, owners)


# --- ss --------------------------------------------------------------------------------------

def split_host_port(text: str) -> tuple[str, int] | None:
    """``0.0.0.0:22``, ``[::]:22``, ``127.0.0.53%lo:53``, ``*:68`` -> (address, port)."""
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        return None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if "]%" in host:  # [fe80::1]%eth0
        host = host.split("]%", 1)[0].lstrip("[")
    if host == "*":
        host = "0.0.0.0"
    host = host.split("%", 1)[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, int(port)  # as printed, like psutil gives it: ::ffff:127.0.0.1 stays


def parse_ss_process(field: str) -> tuple[int | None, str | None]:
    """``users:(("sshd",pid=712,fd=3),...)`` -> (712, "sshd"): the first process listed."""
    start = field.find('(("')
    if start < 0:
        return None, None
    rest = field[start + 3:]
    name, _, rest = rest.partition('",')
    pid_text = rest.split("pid=", 1)[1].split(",", 1)[0] if "pid=" in rest else ""
    return (int(pid_text) if pid_text.isdigit() else None), name or None


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def parse_ss_user(fields: list[str], with_details: bool) -> str | None:
    for field in fields:
        if field.startswith("uid:") and field[4:].isdigit():
            return user_name(int(field[4:]))
    return user_name(0) if with_details else None


def parse_ss_line(line: str, with_details: bool) -> Listener | None:
    fields = line.split()
    if len(fields) < 5 or fields[0] not in ("tcp", "udp"):
        return None
    protocol, state = fields[0], fields[1]
    if protocol == "tcp" and state != "LISTEN":
        return None
    if protocol == "udp" and state != "UNCONN":
        return None
    local = split_host_port(fields[4])
    if local is None:
        return None
    rest = fields[6:]
    users = next((f for f in rest if f.startswith("users:")), "")
    pid, process = parse_ss_process(users)
    return Listener(protocol, local[0], local[1], pid, process,
                    parse_ss_user(rest, with_details))


def parse_ss(text: str, with_details: bool = True) -> list[Listener]:
    """Listeners from ``ss -H -tulpn`` output; ``with_details`` when ``-e`` was given (then
    a socket without ``uid:`` belongs to root)."""
    found = (parse_ss_line(line, with_details) for line in text.splitlines())
    return [x for x in found if x is not None]


def collect_ss(ctx: CollectContext) -> list[Fact]:
    result = base.run_command(list(SS_COMMAND), timeout=ctx.timeout)
    if not result.ok:
        return [collection_error(NAME, f"{result.command}: {result.failure()}",
                                 {"command": result.command})]
    return listener_facts(parse_ss(result.stdout), {"command": result.command})


# --- collect ---------------------------------------------------------------------------------

def collect(ctx: CollectContext) -> list[Fact]:
    try:
        listeners = collect_psutil()
    except (psutil.Error, OSError) as exc:
        facts = collect_ss(ctx)
        if facts and facts[0].kind == "collection_error":
            facts.insert(0, collection_error(
                NAME, f"psutil.net_connections: {exc.__class__.__name__}: {exc}",
                PSUTIL_SOURCE,
            ))
        return unique_ids(facts)
    return listener_facts(listeners, PSUTIL_SOURCE)
