"""Redaction: secrets never leave the process.

Applied to every fact before a snapshot, report or log line is written, and by collectors when
they build facts (defence in depth). Three things are redacted:

* the value of anything whose *name* says it is secret (``AWS_SECRET_ACCESS_KEY``,
  ``GITHUB_TOKEN``, ``password``...);
* the credential part of URLs (``http://user:pass@proxy:3128`` -> ``http://***@proxy:3128``),
  and signed-URL and OAuth query values (``?X-Amz-Signature=``, ``&sig=``, ``?code=``);
* ``Authorization``-style ``key=value`` pairs inside free text (``password=hunter2``).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from engine.kinds import fields_without_secrets, secret_text_fields

if TYPE_CHECKING:
    from engine.facts import Fact

REDACTED = "<redacted>"

# Name fragments that mark a value as secret. Matched on the upper-cased name split at _ - .
_SECRET_WORDS = (
    "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "PWD", "KEY", "CREDENTIAL", "CREDENTIALS",
    "AUTH", "AUTHORIZATION", "COOKIE", "SESSION", "PRIVATE", "APIKEY", "SIGNATURE", "CERTPASS",
)
# Names that contain a secret word but hold no secret (public key ids, paths, flags).
_NOT_SECRET = frozenset({
    "PWD", "OLDPWD", "SSH_AUTH_SOCK", "AWS_ACCESS_KEY_ID", "KEYBOARD", "XAUTHORITY",
    "GPG_AGENT_INFO", "AWS_SHARED_CREDENTIALS_FILE", "GOOGLE_APPLICATION_CREDENTIALS",
    "PASSWORD_STORE_DIR", "SSL_KEY_FILE",
})
_SPLIT = re.compile(r"[_\-.\s]+")
def is_secret_name(name: str) -> bool:
    """True when a variable or field *name* says its value is secret."""
    upper = name.upper()
    if upper in _NOT_SECRET:
        return False
    words = [w for w in _SPLIT.split(upper) if w]
    if any(w in _SECRET_WORDS for w in words):
        return True
    # Glued names: GITHUBTOKEN, DBPASSWORD, MYAPIKEY.
    return any(w in upper for w in ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "APIKEY"))


# Every pattern below is scanned left to right with no backtracking over unbounded runs, so
# redaction is linear in the text: hostile text (a 6 KB ``token.token...`` Server header, a
# certificate organisation) cannot stall a run. Keywords that make a ``key=value`` pair secret:
_KEY_WORD = re.compile(r"(?i)password|passwd|token|secret|api[_-]?key|auth")
# Anything worth a closer look; text without any of these is returned as is (the fast path).
_SUSPECT = re.compile(r"(?i)://|password|passwd|token|secret|api[_-]?key|auth|bearer|basic")


def _may_hold_secret(text: str) -> bool:
    """Whether :data:`_SUSPECT` can match ``text``, cheaply. ASCII text (nearly all of it: a
    firewall rule, a path) is lower-cased and searched for the words themselves, in C, seven
    times faster than the case-blind regex; "api" stands for every ``api[_-]?key``. Other text
    takes the regex: its case-blind match knows equivalences lower-casing does not (the
    Kelvin sign, a dotless i, a long s)."""
    if not text.isascii():
        return _SUSPECT.search(text) is not None
    low = text.lower()
    return ("://" in low or "passw" in low or "token" in low or "secret" in low
            or "api" in low or "auth" in low or "bearer" in low or "basic" in low)


_WORD_RUN = re.compile(r"[\w.-]+")
_SEPARATOR = re.compile(r"[\"']?\s*[=:]\s*")
_PLAIN_VALUE = re.compile(r"[^\s&;,]+")
_HEADER_VALUE = re.compile(r"\S+")
_REST_OF_LINE = re.compile(r"[^\r\n]*")
# HTTP authentication schemes: the credential follows the scheme word (``Bearer X``).
_AUTH_SCHEMES = frozenset({
    "bearer", "basic", "digest", "negotiate", "ntlm", "token", "aws4-hmac-sha256",
})
_BEARER = re.compile(r"(?i)\b(?P<scheme>bearer)[ \t]+(?P<cred>[A-Za-z0-9\-._~+/]+=*)")
_BASIC = re.compile(r"(?i)\b(?P<scheme>basic)[ \t]+(?P<cred>[A-Za-z0-9+/]+=*)")


Span = tuple[int, int, str]  # [start, end) of the text to hide, and what to put instead


def _url_spans(text: str) -> list[Span]:
    """The user-info of every URL: from ``scheme://`` to the *last* ``@`` before the host.

    A password may hold any character (spaces, ``/``, more ``@``), so the last ``@`` on the
    line before the next URL ends it. That errs on the safe side: an ``@`` later in the line
    hides the host too, never a password; only an ``@`` behind a ``/`` with no ``:`` before
    it (a path such as ``/@scope/pkg``) is left alone."""
    if "://" not in text or "@" not in text:
        return []
    spans: list[Span] = []
    newline = -2  # cached position of the next newline at or after the current URL
    mark = text.find("://")
    while mark != -1:
        start = mark + 3
        if newline != -1 and newline < start:
            newline = text.find("\n", start)
        line_end = newline if newline != -1 else len(text)
        following = text.find("://", start)
        at = text.rfind("@", start, following if -1 < following < line_end else line_end)
        # A ``://`` glued to the text before it (``u:pa://ss@host``) is part of the password,
        # not the next URL: look on past it for the ``@``.
        searched = start
        while at == -1 and -1 < following < line_end and not _starts_url(text, searched,
                                                                           following):
            searched = following + 3
            following = text.find("://", searched)
            at = text.rfind("@", searched, following if -1 < following < line_end else line_end)
        if at > start and not _path_before_at(text, start, at):
            spans.append((start, at, "***"))
        mark = following
    return spans


# Query parameters that carry a credential under a name the key words miss: signed URLs
# (S3's X-Amz-Signature and -Credential, Google's X-Goog-Signature, Azure's SAS ``sig``), an
# OAuth ``code``, a bare ``key``. Looked for in text that holds a URL only.
_QUERY_CREDENTIAL = re.compile(
    r"(?i)[?&;](?:x-(?:amz|goog)-)?(?:signature|credential|security-token|sig|code|key)="
    r"(?P<value>[^&#\s\"'<>]+)")


def _query_spans(text: str) -> list[Span]:
    """Values of signed-URL and OAuth query parameters (``?...&sig=<redacted>``)."""
    if "://" not in text or "=" not in text:
        return []
    return [(m.start("value"), m.end("value"), REDACTED) for m in _QUERY_CREDENTIAL.finditer(text)]


def _path_before_at(text: str, start: int, at: int) -> bool:
    """An ``@`` reached through a ``/`` with no ``:`` before it is in a path
    (``registry.npmjs.org/@types/node``), not after credentials: user-info that ends in a
    password has a ``:``, and a bare token holding ``/`` is no credential any client sends."""
    slash = text.find("/", start, at)
    return slash != -1 and text.find(":", start, at) == -1


_SCHEME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-"
_URL_OPENERS = frozenset(" \t\r\n\"'(<[{,;=|>")


def _starts_url(text: str, since: int, mark: int) -> bool:
    """Does the ``://`` at ``mark`` begin a new URL (its scheme follows a blank, a quote, a
    bracket...) rather than continue the text since ``since``?"""
    before = text[since:mark].rstrip(_SCHEME_CHARS)
    if len(before) == mark - since:
        return False  # no scheme at all
    # A scheme right after the previous ``://`` is glued to it, so part of the password too.
    return bool(before) and before[-1] in _URL_OPENERS


class _QuoteFinder:
    """``str.find`` for closing quotes that never rescans: positions only move forward, and a
    quote found (or known absent) from one position answers every later search before it."""

    def __init__(self, text: str):
        self.text = text
        self.known: dict[str, tuple[int, int]] = {}

    def find(self, quote: str, pos: int) -> int:
        since, found = self.known.get(quote, (-1, -2))
        if since != -1 and since <= pos and (found == -1 or pos <= found):
            return found
        found = self.text.find(quote, pos)
        self.known[quote] = (pos, found)
        return found


def _pair_spans(text: str) -> list[Span]:
    """Values of ``password=x``, ``"token": "x"``, ``Authorization: Bearer x``."""
    spans: list[Span] = []
    skip = 0  # keyword hits before this lie in a key or value already handled
    quotes = _QuoteFinder(text)
    for hit in _KEY_WORD.finditer(text):
        if hit.start() < skip:
            continue
        run = _WORD_RUN.match(text, hit.end())
        key_end = skip = run.end() if run else hit.end()
        sep = _SEPARATOR.match(text, key_end)
        if sep is None:
            continue
        vstart = sep.end()
        vend = -1
        if vstart < len(text) and text[vstart] in "\"'":
            close = quotes.find(text[vstart], vstart + 1)
            if close != -1:
                vstart, vend = vstart + 1, close
        if vend == -1:
            # ``key: value`` (a header, YAML) runs to the next blank; ``key=value`` (a query,
            # a command line) also stops at & ; and ,
            plain = (_HEADER_VALUE if ":" in sep.group() else _PLAIN_VALUE).match(text, vstart)
            if plain is None:
                continue
            vend = plain.end()
            scheme = (text[vstart:vend].lower() in _AUTH_SCHEMES and vend < len(text)
                      and text[vend] in " \t")
            if scheme or text[hit.start():key_end].lower().endswith("authorization"):
                # An Authorization header's value runs to the end of its line; the credential
                # follows the scheme word, which stays (``Bearer <redacted>``).
                rest = _REST_OF_LINE.match(text, vstart)
                vend = rest.end() if rest is not None else len(text)
                if scheme:
                    vstart = plain.end() + 1
        else:
            first = text[vstart:vend].split(" ", 1)
            if len(first) == 2 and first[0].lower() in _AUTH_SCHEMES:
                vstart += len(first[0]) + 1
        if vend > vstart:
            spans.append((vstart, vend, REDACTED))
        skip = max(skip, vend)
    return spans


def _looks_like_basic_credentials(token: str) -> bool:
    """``Basic`` is also an English word: only a base64 ``user:password`` is a credential."""
    try:
        return b":" in base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return False


def _scheme_spans(text: str) -> tuple[list[Span], list[Span]]:
    """Credentials after ``Bearer`` and after ``Basic`` anywhere in the text (two lists, each
    in text order)."""
    bearer = [(m.start("cred"), m.end("cred"), REDACTED) for m in _BEARER.finditer(text)]
    basic = [(m.start("cred"), m.end("cred"), REDACTED) for m in _BASIC.finditer(text)
             if _looks_like_basic_credentials(m.group("cred"))]
    return bearer, basic


def _apply(text: str, *span_lists: list[Span]) -> str:
    """``text`` with every span replaced; overlapping spans merge into one. Each list is in
    text order already, so merging them is linear (no sort of all spans)."""
    spans = heapq.merge(*span_lists)
    first = next(spans, None)
    if first is None:
        return text
    out: list[str] = []
    done = 0
    cur_start, cur_end, cur_mark = first
    for start, end, mark in spans:
        if start < cur_end:
            cur_end = max(cur_end, end)
            continue
        out += [text[done:cur_start], cur_mark]
        done = cur_end
        cur_start, cur_end, cur_mark = start, end, mark
    out += [text[done:cur_start], cur_mark, text[cur_end:]]
    return "".join(out)


def redact_url(text: str) -> str:
    """Drop the user-info part of every URL in ``text`` (``user:pass@`` -> ``***@``)."""
    return _apply(text, _url_spans(text))


def redact_text(text: str) -> str:
    """Redact URL credentials, ``password=...`` style pairs and ``Bearer``/``Basic``
    credentials in free text, in time linear in its length.

    Every detector looks at the original text and the spans are merged: hiding one secret
    never hides the context (a key, a scheme word) that shows another."""
    if not _may_hold_secret(text):
        return text
    return _apply(text, _url_spans(text), _query_spans(text), _pair_spans(text),
                  *_scheme_spans(text))


def redact_path(path: str) -> str:
    """A URL's path and query (``/get?sig=x&n=1``) redacted as it would be inside its URL
    (the query detectors look only at text that holds one)."""
    base = "http://h"  # no user-info: redacting leaves it as it is
    return redact_text(base + path)[len(base):]


def redact_value(name: str, value: Any) -> Any:
    """Redact one named value: whole if the name is secret, URL credentials otherwise."""
    if value is None or isinstance(value, bool):
        return value
    if is_secret_name(name):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact_value(name, v) for v in value]
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    return value


def redact_strings(value: Any) -> Any:
    """``value`` (JSON-like) with :func:`redact_text` applied to every string in it, keys too."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact_text(str(k)): redact_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_strings(v) for v in value]
    return value


