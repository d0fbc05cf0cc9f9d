"""Test helpers for the probes: loopback servers, a tiny namespace lab, running as nobody.

Safety: servers bind 127.0.0.1 (or ::1) only. Namespaces are named ``wnp-<pid>-<role>``,
addresses come from 10.231.0.0/16 or 198.51.100.0/24 and exist only inside them; every veth is
created inside the namespaces, so no lab packet can leave the machine.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from engine.facts import Fact, make_fact

REPO = Path(__file__).resolve().parents[2]
ALLOWED_NETWORKS = (ipaddress.ip_network("10.231.0.0/16"), ipaddress.ip_network("198.51.100.0/24"))
NOBODY = 65534


# --- certificates, made per test ---------------------------------------------------------------

@dataclass(frozen=True)
class Issued:
    cert_path: Path
    key_path: Path


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             ca: bool) -> x509.CertificateBuilder:
    now = _dt.datetime.now(_dt.timezone.utc)
    usage = x509.KeyUsage(digital_signature=True, key_encipherment=False,
                          content_commitment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False))


def _leaf(builder: x509.CertificateBuilder, names: Sequence[str], ips: Sequence[str]
          ) -> x509.CertificateBuilder:
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return (builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False))


def _save(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey,
          chain: Sequence[x509.Certificate] = ()) -> Issued:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                                   for c in [cert, *chain]))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Issued(cert_path, key_path)


class CA:
    """A private root CA: ``path`` is its certificate (what a client must trust)."""

    def __init__(self, directory: Path, common_name: str = "Probe Test Root CA",
                 organization: str = "whynet tests") -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name, organization)
        self.cert = _builder(name, name, self.key, ca=True).sign(self.key, hashes.SHA256())
        self.path = _save(directory, f"ca-{common_name.replace(' ', '-')}", self.cert,
                          self.key).cert_path

    def issue(self, names: Sequence[str], ips: Sequence[str] = (), stem: str = "leaf") -> Issued:
        """A leaf signed by this CA; its file holds the leaf and the CA (a full chain)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cn = names[0] if names else ips[0]
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())
        cert = (_leaf(_builder(_name(cn), self.cert.subject, key, ca=False), list(names),
                      list(ips)).add_extension(aki, critical=False)
                .sign(self.key, hashes.SHA256()))
        return _save(self.directory, stem, cert, key, [self.cert])


def self_signed(directory: Path, names: Sequence[str], ips: Sequence[str] = (),
                organization: str | None = None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(names[0] if names else ips[0], organization)
    cert = _leaf(_builder(name, name, key, ca=False), list(names), list(ips)).sign(
        key, hashes.SHA256())
    return _save(directory, "selfsigned", cert, key)


def trust_store_fact(path: str, variable: str | None = "SSL_CERT_FILE") -> Fact:
    return make_fact("trust_store", f"trust_store:{path}", {"env": variable or "file"}, path=path,
                     runtime="env", variable=variable, exists=True, readable=True, count=1,
                     expired=0, errors=0)


# --- loopback servers ---------------------------------------------------------------------------

class Server:
    """A thread serving connections on 127.0.0.1; stopped (and its socket closed) by ``stop``."""

    def __init__(self, handler: Callable[[socket.socket], None] | None, *, accept: bool = True,
                 host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.handler = handler
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True) if accept else None
        if self._thread:
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self.sock], [], [], 0.1)
            if not readable:
                continue
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                if self.handler is not None:
                    self.handler(conn)
            except (OSError, ssl.SSLError, ValueError):
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        self.sock.close()


