"""The captive-portal probe: a known-answer URL fetched from servers on loopback."""

from __future__ import annotations

import asyncio
import socket

import pytest
from probe_helpers import Server, dead_port, tarpit

from engine.probes.portal import (
    PortalCheckError,
    has_login_form,
    judge,
    page_title,
    parse_check_url,
    probe_portal,
)

LOGIN = (b"<html><head><title>Hotel  Wi-Fi\n login</title></head><body><form method=post>"
         b"<input type='password' name=code></form></body></html>")


def answering(raw: bytes) -> Server:
    def handle(conn: socket.socket) -> None:
        if conn.recv(65536):
            conn.sendall(raw)
    return Server(handle)


def run(url: str, expect: str | None = None, timeout: float = 1.0):
    return asyncio.run(probe_portal(url, expect, timeout))


@pytest.mark.parametrize(("raw", "expect", "outcome", "redirect", "status"), [
    (b"HTTP/1.1 204 No Content\r\n\r\n", None, "known_answer", False, 204),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsuccess\n", "success", "known_answer",
     False, 200),
    (b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/login\r\nContent-Length: 0\r\n\r\n",
     None, "intercepted", True, 302),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsuccess\n", None, "intercepted", False, 200),
    (b"HTTP/1.1 200 OK\r\n\r\n" + LOGIN, "success", "intercepted", False, 200),
])
def test_answers(raw: bytes, expect: str | None, outcome: str, redirect: bool,
                 status: int) -> None:
    server = answering(raw)
    try:
        fact = run(f"http://127.0.0.1:{server.port}/check", expect)
    finally:
        server.stop()
    assert (fact["outcome"], fact["redirect"], fact["status"]) == (outcome, redirect, status)
    assert fact["ip"] == "127.0.0.1" and fact.kind == "probe_portal"


def test_a_login_page_is_described() -> None:
    server = answering(b"HTTP/1.1 200 OK\r\n\r\n" + LOGIN)
    try:
        fact = run(f"http://127.0.0.1:{server.port}/", "success")
    finally:
        server.stop()
    assert (fact["title"], fact["login_form"]) == ("Hotel Wi-Fi login", True)


def test_failures_are_bounded() -> None:
    pit = tarpit()
    try:
        fact = run(f"http://127.0.0.1:{pit.port}/", timeout=0.5)
    finally:
        pit.stop()
    assert fact["outcome"] == "timeout" and fact["elapsed_ms"] < 1500
    assert run(f"http://127.0.0.1:{dead_port()}/")["outcome"] == "refused"
    assert answering_not_http()["outcome"] == "not_http"


def answering_not_http():
    server = answering(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    try:
        return run(f"http://127.0.0.1:{server.port}/")
    finally:
        server.stop()


def test_check_urls() -> None:
    check = parse_check_url("http://detect.example/success.txt?x=1")
    assert (check.host, check.port, check.path) == ("detect.example", 80, "/success.txt?x=1")
    assert parse_check_url("https://[2001:db8::1]:8443").port == 8443
    for bad in ("ftp://x/", "detect.example", "http://", "http://x:99999/"):
        with pytest.raises(PortalCheckError):
            parse_check_url(bad)


def test_judging() -> None:
    assert judge(204, b"", None) and not judge(200, b"", None)
    assert judge(200, b"  success\n", "success") and not judge(200, b"Success", "success")
    assert page_title(b"<p>no title</p>") is None and not has_login_form(b"<p>hi</p>")
