"""The path-MTU probe beyond TLS (engine/probes/pmtu.py) on loopback: what it says when it
cannot see a black hole. Loopback has no narrow link, so a black hole itself is proved in the
lab (tests/lab/test_mtufaults.py, and the recorded facts in tests/fixtures/ipfaults)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from probe_helpers import Server, http_server, read_head, self_signed, tls_server

from engine.probes import outcomes as O
from engine.probes import parse_target
from engine.probes.context import ProbeContext
from engine.probes.pmtu import (
    ANSWER_CAP,
    UPLOAD_PADDING,
    Attempt,
    answer_complete,
    probe_pmtu,
    upload_stalls,
)

PAGE = b"x" * 20_000


def page_server(body: bytes) -> Server:
    """Answers every request with ``body`` in one write (head included), then closes."""
    def handle(conn: socket.socket) -> None:
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return Server(handle)


def head_then_silence() -> Server:
    """Sends a head promising 5,000 bytes, then nothing (a server stuck mid-answer)."""
    def handle(conn: socket.socket) -> None:
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
        time.sleep(3)
    return Server(handle)


def run(target: str, timeout: float = 1.0, *, handshake_done: bool = False) -> dict:
    async def probe() -> dict:
        fact = await probe_pmtu(parse_target(target), "127.0.0.1", ProbeContext(timeout),
                                handshake_done=handshake_done)
        # Every exchange it dropped (a twin no longer needed, a stalled one) has unwound:
        # none is left for the loop's close to find pending.
        leftover = asyncio.all_tasks() - {asyncio.current_task()}
        assert not leftover, leftover
        return dict(fact.fields)
    return asyncio.run(probe())


def timed_run(web: Server, url: str, timeout: float, *, handshake_done: bool = False
              ) -> tuple[dict, float]:
    """:func:`run` against ``web`` (``url`` with ``{port}`` for its port), then the server
    stopped: the fact's fields and the seconds the probe took."""
    try:
        began = time.monotonic()
        m = run(url.format(port=web.port), timeout=timeout, handshake_done=handshake_done)
        return m, time.monotonic() - began
    finally:
        web.stop()


def test_a_small_answer_is_too_small_to_tell() -> None:
    web = http_server()  # a head with Content-Length: 0
    try:
        m = run(f"http://127.0.0.1:{web.port}/")
    finally:
        web.stop()
    assert (m["outcome"], m["exchange"], m["default_outcome"]) == (O.INCONCLUSIVE, "http_get",
                                                                   O.HTTP_OK)
    assert m["clamped_outcome"] is None  # the default exchange settled it: no second one
    assert m["default_largest_segment"] <= 536 and "too small to tell" in m["error"]
    assert m["answer_bytes"] == m["default_answer_bytes"] < 536


def test_a_large_answer_at_full_size_passes() -> None:
    web = page_server(PAGE)
    try:
        m = run(f"http://127.0.0.1:{web.port}/big")
    finally:
        web.stop()
    assert (m["outcome"], m["default_outcome"], m["lost_packet"]) == (O.HTTP_OK, O.HTTP_OK, None)
    assert m["default_largest_segment"] > 536  # loopback carries 64 KB segments
    assert ANSWER_CAP <= m["answer_bytes"] <= len(PAGE) + 100  # read up to the cap, no further
    # The padded GET (full-size segments from this host) got its answer at the default size.
    assert (m["direction"], m["upload_outcome"], m["upload_clamped_outcome"]) == (
        "download", O.HTTP_OK, None)
    assert m["upload_request_bytes"] > 4000


def test_an_answer_that_stalls_at_every_size_is_no_black_hole() -> None:
    m, took = timed_run(head_then_silence(), "http://127.0.0.1:{port}/", 0.6)
    assert (m["outcome"], m["default_outcome"], m["clamped_outcome"]) == (
        O.TIMEOUT, O.TIMEOUT, O.TIMEOUT)
    assert "small segment size too" in m["error"]
    assert m["default_answer_bytes"] == m["answer_bytes"] > 0  # the head came, nothing more
    assert took < 0.6 + 0.3  # both exchanges at once, each bounded by the timeout