def read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def tls_server(cert_path: Path, key_path: Path, body: bytes = b"ok") -> Server:
    """A TLS server on loopback answering one HTTP request per connection."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_path), str(key_path))

    def handle(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            head = read_head(tls)
            if head:
                tls.sendall(b"HTTP/1.1 200 OK\r\nServer: probe-test\r\nContent-Length: "
                            + str(len(body)).encode() + b"\r\n\r\n" + body)
    return Server(handle)


def http_server(status: str = "200 OK") -> Server:
    """Answers the first bytes it gets (a request, or anything else, as servers answer 400)."""
    def handle(conn: socket.socket) -> None:
        if conn.recv(65536):
            conn.sendall(f"HTTP/1.1 {status}\r\nServer: probe-test\r\nContent-Length: 0\r\n\r\n"
                         .encode())
    return Server(handle)


def tarpit() -> Server:
    """Accepts TCP (the kernel does, from the backlog) and never says a word."""
    return Server(None, accept=False)


def relay(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 5)
        if not readable:
            return
        for s in readable:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


def http_proxy(status: int = 200, reason: str = "Connection established") -> Server:
    """A fake HTTP proxy: answers CONNECT with ``status``; on 200 it really relays (loopback
    targets only); absolute-form requests are answered with ``status`` too."""
    server: Server

    def handle(conn: socket.socket) -> None:
        head = read_head(conn)
        server.requests.append(head)
        first = head.split(b"\r\n", 1)[0].decode()
        if status != 200 or not first.startswith("CONNECT "):
            conn.sendall(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\r\n".encode())
            return
        host, _, port = first.split()[1].rpartition(":")
        assert ipaddress.ip_address(host.strip("[]")).is_loopback, "relays to loopback only"
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as upstream:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            relay(conn, upstream)
    server = Server(handle)
    return server


def socks5_proxy(reply: int = 0) -> Server:
    """A fake SOCKS5 proxy: no-auth or user/password, then CONNECT answered with ``reply``
    (0 succeeded, 2 not allowed, 5 refused...). It never connects anywhere itself."""
    server: Server

    def handle(conn: socket.socket) -> None:
        greeting = conn.recv(2)
        methods = conn.recv(greeting[1])
        if 2 in methods:
            conn.sendall(b"\x05\x02")
            auth = conn.recv(513)
            server.requests.append(auth)
            conn.sendall(b"\x01\x00")
        else:
            conn.sendall(b"\x05\x00")
        request = conn.recv(262)
        server.requests.append(request)
        conn.sendall(bytes([5, reply, 0, 1]) + socket.inet_aton("127.0.0.1") + b"\x00\x00")
    server = Server(handle)
    return server


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a DNS responder ----------------------------------------------------------------------------

class DnsResponder:
    """UDP and TCP DNS on 127.0.0.1:port. Behaviour by name (first label):

    ``a``/``www`` -> A 198.51.100.10 (and AAAA 2001:db8::10); ``nx`` -> NXDOMAIN; ``noaddr`` ->
    NOERROR, no records; ``silent`` -> never answers; ``trunc`` -> TC over UDP, the answer over
    TCP; ``refused`` -> REFUSED; ``servfail`` -> SERVFAIL. Names outside ``.test`` -> NXDOMAIN.
    """

    def __init__(self, port: int = 0) -> None:
        self.udp, self.tcp = self._bind_pair(port)
        self.port = self.udp.getsockname()[1]
        self.queries: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._udp_loop, daemon=True),
                         threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _bind_pair(port: int) -> tuple[socket.socket, socket.socket]:
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", port))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            return udp, tcp
        raise RuntimeError("no free UDP+TCP port pair on 127.0.0.1")

    def answer(self, wire: bytes, over_tcp: bool) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        label = question.name.labels[0].decode().lower()
        self.queries.append(f"{question.name} {dns.rdatatype.to_text(question.rdtype)}")
        response = dns.message.make_response(query)
        if label == "silent":
            return None
        if label == "trunc" and not over_tcp:
            response.flags |= dns.flags.TC
            return response.to_wire()
        rcodes = {"nx": dns.rcode.NXDOMAIN, "refused": dns.rcode.REFUSED,
                  "servfail": dns.rcode.SERVFAIL}
        known = label in ("a", "www", "legacy", "trunc", "noaddr") and str(
            question.name).endswith(".test.")
        if label in rcodes or not known:
            response.set_rcode(rcodes.get(label, dns.rcode.NXDOMAIN))
            return response.to_wire()
        if label != "noaddr":
            data = {dns.rdatatype.A: "198.51.100.10", dns.rdatatype.AAAA: "2001:db8::10"}.get(
                question.rdtype)
            if data:
                response.answer.append(dns.rrset.from_text(
                    question.name, 60, "IN", dns.rdatatype.to_text(question.rdtype), data))
        return response.to_wire()

    def _udp_loop(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self.udp], [], [], 0.1)
            if readable:
                wire, addr = self.udp.recvfrom(4096)
                reply = self.answer(wire, over_tcp=False)
                if reply is not None:
                    self.udp.sendto(reply, addr)

    def _tcp_loop(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self.tcp], [], [], 0.1)
            if not readable:
                continue
            conn, _ = self.tcp.accept()
            threading.Thread(target=self._tcp_serve, args=(conn,), daemon=True).start()

    def _tcp_serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                size = int.from_bytes(conn.recv(2), "big")
                reply = self.answer(conn.recv(size), over_tcp=True)
                if reply is None:
                    self._stop.wait(5)
                    return
                conn.sendall(len(reply).to_bytes(2, "big") + reply)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        self.udp.close()
        self.tcp.close()


# --- running as nobody --------------------------------------------------------------------------

def run_as_nobody(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a forked child that dropped to uid/gid 65534; return its JSON result."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 0
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            payload = json.dumps({"ok": fn()})
        except BaseException as exc:  # report anything to the parent
            payload, status = json.dumps({"error": repr(exc)}), 1
        os.write(write_fd, payload.encode())
        os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    result = json.loads(data or b'{"error": "no output"}')
    if "error" in result:
        raise AssertionError(f"child failed: {result['error']}")
    return result["ok"]


# --- the namespace lab --------------------------------------------------------------------------

def lab_unavailable() -> str | None:
    """Why namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "namespace lab needs root (ip netns, nft): run the tests as root"
    if not (shutil.which("ip") and shutil.which("nft")):
        return "namespace lab needs iproute2 (ip) and nftables (nft)"
    return None


