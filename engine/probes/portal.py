"""A captive portal, seen from a known-answer URL the user names (X22).

Hotel, train and guest networks hold traffic back until someone logs in on a web page, and
answer plain HTTP with a redirect to that page (or the page itself) meanwhile. Operating
systems detect it by fetching a URL whose answer they know: Android's ``generate_204`` (an
empty 204), Firefox's ``success.txt`` (the body ``success``). whynet does the same with a URL
the user chooses (``--portal-check URL``, ``WHYNET_PORTAL_CHECK``); nothing is fetched unless
one is named. The known answer is an HTTP 204, or, with ``--portal-expect TEXT``
(``WHYNET_PORTAL_EXPECT``), a 200 whose body is TEXT (surrounding white space ignored).

One GET through the system resolver and a direct connection, redirects not followed, the head
and at most :data:`MAX_BODY` bytes of body read, all within the timeout. Outcome
``known_answer``; ``intercepted`` (anything else that is HTTP: a redirect, with its
``location``, or a page, with its ``title`` and whether it holds a login form); or the failure
(a name that does not resolve, ``refused``, ``timeout``, ``not_http``, ``error``).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import (
    Stopwatch,
    describe_exception,
    errno_name,
    in_daemon_thread,
    probe_fact,
)
from engine.probes.http import MAX_HEAD, parse_head

MAX_BODY = 16 * 1024
_GAI_OUTCOMES = {socket.EAI_NONAME: O.NXDOMAIN, socket.EAI_AGAIN: O.TEMPORARY_FAILURE}
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
_LOGIN = re.compile(rb"<form\b|type\s*=\s*[\"']?password", re.I)


class PortalCheckError(ValueError):
    """A known-answer URL whynet cannot use."""


@dataclass(frozen=True)
class CheckUrl:
    url: str
    scheme: str
    host: str
    port: int
    path: str


def parse_check_url(text: str) -> CheckUrl:
    """``http://detectportal.example/success.txt`` -> its parts; a clear error otherwise."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise PortalCheckError(f"--portal-check {text!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PortalCheckError(f"--portal-check {text!r}: expected an http:// or https:// URL")
    default = 443 if parts.scheme == "https" else 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CheckUrl(text.strip(), parts.scheme, parts.hostname, port or default, path)


def judge(status: int, body: bytes, expect: str | None) -> bool:
    """Whether the answer is the known one: 204, or 200 with ``expect`` as its body."""
    if expect is None:
        return status == 204
    return status == 200 and body.decode("utf-8", "replace").strip() == expect.strip()


def page_title(body: bytes) -> str | None:
    match = _TITLE.search(body)
    if not match:
        return None
    return " ".join(match.group(1).decode("utf-8", "replace").split())[:120] or None


def has_login_form(body: bytes) -> bool:
    return bool(_LOGIN.search(body))


async def _fetch(check: CheckUrl, ip: str, timeout: float) -> tuple[bytes, bytes]:
    """The response head and the start of its body."""
    tls = ssl.create_default_context() if check.scheme == "https" else None
    reader, writer = await asyncio.open_connection(
        ip, check.port, ssl=tls, server_hostname=check.host if tls else None, limit=MAX_HEAD)
    try:
        default = 443 if check.scheme == "https" else 80
        host = check.host if check.port == default else f"{check.host}:{check.port}"
        writer.write((f"GET {check.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: whynet\r\n"
                      "Accept: */*\r\nConnection: close\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        _, _, _, headers = parse_head(head)
        length = headers.get("content-length", "")
        wanted = min(int(length), MAX_BODY) if length.isdigit() else MAX_BODY
        body = b""
        while len(body) < wanted:
            chunk = await reader.read(wanted - len(body))
            if not chunk:
                break
            body += chunk
        return head, body
    finally:
        writer.transport.abort()


async def probe_portal(url: str, expect: str | None, timeout: float) -> Fact:
    """One ``probe_portal`` fact for the known-answer ``url``."""
    watch = Stopwatch()
    check = parse_check_url(url)
    fields: dict[str, object] = {
        "url": check.url, "expected": f"HTTP 200 with the body {expect!r}" if expect is not None
        else "HTTP 204", "ip": None, "status": None, "location": None, "title": None,
        "login_form": False, "redirect": False,
    }
    outcome, error = O.ERROR, None
    try:
        infos = await asyncio.wait_for(in_daemon_thread(
            socket.getaddrinfo, check.host, check.port, 0, socket.SOCK_STREAM), timeout)
        ip = str(infos[0][4][0])
        fields["ip"] = ip
        head, body = await asyncio.wait_for(_fetch(check, ip, watch.remaining(timeout)),
                                            watch.remaining(timeout))
        _, status, reason, headers = parse_head(head)
    except asyncio.TimeoutError:
        outcome, error = O.TIMEOUT, f"no answer within {timeout:g}s"
    except socket.gaierror as exc:
        outcome = _GAI_OUTCOMES.get(exc.errno or 0, O.ERROR)
        error = describe_exception(exc)
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        outcome, error = O.NOT_HTTP, describe_exception(exc)
    except (OSError, ssl.SSLError, EOFError) as exc:
        refused = errno_name(exc) == "ECONNREFUSED"
        outcome, error = (O.REFUSED if refused else O.ERROR), describe_exception(exc)
    else:
        redirect = 300 <= status < 400 and bool(headers.get("location"))
        fields.update(status=status, location=headers.get("location"), title=page_title(body),
                      login_form=has_login_form(body), redirect=redirect)
        if judge(status, body, expect):
            outcome = O.KNOWN_ANSWER
        else:
            outcome = O.INTERCEPTED
            error = f"HTTP {status} {reason}".strip()
    return probe_fact(
        "probe_portal", f"probe_portal:{check.url}", f"http GET {check.url} (known answer)",
        target=f"portal check {check.url}", layer="application", outcome=outcome,
        elapsed_ms=watch.ms(), error=error, **fields,
    )
