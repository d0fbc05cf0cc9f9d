"""Tiny servers for the lab, one process each, started inside a namespace by ``netlab``.

Standard library only, so it runs under any Python the lab finds. Every mode binds, then prints
``READY <ip> <port>`` on stdout and never writes stdout again: the lab waits for that line instead
of sleeping, and a pipe nobody reads can never fill up. Diagnostics go to stderr (a log file).

Modes (``python serve.py MODE --host IP --port N [...]``):

- ``tcp``: accept, optionally send ``--banner`` and/or the peer address (``--peer``: what source
  address the server really sees, for NAT scenarios), close.
- ``http``: HTTP/1.1, every path answers 200 with ``--body``; ``--one-write``: the head and
  the body leave in one write, as nginx or Go's net/http send a page (http.server sends the
  head alone first), so the head rides in the answer's first full-size segment.
- ``redirect``: HTTP/1.1, every path answers 302 to ``--location`` (a captive portal).
- ``tls``: the same HTTP over TLS with ``--cert``/``--key`` (the cert file may hold a chain);
  ``--tls-versions 1.0-1.1`` limits the versions it accepts (below 1.2 with OpenSSL's security
  level 0, which old versions need). ``http`` and ``tls`` answer ``--body-file``'s bytes
  instead of ``--body`` when given (a CA certificate served at its caIssuers URL).
- ``greet``: a server-first protocol's greeting: sends ``--banner`` on connect, then answers
  each line the client sends with ``--reply`` (``--close-after-reply``: and hangs up, as
  OpenSSH does after a bad identification string).
- ``tarpit``: accept and never say a word (a hung service, or a middlebox that swallows data).
- ``udp-echo``: echo every datagram back (proves UDP passes where TCP does not).
- ``proxy``: an HTTP proxy: ``CONNECT host:port`` tunnels, ``GET http://...`` forwards.
- ``intercept``: a TLS-intercepting proxy: answers ``CONNECT`` with its own certificate
  (``--cert``/``--key``, signed by its own CA) and relays to the real server over a second TLS
  connection, as corporate threat-scanning proxies do.
- ``socks5``: a SOCKS5 proxy (RFC 1928, no authentication, CONNECT only): a destination given
  by name is resolved with this namespace's own resolver (what ``socks5h://`` clients rely
  on), one given as an address is used as it is (``socks5://`` clients); failures are answered
  with the reply code a real server gives (4 host unreachable, also for a name that does not
  resolve; 3 network unreachable; 5 connection refused).
"""

from __future__ import annotations

import argparse
import errno
import selectors
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

IO_TIMEOUT = 15.0


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listen(host: str, port: int, kind: int = socket.SOCK_STREAM) -> socket.socket:
    sock = socket.socket(family_of(host), kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
    return sock


def ready(sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    print(f"READY {host} {port}", flush=True)


def spawn(target, *args) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


# --- tcp, tarpit, udp-echo ---------------------------------------------------------------------

def serve_tcp(args: argparse.Namespace) -> None:
    srv = listen(args.host, args.port)
    ready(srv)
    while True:
        conn, peer = srv.accept()
        log(f"tcp connection from {peer[0]} port {peer[1]}")
        spawn(answer_tcp, conn, peer, args)


def answer_tcp(conn: socket.socket, peer: tuple, args: argparse.Namespace) -> None:
    with conn:
        conn.settimeout(IO_TIMEOUT)
        try:
            if args.peer:
                conn.sendall(f"{peer[0]} {peer[1]}\n".encode())
            if args.banner:
                conn.sendall(args.banner.encode() + b"\n")
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1024)  # let the client close first: no RST for unread data
        except OSError as exc:
            log(f"tcp: {exc}")


def serve_greet(args: argparse.Namespace) -> None:
    srv = listen(args.host, args.port)
    ready(srv)
    while True:
        conn, peer = srv.accept()
        log(f"greet {peer[0]} port {peer[1]}")
        spawn(greet, conn, args)


def greet(conn: socket.socket, args: argparse.Namespace) -> None:
    with conn:
        conn.settimeout(IO_TIMEOUT)
        try:
            conn.sendall(args.banner.encode() + b"\r\n")
            pending = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                pending += chunk
                while b"\n" in pending or len(pending) > 4096:
                    line, _, pending = pending.partition(b"\n")
                    log(f"greet: got {line[:60]!r}")
                    if args.reply:
                        conn.sendall(args.reply.encode() + b"\r\n")
                    if args.close_after_reply:
                        return
        except OSError as exc:
            log(f"greet: {exc}")


def serve_tarpit(args: argparse.Namespace) -> None:
    srv = listen(args.host, args.port)
    ready(srv)
    held: list[socket.socket] = []
    while True:
        conn, peer = srv.accept()
        log(f"tarpit holds {peer[0]} port {peer[1]}")
        held.append(conn)  # kept open, never read, never written


def serve_udp_echo(args: argparse.Namespace) -> None:
    srv = listen(args.host, args.port, socket.SOCK_DGRAM)
    ready(srv)
    while True:
        data, peer = srv.recvfrom(65535)
        srv.sendto(data, peer)


# --- http and tls ------------------------------------------------------------------------------

def handler_for(body: str, location: str = "", body_file: str | None = None,
                one_write: bool = False) -> type[BaseHTTPRequestHandler]:
    payload = open(body_file, "rb").read() if body_file else body.encode() + b"\n"

    class Handler(BaseHTTPRequestHandler):
        server_version = "whynet-lab/1"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if location:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            if one_write:
                self._headers_buffer.append(b"\r\n" + payload)  # type: ignore[attr-defined]
                self.flush_headers()
                return
            self.end_headers()
            self.wfile.write(payload)

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            log(f"http {self.client_address[0]}: {format % args}")

    return Handler


class LabHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that handshakes TLS in the connection's own thread, not in accept()."""

    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request, client_address) -> None:
        request.settimeout(IO_TIMEOUT)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log(f"tls handshake with {client_address[0]} failed: {exc}")
                request.close()
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        log(f"error serving {client_address[0]}: {sys.exc_info()[1]}")


