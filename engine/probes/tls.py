"""TLS handshake and chain check against every trust store this host has (checklist T1, T2, P3).

Handshakes, all at once, each bounded by the timeout (a port that accepts TCP and never speaks
cannot hold the probe):

1. one with verification **off**, to see the chain the server presents (leaf subject, issuer,
   names, expiry, chain length, TLS version);
2. one as an OpenSSL client with its default paths would verify it, **with** the host name:
   ``SSL_CERT_FILE``/``SSL_CERT_DIR`` from the environment given, else the compiled-in defaults
   (``default_store``). It decides the outcome: ``tls_ok``; ``tls_untrusted`` (the chain does
   not verify); ``tls_name_mismatch`` (it does, but not for this name); and gives ``verify_error``
   in OpenSSL's words ("self-signed certificate", "Hostname mismatch, ...");
3. one per trust store (the ``trust_store`` facts that exist and are readable, the system default
   file and directory, ``certifi.where()``), chain only: ``trusted_by`` / ``untrusted_by`` list
   their paths; stores that could not be loaded are in ``store_errors``.

``name_matches`` is computed from the leaf as OpenSSL does (DNS SANs with a left-most ``*``
label; IP SANs for addresses; the subject CN only when there is no DNS SAN).
``unexpected_issuer`` (P3) is a heuristic: the issuer names a known intercepting product
(:data:`INTERCEPTORS`), or the chain is trusted only by a local store, not by the public certifi
bundle, while the host is a public DNS name; ``interception_hint`` says which.

When the handshake fails, ``probes.tls_failures`` tells the failures apart (never on a
healthy target): the leaf's dates against this host's clock (``validity``, ``checked_at``), the
issuer a chain that stops short lacks (fetched from its caIssuers URL, as browsers do:
``chain_incomplete``; without such a URL, whether any store here knows that issuer:
``issuer_in_store``), and the protocol versions each side accepts (``server_versions``,
``client_min_version``/``client_max_version``, ``version_gap``). A port that answers without
TLS is asked, on a fresh connection, what it says unprompted (``greeting``,
``greeting_protocol``: an SSH or SMTP banner names the service that really listens there).

The chain is read with ``get_unverified_chain()`` (public from Python 3.13, private in 3.10-3.12);
where neither exists only the leaf is seen (``chain_length`` 1).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import certifi
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import NameOID

from engine.facts import Fact
from engine.files import BUNDLE_LIMIT, check_regular, read_regular
from engine.probes import outcomes as O
from engine.probes import tls_failures as TF
from engine.probes.common import Stopwatch, describe_exception, host_for_url, probe_fact
from engine.probes.common import unique as _unique
from engine.probes.context import ProbeContext
from engine.probes.greeting import identify, printable, read_greeting
from engine.probes.target import Target
from engine.probes.tcp import connect

# Issuer words of TLS-intercepting products (firewalls, secure web gateways, AV, debug proxies).
# Product phrases, not bare common words: "Charles", "AVG" or "ESET" alone name people and
# companies too. A chain the public certifi bundle trusts is never taken for interception.
INTERCEPTORS: dict[str, str] = {
    r"zscaler": "Zscaler", r"netskope": "Netskope", r"forti(net|gate)": "Fortinet FortiGate",
    r"palo ?alto": "Palo Alto Networks", r"blue ?coat": "Blue Coat", r"symantec": "Symantec",
    r"sophos": "Sophos", r"cisco umbrella|opendns": "Cisco Umbrella", r"mitmproxy": "mitmproxy",
    r"kaspersky": "Kaspersky", r"\bavast\b.*\b(web|mail) shield": "Avast",
    r"\bavg\b.*\b(web|mail) shield": "AVG", r"\beset ssl filter": "ESET",
    r"bitdefender": "Bitdefender", r"forcepoint|websense": "Forcepoint",
    r"check ?point": "Check Point", r"charles proxy": "Charles Proxy",
    r"fiddler|do_not_trust": "Fiddler", r"portswigger|\bburp\b": "Burp Suite",
    r"mcafee web gateway|skyhigh": "McAfee/Skyhigh Web Gateway", r"barracuda": "Barracuda",
    r"smoothwall": "Smoothwall", r"untangle": "Untangle", r"lightspeed": "Lightspeed",
    r"securly": "Securly", r"iboss": "iboss", r"contentkeeper": "ContentKeeper",
    r"ssl.?inspection|tls.?inspection": "an SSL-inspection CA",
}
PRIVATE_SUFFIXES = frozenset({
    "local", "localhost", "internal", "lan", "home", "corp", "intranet", "test", "example",
    "invalid", "localdomain", "arpa", "private", "intra", "home.arpa",
})
_NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                    "HTTP_REQUEST", "UNKNOWN_PROTOCOL"}

Connector = Callable[[float], Awaitable[socket.socket]]


class ConnectFailed(Exception):
    """The TCP (or tunnel) connection under the handshake could not be made."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


