"""Trust stores: the CA bundles and directories each runtime trusts, and env overrides.

Reads:   the system bundle (``/etc/ssl/certs/ca-certificates.crt``,
         ``/etc/pki/tls/certs/ca-bundle.crt``, ... under ``ctx.etc``) and directory
         (``/etc/ssl/certs``: its OpenSSL hash links are counted, not parsed); Python's certifi
         bundle (``certifi.where()`` of the interpreter running whynet); Node's built-in store
         (``node -p "require('tls').rootCertificates.length"``, 5 s timeout at most); each
         distinct Java ``cacerts`` (``$JAVA_HOME/lib/security/cacerts``, the ``java`` on PATH's,
         ``/etc/ssl/certs/java/cacerts``): a JKS header gives the count, a PKCS#12 store is
         opened with no password, then Java's documented default ``changeit``, otherwise the
         count is null; and the file or directory (the first of a list) that the overrides
         ``SSL_CERT_FILE``, ``SSL_CERT_DIR``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``,
         ``NODE_EXTRA_CA_CERTS``, ``GIT_SSL_CAINFO`` and ``AWS_CA_BUNDLE`` name in ``ctx.env``.
Never:   reads private keys or client certificates' keys, writes anything, uses keytool.
Redacts: nothing: CA certificates are public.

Facts:

* ``trust_store`` per store, id ``trust_store:<runtime>:<path>`` (``trust_store:system:/etc/ssl/
  certs/ca-certificates.crt``) or ``trust_store:env:<VARIABLE>``, with ``path``, ``runtime``
  (system, python-certifi, node, java, env), ``variable``, ``store_type`` (bundle, directory,
  builtin, keystore), ``exists``, ``readable`` (``os.access`` for the running user), ``count``,
  ``expired``, ``errors`` (PEM blocks that do not parse). Unknown numbers are null.
* ``cert`` for each *expired* certificate in a parsed bundle, id
  ``cert:<runtime>:<path or VARIABLE>:<sha256 prefix>``.
* ``source_absent`` when node or java is not installed.

Bundles are parsed with ``cryptography`` (``x509.load_pem_x509_certificates``; block by block
only when that fails, to count the bad blocks) and the result is cached per path, size and
modification time, so a bundle named by several stores is parsed once per run.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from engine.collectors import base
from engine.facts import Fact, absent, collection_error, make_fact
from engine.files import BUNDLE_LIMIT, check_regular, read_regular

NAME = "certstores"
KINDS = ("trust_store", "cert", "source_absent", "collection_error")

SYSTEM_BUNDLES = ("ssl/certs/ca-certificates.crt", "pki/tls/certs/ca-bundle.crt",
                  "pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "ssl/ca-bundle.pem",
                  "ssl/cert.pem")
SYSTEM_DIR = "ssl/certs"
JAVA_SYSTEM_CACERTS = "ssl/certs/java/cacerts"
ENV_OVERRIDES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                 "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE")
DIRECTORY_VARIABLES = frozenset({"SSL_CERT_DIR"})
NODE_TIMEOUT = 5.0
BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
_HASH_LINK = re.compile(r"^[0-9a-f]{8}\.\d+$")
JAVA_DEFAULT_STOREPASS = b"changeit"  # Java's documented default for cacerts, not a secret


@dataclass
class BundleResult:
    """What parsing one bundle gave."""

    count: int = 0
    errors: int = 0
    expired: list[tuple[str, str, str]] = field(default_factory=list)  # fingerprint, subj, date


_CACHE: dict[tuple[str, int, int], BundleResult] = {}


def clear_cache() -> None:
    _CACHE.clear()


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _not_after(cert: x509.Certificate) -> _dt.datetime:
    return cert.not_valid_after_utc


def _pem_blocks(text: str) -> list[str]:
    """The ``BEGIN CERTIFICATE`` ... ``END CERTIFICATE`` blocks of a PEM text, in order."""
    blocks, start = [], text.find(BEGIN)
    while start != -1:
        end = text.find(END, start)
        if end == -1:
            blocks.append(text[start:])
            break
        blocks.append(text[start:end + len(END)])
        start = text.find(BEGIN, end)
    return blocks


def _load_pem(data: bytes) -> tuple[list[x509.Certificate], int]:
    """All certificates at once; block by block (counting the bad ones) only if that fails."""
    try:
        return x509.load_pem_x509_certificates(data), 0
    except ValueError:
        pass
    certs, errors = [], 0
    for block in _pem_blocks(data.decode("ascii", "replace")):
        try:
            certs.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except ValueError:
            errors += 1
    return certs, errors


def parse_bundle(data: bytes, now: _dt.datetime | None = None) -> BundleResult:
    """Count the certificates of a PEM (or single DER) bundle, its expired ones and bad blocks."""
    now = now or _utc_now()
    certs: list[x509.Certificate] = []
    errors = 0
    with warnings.catch_warnings():  # old roots with negative serials: a warning per load
        warnings.simplefilter("ignore")
        if b"-----BEGIN" in data:
            certs, errors = _load_pem(data)
        elif data.strip():
            try:
                certs = [x509.load_der_x509_certificate(data)]
            except ValueError:
                errors = 1
    result = BundleResult(count=len(certs), errors=errors)
    for cert in certs:
        if _not_after(cert) < now:
            fingerprint = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()[:16]
            result.expired.append((fingerprint, cert.subject.rfc4514_string(),
                                   _not_after(cert).isoformat()))
    return result


def read_bundle(path: Path) -> BundleResult:
    """Parse ``path`` once per (path, size, mtime); raises OSError like open()."""
    st = check_regular(path, BUNDLE_LIMIT)  # a FIFO as SSL_CERT_FILE must not hang collect
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = parse_bundle(read_regular(path, BUNDLE_LIMIT))
    return _CACHE[key]


def _store_fact(runtime: str, path: str | None, fid: str, source: Mapping[str, Any],
                **fields: Any) -> Fact:
    values: dict[str, Any] = {
        "path": path, "runtime": runtime, "variable": None, "store_type": "bundle",
        "exists": False, "readable": False, "count": None, "expired": None, "errors": None,
    }
    values.update(fields)
    return make_fact("trust_store", fid, source, **values)


def bundle_facts(runtime: str, path: Path, fid: str, variable: str | None = None) -> list[Fact]:
    """A ``trust_store`` fact for a PEM bundle file, plus a ``cert`` fact per expired cert."""
    source = {"env": variable} if variable else {"file": str(path)}
    exists = path.exists()
    readable = exists and os.access(path, os.R_OK)
    if not readable:
        return [_store_fact(runtime, str(path), fid, source, variable=variable, exists=exists)]
    try:
        result = read_bundle(path)
    except OSError as exc:
        return [_store_fact(runtime, str(path), fid, source, variable=variable, exists=exists),
                collection_error(NAME, f"{path}: {exc.strerror or exc}", source)]
    facts = [_store_fact(runtime, str(path), fid, source, variable=variable, exists=True,
                         readable=True, count=result.count, expired=len(result.expired),
                         errors=result.errors)]
    facts.extend(
        make_fact("cert", f"cert:{fid.removeprefix('trust_store:')}:{fingerprint}",
                  {"file": str(path)}, path=str(path),
                  subject=subject, not_after=not_after, expired=True, store=fid)
        for fingerprint, subject, not_after in result.expired
    )
    return facts


def directory_fact(runtime: str, path: Path, fid: str, variable: str | None = None) -> Fact:
    """A certificate directory: OpenSSL hash links (``5ad8a5d6.0``) are counted, not parsed."""
    source = {"env": variable} if variable else {"file": str(path)}
    exists = path.is_dir()
    readable = exists and os.access(path, os.R_OK | os.X_OK)
    count = None
    if readable:
        try:
            count = sum(1 for name in os.listdir(path) if _HASH_LINK.match(name))
        except OSError:
            readable = False
    return _store_fact(runtime, str(path), fid, source, variable=variable, store_type="directory",
                       exists=exists, readable=readable, count=count)


# --------------------------------------------------------------------------------------------
# The stores
# --------------------------------------------------------------------------------------------

def system_facts(etc: Path) -> list[Fact]:
    """Every distinct system bundle that exists (the first candidate if none), and the dir."""
    facts: list[Fact] = []
    seen: set[str] = set()
    for rel in SYSTEM_BUNDLES:
        path = etc / rel
        real = os.path.realpath(path)
        if not path.exists() or real in seen:
            continue
        seen.add(real)
        facts.extend(bundle_facts("system", path, f"trust_store:system:{path}"))
    if not facts:
        first = etc / SYSTEM_BUNDLES[0]
        facts.extend(bundle_facts("system", first, f"trust_store:system:{first}"))
    directory = etc / SYSTEM_DIR
    facts.append(directory_fact("system", directory, f"trust_store:system:{directory}"))
    return facts


def certifi_facts() -> list[Fact]:
    try:
        import certifi
    except ImportError:
        return [absent(NAME, "python-certifi", "certifi is not importable",
                       {"module": "certifi"})]
    path = Path(certifi.where())
    return bundle_facts("python-certifi", path, f"trust_store:python-certifi:{path}")


def node_facts(ctx: base.CollectContext) -> list[Fact]:
    node = base.which("node")
    source = {"command": "node -p \"require('tls').rootCertificates.length\""}
    if node is None:
        return [absent(NAME, "node", "node: command not found", source)]
    result = base.run_command(["node", "-p", "require('tls').rootCertificates.length"],
                              timeout=min(ctx.timeout, NODE_TIMEOUT))
    text = result.stdout.strip()
    count = int(text) if result.ok and text.isdigit() else None
    facts = [_store_fact("node", node, f"trust_store:node:{node}", source, store_type="builtin",
                         exists=True, readable=True, count=count)]
    if count is None:
        reason = result.failure() if not result.ok else f"unexpected output {text[:80]!r}"
        facts.append(collection_error(NAME, f"node: {reason}", source))
    return facts


def java_cacerts_candidates(env: Mapping[str, str], etc: Path) -> list[Path]:
    candidates: list[Path] = []
    if env.get("JAVA_HOME"):
        candidates.append(Path(env["JAVA_HOME"]) / "lib" / "security" / "cacerts")
    java = base.which("java")
    if java:
        home = Path(os.path.realpath(java)).parent.parent
        candidates.append(home / "lib" / "security" / "cacerts")
    candidates.append(etc / JAVA_SYSTEM_CACERTS)
    return candidates


def keystore_count(data: bytes) -> int | None:
    """Entries of a JKS/JCEKS keystore (from its header) or certificates of a PKCS#12 store."""
    if len(data) >= 12 and data[:4] in (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce"):
        return struct.unpack(">I", data[8:12])[0]
    for password in (None, JAVA_DEFAULT_STOREPASS):
        try:
            store = pkcs12.load_pkcs12(data, password)
        except (ValueError, TypeError):
            continue
        return len(store.additional_certs) + (1 if store.cert else 0)
    return None


def java_facts(env: Mapping[str, str], etc: Path) -> list[Fact]:
    """Each distinct cacerts: ``$JAVA_HOME``'s (even if missing), the ``java`` on PATH's, and
    the system one, when they exist (a symlinked one is recorded once)."""
    candidates = java_cacerts_candidates(env, etc)
    wanted = [p for i, p in enumerate(candidates)
              if p.exists() or (i == 0 and env.get("JAVA_HOME"))]
    if not wanted:
        if base.which("java") is None:
            return [absent(NAME, "java", "no java on PATH, no JAVA_HOME, no cacerts",
                           {"file": str(candidates[-1])})]
        wanted = candidates[:1]
    facts, seen = [], set()
    for path in wanted:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            facts.append(_keystore_fact(path))
    return facts


def _keystore_fact(path: Path) -> Fact:
    readable = path.exists() and os.access(path, os.R_OK)
    count = None
    if readable:
        try:
            count = keystore_count(read_regular(path, BUNDLE_LIMIT))
        except OSError:
            readable = False
    return _store_fact("java", str(path), f"trust_store:java:{path}", {"file": str(path)},
                       store_type="keystore", exists=path.exists(), readable=readable,
                       count=count)


def env_override_facts(env: Mapping[str, str]) -> list[Fact]:
    facts: list[Fact] = []
    for variable in ENV_OVERRIDES:
        value = env.get(variable)
        if not value:
            continue
        fid = f"trust_store:env:{variable}"
        if variable in DIRECTORY_VARIABLES:
            first = value.split(os.pathsep)[0]
            facts.append(directory_fact("env", Path(first), fid, variable))
        else:
            facts.extend(bundle_facts("env", Path(value), fid, variable))
    return facts


def collect(ctx: base.CollectContext) -> list[Fact]:
    etc = Path(ctx.etc)
    return [
        *system_facts(etc),
        *certifi_facts(),
        *node_facts(ctx),
        *java_facts(ctx.env, etc),
        *env_override_facts(ctx.env),
    ]