def redact_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """Every text a report holds redacted: explanations and advice (of findings and of every
    activation in the justification), derived values, layer summaries, targets, rule errors.
    The facts went through :func:`redact_fact` already and are kept as they are."""
    return {k: v if k == "facts" else redact_strings(v) for k, v in report.items()}


# Fields whose values are safe although their names match the secret words: they hold
# booleans/flags or names, never the secret itself.
_SAFE_FIELDS = frozenset({
    "redacted", "present", "readable", "name", "names", "kind", "id", "tool", "variable",
    "key_count", "has_password", "has_token", "permissions", "mode", "owner", "path",
})


def redact_fact(fact: Fact) -> Fact:
    """``fact`` made safe to write anywhere: the fact itself when nothing in it changes.

    A kind that declares which of its fields can hold a secret (``engine.kinds.SECRET_FIELDS``:
    free text such as a firewall rule's comment) has the text of those fields redacted (URL
    credentials, ``password=...``), and any field it does not declare redacted whole-walk; the
    others are not looked at. A kind that declares nothing (variables, errors, probes, derived
    facts) is redacted field by field, by name and by text."""
    safe = fields_without_secrets(fact.kind)
    if safe.issuperset(fact.fields):
        return fact
    declared = secret_text_fields(fact.kind)
    fields: dict[str, Any] | None = None
    for key, value in fact.fields.items():
        if key in safe:
            continue
        if key in declared:
            redacted = _redact_declared(value)
        else:
            redacted = _redact_field(fact, key, value)
        if redacted is not value and redacted != value:
            if fields is None:
                fields = dict(fact.fields)
            fields[key] = redacted
    if fields is None:
        return fact
    from engine.facts import Fact  # engine.facts imports this module

    return Fact(fact.kind, fact.id, dict(fact.source), fields)


