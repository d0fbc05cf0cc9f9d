"""Real networks in network namespaces, built per test and always torn down.

whynet's checklist items count as covered only when a rule fires on a *real* broken network, so the
lab builds one: hosts, switches, routers, firewalls, resolvers, proxies and TLS servers, each a
network namespace or a process inside one. A test reads like a network diagram::

    client, server = lab.host("client"), lab.host("server")
    sw = lab.switch()
    sw.plug(client, "10.20.0.10/24")
    sw.plug(server, "10.20.0.20/24")
    web = server.http_server("10.20.0.20", 80)
    assert client.connect("10.20.0.20", 80).outcome == "open"

Safety, by construction:

- Namespaces are never linked to the host's namespace: every veth is created inside lab
  namespaces (``ip -n``), so no lab packet can leave the machine.
- Addresses are checked: only private ranges, shared (CGNAT) space, documentation ranges and ULA
  (``LAB_RANGES``).
- Every subprocess has a timeout; servers announce readiness (no sleeps); names carry the pid of
  the run that made them (``wl<pid>-<n>-<name>``) so a later run removes what a killed run left
  (``remove_stale``) without touching a run that is still going.

Two ways to act inside a namespace: :meth:`Namespace.call` runs a Python function in a thread
that has joined the namespace (``setns``): fast, for sockets. :meth:`Namespace.python` and
:meth:`Lab.run_whynet` run a subprocess through ``ip netns exec``, which also bind-mounts
``/etc/netns/NS/hosts`` and ``resolv.conf``: needed whenever the system resolver is involved.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import functools
import ipaddress
import itertools
import json
import os
import re
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .certs import CertificateAuthority, Issued, self_signed

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SERVE_PY = HERE / "serve.py"
NETNS_ETC = Path("/etc/netns")
#: /etc/nftables.conf as Debian's nftables package installs it: every namespace starts with it.
FRESH_NFTABLES_CONF = """#!/usr/sbin/nft -f

flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter;
	}
	chain forward {
		type filter hook forward priority filter;
	}
	chain output {
		type filter hook output priority filter;
	}
}
"""
NETNS_RUN = Path("/run/netns")
UFW_ETC = Path("/etc/ufw")
UFW_SHIPPED = Path("/usr/share/ufw")  # the package's pristine copies of /etc/ufw's files
UFW_SHIPPED_FILES = ("ufw.conf", "before.rules", "before6.rules", "after.rules", "after6.rules",
                     "user.rules", "user6.rules", "before.init", "after.init")
#: /etc/default/ufw's policies as Debian ships them (``ufw default`` rewrites these lines).
UFW_SHIPPED_POLICIES = {"DEFAULT_INPUT_POLICY": '"DROP"', "DEFAULT_OUTPUT_POLICY": '"ACCEPT"',
                        "DEFAULT_FORWARD_POLICY": '"DROP"'}
NOBODY_UID = 65534
CMD_TIMEOUT = 15.0
READY_TIMEOUT = 10.0
# What whynet prints only when it failed in a way a user must never see.
CRASH_MARKS = ("Traceback (most recent call last)", "Task was destroyed but it is pending",
               "Exception ignored in", "Event loop is closed")
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: The only networks lab addresses may come from: RFC 1918, RFC 6598 shared address space
#: (carrier-grade NAT), RFC 5737 documentation, RFC 3849 documentation and RFC 4193
#: unique-local; and link-local (RFC 3927 169.254.0.0/16, fe80::/10), which no router forwards
#: at all. Nothing here is routed on the internet, and the lab is not connected to the
#: host anyway: this is a second fence, not the first.
LAB_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
        "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
        "2001:db8::/32", "fc00::/7", "169.254.0.0/16", "fe80::/10",
    )
)

#: ``wl<pid hex>-<lab counter hex>-<role>``: the pid tells a later run whether its maker is alive.
NAME_RE = re.compile(r"^wl(?P<pid>[0-9a-f]+)-(?P<seq>[0-9a-f]+)-")

_lab_counter = itertools.count(1)
_live_labs: list[Lab] = []


class LabError(RuntimeError):
    """A lab step failed: the message carries the command and its stderr."""


def check_lab_address(text: str) -> str:
    """Refuse any address outside ``LAB_RANGES``; returns ``text`` unchanged."""
    net = ipaddress.ip_network(text, strict=False)
    if not any(net.version == r.version and net.subnet_of(r) for r in LAB_RANGES):  # type: ignore[arg-type]
        raise ValueError(f"{text} is outside the lab's private/documentation ranges")
    return text


def fetched_paths(directory: Path, *keys: str) -> list[Path] | None:
    """The paths a fetch script (tests/lab/fetch_*.sh) wrote as ``KEY=path`` lines in
    ``directory/env``, in the order of ``keys``; None when the file or a key is missing (the
    daemon was not fetched: its scenarios skip)."""
    try:
        lines = (directory / "env").read_text().splitlines()
    except OSError:
        return None
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    if any(key not in values for key in keys):
        return None
    return [Path(values[key]) for key in keys]


def sh(*argv: str, input: str | None = None, timeout: float = CMD_TIMEOUT,
       check: bool = True, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command with a timeout; on failure raise :class:`LabError` with its stderr."""
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                              timeout=timeout, env=dict(env) if env is not None else None)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} -> exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


# --- availability and stale state ---------------------------------------------------------------

SKIP_REASON = "lab tests need root and iproute2/nftables: run as root (CI does)"


def unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None. Checked once per session by conftest."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return SKIP_REASON
    if not (shutil.which("ip") and shutil.which("nft")):
        return SKIP_REASON
    probe = f"wl{os.getpid():x}-0-probe"
    try:
        sh("ip", "netns", "add", probe, timeout=5)
    except LabError as exc:
        return f"{SKIP_REASON} (cannot create a network namespace here: {exc})"
    sh("ip", "netns", "del", probe, check=False, timeout=5)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_netns_pids(netns: str) -> None:
    """SIGKILL every process still in ``netns`` (a whynet run or server the test left behind)."""
    out = sh("ip", "netns", "pids", netns, check=False, timeout=5).stdout.split()
    for pid in {int(p) for p in out if p.isdigit()} - {os.getpid()}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_stale() -> list[str]:
    """Remove lab namespaces, ``/etc/netns`` dirs and workdirs whose making process is gone.

    A run killed with SIGKILL never reaches its finalizers; its leftovers carry its pid in their
    names, so they can be told apart from those of a run still going in parallel.
    """
    names = set()
    if NETNS_RUN.is_dir():
        names |= {p.name for p in NETNS_RUN.iterdir()}
    if NETNS_ETC.is_dir():
        names |= {p.name for p in NETNS_ETC.iterdir()}
    removed = []
    for name in sorted(names):
        m = NAME_RE.match(name)
        if not m or _pid_alive(int(m["pid"], 16)):
            continue
        if (NETNS_RUN / name).exists():
            _kill_netns_pids(name)
            sh("ip", "netns", "del", name, check=False, timeout=5)
        shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
        removed.append(name)
    # and its workdirs (certificates, logs, a private passwd): named by the same pattern
    for workdir in sorted(Path(tempfile.gettempdir()).glob("wl*-*-*")):
        m = NAME_RE.match(workdir.name)
        if m and workdir.is_dir() and not _pid_alive(int(m["pid"], 16)):
            shutil.rmtree(workdir, ignore_errors=True)
            removed.append(str(workdir))
    return removed


# --- entering a namespace from a thread ---------------------------------------------------------

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in_netns(netns: str, fn: Callable[..., T], *args: Any, timeout: float = 30.0) -> T:
    """Run ``fn(*args)`` in a fresh thread that joined ``netns``; return its result or re-raise.

    Network namespaces are per thread, so this thread's sockets live in the lab while the test
    process stays where it is. Files (/etc/hosts) are not switched: use a subprocess for those.
    """
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            _setns(NETNS_RUN / netns)
            box["value"] = fn(*args)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=runner, name=f"netns:{netns}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise LabError(f"{getattr(fn, '__name__', fn)} in {netns} still running after {timeout}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


# --- results of in-namespace checks -------------------------------------------------------------

@dataclass(frozen=True)
class Connect:
    """What a plain TCP ``connect()`` saw. ``outcome`` uses whynet's probe vocabulary."""

    outcome: str  # open | refused | timeout | unreachable | error
    errno: int | None
    error: str
    elapsed: float

    @property
    def errno_name(self) -> str | None:
        return errno.errorcode.get(self.errno) if self.errno is not None else None


_OUTCOME_BY_ERRNO = {
    errno.ECONNREFUSED: "refused",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
    errno.ETIMEDOUT: "timeout",
}


def tcp_connect(ip: str, port: int, timeout: float = 2.0, source: str | None = None) -> Connect:
    """connect() with a deadline, reported as an outcome plus the errno Linux gave."""
    start = time.monotonic()
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if source:
            sock.bind((source, 0))
        # A zoned link-local address (fe80::1%eth0): a 2-tuple drops the zone (scope id 0),
        # getaddrinfo gives the 4-tuple with it.
        sock.connect(socket.getaddrinfo(ip, port, type=socket.SOCK_STREAM)[0][4]
                     if "%" in ip else (ip, port))
        return Connect("open", None, "", time.monotonic() - start)
    except TimeoutError:
        return Connect("timeout", None, "timed out", time.monotonic() - start)
    except OSError as exc:
        outcome = _OUTCOME_BY_ERRNO.get(exc.errno or 0, "error")
        return Connect(outcome, exc.errno, exc.strerror or str(exc), time.monotonic() - start)
    finally:
        sock.close()


@dataclass(frozen=True)
class TlsResult:
    """A TLS handshake: whether it verified, why not, and who issued what the server presented."""

    ok: bool
    error: str  # '' or the verify message ('self-signed certificate', "Hostname mismatch...")
    issuer_cn: str
    subject_cn: str
    names: tuple[str, ...]


