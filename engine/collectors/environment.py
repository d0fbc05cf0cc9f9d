"""The process environment: proxies, environment markers, TLS overrides, credential variables.

Reads:   ``ctx.env`` only (the environment whynet runs in, or the one a test passes).
Never:   records the value of a secret variable (tokens, passwords, keys, AWS key ids), nor the
         user:password part of a proxy URL; reads no file.
Redacts: secret variables are recorded with ``present`` and ``redacted=True`` but no ``value``;
         URL values lose their user-info (``http://user:pw@proxy:3128`` becomes
         ``http://proxy:3128`` with ``has_credentials=True``); every recorded value also goes
         through ``engine.redact.redact_text``. ``JAVA_TOOL_OPTIONS`` is reduced to its
         ``-Djavax.net.ssl.trustStore=`` path (its trustStorePassword never leaves).

Facts:

* ``env_var`` for every variable in :data:`VARIABLES`, set or not (``present`` False for unset
  ones, so rules can match absence), id ``env_var:<NAME>``, with ``category`` (proxy,
  environment_marker, tls_override, credential), ``value``, ``redacted``, ``has_credentials``.
* ``proxy_setting`` for the schemes ``http``, ``https``, ``ftp`` and ``all``, id
  ``proxy_setting:<scheme>``: the proxy in force (``url`` without credentials, ``host``,
  ``port`` when given, ``variable`` that set it; all null when none), ``no_proxy`` entries in
  force and ``ignored``: variables that are set but lose by the precedence below.

Precedence implemented (curl's, the reference most tools follow; see curl's ``MANUAL``/
``libcurl-env``):

* ``http``: ``http_proxy`` only. curl ignores upper-case ``HTTP_PROXY`` (a CGI program gets
  ``HTTP_PROXY`` from a request's ``Proxy:`` header, "httpoxy"), so a set ``HTTP_PROXY`` is
  listed in ``ignored``. Python's urllib and Go do read ``HTTP_PROXY`` outside CGI; rules can see
  the variable in ``env_var:HTTP_PROXY``.
* ``https``/``ftp``: lower case first, then upper case (``https_proxy`` beats ``HTTPS_PROXY``).
* Every scheme falls back to ``all_proxy`` then ``ALL_PROXY``; ``all`` is that fallback itself.
* ``no_proxy`` beats ``NO_PROXY``; entries are split on commas and blanks, empty ones dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.collectors import base
from engine.facts import Fact, make_fact
from engine.redact import is_secret_name, redact_text

NAME = "environment"
KINDS = ("env_var", "proxy_setting")

PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY", "ftp_proxy", "FTP_PROXY", "auto_proxy",
              "AUTO_PROXY")
MARKER_VARS = ("ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT", "NODE_ENV", "APP_ENV",
               "RAILS_ENV", "RACK_ENV", "FLASK_ENV", "DJANGO_SETTINGS_MODULE",
               "SPRING_PROFILES_ACTIVE", "ENVIRONMENT", "ENV", "STAGE")
TLS_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED", "PYTHONHTTPSVERIFY",
            "GIT_SSL_CAINFO", "GIT_SSL_NO_VERIFY", "AWS_CA_BUNDLE", "JAVA_TOOL_OPTIONS")
CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                   "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
                   "GITHUB_TOKEN", "GH_TOKEN", "GH_CONFIG_DIR", "DOCKER_CONFIG", "KUBECONFIG",
                   "PGPASSWORD", "PGPASSFILE", "NETRC", "GIT_ASKPASS", "SSH_ASKPASS",
                   "GOOGLE_APPLICATION_CREDENTIALS", "NPM_TOKEN", "VAULT_TOKEN")
VARIABLES: dict[str, str] = {
    **{v: "proxy" for v in PROXY_VARS},
    **{v: "environment_marker" for v in MARKER_VARS},
    **{v: "tls_override" for v in TLS_VARS},
    **{v: "credential" for v in CREDENTIAL_VARS},
}
# Not secret by name (engine.redact) but still never recorded: an access key id identifies an
# account and half of a credential pair.
ALWAYS_SECRET = frozenset({"AWS_ACCESS_KEY_ID"})
_TRUSTSTORE = re.compile(r"-Djavax\.net\.ssl\.trustStore=(\"[^\"]*\"|'[^']*'|\S+)")

# scheme -> variables consulted, in order (see the module docstring).
PROXY_PRECEDENCE = {
    "http": ("http_proxy", "all_proxy", "ALL_PROXY"),
    "https": ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
    "ftp": ("ftp_proxy", "FTP_PROXY", "all_proxy", "ALL_PROXY"),
    "all": ("all_proxy", "ALL_PROXY"),
}
IGNORED_BY_SCHEME = {"http": ("HTTP_PROXY",)}


def is_secret(name: str) -> bool:
    return name in ALWAYS_SECRET or is_secret_name(name)


def strip_userinfo(value: str) -> tuple[str, bool]:
    """``http://user:pw@host:3128/`` -> (``http://host:3128/``, True); works without a scheme."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    netloc, slash, path = rest.partition("/")
    _, at, hostport = netloc.rpartition("@")
    if not at:
        return value, False
    return f"{scheme}{sep}{hostport}{slash}{path}", True