def redacted_json(fact: Fact) -> str:
    """``json.dumps(redact_fact(fact).to_json(), default=str)``, without walking the values
    of a fact that redaction would leave as it is.

    For a kind whose fields are all declared (``SECRET_FIELDS``), redaction only changes text
    in the fields declared able to hold a secret, where :data:`_SUSPECT` matches: those fields
    are encoded together (in C) and searched once. A ``\\u`` escape there (non-ASCII text,
    which a case-blind match can read as ASCII letters) or any field the kind does not declare
    sends the fact the whole way, as do kinds that declare nothing (their names count too)."""
    fields = fact.fields
    if fields_without_secrets(fact.kind) and _declared(fact.kind).issuperset(fields):
        text = _ENCODER.encode([fields.get(k) for k in secret_text_fields(fact.kind)])
        if "\\u" not in text and not _may_hold_secret(text):
            return _ENCODER.encode(fact.to_json())
    return _ENCODER.encode(redact_fact(fact).to_json())


# json.dumps(value, default=str), with the encoder made once rather than once per fact.
_ENCODER = json.JSONEncoder(default=str)


@lru_cache(maxsize=256)
def _declared(kind: str) -> frozenset[str]:
    """Every field ``kind`` declares: those that cannot hold a secret and those that can."""
    return fields_without_secrets(kind) | secret_text_fields(kind)