def test_a_port_whynet_does_not_speak_is_not_checked() -> None:
    m = run("postgres://127.0.0.1:5432/db")  # nothing is sent: no server needed
    assert (m["outcome"], m["exchange"], m["elapsed_ms"]) == (O.NOT_POSSIBLE, "none", 0)
    assert m["error"].startswith("nothing large to ask for on port 5432: whynet does not "
                                 "speak its protocol (postgres)")


def test_an_answer_ends_by_its_own_framing() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert answer_complete(head + b"5\r\nhello\r\n0\r\n\r\n")
    assert not answer_complete(head + b"5\r\nhello\r\n")
    assert not answer_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n")  # head unfinished
    assert not answer_complete(b"HTTP/1.1 200 OK\r\n\r\nno length: until the server closes")


# --- https: the GET over TLS after a handshake that came in small segments -------------------
# On loopback (64 KB segments) an ECDSA certificate's flight is far below a full segment, so
# the handshake proves nothing and the GET follows, as behind a narrow link.

def test_https_page_after_a_small_handshake_is_read_at_full_size(tmp_path: Path) -> None:
    cert = self_signed(tmp_path, ["localhost"], ["127.0.0.1"])
    web = tls_server(cert.cert_path, cert.key_path, body=PAGE)
    try:
        m = run(f"https://127.0.0.1:{web.port}/", handshake_done=True)
    finally:
        web.stop()
    assert (m["outcome"], m["exchange"], m["default_outcome"]) == (O.HTTP_OK, "https_get",
                                                                   O.HTTP_OK), m
    assert m["clamped_outcome"] is None  # the default exchange settled it
    assert m["default_largest_segment"] > 536
    assert ANSWER_CAP <= m["answer_bytes"] <= len(PAGE) + 100
    # The padded GET over TLS got its answer at the default size: no clamped twin.
    assert (m["direction"], m["upload_outcome"], m["upload_clamped_outcome"]) == (
        "download", O.HTTP_OK, None), m
    assert m["upload_request_bytes"] > UPLOAD_PADDING


def test_https_small_page_is_too_small_to_tell(tmp_path: Path) -> None:
    cert = self_signed(tmp_path, ["localhost"], ["127.0.0.1"])
    web = tls_server(cert.cert_path, cert.key_path, body=b"ok")
    try:
        m = run(f"https://127.0.0.1:{web.port}/", handshake_done=True)
    finally:
        web.stop()
    assert (m["outcome"], m["exchange"]) == (O.INCONCLUSIVE, "https_get"), m
    assert "too small to tell" in m["error"]


def tls_server_answering(tmp_path: Path, answer: Callable[[ssl.SSLSocket, bytes], None]
                         ) -> Server:
    """A TLS server on loopback (a self-signed ECDSA certificate) that reads each request's
    head and hands it to ``answer`` with the connection."""
    cert = self_signed(tmp_path, ["localhost"], ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert.cert_path), str(cert.key_path))

    def handle(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            answer(tls, read_head(tls))
    return Server(handle)


def test_https_body_that_stalls_at_every_size_is_no_black_hole(tmp_path: Path) -> None:
    def head_then_nothing(tls: ssl.SSLSocket, _head: bytes) -> None:
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
        time.sleep(3)
    m, took = timed_run(tls_server_answering(tmp_path, head_then_nothing),
                        "https://127.0.0.1:{port}/", 0.6, handshake_done=True)
    # The clamped twin started once the handshake came small, and stalled too.
    assert (m["outcome"], m["default_outcome"], m["clamped_outcome"]) == (
        O.TIMEOUT, O.TIMEOUT, O.TIMEOUT), m
    assert m["default_answer_bytes"] == m["answer_bytes"] > 0
    assert took < 0.6 + 0.3  # one deadline for both exchanges


# --- https: the padded request over TLS (the upload direction) --------------------------------

def tls_server_by_request(tmp_path: Path, answer_padded: bytes | None) -> Server:
    """A TLS server that answers a plain GET with a 20 KB page, and a padded one (a header
    line of ``UPLOAD_PADDING`` bytes) with ``answer_padded``, or with silence when None."""
    def answer(tls: ssl.SSLSocket, head: bytes) -> None:
        if len(head) < UPLOAD_PADDING:
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PAGE) + PAGE)
        elif answer_padded is not None:
            tls.sendall(answer_padded)
        else:
            time.sleep(3)
    return tls_server_answering(tmp_path, answer)