TLS_VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_context(cert: str, key: str, versions: str = "") -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if versions:
        low, _, high = versions.partition("-")
        if TLS_VERSIONS[low] < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.0/1.1 above 0
        ctx.minimum_version = TLS_VERSIONS[low]
        ctx.maximum_version = TLS_VERSIONS[high or low]
    return ctx


def serve_http(args: argparse.Namespace) -> None:
    LabHTTPServer.address_family = family_of(args.host)
    httpd = LabHTTPServer((args.host, args.port),
                          handler_for(args.body, args.location, args.body_file,
                                      args.one_write))
    if args.mode == "tls":
        httpd.tls = server_context(args.cert, args.key, args.tls_versions)
    ready(httpd.socket)
    httpd.serve_forever()


# --- proxies -----------------------------------------------------------------------------------

def read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk or len(data) > 65536:
            break
        data += chunk
    return data


def split_hostport(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = text.rpartition(":")
    return (host, int(port)) if sep else (text, default_port)


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Relay both ways until either side closes; TLS sockets may hold decrypted bytes unseen by
    select(), so those are drained first. Reads never block: a readable TLS socket may carry
    only a record with no application data (a TLS 1.3 session ticket), and a blocking read
    would then wait for data while the other side's request sits unread."""
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ)
    sel.register(b, selectors.EVENT_READ)
    a.setblocking(False)
    b.setblocking(False)
    try:
        while True:
            pending = [s for s in (a, b) if isinstance(s, ssl.SSLSocket) and s.pending()]
            readable = pending or [key.fileobj for key, _ in sel.select(timeout=IO_TIMEOUT)]
            if not readable:
                return
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue  # nothing for the application yet
                if not data:
                    return
                other = b if sock is a else a
                other.settimeout(IO_TIMEOUT)
                other.sendall(data)
                other.setblocking(False)
    except OSError as exc:
        log(f"relay ended: {exc}")
    finally:
        sel.close()


def serve_proxy(args: argparse.Namespace) -> None:
    srv = listen(args.host, args.port)
    intercept = server_context(args.cert, args.key) if args.mode == "intercept" else None
    allowed = {int(p) for p in args.allow_ports.split(",")} if args.allow_ports else None
    ready(srv)
    while True:
        conn, peer = srv.accept()
        spawn(proxy_one, conn, peer, intercept, allowed)


def proxy_one(conn: socket.socket, peer: tuple, intercept: ssl.SSLContext | None,
              allowed: set[int] | None = None) -> None:
    upstream: socket.socket | None = None
    try:
        conn.settimeout(IO_TIMEOUT)
        head = read_head(conn)
        request_line, _, rest = head.partition(b"\r\n")
        method, target, version = request_line.decode("latin-1").split(" ", 2)
        log(f"proxy {peer[0]}: {method} {target}")
        if method == "CONNECT":
            host, port = split_hostport(target, 443)
        else:
            url = urlsplit(target)
            host, port = url.hostname or "", url.port or 80
        if allowed is not None and port not in allowed:
            # Like squid's SSL_ports or a CDN's port list: other ports are refused outright.
            log(f"proxy {peer[0]}: port {port} not allowed")
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            upstream = socket.create_connection((host, port), timeout=5)
        except OSError as exc:
            log(f"proxy upstream {host}:{port}: {exc}")
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        upstream.settimeout(IO_TIMEOUT)
        if method == "CONNECT":
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if intercept is None:
                pipe(conn, upstream)
                return
            client_side = intercept.wrap_socket(conn, server_side=True)
            relay_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            relay_ctx.check_hostname = False
            relay_ctx.verify_mode = ssl.CERT_NONE  # the real server is not what the lab tests
            server_side = relay_ctx.wrap_socket(upstream, server_hostname=host)
            pipe(client_side, server_side)
        else:
            url = urlsplit(target)
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            upstream.sendall(f"{method} {path} {version}\r\n".encode("latin-1") + rest)
            pipe(conn, upstream)
    except (OSError, ValueError, ssl.SSLError) as exc:
        log(f"proxy {peer[0]}: {exc}")
    finally:
        conn.close()
        if upstream is not None:
            upstream.close()


