"""DNS servers for the lab that dnsmasq cannot be: a forwarding resolver that rewrites NXDOMAIN
(an ISP's "search assist"), DNS over TLS and DNS over HTTPS fronts to a plain server, and a
local stub that forwards over TLS only (systemd-resolved with ``DNSOverTLS=yes``).

    python dns_servers.py forward --host 10.20.0.54 --upstream 10.20.0.53 [--rewrite IP]
    python dns_servers.py dot --host 203.0.113.53 --port 853 --upstream 203.0.113.53:53 \\
        --cert C --key K
    python dns_servers.py doh --host 203.0.113.53 --port 443 --upstream ... --cert C --key K
    python dns_servers.py tls-stub --host 127.0.0.53 --port 53 --upstream 203.0.113.53:853

Each prints ``READY host port`` once bound (as serve.py does), then serves until killed. The
real work (parsing, relaying) is dnspython's and the standard library's: the lab tests whynet,
not these servers.
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

IO_TIMEOUT = 5.0


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def split_hostport(text: str, default: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    return (host, int(port)) if sep else (text, default)


class Upstream:
    """Where a server sends each query: plain UDP/TCP port 53, or DNS over TLS."""

    def __init__(self, where: str, tls: bool) -> None:
        self.host, self.port = split_hostport(where, 853 if tls else 53)
        self.tls = tls

    def ask(self, query: dns.message.Message) -> dns.message.Message:
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # as resolved without a name
            return dns.query.tls(query, self.host, timeout=IO_TIMEOUT, port=self.port,
                                 ssl_context=ctx)
        return dns.query.udp(query, self.host, timeout=IO_TIMEOUT, port=self.port)


def answer(wire: bytes, upstream: Upstream, rewrite: str | None) -> bytes:
    """The upstream's answer to ``wire``; with ``rewrite``, an NXDOMAIN for an A question
    becomes that address (and for any other type an empty NOERROR), as rewriting ISPs do."""
    query = dns.message.from_wire(wire)
    try:
        response = upstream.ask(query)
    except Exception as exc:  # upstream silent or unreachable: what a resolver then says
        log(f"upstream {upstream.host}:{upstream.port}: {exc!r}")
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.SERVFAIL)
        return response.to_wire()
    if rewrite and response.rcode() == dns.rcode.NXDOMAIN and query.question:
        question = query.question[0]
        response = dns.message.make_response(query)
        if question.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", rewrite))
        log(f"rewrote NXDOMAIN for {question.name}")
    return response.to_wire()


def ready(host: str, port: int) -> None:
    print(f"READY {host} {port}", flush=True)


def serve_plain(host: str, port: int, upstream: Upstream, rewrite: str | None) -> None:
    """UDP and TCP on ``port``, each query answered in its own thread."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, port))

    class TcpHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(IO_TIMEOUT)
            while True:
                head = self.request.recv(2)
                if len(head) < 2:
                    return
                (size,) = struct.unpack("!H", head)
                wire = b""
                while len(wire) < size:
                    chunk = self.request.recv(size - len(wire))
                    if not chunk:
                        return
                    wire += chunk
                out = answer(wire, upstream, rewrite)
                self.request.sendall(struct.pack("!H", len(out)) + out)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    tcp = socketserver.ThreadingTCPServer((host, port), TcpHandler)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    ready(host, port)
    while True:
        wire, peer = udp.recvfrom(65535)

        def reply(wire: bytes = wire, peer: tuple = peer) -> None:
            try:
                udp.sendto(answer(wire, upstream, rewrite), peer)
            except Exception as exc:
                log(f"udp query from {peer[0]}: {exc!r}")

        threading.Thread(target=reply, daemon=True).start()


def serve_dot(host: str, port: int, upstream: Upstream, cert: str, key: str) -> None:
    """DNS over TLS (RFC 7858): TCP framing inside TLS."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    class DotHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                conn = ctx.wrap_socket(self.request, server_side=True)
                conn.settimeout(IO_TIMEOUT)
                while True:
                    head = conn.recv(2)
                    if len(head) < 2:
                        return
                    (size,) = struct.unpack("!H", head)
                    wire = b""
                    while len(wire) < size:
                        chunk = conn.recv(size - len(wire))
                        if not chunk:
                            return
                        wire += chunk
                    out = answer(wire, upstream, None)
                    conn.sendall(struct.pack("!H", len(out)) + out)
            except (OSError, ssl.SSLError) as exc:
                log(f"dot {self.client_address[0]}: {exc!r}")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    server = socketserver.ThreadingTCPServer((host, port), DotHandler)
    ready(host, port)
    server.serve_forever()


def serve_doh(host: str, port: int, upstream: Upstream, cert: str, key: str) -> None:
    """DNS over HTTPS (RFC 8484): POST application/dns-message to /dns-query."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    class DohHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            wire = self.rfile.read(length)
            if self.path.split("?")[0] != "/dns-query" or not wire:
                self.send_error(404)
                return
            out = answer(wire, upstream, None)
            self.send_response(200)
            self.send_header("Content-Type", "application/dns-message")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: object) -> None:
            log(f"doh {self.client_address[0]}: {format % args}")

    class TlsServer(ThreadingHTTPServer):
        daemon_threads = True

        def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
            request.settimeout(IO_TIMEOUT)
            try:
                request = ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log(f"doh tls with {client_address[0]}: {exc!r}")
                request.close()
                return
            super().finish_request(request, client_address)

    server = TlsServer((host, port), DohHandler)
    ready(host, port)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["forward", "dot", "doh", "tls-stub"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--upstream", required=True, help="HOST[:PORT]")
    parser.add_argument("--rewrite", help="forward: answer NXDOMAIN for A with this address")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    if args.mode == "forward":
        serve_plain(args.host, args.port, Upstream(args.upstream, False), args.rewrite)
    elif args.mode == "tls-stub":
        serve_plain(args.host, args.port, Upstream(args.upstream, True), None)
    elif args.mode == "dot":
        serve_dot(args.host, args.port, Upstream(args.upstream, False), args.cert, args.key)
    else:
        serve_doh(args.host, args.port, Upstream(args.upstream, False), args.cert, args.key)


if __name__ == "__main__":
    main()