def test_https_padded_request_answered_with_an_error_still_arrived(tmp_path: Path) -> None:
    web = tls_server_by_request(tmp_path, b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                          b"Content-Length: 0\r\n\r\n")
    try:
        m = run(f"https://127.0.0.1:{web.port}/", handshake_done=True)
    finally:
        web.stop()
    # A refusal is an answer: the padded request's full-size segments reached the server.
    assert (m["outcome"], m["direction"], m["upload_outcome"], m["upload_clamped_outcome"]) == (
        O.HTTP_OK, "download", O.HTTP_OK, None), m


def test_https_padded_request_unanswered_at_every_size_is_no_black_hole(tmp_path: Path) -> None:
    m, took = timed_run(tls_server_by_request(tmp_path, None), "https://127.0.0.1:{port}/",
                        0.8, handshake_done=True)
    # The plain GET came back at full size; the padded one got no reaction, and neither did
    # its clamped twin (started once the default one had been silent for half the timeout):
    # the server ignores large requests at any size, which no segment size explains.
    assert (m["outcome"], m["direction"], m["default_outcome"]) == (
        O.HTTP_OK, "download", O.HTTP_OK), m
    assert (m["upload_outcome"], m["upload_clamped_outcome"]) == (O.TIMEOUT, O.TIMEOUT), m
    assert took < 0.8 + 0.3  # the twin shares the default one's deadline


# The verdict on the upload direction, from the exchanges' outcomes (the sizes a lab black
# hole gives: tests/lab/test_mtufaults.py proves them on a real narrow link).
DOWNLOADED = Attempt(O.HTTP_OK, 20, received=12_142, large_segments=True)
HANDSHAKE_LARGE = Attempt(O.TLS_OK, 15, large_segments=True)
SILENT = Attempt(O.TIMEOUT, 2950, "the HTTP answer stalled after 0 bytes (no more within 3s)")
REACTED = Attempt(O.HTTP_OK, 1520, received=155)


def test_upload_black_hole_needs_silence_at_full_size_and_an_answer_when_clamped() -> None:
    assert upload_stalls(DOWNLOADED, SILENT, REACTED)
    # Over TLS, a handshake that brought a full-size segment shows the server's packets come.
    assert upload_stalls(HANDSHAKE_LARGE, SILENT, REACTED)
    # Any byte at full size, or an answer of any status, is a reaction: the request arrived.
    assert not upload_stalls(DOWNLOADED, Attempt(O.TIMEOUT, 2950, "stalled", received=40),
                             REACTED)
    assert not upload_stalls(DOWNLOADED, REACTED, None)
    # Silent at every size: the server ignores the request, whatever its segments.
    assert not upload_stalls(DOWNLOADED, SILENT, Attempt(O.TIMEOUT, 1450, "stalled"))
    assert not upload_stalls(DOWNLOADED, SILENT, Attempt(O.ERROR, 3, "tcp connect: refused"))
    # The server's own packets stall: the download black hole is the finding, not this.
    assert not upload_stalls(SILENT, SILENT, REACTED)