def split_hostport(url: str) -> tuple[str | None, int | None]:
    """Host and port of a proxy URL already stripped of credentials (port None when absent)."""
    _, sep, rest = url.partition("://")
    netloc = (rest if sep else url).split("/", 1)[0]
    if netloc.startswith("["):
        host, _, tail = netloc[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = netloc.partition(":")
    port = int(port_text) if port_text.isdigit() and int(port_text) < 65536 else None
    return (host or None), port


def env_var_fact(name: str, category: str, env: Mapping[str, str]) -> Fact:
    present = name in env
    raw = env.get(name)
    value: str | None = None
    redacted = has_credentials = False
    if raw is not None and is_secret(name):
        redacted = True
    elif raw is not None and name == "JAVA_TOOL_OPTIONS":
        m = _TRUSTSTORE.search(raw)
        value = m.group(1).strip("\"'") if m else None
        redacted = True  # the rest of the options are withheld
    elif raw is not None:
        looks_like_url = category == "proxy" or "://" in raw
        value, has_credentials = strip_userinfo(raw) if looks_like_url else (raw, False)
        value = redact_text(value)
    return make_fact("env_var", f"env_var:{name}", {"env": name}, name=name, present=present,
                     category=category, value=value, redacted=redacted,
                     has_credentials=has_credentials)


def no_proxy_entries(env: Mapping[str, str]) -> list[str]:
    for name in ("no_proxy", "NO_PROXY"):
        if name in env:
            return [e for e in re.split(r"[,\s]+", env[name]) if e]
    return []


def proxy_setting_fact(scheme: str, env: Mapping[str, str]) -> Fact:
    chosen = next((v for v in PROXY_PRECEDENCE[scheme] if env.get(v)), None)
    url = host = None
    port: int | None = None
    has_credentials = False
    if chosen is not None:
        url, has_credentials = strip_userinfo(env[chosen])
        url = redact_text(url)
        host, port = split_hostport(url)
    no_proxy = no_proxy_entries(env)
    ignored = [v for v in (*PROXY_PRECEDENCE[scheme], *IGNORED_BY_SCHEME.get(scheme, ()))
               if env.get(v) and v != chosen]
    source: dict[str, Any] = {"env": chosen or PROXY_PRECEDENCE[scheme][0]}
    return make_fact(
        "proxy_setting", f"proxy_setting:{scheme}", source, scheme=scheme, url=url, host=host,
        port=port, variable=chosen, has_credentials=has_credentials, no_proxy=no_proxy,
        ignored=ignored,
    )


def parse_environment(env: Mapping[str, str]) -> list[Fact]:
    """Every ``env_var`` and ``proxy_setting`` fact for ``env``."""
    facts = [env_var_fact(name, category, env) for name, category in VARIABLES.items()]
    facts.extend(proxy_setting_fact(scheme, env) for scheme in PROXY_PRECEDENCE)
    return facts


def collect(ctx: base.CollectContext) -> list[Fact]:
    return parse_environment(ctx.env)