def check_address(cidr: str) -> str:
    net = ipaddress.ip_network(cidr, strict=False)
    if not any(net.version == a.version and net.subnet_of(a) for a in ALLOWED_NETWORKS):
        raise ValueError(f"{cidr} is outside the lab ranges 10.231.0.0/16 and 198.51.100.0/24")
    return cidr


def _run(argv: list[str], *, input: str | None = None, timeout: float = 15) -> str:
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


class Netns:
    """One network namespace ``wnp-<pid>-<role>``, deleted by :meth:`delete`."""

    def __init__(self, role: str) -> None:
        self.name = f"wnp-{os.getpid():x}-{role}"
        self.processes: list[subprocess.Popen] = []
        _run(["ip", "netns", "add", self.name])
        self.ip("link", "set", "lo", "up")

    def ip(self, *args: str) -> str:
        return _run(["ip", "-n", self.name, *args])

    def add_address(self, dev: str, cidr: str) -> None:
        self.ip("addr", "add", check_address(cidr), "dev", dev)

    def nft(self, ruleset: str) -> None:
        _run(["ip", "netns", "exec", self.name, "nft", "-f", "-"], input=ruleset)

    def sysctl(self, name: str, value: str) -> None:
        _run(["ip", "netns", "exec", self.name, "sysctl", "-qw", f"{name}={value}"])

    def python(self, code: str, arg: Any = None, timeout: float = 60) -> Any:
        """Run ``code`` with this repo's interpreter inside the namespace; its stdout as JSON."""
        out = _run(["ip", "netns", "exec", self.name, sys.executable, "-c", code,
                    json.dumps(arg)], timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    def probe(self, targets: list[str], *, timeout: float, env: dict[str, str] | None = None,
              listen: list[int] | None = None, facts: list[Any] = ()) -> dict[str, Any]:
        """``engine.probes.probe`` inside the namespace -> {"elapsed": s, "facts": [...]}."""
        return self.python(PROBE_SNIPPET, {"targets": targets, "timeout": timeout,
                                           "env": env or {}, "listen": listen or [],
                                           "facts": [f.to_json() for f in facts]})

    def etc(self, name: str, text: str) -> None:
        """/etc/netns/NS/NAME: what ``ip netns exec`` mounts over /etc/NAME in this namespace."""
        directory = Path("/etc/netns") / self.name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)

    def spawn_python(self, code: str) -> subprocess.Popen:
        """A long-running Python in the namespace; returns once it printed its first line."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, sys.executable, "-c", code],
                                stdout=subprocess.PIPE, text=True, cwd=str(REPO))
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        if not ready or not proc.stdout.readline():
            proc.kill()
            raise RuntimeError(f"the process in {self.name} did not start")
        self.processes.append(proc)
        return proc

    def delete(self) -> None:
        for proc in self.processes:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(Path("/etc/netns") / self.name, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=15,
                       check=False)


PROBE_SNIPPET = f"""
import json, sys, time
sys.path.insert(0, {str(REPO)!r})
from engine.facts import Fact
from engine.probes import parse_target, probe
spec = json.loads(sys.argv[1])
start = time.monotonic()
facts = probe([parse_target(t) for t in spec["targets"]],
              [Fact.from_json(f) for f in spec["facts"]], timeout=spec["timeout"],
              env=spec["env"], listen_ports=spec["listen"])
print(json.dumps({{"elapsed": time.monotonic() - start, "facts": [f.to_json() for f in facts]}}))
"""


@contextmanager
def namespace_pair(subnet: str = "10.231.1") -> Iterator[tuple[Netns, Netns]]:
    """A client and a server namespace joined by a veth: client .1/24, server .2/24."""
    client = server = None
    try:
        client, server = Netns("c"), Netns("s")
        _run(["ip", "-n", client.name, "link", "add", "wnp-c0", "type", "veth", "peer", "name",
              "wnp-s0", "netns", server.name])
        client.add_address("wnp-c0", f"{subnet}.1/24")
        server.add_address("wnp-s0", f"{subnet}.2/24")
        client.ip("link", "set", "wnp-c0", "up")
        server.ip("link", "set", "wnp-s0", "up")
        yield client, server
    finally:
        for ns in (client, server):
            if ns is not None:
                ns.delete()


def facts_of(result: dict[str, Any], kind: str, **match: Any) -> list[dict[str, Any]]:
    return [f for f in result["facts"] if f["kind"] == kind
            and all(f.get(k) == v for k, v in match.items())]
