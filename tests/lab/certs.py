"""Certificates made per test: a CA, leaves it signs, self-signed and wrong-name leaves.

Every lab test makes its own keys, so no test depends on a checked-in certificate that expires or
on the machine's trust store. Keys are EC P-256: generating one takes about a millisecond, where
RSA-2048 takes tens. The certificates carry what strict verifiers (OpenSSL's X509_STRICT, which
Python 3.13 turns on by default) demand: subjectAltName, key identifiers, critical basic
constraints and key usage, so a TLS failure in the lab is always the one the test built.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

_ONE_DAY = _dt.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key on disk, ready for a TLS server (``--cert``/``--key``)."""

    cert_path: Path
    key_path: Path
    cert: x509.Certificate
    names: tuple[str, ...]

    @property
    def issuer_cn(self) -> str:
        return _cn(self.cert.issuer)

    @property
    def subject_cn(self) -> str:
        return _cn(self.cert.subject)


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey,
           names: Sequence[str]) -> Issued:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{stem}.pem"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    # Readable by everyone: lab scenarios run whynet as `nobody` too, and these keys protect
    # nothing outside a throw-away namespace.
    cert_path.chmod(0o644)
    key_path.chmod(0o644)
    return Issued(cert_path, key_path, cert, tuple(names))


def _san(names: Iterable[str], ips: Iterable[str]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    general += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return x509.SubjectAlternativeName(general)


def _leaf_builder(subject_cn: str, names: Sequence[str], ips: Sequence[str],
                  key: ec.EllipticCurvePrivateKey, days: int, *,
                  subject: x509.Name | None = None,
                  window: tuple[_dt.datetime, _dt.datetime] | None = None,
                  ) -> x509.CertificateBuilder:
    now = _dt.datetime.now(_dt.timezone.utc)
    not_before, not_after = window or (now - _ONE_DAY, now + _dt.timedelta(days=days))
    return (
        x509.CertificateBuilder()
        .subject_name(subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_san(names, ips), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=False, content_commitment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


class CertificateAuthority:
    """A root CA whose ``cert_path`` a client trusts (``SSL_CERT_FILE``) and which signs leaves.

    One class serves both the organisation's own CA and an intercepting proxy's CA: they differ
    only in the name, which is what a diagnosis has to spot (checklist P3).
    """

    def __init__(self, common_name: str, directory: Path, *, stem: str | None = None,
                 days: int = 30, parent: CertificateAuthority | None = None) -> None:
        """A root CA; with ``parent``, an intermediate CA that ``parent`` signs."""
        self.common_name = common_name
        self.directory = directory
        self.key = _new_key()
        now = _dt.datetime.now(_dt.timezone.utc)
        name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "whynet lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ])
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        builder = x509.CertificateBuilder()
        if parent is not None:
            builder = builder.add_extension(_aki(parent.cert), critical=False)
        self.cert = (
            builder
            .subject_name(name)
            .issuer_name(parent.cert.subject if parent else name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _ONE_DAY)
            .not_valid_after(now + _dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_encipherment=False, content_commitment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(parent.key if parent else self.key, hashes.SHA256())
        )
        stem = stem or _stem(common_name)
        issued = _write(directory, stem, self.cert, self.key, ())
        self.cert_path = issued.cert_path
        self.key_path = issued.key_path

    def issue(self, names: Sequence[str], ips: Sequence[str] = (), *, stem: str | None = None,
              days: int = 30, window: tuple[_dt.datetime, _dt.datetime] | None = None,
              ca_issuers_url: str | None = None) -> Issued:
        """A server certificate for ``names`` (first is the CN) and ``ips``, signed by this CA.
        ``window``: its (not before, not after) instead of a day ago to ``days`` from now;
        ``ca_issuers_url``: where its issuer's certificate is published (AIA caIssuers)."""
        key = _new_key()
        cn = names[0] if names else (ips[0] if ips else "lab")
        builder = (
            _leaf_builder(cn, names, ips, key, days, window=window)
            .issuer_name(self.cert.subject)
            .add_extension(_aki(self.cert), critical=False)
        )
        if ca_issuers_url:
            builder = builder.add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                       x509.UniformResourceIdentifier(ca_issuers_url))]),
                critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return _write(self.directory, stem or f"{_stem(self.common_name)}-{_stem(cn)}", cert, key,
                      names)


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)


def write_chain(path: Path, *certs: x509.Certificate) -> Path:
    """Several certificates in one PEM file, as a server's full-chain file holds them."""
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    path.chmod(0o644)
    return path


def self_signed(directory: Path, names: Sequence[str], ips: Sequence[str] = (), *,
                stem: str | None = None, days: int = 30,
                organization: str | None = None) -> Issued:
    """A leaf that signs itself: what a device's or a dev server's default certificate looks like.

    ``organization``: an O= in subject and issuer, of any length (X.509 says at most 64
    characters; a hostile server does not care, and neither do OpenSSL and this builder)."""
    key = _new_key()
    cn = names[0] if names else (ips[0] if ips else "lab")
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organization is not None:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization,
                                           _validate=False))
    name = x509.Name(attrs)
    cert = (_leaf_builder(cn, names, ips, key, days, subject=name).issuer_name(name)
            .sign(key, hashes.SHA256()))
    return _write(directory, stem or f"selfsigned-{_stem(cn)}", cert, key, names)


def _stem(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "cert"