def _cn_of(cert: Any, attr: str) -> str:
    from cryptography.x509.oid import NameOID

    values = getattr(cert, attr).get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def tls_handshake(ip: str, port: int, server_hostname: str, cafile: str | None = None,
                  timeout: float = 3.0, proxy: tuple[str, int] | None = None) -> TlsResult:
    """Handshake twice: once without verification to see the certificate, once verifying
    against ``cafile`` (or the default store) to learn whether a client would accept it.
    With ``proxy`` both go through an HTTP CONNECT tunnel, as a proxied client's would."""
    from cryptography import x509

    def open_stream() -> socket.socket:
        if proxy is None:
            return socket.create_connection((ip, port), timeout=timeout)
        sock = socket.create_connection(proxy, timeout=timeout)
        sock.sendall(f"CONNECT {server_hostname}:{port} HTTP/1.1\r\n"
                     f"Host: {server_hostname}:{port}\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        if b" 200 " not in reply.split(b"\r\n", 1)[0] + b" ":
            sock.close()
            raise OSError(f"proxy refused CONNECT: {reply[:60]!r}")
        return sock

    peek = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    peek.check_hostname = False
    peek.verify_mode = ssl.CERT_NONE
    with open_stream() as raw, peek.wrap_socket(raw, server_hostname=server_hostname) as tls:
        der = tls.getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    ctx = ssl.create_default_context(cafile=cafile)
    error = ""
    try:
        with open_stream() as raw, ctx.wrap_socket(raw, server_hostname=server_hostname):
            pass
    except ssl.SSLCertVerificationError as exc:
        error = exc.verify_message or str(exc)
    except ssl.CertificateError as exc:  # pragma: no cover - older Pythons
        error = str(exc)
    return TlsResult(not error, error, _cn_of(cert, "issuer"), _cn_of(cert, "subject"), names)


def dns_query(server: str, name: str, rdtype: str = "A", timeout: float = 1.0,
              port: int = 53) -> list[str]:
    """Ask one DNS server directly (not the system resolver). Raises dnspython's errors."""
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.port = port
    return [r.to_text() for r in resolver.resolve(name, rdtype, lifetime=timeout)]


def udp_exchange(ip: str, port: int, payload: bytes = b"ping", timeout: float = 1.0) -> bytes | None:
    """Send one datagram, return the reply or None when nothing came back in time."""
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.sendto(payload, (ip, port))
        return sock.recv(65535)
    except OSError:
        return None
    finally:
        sock.close()


def bind_port(ip: str, port: int) -> int | None:
    """Try to bind a TCP listener; None on success, else the errno (EADDRINUSE, EACCES...)."""
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((ip, port))
        sock.listen(1)
        return None
    except OSError as exc:
        return exc.errno
    finally:
        sock.close()


def arp_who_has(ifname: str, my_mac: str, my_ip: str, target: str,
                timeout: float = 0.5) -> list[str]:
    """Broadcast one ARP request for ``target`` and return every MAC that answered, in order.

    Two different MACs answering for one IP is the proof of a duplicate address (checklist C1);
    the kernel's neighbour table would only ever show one of them.
    """
    eth_p_arp = 0x0806
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(eth_p_arp))
    try:
        sock.bind((ifname, eth_p_arp))
        mac = bytes.fromhex(my_mac.replace(":", ""))
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac,
                          socket.inet_aton(my_ip), b"\0" * 6, socket.inet_aton(target))
        sock.send(b"\xff" * 6 + mac + struct.pack("!H", eth_p_arp) + arp)
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                frame = sock.recv(2048)
            except TimeoutError:
                break
            if len(frame) < 42:
                continue
            op, sha, spa = struct.unpack("!6xH6s4s", frame[14:32])
            if op == 2 and socket.inet_ntoa(spa) == target:
                text = sha.hex(":")
                if text not in seen:
                    seen.append(text)
        return seen
    finally:
        sock.close()


# --- processes ----------------------------------------------------------------------------------