def direct_connector(ip: str, port: int) -> Connector:
    async def open_socket(timeout: float) -> socket.socket:
        conn = await connect(ip, port, timeout, keep=True)
        if conn.sock is None:
            raise ConnectFailed(conn.outcome, f"tcp connect failed: {conn.error}")
        return conn.sock
    return open_socket


def trust_stores(ctx: ProbeContext) -> tuple[list[str], list[str], list[str]]:
    """Stores to verify against, without repeats (by real path); stores that could not be used
    (missing, unreadable); stores that are not PEM files or directories (node's built-in list,
    Java keystores), which this probe does not check."""
    defaults = ssl.get_default_verify_paths()
    candidates = [defaults.openssl_cafile, defaults.openssl_capath, certifi.where()]
    errors: list[str] = []
    not_checked: list[str] = []
    for f in ctx.of_kind("trust_store"):
        path = f.get("path")
        if not isinstance(path, str) or not path:
            continue
        if f.get("store_type") not in (None, "bundle", "directory"):
            not_checked.append(f"{path} ({f.get('runtime')} {f.get('store_type')})")
        elif f.get("exists") is False or f.get("readable") is False:
            errors.append(f"{path}: {'missing' if f.get('exists') is False else 'not readable'}")
        else:
            candidates.append(path)
    stores: list[str] = []
    seen: set[str] = set()
    for path in candidates:
        real = os.path.realpath(path)
        if real in seen or not os.path.exists(path):
            continue
        seen.add(real)
        stores.append(path)
    return stores, _unique(errors), _unique(not_checked)


