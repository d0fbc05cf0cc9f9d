"""Where a proxy auto-config (PAC) file sends a target, against the proxy variables (P2).

Browsers, GNOME and KDE applications and everything built on libproxy follow a PAC file
(``FindProxyForURL(url, host)``); curl, wget, Python, Go, git and most command-line tools
follow ``http_proxy``/``https_proxy``/``NO_PROXY``. When the two disagree, "it works in the
browser" and "curl times out" are both true.

**Which PAC.** ``--pac URL`` (diagnose), else the ``auto_proxy`` / ``AUTO_PROXY`` variable
(what libproxy-style tools read; ``pac+http://...`` as well as a plain URL), else what the
desktop is set to (``proxy_autoconfig`` facts: GNOME's ``org.gnome.system.proxy``, KDE's
``kioslaverc``; KDE first when ``XDG_CURRENT_DESKTOP`` names it): its PAC URL, or when it is
set to detect one, the URL a current DHCP lease offers (option 252, as KDE and PacRunner ask
DHCP first), else WPAD over DNS as ``--pac auto`` does. ``pac_source`` names where the URL
came from (the setting, its file and line or command, whose it is). ``http``,
``https`` and ``file`` URLs; fetched directly, never through a proxy (as browsers fetch it),
once per run, at most :data:`MAX_PAC_BYTES`, within the timeout. ``--pac auto`` looks for one
as WPAD over DNS does (only when asked: the lookups leave this host): ``wpad.DOMAIN`` for each
search domain and its parents down to two labels (``wpad.corp.example.com``,
``wpad.example.com``; never ``wpad.com``), at most :data:`MAX_WPAD_NAMES` names asked at
once within the timeout, the first in that order that resolves giving
``http://wpad.DOMAIN/wpad.dat``.

**Evaluation.** The script is untrusted JavaScript: it runs in duktape in a child process
(``pac_sandbox.py``) with its memory and CPU capped, killed when the timeout is up; one child
answers for every target of the run (:class:`PacBatch`). Only the HTTP(S) targets are asked
(PAC answers for URLs).

**The fact.** One ``probe_pac`` per target: ``outcome`` ``pac_proxy`` or ``pac_direct`` (what
the first entry of the answer says), or ``timeout``/``error`` when the file could not be
fetched or evaluated; ``result`` (the whole answer), ``direct_fallback`` (a later entry is
DIRECT: browsers go direct when the proxies fail), ``pac_proxy``, ``env_proxy`` and
``env_variable`` (what :func:`proxy_env.decide` says), ``agrees``; and when they disagree and
the PAC names a proxy, that proxy is tried as the probe_proxy probe tries one
(``pac_route_outcome``): so a rule can tell which of the two ways works.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import stat
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from engine import files
from engine.facts import Fact
from engine.probes import outcomes as O
from engine.probes.common import (
    Stopwatch,
    describe_exception,
    in_daemon_thread,
    probe_fact,
    unique,
)
from engine.probes.context import ProbeContext
from engine.probes.proxy import try_proxy
from engine.probes.proxy_env import Proxy, decide, parse_proxy_url, request_scheme
from engine.probes.target import Target
from engine.redact import redact_url

MAX_PAC_BYTES = 1024 * 1024  # real PAC files are a few KB; the largest seen run to ~300 KB
SANDBOX = Path(__file__).resolve().parent / "pac_sandbox.py"
PAC_VARIABLES = ("auto_proxy", "AUTO_PROXY")
WPAD = "auto"  # --pac auto: discover the PAC file by WPAD over DNS
DESKTOP_NAMES = {"gnome": "GNOME", "kde": "KDE"}
MAX_WPAD_NAMES = 6
# PAC entry keyword -> the proxy URL scheme a client uses for it
ENTRY_SCHEMES = {"PROXY": "http", "HTTP": "http", "HTTPS": "https", "SOCKS": "socks5",
                 "SOCKS5": "socks5", "SOCKS4": "socks4"}


class PacOrigin(NamedTuple):
    """Where the PAC file in force comes from."""

    source: str  # --pac, auto_proxy, or the desktop setting with its file/line or command
    url: str
    # A sudo user's desktop setting naming a local file: root reads it only if that user
    # could (whynet must not read /etc/shadow for a user whose kioslaverc names it).
    reader_uid: int | None = None


class PacError(Exception):
    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


def pac_source(env: Mapping[str, str], option: str | None,
               facts: Sequence[Fact] = ()) -> PacOrigin | None:
    """Where the PAC file in force comes from, or None."""
    if option:
        return PacOrigin("--pac", option)
    for name in PAC_VARIABLES:
        value = (env.get(name) or "").strip()
        if value:
            return PacOrigin(name, value.removeprefix("pac+"))
    return desktop_pac(facts, env)


def desktop_pac(facts: Sequence[Fact], env: Mapping[str, str]) -> PacOrigin | None:
    """Where the PAC file the desktop is set to comes from, from the
    ``proxy_autoconfig`` facts: the first desktop with a PAC URL or set to detect one."""
    configs = [f for f in facts if f.kind == "proxy_autoconfig"]
    kde_first = "KDE" in env.get("XDG_CURRENT_DESKTOP", "").upper().split(":")
    order = ("kde", "gnome") if kde_first else ("gnome", "kde")
    desktops = sorted((f for f in configs if f.get("origin") in order),
                      key=lambda f: order.index(str(f.get("origin"))))
    leases = [f for f in configs if f.get("origin") == "dhcp" and f.get("url")
              and not f.get("expired")]
    for desktop in desktops:
        where = f"{DESKTOP_NAMES[str(desktop.get('origin'))]} {desktop.get('setting')} " \
                f"({desktop.describe_source()}; user {desktop.get('user')})"
        reader = desktop.get("sudo_uid")
        if desktop.get("uses_pac") and desktop.get("url"):
            return PacOrigin(where, str(desktop.get("url")), reader)
        if desktop.get("auto_detect"):
            if leases:
                return PacOrigin(f"{where}, detecting: {leases[0].get('setting')} "
                                 f"({leases[0].describe_source()})", str(leases[0].get("url")))
            return PacOrigin(f"{where}, detecting: WPAD over DNS", WPAD)
    return None


def wpad_names(search_domains: list[str]) -> list[str]:
    """``wpad.DOMAIN`` for each search domain and its parents, down to two labels.

    >>> wpad_names(["eng.corp.example.com", "example.com"])
    ['wpad.eng.corp.example.com', 'wpad.corp.example.com', 'wpad.example.com']
    """
    names: list[str] = []
    for domain in search_domains:
        labels = [label for label in domain.lower().strip(".").split(".") if label]
        for start in range(len(labels) - 1):
            name = "wpad." + ".".join(labels[start:])
            if name not in names:
                names.append(name)
    return names[:MAX_WPAD_NAMES]


async def discover_wpad(search_domains: list[str], timeout: float) -> str:
    """The WPAD URL of the first ``wpad.DOMAIN`` that resolves (raises PacError)."""
    names = wpad_names(search_domains)
    if not names:
        raise PacError(O.ERROR, "WPAD: no search domain to look for wpad.DOMAIN in")

    async def resolves(name: str) -> bool:
        try:
            await asyncio.wait_for(in_daemon_thread(socket.getaddrinfo, name, 80, 0,
                                                    socket.SOCK_STREAM), timeout)
        except (OSError, asyncio.TimeoutError):
            return False
        return True

    found = await asyncio.gather(*(resolves(n) for n in names))
    for name, ok in zip(names, found, strict=True):
        if ok:
            return f"http://{name}/wpad.dat"
    raise PacError(O.ERROR, f"WPAD: none of {', '.join(names)} resolves")


def fetch_pac(url: str, timeout: float, reader_uid: int | None = None) -> str:
    """The PAC text (raises PacError). Direct, never through a proxy; bounded in size.
    ``reader_uid``: a local file is read only if it is that user's or readable by all."""
    scheme = urlsplit(url).scheme.lower()
    try:
        if scheme == "file":
            path = urlsplit(url).path
            if reader_uid is not None:
                st = os.stat(path)
                if st.st_uid != reader_uid and not st.st_mode & stat.S_IROTH:
                    raise PacError(O.ERROR, f"{path} is neither the user's own nor readable "
                                   "by all: not read on the user's behalf")
            data = files.read_regular(path, MAX_PAC_BYTES)
        elif scheme in ("http", "https"):
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(url, timeout=timeout) as answer:
                data = answer.read(MAX_PAC_BYTES + 1)
            if len(data) > MAX_PAC_BYTES:
                raise PacError(O.ERROR, f"the PAC file is larger than {MAX_PAC_BYTES} bytes")
        else:
            raise PacError(O.ERROR, f"unsupported PAC URL scheme {scheme or '(none)'!r}")
    except PacError:
        raise
    except TimeoutError:
        raise PacError(O.TIMEOUT, f"no answer within {timeout:g}s") from None
    except (OSError, ValueError) as exc:
        raise PacError(O.ERROR, f"cannot fetch it: {describe_exception(exc)}") from None
    return data.decode("utf-8", errors="replace")