# --- socks5 --------------------------------------------------------------------------------

SOCKS_REPLY_FOR_ERRNO = {errno.ENETUNREACH: 3, errno.EHOSTUNREACH: 4, errno.ECONNREFUSED: 5}


def recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ValueError("the client closed the connection")
        data += chunk
    return data


def socks_reply(conn: socket.socket, code: int) -> None:
    conn.sendall(bytes([5, code, 0, 1]) + bytes(6))  # bound address 0.0.0.0:0


def serve_socks5(args: argparse.Namespace) -> None:
    srv = listen(args.host, args.port)
    ready(srv)
    while True:
        conn, peer = srv.accept()
        spawn(socks5_one, conn, peer)


def socks5_one(conn: socket.socket, peer: tuple) -> None:
    upstream: socket.socket | None = None
    try:
        conn.settimeout(IO_TIMEOUT)
        version, count = recv_exact(conn, 2)
        methods = recv_exact(conn, count)
        if version != 5 or 0 not in methods:
            conn.sendall(b"\x05\xff")
            return
        conn.sendall(b"\x05\x00")
        _, command, _, atyp = recv_exact(conn, 4)
        if atyp == 1:
            host = socket.inet_ntoa(recv_exact(conn, 4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, recv_exact(conn, 16))
        elif atyp == 3:
            host = recv_exact(conn, recv_exact(conn, 1)[0]).decode("idna")
        else:
            socks_reply(conn, 8)  # address type not supported
            return
        port = struct.unpack("!H", recv_exact(conn, 2))[0]
        log(f"socks5 {peer[0]}: CONNECT {host}:{port} ({'name' if atyp == 3 else 'address'})")
        if command != 1:
            socks_reply(conn, 7)  # command not supported
            return
        try:
            address = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][4][0]
        except OSError as exc:
            log(f"socks5 {peer[0]}: {host} does not resolve here: {exc}")
            socks_reply(conn, 4)
            return
        try:
            upstream = socket.create_connection((address, port), timeout=5)
        except OSError as exc:
            log(f"socks5 {peer[0]}: connect {address}:{port}: {exc}")
            socks_reply(conn, SOCKS_REPLY_FOR_ERRNO.get(exc.errno or 0, 4))
            return
        upstream.settimeout(IO_TIMEOUT)
        socks_reply(conn, 0)
        pipe(conn, upstream)
    except (OSError, ValueError) as exc:
        log(f"socks5 {peer[0]}: {exc}")
    finally:
        conn.close()
        if upstream is not None:
            upstream.close()


MODES = {
    "tcp": serve_tcp,
    "http": serve_http,
    "tls": serve_http,
    "redirect": serve_http,
    "tarpit": serve_tarpit,
    "greet": serve_greet,
    "udp-echo": serve_udp_echo,
    "proxy": serve_proxy,
    "intercept": serve_proxy,
    "socks5": serve_socks5,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--banner", default="")
    parser.add_argument("--peer", action="store_true")
    parser.add_argument("--body", default="ok")
    parser.add_argument("--location", default="", help="redirect: where every GET is sent")
    parser.add_argument("--allow-ports", default="", help="proxy: only these ports (1,2,3)")
    parser.add_argument("--body-file", default=None, help="http/tls: answer this file's bytes")
    parser.add_argument("--tls-versions", default="", help="tls: MIN-MAX, e.g. 1.0-1.1")
    parser.add_argument("--reply", default="", help="greet: the answer to each line")
    parser.add_argument("--close-after-reply", action="store_true")
    parser.add_argument("--one-write", action="store_true",
                        help="http/tls: send the head and the body in one write")
    args = parser.parse_args(argv)
    if args.mode in ("tls", "intercept") and not (args.cert and args.key):
        parser.error(f"{args.mode} needs --cert and --key")
    try:
        MODES[args.mode](args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
