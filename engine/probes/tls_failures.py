"""Telling TLS failures apart: dates, a missing intermediate, protocol versions (T1, X31, X32).

Called by ``probes.tls`` once a handshake has failed, never on a healthy one, so a working
target pays nothing for them.

* :func:`validity`: where the client's clock falls against the leaf's validity window.
* :func:`complete_chain`: the server sent a chain that stops below any root (its top
  certificate is not self-issued) and OpenSSL could not find that top's issuer. The top's
  Authority Information Access names a URL for its issuer (``caIssuers``): browsers fetch it
  and carry on, command-line clients (curl, Python, Java, Go) do not. The probe fetches it (one
  bounded HTTP GET, :data:`AIA_LIMIT` bytes at most) and shakes hands again with it added:
  if the chain then verifies, the server's chain is incomplete, and nothing else is wrong.
  Without a caIssuers URL nothing can be fetched: :func:`store_holds_issuer` says whether any
  trust store checked knows the issuer (by name or key identifier) at all.
* :func:`accepted_versions`: one handshake per protocol version, TLS 1.0 to 1.3, with
  OpenSSL's security level lowered so that old versions can be offered at all; with
  :func:`client_versions` (the range this host's OpenSSL configuration allows clients,
  ``MinProtocol``/``MaxProtocol`` of ``openssl.cnf`` or ``OPENSSL_CONF``), it says whether the
  two sides share no version.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import ssl
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

AIA_LIMIT = 64 * 1024

#: Versions in order, as ``SSLObject.version()`` names them.
VERSIONS: tuple[tuple[str, ssl.TLSVersion], ...] = (
    ("TLSv1", ssl.TLSVersion.TLSv1),
    ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_2),
    ("TLSv1.3", ssl.TLSVersion.TLSv1_3),
)
_NAMES = [name for name, _v in VERSIONS]

#: OpenSSL's verify codes the probe names (X509_V_ERR_*).
CERT_NOT_YET_VALID = 9
CERT_HAS_EXPIRED = 10
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20


# --- dates ----------------------------------------------------------------------------------

def validity(not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime
             ) -> tuple[str, int]:
    """(``valid``, ``expired`` or ``not_yet_valid``; seconds ``now`` lies outside the window,
    0 inside it).

    >>> t = dt.datetime(2026, 1, 10, tzinfo=dt.timezone.utc)
    >>> validity(t, t + dt.timedelta(days=30), t - dt.timedelta(hours=2))
    ('not_yet_valid', 7200)
    """
    if now < not_before:
        return "not_yet_valid", int((not_before - now).total_seconds())
    if now > not_after:
        return "expired", int((now - not_after).total_seconds())
    return "valid", 0


# --- a missing intermediate -----------------------------------------------------------------

def is_self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def ca_issuers_url(cert: x509.Certificate) -> str | None:
    """The first ``http://`` caIssuers URL of the certificate's AIA extension, or None."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for desc in aia:
        if (desc.access_method == AuthorityInformationAccessOID.CA_ISSUERS
                and isinstance(desc.access_location, x509.UniformResourceIdentifier)
                and desc.access_location.value.lower().startswith("http://")):
            return str(desc.access_location.value)
    return None


def store_holds_issuer(top_der: bytes, contexts: Sequence[ssl.SSLContext]) -> bool | None:
    """Whether a certificate loaded in one of ``contexts`` (the trust stores checked) is named
    as the issuer of ``top_der`` or carries the key identifier its Authority Key Identifier
    names; None when ``top_der`` cannot be read. (A store certificate that matches but does
    not verify the chain, an expired CA say, is another failure: other rules tell it.)"""
    try:
        top = x509.load_der_x509_certificate(top_der)
    except ValueError:
        return None
    try:
        key_id = top.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier).value.key_identifier
    except (x509.ExtensionNotFound, ValueError):
        key_id = None
    issuer = top.issuer.public_bytes()
    for context in contexts:
        for der in context.get_ca_certs(binary_form=True):
            try:
                cert = x509.load_der_x509_certificate(der)
            except ValueError:
                continue
            if cert.subject.public_bytes() == issuer:
                return True
            if key_id is not None:
                try:
                    if cert.extensions.get_extension_for_class(
                            x509.SubjectKeyIdentifier).value.digest == key_id:
                        return True
                except (x509.ExtensionNotFound, ValueError):
                    pass
    return False


def parse_certificate(body: bytes) -> x509.Certificate | None:
    """A certificate served at a caIssuers URL: DER (the usual), PEM, or None."""
    for load in (x509.load_der_x509_certificate, x509.load_pem_x509_certificate):
        try:
            return load(body)
        except ValueError:
            continue
    return None


