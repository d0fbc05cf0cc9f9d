"""GNOME's proxy setting: ``org.gnome.system.proxy`` mode and autoconfig-url, through ``gsettings``.

GNOME applications, Chrome and Firefox ("use system proxy settings") and everything built on
GLib's proxy resolver or libproxy follow this setting on a GNOME desktop: mode ``'auto'`` with
an ``autoconfig-url`` means "ask this PAC file", mode ``'auto'`` with an empty URL means
"discover one" (WPAD).

Reads:   ``gsettings get org.gnome.system.proxy mode``, and when it is ``'auto'``,
         ``gsettings get org.gnome.system.proxy autoconfig-url``: the settings of the session
         user (``base.session_user``: the running user, or when root runs whynet through
         sudo, the user who typed sudo, with the command run as that user). gsettings reads
         the user's dconf database (``~/.config/dconf/user``) directly; no D-Bus is needed.
Never:   writes a setting (no ``gsettings set``/``reset``), reads the manual proxy's
         ``authentication-password`` (``list-recursively`` would print it: it is never run).
Redacts: the URL's user-info (``engine.redact.redact_url``).

Facts: ``proxy_autoconfig`` (``proxy_autoconfig:gnome``) with origin ``gnome``, ``user``,
``mode`` (none, manual, auto), ``url`` (the autoconfig-url, or null), ``uses_pac`` (mode auto
with a URL), ``auto_detect`` (mode auto without one), ``setting``; its source is the gsettings
command that gave the deciding value. No gsettings, or no GNOME proxy schema installed:
``source_absent``. gsettings failing otherwise: ``collection_error``.
"""

from __future__ import annotations

from engine.collectors import base
from engine.facts import Fact, absent, collection_error, make_fact
from engine.redact import redact_url

NAME = "gnome_proxy"
KINDS = ("proxy_autoconfig", "collection_error", "source_absent")
SCHEMA = "org.gnome.system.proxy"
GSETTINGS_TIMEOUT = 5.0  # a read of the dconf database takes milliseconds
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def parse_gvariant_string(text: str) -> str | None:
    """A GVariant string as gsettings prints it (``'auto'``, ``"it's"``, ``'a\\'b'``), or
    None when the text is not one.

    >>> parse_gvariant_string("'http://wpad.corp.example/proxy.pac'\\n")
    'http://wpad.corp.example/proxy.pac'
    >>> parse_gvariant_string("''")
    ''
    """
    text = text.strip()
    if len(text) < 2 or text[0] not in "'\"" or text[-1] != text[0]:
        return None
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def settings_fact(mode: str, url: str | None, user: base.SessionUser, command: str) -> Fact:
    """The ``proxy_autoconfig`` fact from the two values gsettings printed."""
    url = redact_url(url) if url else None
    return make_fact(
        "proxy_autoconfig", "proxy_autoconfig:gnome", {"command": command}, origin="gnome",
        user=user.describe(), sudo_uid=user.uid if user.via_sudo else None,
        mode=mode, url=url, uses_pac=mode == "auto" and url is not None,
        auto_detect=mode == "auto" and url is None,
        setting=f"{SCHEMA} mode '{mode}'" + (f", autoconfig-url '{url}'" if url else ""),
        interface=None, expires=None, expired=None)


def _get(ctx: base.CollectContext, user: base.SessionUser,
         key: str) -> tuple[str | None, base.CommandResult]:
    result = base.run_command(["gsettings", "get", SCHEMA, key], timeout=GSETTINGS_TIMEOUT,
                              env=user.command_env(ctx), user=user if user.via_sudo else None)
    return (parse_gvariant_string(result.stdout) if result.ok else None), result


def collect(ctx: base.CollectContext) -> list[Fact]:
    first = f"gsettings get {SCHEMA} mode"
    if base.which("gsettings") is None:
        return [absent(NAME, "gsettings", "gsettings: command not found (GLib's tools are "
                       "not installed)", {"command": first})]
    user = base.session_user(ctx)
    mode, result = _get(ctx, user, "mode")
    if mode is None:
        reason = result.failure() if not result.ok else f"unexpected output {result.stdout!r}"
        if "No such schema" in result.stderr or "No schemas installed" in result.stderr:
            return [absent(NAME, "schema", f"{first}: {reason} (GNOME's desktop schemas are "
                           "not installed)", {"command": first})]
        return [collection_error(NAME, f"{first}: {reason}", {"command": first})]
    if mode != "auto":
        return [settings_fact(mode, None, user, first)]
    url, result = _get(ctx, user, "autoconfig-url")
    command = f"gsettings get {SCHEMA} autoconfig-url"
    if url is None:
        return [settings_fact(mode, None, user, first),
                collection_error(NAME, f"{command}: {result.failure()}", {"command": command})]
    return [settings_fact(mode, url.strip() or None, user, command)]
