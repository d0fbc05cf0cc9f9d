"""Redaction: secrets never leave the process.

Applied to every fact before a snapshot, report or log line is written, and by collectors when
they build facts (defence in depth). Three things are redacted:

* the value of anything whose *name* says it is secret (``AWS_SECRET_ACCESS_KEY``,
  ``GITHUB_TOKEN``, ``password``...);
* the credential part of URLs (``http://user:pass@proxy:3128`` -> ``http://***@proxy:3128``);
* ``Authorization``-style ``key=value`` pairs inside free text (``password=hunter2``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
_URL_CREDS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s]+)@")
_KV_SECRET = re.compile(
    r"(?i)\b(?P<key>[\w.-]*(?:password|passwd|token|secret|api[_-]?key|auth)[\w.-]*)"
    r"(?P<sep>\s*[=:]\s*)(?P<val>\"[^\"]*\"|'[^']*'|[^\s&;,]+)"
)


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


def redact_url(url: str) -> str:
    """Drop the user-info part of every URL in ``url`` (``user:pass@`` -> ``***@``)."""
    return _URL_CREDS.sub(lambda m: f"{m.group('scheme')}***@", url)


def redact_text(text: str) -> str:
    """Redact URL credentials and ``password=...`` style pairs in free text."""
    text = redact_url(text)
    return _KV_SECRET.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", text)


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
            redacted = _redact_strings(value)
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


def _redact_strings(value: Any) -> Any:
    """Every string inside ``value`` through :func:`redact_text`; keys and shape kept."""
    if isinstance(value, str):
        return redact_text(value)
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