@dataclass
class Server:
    """A process serving inside a namespace: where it listens and how to reach its log."""

    name: str
    ns: Namespace
    ip: str
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def hostport(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        _stop(self.proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stdout:
        proc.stdout.close()


def _wait_ready(proc: subprocess.Popen, what: str, log: Path, timeout: float) -> tuple[str, int]:
    """Wait for the ``READY ip port`` line: no sleeps, and a dead server fails at once."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not sel.select(timeout=left):
                break
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            if b"\n" in buf:
                parts = buf.split(b"\n", 1)[0].decode().split()
                if parts[:1] == ["READY"]:
                    return parts[1], int(parts[2])
    finally:
        sel.close()
    _stop(proc)
    raise LabError(f"{what} did not become ready in {timeout}s (exit {proc.returncode}):\n"
                   f"{log.read_text(errors='replace')[-2000:]}")


# --- the network pieces -------------------------------------------------------------------------

class Namespace:
    """One network namespace: a host, a router, or the inside of a switch.

    Created with loopback up and its own ``/etc/netns/NS/hosts`` and ``resolv.conf`` (localhost
    only, no nameserver) so nothing of the host machine's name configuration leaks in, and its
    own ``nftables.conf`` (a fresh Debian machine's: empty chains), so whynet's firewall-file
    collector reads the same file on every machine that runs the lab, not the host's rules.
    """

    def __init__(self, lab: Lab, role: str) -> None:
        self.lab = lab
        self.role = role
        self.netns = f"{lab.prefix}-{role}"
        self._ifcount = itertools.count(0)
        self.mounts: Server | None = None  # the holder of :meth:`private_mounts`, if any
        sh("ip", "netns", "add", self.netns)
        lab._namespaces.append(self)
        self.ip("link", "set", "lo", "up")
        self.write_hosts({})
        self.write_resolv_conf([])
        self.write_etc("nftables.conf", FRESH_NFTABLES_CONF)
        self.give_fresh_ufw()

    def __repr__(self) -> str:
        return f"<Namespace {self.role} ({self.netns})>"

    # -- configuration --
    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """``ip -n NS ...``"""
        return sh("ip", "-n", self.netns, *args, check=check)

    def ip_json(self, *args: str) -> list[dict[str, Any]]:
        """``ip -j -n NS ...`` parsed: e.g. ``ip_json("route")``, ``ip_json("neigh")``."""
        out = sh("ip", "-j", "-n", self.netns, *args).stdout
        return json.loads(out) if out.strip() else []

    def exec(self, *argv: str, input: str | None = None, check: bool = True,
             timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
        """Run a command inside (``ip netns exec``), sees this namespace's /etc files (and its
        private mounts, once :meth:`private_mounts` made them)."""
        return sh(*self.enter(), *argv, input=input, check=check,
                  timeout=timeout, env=self.lab.clean_env())

    def enter(self) -> list[str]:
        """argv prefix that runs a command inside: ``ip netns exec NS``, or, once
        :meth:`private_mounts` holds a mount namespace here, ``nsenter`` into that one and this
        network namespace (it already has ``/etc/netns/NS`` bound, as ``ip netns exec`` does)."""
        if self.mounts is None or self.mounts.proc.poll() is not None:
            return ["ip", "netns", "exec", self.netns]
        return ["nsenter", f"--net={NETNS_RUN / self.netns}",
                f"--mount=/proc/{self.mounts.proc.pid}/ns/mnt", f"--wd={os.getcwd()}", "--"]

    def private_mounts(self, setup: str, *, what: str = "mounts",
                       timeout: float = READY_TIMEOUT) -> Server:
        """A mount namespace of this machine's own, for daemons that need private mounts (a
        tmpfs ``/run``, a bind-mounted ``/etc/passwd``: systemd-resolved and its D-Bus).

        A long-lived process, started by ``ip netns exec NS unshare --mount``, runs the shell
        text ``setup`` (``sh -eu``: mounts, then background daemons, whose output should go to
        stderr, the log), prints ``READY`` and sleeps; it holds the mount namespace. From then
        on :meth:`exec` and :meth:`Lab.run_whynet` of this namespace run inside it. The lab
        kills it (and, with every process of the network namespace, its daemons) on cleanup,
        and the mount namespace goes with its last process. Processes started another way
        (:meth:`call`, :meth:`python`, :meth:`spawn`) still see the host's mounts.
        """
        script = f"{setup}\necho READY 0 0\nexec sleep infinity\n"
        self.mounts = self.spawn(what, ["unshare", "--mount", "--propagation", "private", "--",
                                        "sh", "-euc", script], timeout=timeout)
        return self.mounts

    def next_ifname(self) -> str:
        """eth0, eth1, ...: names that look like a real machine's to whynet's collectors."""
        return f"eth{next(self._ifcount)}"

    def add_address(self, ifname: str, cidr: str, *, metric: int | None = None) -> None:
        check_lab_address(cidr)
        extra = ["nodad"] if ":" in cidr else []
        if metric is not None:
            extra += ["metric", str(metric)]
        self.ip("addr", "add", cidr, "dev", ifname, *extra)

    def add_route(self, destination: str, *, via: str | None = None, dev: str | None = None,
                  metric: int | None = None, table: int | str | None = None,
                  extra: Sequence[str] = ()) -> None:
        """``ip route add``; ``destination`` may be ``default``."""
        if destination != "default":
            check_lab_address(destination)
        argv = ["route", "add", destination]
        if via:
            argv += ["via", check_lab_address(via)]
        if dev:
            argv += ["dev", dev]
        if metric is not None:
            argv += ["metric", str(metric)]
        if table is not None:
            argv += ["table", str(table)]
        self.ip(*argv, *extra)

    def default_route(self, via: str, *, dev: str | None = None, metric: int | None = None,
                      table: int | str | None = None) -> None:
        self.add_route("default", via=via, dev=dev, metric=metric, table=table)

    def add_rule(self, *selector: str, table: int | str, priority: int | None = None) -> None:
        """``ip rule add SELECTOR... lookup TABLE`` (policy routing)."""
        argv = ["rule", "add", *selector]
        if priority is not None:
            argv += ["priority", str(priority)]
        self.ip(*argv, "lookup", str(table))

    def sysctl(self, key: str, value: str | int) -> None:
        self.exec("sysctl", "-qw", f"{key}={value}")

    def nft(self, ruleset: str) -> None:
        """Load an nftables ruleset from text (``nft -f -``)."""
        self.exec("nft", "-f", "-", input=ruleset)

    def iptables(self, *args: str) -> None:
        self.exec("iptables", "-w", "5", *args)

    def write_etc(self, filename: str, text: str) -> Path:
        """Write ``/etc/netns/NS/filename``; ``ip netns exec`` mounts it over ``/etc/filename``."""
        path = NETNS_ETC / self.netns / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
        return path

    def give_fresh_ufw(self) -> None:
        """A fresh ufw for this namespace, whatever the host's: /etc/ufw from the package's
        pristine copies (disabled, no user rules) and /etc/default/ufw with the shipped default
        policies. ``ufw default ...`` rewrites /etc/default/ufw in place, so without a private
        copy a scenario would change the host's file, and a developer's enabled ufw or own
        rules would show in every scenario. Nothing to do where ufw is not installed."""
        if not (UFW_SHIPPED / "ufw.conf").is_file():
            return
        etc = NETNS_ETC / self.netns
        (etc / "ufw").mkdir(parents=True, exist_ok=True)
        for name in UFW_SHIPPED_FILES:
            if (UFW_SHIPPED / name).is_file():
                shutil.copy2(UFW_SHIPPED / name, etc / "ufw" / name)
        for name in ("applications.d", "sysctl.conf"):  # profiles and sysctls, not state
            if (UFW_ETC / name).is_dir():
                shutil.copytree(UFW_ETC / name, etc / "ufw" / name, symlinks=True)
            elif (UFW_ETC / name).is_file():
                shutil.copy2(UFW_ETC / name, etc / "ufw" / name)
        # ip netns exec mounts a directory over /etc/default whole: the rest of it is the host's.
        shutil.copytree("/etc/default", etc / "default", symlinks=True, dirs_exist_ok=True)
        defaults = etc / "default" / "ufw"
        text = defaults.read_text() if defaults.is_file() else ""
        for key, value in UFW_SHIPPED_POLICIES.items():
            text, found = re.subn(rf"(?m)^{key}=.*$", f"{key}={value}", text)
            if not found:
                text += f"{key}={value}\n"
        defaults.write_text(text)

    def write_hosts(self, entries: Mapping[str, str | Iterable[str]] | str) -> Path:
        """/etc/hosts for this namespace: localhost lines plus ``{ip: name(s)}`` (or raw text)."""
        if isinstance(entries, str):
            return self.write_etc("hosts", entries)
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for ip, names in entries.items():
            names = [names] if isinstance(names, str) else list(names)
            lines.append(f"{ip}\t{' '.join(names)}")
        return self.write_etc("hosts", "\n".join(lines) + "\n")

    def write_resolv_conf(self, nameservers: Sequence[str], *, search: Sequence[str] = (),
                          options: Sequence[str] = ()) -> Path:
        lines = ["# whynet lab"] + [f"nameserver {ns}" for ns in nameservers]
        if search:
            lines.append("search " + " ".join(search))
        if options:
            lines.append("options " + " ".join(options))
        return self.write_etc("resolv.conf", "\n".join(lines) + "\n")

    def mac(self, ifname: str) -> str:
        return self.ip_json("link", "show", "dev", ifname)[0]["address"]

    # -- processes --
    def spawn(self, what: str, argv: Sequence[str], *, ready: str = "line",
              ip: str = "", port: int = 0, timeout: float = READY_TIMEOUT) -> Server:
        """Start a long-running process inside; the lab kills it on cleanup.

        ``ready="line"`` waits for serve.py's ``READY`` line; ``ready="dns"`` polls a DNS query
        of ``lab.ready`` (which dnsmasq must answer) until it succeeds; ``ready="started"``
        does not wait (the caller knows when the process is of use).
        """
        log = self.lab.workdir / "logs" / f"{self.role}-{what}-{port}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as log_fh:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *argv],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_fh,
                env=self.lab.clean_env(), start_new_session=True,
            )
        self.lab._procs.append(proc)
        server = Server(what, self, ip, port, proc, log)
        self.lab.servers.append(server)
        if ready == "line":
            server.ip, server.port = _wait_ready(proc, f"{what} in {self.role}", log, timeout)
        elif ready == "dns":
            self._wait_dns(proc, ip, port, log, timeout)
        return server

    def _wait_dns(self, proc: subprocess.Popen, ip: str, port: int, log: Path,
                  timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                self.call(dns_query, ip, "lab.ready", "A", 0.2, port)
                return
            except Exception as exc:  # any failure means "not yet"
                last = exc
                time.sleep(0.02)
        _stop(proc)
        raise LabError(f"dnsmasq on {ip}:{port} in {self.role} not answering ({last}):\n"
                       f"{log.read_text(errors='replace')[-2000:]}")

    def serve(self, mode: str, ip: str, port: int, *extra: str) -> Server:
        if not ipaddress.ip_address(ip).is_unspecified | ipaddress.ip_address(ip).is_loopback:
            check_lab_address(ip)  # 0.0.0.0, ::, 127.x stay inside the namespace anyway
        argv = [self.lab.python, str(SERVE_PY), mode, "--host", ip, "--port", str(port), *extra]
        return self.spawn(mode, argv, ip=ip, port=port)

    def tcp_server(self, ip: str, port: int, *, banner: str = "", peer: bool = False) -> Server:
        """Accepts, optionally says ``banner`` and/or the client address it sees, closes."""
        extra = (["--banner", banner] if banner else []) + (["--peer"] if peer else [])
        return self.serve("tcp", ip, port, *extra)

    def http_server(self, ip: str, port: int = 80, *, body: str = "ok",
                    one_write: bool = False) -> Server:
        """``one_write``: head and body in one write (as nginx sends a page), see serve.py."""
        return self.serve("http", ip, port, "--body", body,
                          *(["--one-write"] if one_write else []))

    def tls_server(self, ip: str, port: int, cert: Issued, *, body: str = "ok") -> Server:
        return self.serve("tls", ip, port, "--cert", str(cert.cert_path),
                          "--key", str(cert.key_path), "--body", body)

    def tarpit(self, ip: str, port: int) -> Server:
        return self.serve("tarpit", ip, port)

    def udp_echo(self, ip: str, port: int) -> Server:
        return self.serve("udp-echo", ip, port)

    def proxy(self, ip: str, port: int = 3128, *, allow_ports: Sequence[int] = ()) -> Server:
        """HTTP proxy (CONNECT and absolute-URI GET); resolves names with this namespace's DNS.
        ``allow_ports``: answer 403 for any other destination port (squid's SSL_ports)."""
        extra = ("--allow-ports", ",".join(map(str, allow_ports))) if allow_ports else ()
        return self.serve("proxy", ip, port, *extra)

    def socks5_proxy(self, ip: str, port: int = 1080) -> Server:
        """SOCKS5 proxy (no authentication, CONNECT); resolves names given to it with this
        namespace's DNS, uses addresses as given."""
        return self.serve("socks5", ip, port)

    def intercepting_proxy(self, ip: str, port: int, cert: Issued) -> Server:
        """CONNECT proxy that presents ``cert`` (signed by its own CA) to the client."""
        return self.serve("intercept", ip, port, "--cert", str(cert.cert_path),
                          "--key", str(cert.key_path))

    def dnsmasq(self, ip: str, records: Mapping[str, str | Iterable[str]], *, port: int = 53,
                local_zones: Sequence[str] = ("test",), extra: Sequence[str] = ()) -> Server:
        """An authoritative-only DNS server: ``{name: ip or [ips]}``; names under
        ``local_zones`` not in ``records`` get NXDOMAIN, anything else REFUSED (no upstream).
        ``extra``: more dnsmasq options (``--address=/zone/ip``: a wildcard record)."""
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not Path(exe).exists():
            import pytest

            pytest.skip("dnsmasq is not installed (apt-get install dnsmasq-base)")
        check_lab_address(ip)
        argv = [exe, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                f"--listen-address={ip}", "--bind-interfaces", f"--port={port}",
                "--log-facility=-", "--log-queries",
                f"--pid-file={self.lab.workdir / f'dnsmasq-{self.role}-{ip}.pid'}",
                "--host-record=lab.ready,127.0.0.2"]
        for zone in local_zones:
            argv.append(f"--local=/{zone}/")
        for name, ips in records.items():
            ips = [ips] if isinstance(ips, str) else list(ips)
            for addr in ips:
                argv.append(f"--host-record={name},{check_lab_address(addr)}")
        argv.extend(extra)
        return self.spawn("dnsmasq", argv, ready="dns", ip=ip, port=port)

    def dhcp_server(self, ifname: str, first: str, last: str,
                    options: Sequence[str] = ()) -> Server:
        """A DHCP server (dnsmasq, DNS off) on ``ifname`` leasing ``first``..``last`` (a /24),
        with ``options`` as dnsmasq's ``--dhcp-option`` values (``"252,http://..."``)."""
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        check_lab_address(first)
        check_lab_address(last)
        tag = f"{self.role}-{ifname}"
        argv = [exe, "--no-daemon", "--conf-file=/dev/null", "--port=0",
                f"--interface={ifname}", "--bind-interfaces", "--log-facility=-",
                "--log-dhcp", f"--dhcp-range={first},{last},255.255.255.0,1h",
                f"--dhcp-leasefile={self.lab.workdir / f'dhcp-{tag}.leases'}",
                f"--pid-file={self.lab.workdir / f'dhcp-{tag}.pid'}",
                *(f"--dhcp-option={o}" for o in options)]
        return self.spawn("dhcp", argv, ready="started")

    def dhcp_client(self, ifname: str, conf: str, timeout: float = 15.0) -> Path:
        """ISC dhclient on ``ifname``, in the foreground until the lab ends, with its own
        config (``conf``'s text), lease file and pid file in the lab, and ``-sf /bin/true``:
        it configures nothing (no address, no resolv.conf), it only takes and records a lease.
        Returns the lease file, once a lease is in it."""
        exe = shutil.which("dhclient") or "/usr/sbin/dhclient"
        if not Path(exe).exists():
            import pytest

            pytest.skip("dhclient is not installed (apt-get install isc-dhcp-client)")
        base = self.lab.workdir / f"dhclient-{self.role}-{ifname}"
        conf_path, leases = base.with_suffix(".conf"), base.with_suffix(".leases")
        conf_path.write_text(conf)
        self.spawn("dhclient", [exe, "-d", "-sf", "/bin/true", "-cf", str(conf_path), "-lf",
                                str(leases), "-pf", str(base.with_suffix(".pid")), ifname],
                   ready="started")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if leases.exists() and "lease {" in leases.read_text(errors="replace"):
                return leases
            time.sleep(0.1)
        raise LabError(f"dhclient on {ifname} in {self.role} took no lease within {timeout}s")

    # -- looking from inside --
    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 30.0) -> T:
        """Run ``fn(*args)`` with this namespace's network (see :func:`call_in_netns`)."""
        return call_in_netns(self.netns, fn, *args, timeout=timeout)

    def connect(self, ip: str, port: int, timeout: float = 2.0,
                source: str | None = None) -> Connect:
        """A plain socket connect from here: the lab's ground truth, independent of whynet."""
        return self.call(tcp_connect, ip, port, timeout, source)

    def tls(self, ip: str, port: int, server_hostname: str, cafile: str | Path | None = None,
            timeout: float = 3.0, proxy: tuple[str, int] | None = None) -> TlsResult:
        return self.call(tls_handshake, ip, port, server_hostname,
                         str(cafile) if cafile else None, timeout, proxy)

    def dns(self, server: str, name: str, rdtype: str = "A", timeout: float = 1.0) -> list[str]:
        return self.call(dns_query, server, name, rdtype, timeout)

    def udp(self, ip: str, port: int, payload: bytes = b"ping", timeout: float = 1.0) -> bytes | None:
        return self.call(udp_exchange, ip, port, payload, timeout)

    def arp(self, ifname: str, target: str, timeout: float = 0.5) -> list[str]:
        """MACs answering an ARP request for ``target`` sent from ``ifname``."""
        mine = [a["local"] for a in self.ip_json("-4", "addr", "show", "dev", ifname)[0]["addr_info"]]
        return self.call(arp_who_has, ifname, self.mac(ifname), mine[0], target, timeout)

    def ping(self, ip: str, count: int = 1, timeout: float = 1.0) -> bool:
        proc = self.exec("ping", "-n", "-q", "-c", str(count), "-W", str(timeout), ip,
                         check=False, timeout=count * timeout + 5)
        return proc.returncode == 0

    def python(self, code: str, *, env: Mapping[str, str] | None = None, user: str | None = None,
               timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
        """Run a Python snippet in a subprocess in here, seeing this namespace's /etc files."""
        exe, exe_env = interpreter_for(user)
        argv = ["ip", "netns", "exec", self.netns, *self.lab.as_user(user), exe, "-c", code]
        return sh(*argv, timeout=timeout, check=False,
                  env=self.lab.clean_env({**dict(exe_env), **(env or {})}, user))

    def getaddrinfo(self, name: str, port: int = 0) -> list[str]:
        """The system resolver's answer here (hosts file, nsswitch, resolv.conf), like an app."""
        proc = self.python(
            "import json, socket, sys\n"
            f"try: r = socket.getaddrinfo({name!r}, {port}, type=socket.SOCK_STREAM)\n"
            "except socket.gaierror as e: print(json.dumps({'error': str(e)})); sys.exit()\n"
            "print(json.dumps(sorted({a[4][0] for a in r})))\n"
        )
        result = json.loads(proc.stdout or '{"error": "no output"}')
        if isinstance(result, dict):
            raise socket.gaierror(result["error"])
        return result


class Switch:
    """A Linux bridge inside its own namespace: hosts plug into it with veth cables."""

    def __init__(self, lab: Lab, role: str) -> None:
        self.ns = Namespace(lab, role)
        self.bridge = "br0"
        self._ports = itertools.count(1)
        self.ns.ip("link", "add", self.bridge, "type", "bridge")
        self.ns.ip("link", "set", self.bridge, "up")

    def __repr__(self) -> str:
        return f"<Switch {self.ns.role}>"

    def plug(self, host: Namespace, *cidrs: str, ifname: str | None = None,
             mac: str | None = None, metric: int | None = None) -> str:
        """Cable ``host`` to this switch; give the new interface ``cidrs``. Returns its name."""
        ifname = ifname or host.next_ifname()
        port = f"p{next(self._ports)}"
        argv = ["link", "add", ifname]
        if mac:
            argv += ["address", mac]
        host.ip(*argv, "type", "veth", "peer", "name", port, "netns", self.ns.netns)
        self.ns.ip("link", "set", port, "master", self.bridge, "up")
        host.ip("link", "set", ifname, "up")
        for cidr in cidrs:
            host.add_address(ifname, cidr, metric=metric)
        return ifname


# --- the lab ------------------------------------------------------------------------------------

class WhynetRun(tuple):
    """``(exit_code, report, stderr)`` from :meth:`Lab.run_whynet`, plus ``.stdout``.

    ``report`` is stdout parsed as JSON, or None when stdout is not JSON (text format, a crash).
    """

    exit_code: int
    report: Any
    stderr: str
    stdout: str

    def __new__(cls, exit_code: int, report: Any, stderr: str, stdout: str) -> WhynetRun:
        self = super().__new__(cls, (exit_code, report, stderr))
        self.exit_code, self.report, self.stderr, self.stdout = exit_code, report, stderr, stdout
        return self


class Lab:
    """Everything one test builds, and the single place that tears it all down.

    Use the ``lab`` fixture, or ``with Lab() as lab:`` outside pytest.
    """

    def __init__(self) -> None:
        self.prefix = f"wl{os.getpid():x}-{next(_lab_counter):x}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.workdir.chmod(0o755)  # servers and `nobody` read certificates from here
        self.python = sys.executable
        self.servers: list[Server] = []
        self._namespaces: list[Namespace] = []
        self._procs: list[subprocess.Popen] = []
        self._cas: dict[str, CertificateAuthority] = {}
        self._closed = False
        _live_labs.append(self)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- building --
    def host(self, role: str) -> Namespace:
        """A machine: a namespace with loopback up and its own hosts/resolv.conf."""
        return Namespace(self, role)

    def router(self, role: str = "gw") -> Namespace:
        """A machine that forwards IPv4 and IPv6 between its interfaces."""
        ns = Namespace(self, role)
        ns.sysctl("net.ipv4.ip_forward", 1)
        ns.sysctl("net.ipv6.conf.all.forwarding", 1)
        return ns

    def switch(self, role: str = "sw") -> Switch:
        return Switch(self, role)

    def link(self, a: Namespace, b: Namespace, a_cidr: str | None = None,
             b_cidr: str | None = None) -> tuple[str, str]:
        """A point-to-point cable between two namespaces (no switch). Returns both ifnames."""
        a_if, b_if = a.next_ifname(), b.next_ifname()
        a.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.netns)
        a.ip("link", "set", a_if, "up")
        b.ip("link", "set", b_if, "up")
        if a_cidr:
            a.add_address(a_if, a_cidr)
        if b_cidr:
            b.add_address(b_if, b_cidr)
        return a_if, b_if

    def masquerade(self, router: Namespace, out_ifname: str, *, to: str | None = None) -> None:
        """Source NAT on ``router``: masquerade out of ``out_ifname``, or SNAT ``to`` an address."""
        action = f"snat to {check_lab_address(to)}" if to else "masquerade"
        router.nft(
            "table ip lab_nat {\n"
            "  chain postrouting {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            f'    oifname "{out_ifname}" {action}\n'
            "  }\n"
            "}\n"
        )

    # -- certificates --
    @property
    def certdir(self) -> Path:
        return self.workdir / "certs"

    def ca(self, common_name: str = "whynet Lab Root CA") -> CertificateAuthority:
        """A CA (one per name per lab): trust it with ``SSL_CERT_FILE=ca.cert_path``."""
        if common_name not in self._cas:
            self._cas[common_name] = CertificateAuthority(common_name, self.certdir)
        return self._cas[common_name]

    def self_signed(self, names: Sequence[str], ips: Sequence[str] = (), *,
                    organization: str | None = None) -> Issued:
        return self_signed(self.certdir, names, ips, organization=organization)

    # -- environment and users --
    def home(self, user: str | None = None) -> Path:
        """A HOME per user, inside the lab: whynet's cache (last report) never touches the host's."""
        home = self.workdir / f"home-{user or 'root'}"
        if not home.exists():
            home.mkdir(mode=0o755)
            if user:
                os.chown(home, _uid(user), -1)
        return home

    def clean_env(self, extra: Mapping[str, str] | None = None,
                  user: str | None = None) -> dict[str, str]:
        """The environment lab processes get: nothing inherited from the test runner (no stray
        ``HTTPS_PROXY`` or ``SSL_CERT_FILE``), only what the scenario sets in ``extra``."""
        home = self.home(user)
        env = {
            "PATH": CLEAN_PATH,
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.update(extra or {})
        return env

    @staticmethod
    def as_user(user: str | None) -> list[str]:
        """argv prefix that drops root for the command (``setpriv``), e.g. ``nobody``."""
        if not user:
            return []
        uid = _uid(user)
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]

    # -- whynet --
    def whynet_exe(self) -> str:
        return str(Path(self.python).with_name("whynet"))

    def run_whynet(self, ns: Namespace, *args: str, env: Mapping[str, str] | None = None,
                   user: str | None = None, timeout: float = 90.0) -> WhynetRun:
        """Run ``whynet ARGS`` inside ``ns`` (as ``user``), return ``(exit_code, json, stderr)``.

        The process sees the namespace's network, hosts and resolv.conf, the scenario's ``env``
        and nothing else from the test runner's environment.
        """
        exe, exe_env = interpreter_for(user)
        # The console script run by an explicit interpreter: the one `user` is allowed to run.
        argv = [*ns.enter(), *self.as_user(user), exe, self.whynet_exe(), *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  env=self.clean_env({**dict(exe_env), **(env or {})}, user))
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"whynet {' '.join(args)} in {ns.role} ran over {timeout}s:\n"
                           f"{exc.stderr or ''}") from exc
        # Never a traceback, in any scenario: not even one printed from the garbage collector
        # after the report was written (a task left pending when the probe loop closed).
        crashed = [m for m in CRASH_MARKS if m in proc.stderr]
        if crashed:
            raise LabError(f"whynet {' '.join(args)} in {ns.role} printed {crashed[0]!r}:\n"
                           f"{proc.stderr}")
        try:
            report = json.loads(proc.stdout) if proc.stdout.strip() else None
        except json.JSONDecodeError:
            report = None
        return WhynetRun(proc.returncode, report, proc.stderr, proc.stdout)

    # -- teardown --
    def netns_names(self) -> list[str]:
        return [ns.netns for ns in self._namespaces]

    def logs(self) -> str:
        """Every server's log, for a failing test's report."""
        parts = [f"--- {s.name} in {s.ns.role} ({s.hostport}) ---\n{s.log_text()}"
                 for s in self.servers]
        return "\n".join(parts)

    def cleanup(self) -> None:
        """Kill processes, delete namespaces, /etc/netns dirs and the workdir. Idempotent and
        thorough: one failing step does not stop the rest; errors are raised at the end."""
        if self._closed:
            return
        self._closed = True
        errors: list[str] = []
        for proc in reversed(self._procs):
            try:
                _stop(proc)
            except Exception as exc:
                errors.append(f"stop {proc.args}: {exc}")
        for ns in reversed(self._namespaces):
            try:
                _kill_netns_pids(ns.netns)
                sh("ip", "netns", "del", ns.netns, timeout=5)
            except Exception as exc:
                errors.append(str(exc))
            shutil.rmtree(NETNS_ETC / ns.netns, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self in _live_labs:
            _live_labs.remove(self)
        if errors:
            raise LabError("lab cleanup: " + "; ".join(errors))


def _uid(user: str) -> int:
    import pwd

    return NOBODY_UID if user == "nobody" else pwd.getpwnam(user).pw_uid


@functools.cache
def interpreter_for(user: str | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A Python that ``user`` may execute with this project's packages, and the env it needs.

    The test runner's own interpreter may live where ``nobody`` cannot enter (pyenv under a
    0700 /root): then the same minor version from the system, with this virtualenv's
    site-packages and the repository on PYTHONPATH (same ABI, so compiled wheels load).
    """
    if not user:
        return sys.executable, ()
    check = "import cryptography, dns.resolver"
    attempts: list[tuple[str, tuple[tuple[str, str], ...]]] = [(sys.executable, ())]
    paths = dict.fromkeys([str(REPO), sysconfig.get_paths()["purelib"],
                           sysconfig.get_paths()["platlib"]])
    extra = (("PYTHONPATH", os.pathsep.join(paths)),)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        if Path(candidate).exists():
            attempts.append((candidate, extra))
    for exe, env in attempts:
        proc = sh(*Lab.as_user(user), exe, "-c", check, check=False, timeout=15,
                  env={"PATH": CLEAN_PATH, **dict(env)})
        if proc.returncode == 0:
            return exe, env
    import pytest

    pytest.skip(f"no Python {version} that {user} can run with this project's packages")


@atexit.register
def _cleanup_live_labs() -> None:
    """Last resort when the interpreter exits without running fixtures' finalizers."""
    for lab in list(_live_labs):
        try:
            lab.cleanup()
        except Exception:
            pass


__all__ = [
    "LAB_RANGES", "SKIP_REASON", "Connect", "Lab", "LabError", "Namespace", "Server", "Switch",
    "TlsResult", "WhynetRun", "call_in_netns", "check_lab_address", "remove_stale",
    "unavailable_reason",
]