async def evaluate_pac(script: str, queries: list[tuple[str, str]], my_ip: str,
                       timeout: float) -> list[str]:
    """``FindProxyForURL`` for each (url, host), in the sandbox child (raises PacError)."""
    request = json.dumps({"script": script, "queries": queries, "my_ip": my_ip,
                          "cpu_seconds": max(1, int(timeout) + 1)}).encode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-I", str(SANDBOX), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})  # none of this process's variables
    try:
        out, err = await asyncio.wait_for(proc.communicate(request), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise PacError(O.TIMEOUT, f"FindProxyForURL did not answer within {timeout:g}s "
                       "(the script was stopped)") from None
    try:
        answer = json.loads(out[:MAX_PAC_BYTES])
    except ValueError:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise PacError(O.ERROR, f"the PAC evaluator failed: {last[0][:300]}") from None
    if "error" in answer:
        raise PacError(O.ERROR, str(answer["error"]))
    return [str(r) for r in answer["results"]]


def parse_result(result: str) -> list[tuple[str, Proxy | None]]:
    """``"PROXY a:3128; SOCKS5 b:1080; DIRECT"`` -> [(entry text, Proxy or None for DIRECT)];
    entries that cannot be read are skipped."""
    entries: list[tuple[str, Proxy | None]] = []
    for raw in result.split(";"):
        words = raw.split()
        if not words:
            continue
        keyword = words[0].upper()
        if keyword == "DIRECT":
            entries.append(("DIRECT", None))
        elif keyword in ENTRY_SCHEMES and len(words) == 2:
            try:
                proxy, _ = parse_proxy_url(f"{ENTRY_SCHEMES[keyword]}://{words[1]}")
            except ValueError:
                continue
            entries.append((f"{keyword} {words[1]}", proxy))
    return entries


def my_ip_address(ctx: ProbeContext) -> str:
    """What ``myIpAddress()`` answers: this host's first global IPv4 address."""
    for f in ctx.of_kind("address"):
        if f.get("family") == 4 and f.get("scope") == "global" and f.get("interface") != "lo":
            return str(f.get("ip"))
    return "127.0.0.1"


def pac_url_for(target: Target) -> str:
    return f"{target.scheme or request_scheme(target)}://{target.hostport}{target.path or '/'}"


def wants_pac(target: Target) -> bool:
    """PAC files answer for URLs: only targets an HTTP client would fetch are asked."""
    return target.port is not None and request_scheme(target) is not None


@dataclasses.dataclass
class PacAnswers:
    """What the PAC file said for every target of a run, or why it said nothing."""

    source: str
    url: str
    results: dict[str, str]  # target as typed -> FindProxyForURL's answer
    error: PacError | None = None


class PacBatch:
    """The PAC file for every web target of a run: one WPAD look-up, one fetch and one sandbox
    child for all of them (fifty targets must not start fifty JavaScript engines)."""

    def __init__(self, targets: Sequence[Target], ctx: ProbeContext) -> None:
        self.ctx = ctx
        self.found = pac_source(ctx.env, ctx.pac_url, ctx.of_kind("proxy_autoconfig"))
        self.targets = [t for t in targets if wants_pac(t)]
        self._answers: asyncio.Future[PacAnswers] | None = None

    def applies(self, target: Target) -> bool:
        return self.found is not None and wants_pac(target)

    def answers(self) -> asyncio.Future[PacAnswers]:
        if self._answers is None:
            self._answers = asyncio.ensure_future(self._evaluate())
        return self._answers

    async def _evaluate(self) -> PacAnswers:
        assert self.found is not None
        source, url, reader_uid = self.found
        watch, timeout = Stopwatch(), self.ctx.timeout
        try:
            if url == WPAD:
                source = "--pac auto (WPAD)" if source == "--pac" else source
                url = await discover_wpad(self.ctx.search_domains, timeout)
            script = await _fetch(url, timeout, reader_uid)
            queries = unique((pac_url_for(t), t.host) for t in self.targets)
            results = await evaluate_pac(script, queries, my_ip_address(self.ctx),
                                         max(1.0, watch.remaining(3 * timeout)))
        except PacError as exc:
            return PacAnswers(source, url, {}, exc)
        by_query = dict(zip(queries, results, strict=True))
        return PacAnswers(source, url, {t.raw: by_query[(pac_url_for(t), t.host)]
                                        for t in self.targets})


async def probe_pac(target: Target, ctx: ProbeContext,
                    batch: PacBatch | None = None) -> Fact | None:
    """The ``probe_pac`` fact for one target, or None when no PAC is configured or the target
    is not fetched by URL. ``batch``: the run's :class:`PacBatch` (else one for this target)."""
    batch = batch if batch is not None else PacBatch([target], ctx)
    if not batch.applies(target):
        return None
    watch = Stopwatch()
    answers = await batch.answers()
    decision = decide(target, ctx.env)
    env_proxy = decision.proxy if decision.proxy is not None and not decision.bypassed else None
    fields: dict[str, object] = {
        "pac_url": redact_url(answers.url), "pac_source": answers.source, "result": None,
        "pac_proxy": None, "env_proxy": env_proxy.url if env_proxy else None,
        "env_variable": decision.variable, "agrees": None, "direct_fallback": None,
        "pac_route_outcome": None,
        "pac_route_error": None,
    }
    if answers.error is not None:
        return _fact(target, watch, answers.error.outcome,
                     f"PAC {fields['pac_url']}: {answers.error}", fields)
    result = answers.results[target.raw]
    entries = parse_result(result)
    first = entries[0][1] if entries else None
    agrees = (first is None and env_proxy is None) or (
        first is not None and env_proxy is not None
        and (first.host.lower(), first.port) == (env_proxy.host.lower(), env_proxy.port))
    fields.update(result=result, pac_proxy=first.url if first else None, agrees=agrees,
                  direct_fallback=any(proxy is None for _, proxy in entries[1:]))
    if not agrees and first is not None:
        attempt = await try_proxy(target, first, ctx.timeout)
        fields.update(pac_route_outcome=attempt.outcome, pac_route_error=attempt.error)
    outcome = O.PAC_PROXY if first is not None else O.PAC_DIRECT
    return _fact(target, watch, outcome, None, fields)


async def _fetch(url: str, timeout: float, reader_uid: int | None = None) -> str:
    try:
        return await asyncio.wait_for(in_daemon_thread(fetch_pac, url, timeout, reader_uid),
                                      timeout)
    except asyncio.TimeoutError:
        raise PacError(O.TIMEOUT, f"no answer within {timeout:g}s") from None


def _fact(target: Target, watch: Stopwatch, outcome: str, error: str | None,
          fields: Mapping[str, object]) -> Fact:
    return probe_fact("probe_pac", f"probe_pac:{target.raw}",
                      f"FindProxyForURL({pac_url_for(target)}) from {fields['pac_url']}",
                      target=target.raw, layer="proxy", outcome=outcome,
                      elapsed_ms=watch.ms(), error=error, **fields)