@lru_cache(maxsize=1 << 16)
def redact_text_cached(text: str) -> str:
    """:func:`redact_text`, remembered: the parts of firewall rules (``-p tcp``) repeat, and a
    rule's text redacted by its collector is seen again when the snapshot is written."""
    return redact_text(text)


def _redact_declared(value: Any) -> Any:
    """A field declared able to hold a secret, redacted as :func:`_redact_strings` does; a
    list or mapping is first encoded (in C) and searched once, and walked only when that
    text could hold something to redact (a 20,000-rule ruleset: its match lists)."""
    if isinstance(value, str) or not value:
        return _redact_strings(value)
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError):  # keys json cannot write, a cycle: walk it
        return _redact_strings(value)
    if "\\u" not in text and not _may_hold_secret(text):
        return value
    return _redact_strings(value)


def _redact_strings(value: Any) -> Any:
    """Every string inside ``value`` through :func:`redact_text`; keys and shape kept."""
    if isinstance(value, str):
        return redact_text_cached(value)
    if isinstance(value, list):
        return [_redact_strings(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _redact_strings(v) for k, v in value.items()}
    return value


def _redact_field(fact: Fact, key: str, value: Any) -> Any:
    if key in _SAFE_FIELDS:
        return value
    if key == "value" and fact.kind == "env_var" and is_secret_name(str(fact.get("name"))):
        return REDACTED
    return redact_value(key, value)