def default_verify_locations(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(cafile, capath) an OpenSSL client uses with default paths under ``env``."""
    paths = ssl.get_default_verify_paths()
    cafile = env.get(paths.openssl_cafile_env) or paths.openssl_cafile
    capath = env.get(paths.openssl_capath_env) or paths.openssl_capath
    return cafile, capath


@dataclass
class Handshake:
    ok: bool
    chain: list[bytes] = field(default_factory=list)
    version: str | None = None
    outcome: str | None = None  # for failures: timeout, not_tls, error, or a ConnectFailed one
    error: str | None = None
    verify_failed: bool = False
    hostname_failed: bool = False
    verify_code: int | None = None  # OpenSSL's X509_V_ERR_* when verification failed
    ssl_reason: str | None = None  # OpenSSL's reason when the handshake itself failed


async def handshake(connector: Connector, context: ssl.SSLContext, server_hostname: str,
                    timeout: float) -> Handshake:
    """Connect and shake hands within ``timeout``; never raises."""
    try:
        return await asyncio.wait_for(_handshake(connector, context, server_hostname, timeout),
                                      timeout)
    except asyncio.TimeoutError:
        return Handshake(False, outcome=O.TIMEOUT,
                         error=f"no TLS handshake within {timeout:g}s (the server never spoke)")
    except ConnectFailed as exc:
        return Handshake(False, outcome=exc.outcome, error=str(exc))
    except ssl.SSLCertVerificationError as exc:
        message = exc.verify_message or describe_exception(exc)
        mismatch = message.startswith(("Hostname mismatch", "IP address mismatch"))
        return Handshake(False, outcome=O.ERROR, error=message, verify_failed=not mismatch,
                         hostname_failed=mismatch, verify_code=exc.verify_code)
    except ssl.SSLError as exc:
        outcome = O.NOT_TLS if exc.reason in _NOT_TLS_REASONS else O.ERROR
        return Handshake(False, outcome=outcome, error=f"TLS: {exc.reason or exc}",
                         ssl_reason=exc.reason)
    except (OSError, EOFError, asyncio.IncompleteReadError) as exc:
        return Handshake(False, outcome=O.ERROR,
                         error=f"connection closed during the TLS handshake "
                               f"({describe_exception(exc)})")


async def _handshake(connector: Connector, context: ssl.SSLContext, server_hostname: str,
                     timeout: float) -> Handshake:
    watch = Stopwatch()
    sock = await connector(timeout)
    try:
        _reader, writer = await asyncio.open_connection(
            sock=sock, ssl=context, server_hostname=server_hostname,
            ssl_handshake_timeout=watch.remaining(timeout))
    except BaseException:
        sock.close()
        raise
    ssl_object = writer.get_extra_info("ssl_object")
    result = Handshake(True, chain=presented_chain(ssl_object), version=ssl_object.version())
    writer.transport.abort()
    return result


def presented_chain(ssl_object: Any) -> list[bytes]:
    """The certificates the server sent, leaf first, as DER."""
    for holder in (ssl_object, getattr(ssl_object, "_sslobj", None)):
        getter = getattr(holder, "get_unverified_chain", None)
        if getter is None:
            continue
        try:
            chain = getter() or []
        except (ssl.SSLError, ValueError):
            break
        return [c if isinstance(c, bytes) else c.public_bytes(2) for c in chain]  # 2: DER
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# The names OpenSSL's hashed-directory lookup opens: the subject hash, a dot, a sequence number.
_HASH_NAME = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")


def _capath_problems(path: str) -> list[str]:
    """The entries of a hashed certificate directory that OpenSSL must not open: each
    ``HASH.N`` that is not a regular file (a FIFO, a device, a link to one or to nothing)."""
    problems = []
    with os.scandir(path) as entries:
        names = sorted(e.name for e in entries if _HASH_NAME.match(e.name))
    for name in names:
        full = os.path.join(path, name)
        try:
            check_regular(full, BUNDLE_LIMIT)
        except OSError as exc:
            problems.append(f"{full}: skipped: {describe_exception(exc)}")
    return problems


def load_capath(context: ssl.SSLContext, path: str) -> list[str]:
    """Load a hashed certificate directory (``SSL_CERT_DIR``, ``/etc/ssl/certs``) into
    ``context`` as OpenSSL's ``capath`` would find them, and return the entries skipped.

    OpenSSL opens ``capath`` files itself, during the handshake, with a blocking ``fopen``: a
    FIFO named like a hash link (``5ad8a5d6.0``) would stop the whole run, past any timeout.
    So every ``HASH.N`` entry is checked first: all regular files (the usual case), OpenSSL
    gets the directory and looks certificates up lazily, as it always does; otherwise the
    directory is never handed to it: its regular files are read here (engine/files.py, non
    blocking and capped) and given as ``cadata``, and the others are named."""
    problems = _capath_problems(path)
    if not problems:
        context.load_verify_locations(capath=path)
        return []
    with os.scandir(path) as entries:
        names = sorted(e.name for e in entries if _HASH_NAME.match(e.name))
    for name in names:
        try:
            pem = read_regular(os.path.join(path, name), BUNDLE_LIMIT).decode("ascii", "replace")
            context.load_verify_locations(cadata=pem)
        except (OSError, ssl.SSLError, ValueError):
            continue  # named in problems, or not a certificate (OpenSSL passes over it too)
    return problems


def store_context(path: str) -> tuple[ssl.SSLContext, list[str]]:
    """Chain-only verification against one store, a PEM file or a hashed directory, and the
    directory entries skipped (raises OSError/SSLError when it will not load)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if os.path.isdir(path):
        return context, load_capath(context, path)
    check_regular(path, BUNDLE_LIMIT)  # OpenSSL would block on a FIFO, read /dev/zero
    context.load_verify_locations(cafile=path)
    return context, []


def default_context(env: Mapping[str, str]) -> tuple[ssl.SSLContext, str, list[str]]:
    """(context with host name check, a description, load errors) as OpenSSL defaults under env."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cafile, capath = default_verify_locations(env)
    errors: list[str] = []
    for path, is_dir in ((cafile, False), (capath, True)):
        if not path:
            continue
        try:
            if is_dir:
                if os.path.isdir(path):
                    errors += load_capath(context, path)
                continue  # OpenSSL passes over a missing default directory too
            check_regular(path, BUNDLE_LIMIT)
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            errors.append(f"{path}: {describe_exception(exc)}")
    return context, f"{cafile} + {capath}", errors


# --- the leaf certificate -------------------------------------------------------------------

@dataclass(frozen=True)
class LeafInfo:
    subject: str
    issuer: str
    issuer_text: str  # every issuer attribute, for the interception heuristic
    sans: list[str]
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool
    name_matches: bool


def leaf_info(der: bytes, host: str) -> LeafInfo:
    cert = x509.load_der_x509_certificate(der)
    dns_names, ip_names = _sans(cert)
    common_names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return LeafInfo(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        issuer_text=" ".join(str(a.value) for a in cert.issuer),
        sans=dns_names + ip_names, not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        self_signed=_is_self_signed(cert),
        name_matches=name_matches(host, dns_names, ip_names, common_names),
    )


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return ext.get_values_for_type(x509.DNSName), [
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def name_matches(host: str, dns_names: Sequence[str], ip_names: Sequence[str],
                 common_names: Sequence[str] = ()) -> bool:
    """Does the certificate cover ``host``? OpenSSL's rules (RFC 6125, left-most wildcard)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return any(_same_address(address, ip) for ip in ip_names)
    names = dns_names if dns_names else common_names
    return any(_dns_name_matches(host, pattern) for pattern in names)


def _same_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == address
    except ValueError:
        return False


def _dns_name_matches(host: str, pattern: str) -> bool:
    host, pattern = host.lower().rstrip("."), pattern.lower().rstrip(".")
    if not pattern.startswith("*."):
        return host == pattern
    suffix = pattern[1:]  # ".example.com"
    label = host[: -len(suffix)] if host.endswith(suffix) else ""
    return bool(label) and "." not in label and suffix.count(".") >= 2


def is_public_name(host: str) -> bool:
    """A DNS name under a public suffix (not an address, not .local/.internal/.corp...)."""
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    labels = host.lower().rstrip(".").split(".")
    if len(labels) < 2 or not labels[-1].isalpha():
        return False
    return labels[-1] not in PRIVATE_SUFFIXES and ".".join(labels[-2:]) not in PRIVATE_SUFFIXES


def interception_hint(issuer_text: str, trusted_by: Sequence[str], certifi_path: str,
                      host: str) -> str | None:
    """Why the issuer looks like an intercepting proxy, or None (never for a chain the public
    certifi bundle trusts: whatever its issuer is called, it is a public CA's)."""
    public_trust = os.path.realpath(certifi_path) in {os.path.realpath(p) for p in trusted_by}
    if public_trust:
        return None
    for pattern, product in INTERCEPTORS.items():
        if re.search(pattern, issuer_text, re.IGNORECASE):
            return f"the issuer names {product}, a TLS-intercepting product"
    if trusted_by and is_public_name(host):
        return ("a public name, but the chain is trusted only by local stores, not by the "
                "public certifi bundle: a local CA re-signs it")
    return None


# --- the probe ------------------------------------------------------------------------------

async def probe_tls(target: Target, ip: str | None, ctx: ProbeContext, *,
                    connector: Connector | None = None, via_proxy: bool = False) -> Fact:
    """One ``probe_tls`` fact: direct to ``ip``, or through ``connector`` (a proxy tunnel)."""
    assert target.port is not None
    watch = Stopwatch()
    if connector is None:
        assert ip is not None
        connector = direct_connector(ip, target.port)
    name = target.host
    stores, store_errors, not_checked = trust_stores(ctx)
    checks: list[tuple[str, ssl.SSLContext]] = []
    for path in stores:
        try:
            context, skipped = store_context(path)
            checks.append((path, context))
            store_errors += skipped
        except (OSError, ssl.SSLError) as exc:
            store_errors.append(f"{path}: {describe_exception(exc)}")
    default_ctx, default_desc, default_errors = default_context(ctx.env)
    checked_at = dt.datetime.now(dt.timezone.utc)  # this host's clock, as the checks use it
    fetched, default, *per_store = await asyncio.gather(
        handshake(connector, unverified_context(), name, ctx.timeout),
        handshake(connector, default_ctx, name, ctx.timeout),
        *(handshake(connector, c, name, ctx.timeout) for _s, c in checks),
    )
    where = "proxy" if via_proxy else ip
    fid = f"probe_tls:{target.raw}:{where}:{target.port}"
    probe = f"tls handshake {host_for_url(ip or name)}:{target.port} sni={name}" + (
        " via proxy" if via_proxy else "")
    common: dict[str, Any] = {"ip": ip, "port": target.port, "sni": None if target.is_ip else name,
                              "via_proxy": via_proxy, "default_store": default_desc,
                              "store_errors": _unique(store_errors + default_errors),
                              "stores_not_checked": not_checked,
                              "checked_at": checked_at.isoformat(timespec="seconds")}
    if not fetched.ok:
        why = await _why_no_handshake(fetched, connector, name, ctx)
        return probe_fact("probe_tls", fid, probe, target=target.raw, layer="tls",
                          outcome=fetched.outcome or O.ERROR, elapsed_ms=watch.ms(),
                          error=fetched.error, **common, **{**_empty_cert_fields(), **why})
    results = [(path, r) for (path, _c), r in zip(checks, per_store, strict=True)]
    trusted = [path for path, r in results if r.ok]
    untrusted = [path for path, r in results if r.verify_failed]
    common["store_errors"] += [f"{path}: handshake failed: {r.error}"
                               for path, r in results if not r.ok and not r.verify_failed]
    leaf = leaf_info(fetched.chain[0], name) if fetched.chain else None
    outcome, verify_error = _verdict(default)
    hint = interception_hint(leaf.issuer_text, trusted, certifi.where(), name) if leaf else None
    chain_fields = _no_chain_gap()
    if default.verify_code == TF.UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        async def verifies_with(context: ssl.SSLContext) -> bool:
            return (await handshake(connector, context, name, ctx.timeout)).ok
        chain_fields = await TF.complete_chain(
            fetched.chain, lambda: default_context(ctx.env)[0], verifies_with, ctx.timeout)
        if chain_fields["missing_issuer"] and chain_fields["issuer_url"] is None:
            # Nothing to fetch: does any store here know the issuer at all?
            chain_fields["issuer_in_store"] = TF.store_holds_issuer(
                fetched.chain[-1], [default_ctx, *(c for _p, c in checks)])
    dates: dict[str, Any] = {"not_before": None, "not_after": None, "validity": None,
                             "outside_validity_s": None}
    if leaf is not None:
        state, outside = TF.validity(leaf.not_before, leaf.not_after, checked_at)
        dates = {"not_before": leaf.not_before.isoformat(), "not_after": leaf.not_after.isoformat(),
                 "validity": state, "outside_validity_s": outside}
    return probe_fact(
        "probe_tls", fid, probe, target=target.raw, layer="tls", outcome=outcome,
        elapsed_ms=watch.ms(), error=verify_error, **common, version=fetched.version,
        subject=leaf.subject if leaf else None, issuer=leaf.issuer if leaf else None,
        sans=leaf.sans if leaf else [], **dates,
        self_signed=leaf.self_signed if leaf else None,
        name_matches=leaf.name_matches if leaf else None, chain_length=len(fetched.chain),
        chain_subjects=chain_subjects(fetched.chain),
        trusted_by=trusted, untrusted_by=untrusted, verify_error=verify_error,
        verify_code=default.verify_code, unexpected_issuer=hint is not None,
        interception_hint=hint, **chain_fields, **_no_failure_detail(),
    )


async def _why_no_handshake(fetched: Handshake, connector: Connector, name: str,
                            ctx: ProbeContext) -> dict[str, Any]:
    """What the failed handshake was up against: the service's own greeting when the port
    does not speak TLS; the versions each side accepts when OpenSSL broke off the handshake."""
    detail = _no_failure_detail()
    if fetched.outcome == O.NOT_TLS:
        said = await read_greeting(connector, ctx.timeout)
        if said:
            detail.update(greeting=printable(said), greeting_protocol=identify(said))
    elif fetched.outcome == O.ERROR and fetched.ssl_reason:
        async def negotiated(context: ssl.SSLContext) -> str | None:
            shook = await handshake(connector, context, name, ctx.timeout)
            return shook.version if shook.ok else None
        server = await TF.accepted_versions(negotiated)
        low, high = TF.client_versions()
        detail.update(server_versions=server, client_min_version=low, client_max_version=high,
                      client_openssl_config=TF.openssl_config_path(os.environ),
                      version_gap=TF.version_gap(server, low, high))
    return detail


def chain_subjects(chain: Sequence[bytes]) -> list[str]:
    """The subject of each certificate the server sent, leaf first."""
    subjects = []
    for der in chain:
        try:
            subjects.append(x509.load_der_x509_certificate(der).subject.rfc4514_string())
        except ValueError:
            subjects.append("(unparsable certificate)")
    return subjects


def _verdict(default: Handshake) -> tuple[str, str | None]:
    if default.ok:
        return O.TLS_OK, None
    if default.hostname_failed:
        return O.TLS_NAME_MISMATCH, default.error
    if default.verify_failed:
        return O.TLS_UNTRUSTED, default.error
    return default.outcome or O.ERROR, default.error


def _no_chain_gap() -> dict[str, Any]:
    return {"missing_issuer": None, "issuer_url": None, "chain_incomplete": None,
            "issuer_fetch_error": None, "issuer_in_store": None}


def _no_failure_detail() -> dict[str, Any]:
    return {"greeting": None, "greeting_protocol": None, "server_versions": [],
            "client_min_version": None, "client_max_version": None,
            "client_openssl_config": None, "version_gap": None}


def _empty_cert_fields() -> dict[str, Any]:
    return {"version": None, "subject": None, "issuer": None, "sans": [], "not_before": None,
            "not_after": None, "validity": None, "outside_validity_s": None,
            "self_signed": None, "name_matches": None, "chain_length": 0, "chain_subjects": [],
            "trusted_by": [], "untrusted_by": [], "verify_error": None, "verify_code": None,
            "unexpected_issuer": False, "interception_hint": None, **_no_chain_gap()}
