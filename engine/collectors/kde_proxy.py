"""KDE's proxy setting: ``[Proxy Settings]`` of ``kioslaverc`` (ProxyType, Proxy Config Script).

KDE applications (KIO), and libproxy users on a KDE desktop, follow this file. ``ProxyType``
is KDE's enum: 0 no proxy, 1 manual, 2 a PAC file (``Proxy Config Script``: a URL, or a local
path), 3 detect automatically (WPAD: DHCP option 252 first, then DNS), 4 from the
environment variables. The file is KConfig's INI dialect: ``[Group]`` headers, ``key=value``
lines, a key may carry flags (``ProxyType[$i]=2``), the last occurrence of a key wins.

Reads:   ``$XDG_CONFIG_DIRS``' system file ``/etc/xdg/kioslaverc`` (an administrator's
         default) and then the session user's ``kioslaverc`` (``$XDG_CONFIG_HOME``, else
         ``~/.config``; when root runs whynet through sudo, the sudo user's ``~/.config``:
         ``base.session_user``), which overrides it key by key, as KConfig cascades.
         At most :data:`MAX_BYTES` of each.
Never:   writes either file; reads no other group than ``[Proxy Settings]``.
Redacts: the URL's user-info (``engine.redact.redact_url``); the manual proxies' entries are
         not recorded.

Facts: ``proxy_autoconfig`` (``proxy_autoconfig:kde``) with origin ``kde``, ``user``, ``mode``
(none, manual, pac, wpad, env, or ``unknown N``), ``url`` (mode pac: the script's URL, a local
path as a ``file://`` URL), ``uses_pac``, ``auto_detect`` (mode wpad), ``setting``; its source
is the file and line of the deciding key (``Proxy Config Script`` for a PAC file, else
``ProxyType``). Neither file present: ``source_absent``. Unreadable: ``collection_error``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from engine.collectors import base
from engine.facts import Fact, absent, make_fact
from engine.redact import redact_url

NAME = "kde_proxy"
KINDS = ("proxy_autoconfig", "collection_error", "source_absent")
GROUP = "Proxy Settings"
MAX_BYTES = 1024 * 1024  # kioslaverc is a few hundred bytes
PROXY_TYPES = {0: "none", 1: "manual", 2: "pac", 3: "wpad", 4: "env"}
_KEY_FLAGS = re.compile(r"\[\$[a-z]+\]$")  # KConfig's [$i] (immutable), [$e] (expand) flags
_ESCAPES = {"s": " ", "t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


@dataclass(frozen=True)
class Entry:
    value: str
    file: str
    line: int


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)


def parse_group(text: str, path: str, group: str = GROUP) -> dict[str, Entry]:
    """The keys of one group of a KConfig file, with the line each was set on.

    >>> parse_group("[Proxy Settings]\\nProxyType=2\\n", "k")["ProxyType"]
    Entry(value='2', file='k', line=2)
    """
    entries: dict[str, Entry] = {}
    current: str | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]") and "=" not in line:
            current = line[1:-1]
            continue
        if current != group or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = _KEY_FLAGS.sub("", key.strip())
        if "[" in key:  # a translated entry (Name[de]=...): not a setting
            continue
        entries[key] = Entry(_unescape(value.strip()), path, n)
    return entries


def pac_url(script: str) -> str | None:
    """``Proxy Config Script`` as a URL: a local path becomes a ``file://`` URL."""
    script = script.strip()
    if not script:
        return None
    return f"file://{script}" if script.startswith("/") else script


def settings_fact(entries: dict[str, Entry], user: base.SessionUser) -> Fact | None:
    """The ``proxy_autoconfig`` fact from the merged ``[Proxy Settings]`` keys (None: the
    group sets nothing)."""
    kind_entry = entries.get("ProxyType")
    script = entries.get("Proxy Config Script")
    if kind_entry is None and script is None:
        return None
    number = int(kind_entry.value) if kind_entry and kind_entry.value.isdigit() else 0
    mode = PROXY_TYPES.get(number, f"unknown {number}")
    url = pac_url(script.value) if script is not None and mode == "pac" else None
    url = redact_url(url) if url else None
    deciding = script if url is not None and script is not None else kind_entry or script
    assert deciding is not None
    setting = f"[{GROUP}] ProxyType={number}" + (f", Proxy Config Script={url}" if url else "")
    return make_fact(
        "proxy_autoconfig", "proxy_autoconfig:kde", {"file": deciding.file,
                                                     "line": deciding.line},
        origin="kde", user=user.describe(), sudo_uid=user.uid if user.via_sudo else None,
        mode=mode, url=url, uses_pac=url is not None,
        auto_detect=mode == "wpad", setting=setting, interface=None, expires=None,
        expired=None)


def config_files(ctx: base.CollectContext, user: base.SessionUser) -> list[Path]:
    """The system file, then the user's: the later one wins key by key."""
    return [ctx.etc / "xdg" / "kioslaverc", user.config_home / "kioslaverc"]


def collect(ctx: base.CollectContext) -> list[Fact]:
    user = base.session_user(ctx)
    paths = config_files(ctx, user)
    texts, errors = base.read_present(NAME, paths, MAX_BYTES)
    merged: dict[str, Entry] = {}
    for path, text in texts:
        merged.update(parse_group(text, str(path)))
    if not texts and not errors:
        return [absent(NAME, "kioslaverc", f"no {' nor '.join(map(str, paths))} (KDE's proxy "
                       "setting is not configured here)", {"file": str(paths[-1])})]
    fact = settings_fact(merged, user)
    return [*([fact] if fact is not None else []), *errors]