async def fetch(url: str, timeout: float, limit: int = AIA_LIMIT) -> bytes:
    """The body of a plain HTTP GET of ``url`` (status 200 only), at most ``limit`` bytes.
    Raises OSError/ValueError/TimeoutError."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an http URL: {url}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query

    async def get() -> bytes:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            host = parts.netloc.rsplit("@", 1)[-1]
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: whynet\r\n"
                         "Connection: close\r\n\r\n".encode("ascii"))
            data = b""
            while len(data) <= limit + 8192:  # a head and the body, and one byte too many
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            writer.transport.abort()
        head, sep, body = data.partition(b"\r\n\r\n")
        status = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", head)
        if not sep or not status or status.group(1) != b"200":
            raise ValueError(f"{url}: no 200 answer ({head[:40]!r})")
        if len(body) > limit:
            raise ValueError(f"{url}: more than {limit} bytes")
        return body

    return await asyncio.wait_for(get(), timeout)


Retry = Callable[[ssl.SSLContext], Awaitable[bool]]


async def complete_chain(chain: Sequence[bytes], make_context: Callable[[], ssl.SSLContext],
                         retry: Retry, timeout: float) -> dict[str, Any]:
    """Fields about the issuer the presented chain lacks: ``missing_issuer`` (the top's issuer
    when the top is not self-issued), ``issuer_url`` (its caIssuers URL), ``chain_incomplete``
    (True: with the fetched issuer the chain verifies; False: it does not, or the URL gave
    something else; None: not known) and ``issuer_fetch_error``."""
    out: dict[str, Any] = {"missing_issuer": None, "issuer_url": None,
                           "chain_incomplete": None, "issuer_fetch_error": None,
                           "issuer_in_store": None}
    if not chain:
        return out
    try:
        top = x509.load_der_x509_certificate(chain[-1])
    except ValueError:
        return out
    if is_self_issued(top):
        return out
    out["missing_issuer"] = top.issuer.rfc4514_string()
    url = ca_issuers_url(top)
    out["issuer_url"] = url
    if url is None:
        return out
    try:
        body = await fetch(url, timeout)
    except (OSError, ValueError, asyncio.TimeoutError, EOFError) as exc:
        out["issuer_fetch_error"] = f"{url}: {exc.__class__.__name__} {exc}".strip()
        return out
    issuer = parse_certificate(body)
    if issuer is None or issuer.subject != top.issuer:
        out["issuer_fetch_error"] = f"{url} did not serve the issuer's certificate"
        out["chain_incomplete"] = False
        return out
    context = make_context()
    try:
        context.load_verify_locations(
            cadata=issuer.public_bytes(serialization.Encoding.DER))
    except ssl.SSLError as exc:
        out["issuer_fetch_error"] = f"{url}: {exc}"
        return out
    out["chain_incomplete"] = await retry(context)
    return out


# --- protocol versions ----------------------------------------------------------------------

def version_context(name: str) -> ssl.SSLContext:
    """An unverified client context that offers exactly one version, old ones included."""
    version = dict(VERSIONS)[name]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1: that is the point
        try:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = version
            context.maximum_version = version
        except (ValueError, ssl.SSLError):
            pass  # this OpenSSL cannot offer it at all: the handshake says so
    return context


Shake = Callable[[ssl.SSLContext], Awaitable[str | None]]


async def accepted_versions(shake: Shake) -> list[str]:
    """The versions a handshake succeeds with (``shake`` returns the negotiated version or
    None), all four tried at once."""
    results = await asyncio.gather(*(shake(version_context(n)) for n in _NAMES))
    return [name for name, got in zip(_NAMES, results, strict=True) if got == name]


def _version_name(value: Any, default: str) -> str:
    for name, version in VERSIONS:
        if value == version:
            return name
    return default  # MINIMUM_SUPPORTED / MAXIMUM_SUPPORTED


def openssl_config_path(env: Mapping[str, str]) -> str:
    """Which OpenSSL configuration file clients here read: OPENSSL_CONF, else the built-in."""
    if env.get("OPENSSL_CONF"):
        return env["OPENSSL_CONF"]
    cafile = ssl.get_default_verify_paths().openssl_cafile or "/usr/lib/ssl/cert.pem"
    return os.path.join(os.path.dirname(cafile), "openssl.cnf")


def client_versions() -> tuple[str, str]:
    """(lowest, highest) version a default OpenSSL client context offers here: Python's floor
    (TLS 1.2) and MinProtocol/MaxProtocol of the OpenSSL configuration, as every client
    linking this OpenSSL with its defaults sees them."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return (_version_name(context.minimum_version, "TLSv1"),
            _version_name(context.maximum_version, "TLSv1.3"))


def version_gap(server: Sequence[str], low: str, high: str) -> str | None:
    """``server_older`` (every version the server accepts is below the client's lowest),
    ``server_newer`` (above its highest), or None (they share one, or nothing is known).

    >>> version_gap(["TLSv1", "TLSv1.1"], "TLSv1.2", "TLSv1.3")
    'server_older'
    >>> version_gap(["TLSv1.3"], "TLSv1.2", "TLSv1.2")
    'server_newer'
    """
    if not server:
        return None
    ranks = [_NAMES.index(v) for v in server if v in _NAMES]
    if ranks and max(ranks) < _NAMES.index(low):
        return "server_older"
    if ranks and min(ranks) > _NAMES.index(high):
        return "server_newer"
    return None
