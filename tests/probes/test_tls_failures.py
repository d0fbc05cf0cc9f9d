"""TLS failures told apart, clock offsets, and server greetings: the parsers on recorded input,
the rules on the probe facts recorded in the lab (tests/fixtures/tlsfaults, greetings)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from pathlib import Path

import pytest

from engine.facts import Fact
from engine.inference import run
from engine.knowledge import KnowledgeBase, builtin_knowledge_dir, load_knowledge
from engine.probes import tls_failures as TF
from engine.probes.greeting import identify, printable, read_greeting
from engine.probes.http import clock_offset
from engine.report import build_findings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
UTC = dt.timezone.utc


# --- greetings ----------------------------------------------------------------------------------

GREETINGS = {
    "ssh-rfc4253.bin": "SSH", "ssh-openssh-debian.bin": "SSH", "smtp-rfc5321.bin": "SMTP or FTP",
    "smtp-postfix.bin": "SMTP", "ftp-vsftpd.bin": "FTP", "pop3-rfc1939.bin": "POP3",
    "imap-rfc3501.bin": "IMAP", "vnc-rfc6143.bin": "VNC (RFB)",
    "none-python-http-answer-to-clienthello.bin": None,
}


def test_every_greeting_fixture_is_named() -> None:
    assert sorted(p.name for p in (FIXTURES / "greetings").glob("*.bin")) == sorted(GREETINGS)


@pytest.mark.parametrize(("name", "protocol"), GREETINGS.items())
def test_identify_recorded_greetings(name: str, protocol: str | None) -> None:
    assert identify((FIXTURES / "greetings" / name).read_bytes()) == protocol


def test_printable_keeps_one_line_of_ascii() -> None:
    assert printable(b"SSH-2.0-x\x00\x1b[31m\r\nnext") == "SSH-2.0-x..[31m"
    assert printable(b"A" * 500).endswith("...") and len(printable(b"A" * 500)) == 123


def test_read_greeting_reads_what_the_server_says_first() -> None:
    async def scenario() -> tuple[bytes | None, bytes | None, bytes | None]:
        banner = (FIXTURES / "greetings" / "ssh-openssh-debian.bin").read_bytes()

        async def greeter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(banner)
            await writer.drain()
            await reader.read(1)
            writer.close()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            writer.close()

        loud = await asyncio.start_server(greeter, "127.0.0.1", 0)
        quiet = await asyncio.start_server(silent, "127.0.0.1", 0)

        def opener(server: asyncio.AbstractServer):  # type: ignore[no-untyped-def]
            port = server.sockets[0].getsockname()[1]

            async def open_socket(timeout: float) -> socket.socket:
                sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                return sock
            return open_socket

        async def refused(timeout: float) -> socket.socket:
            raise ConnectionRefusedError(111, "refused")

        async with loud, quiet:
            said = await read_greeting(opener(loud), 2.0)
            nothing = await read_greeting(opener(quiet), 0.3)
            failed = await read_greeting(refused, 0.3)
        return said, nothing, failed

    said, nothing, failed = asyncio.run(scenario())
    assert said == b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
    assert nothing == b"" and failed is None


# --- dates, versions, the Date header -----------------------------------------------------------

def test_validity_window() -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=UTC)
    end = start + dt.timedelta(days=30)
    assert TF.validity(start, end, start + dt.timedelta(days=1)) == ("valid", 0)
    assert TF.validity(start, end, end + dt.timedelta(seconds=90)) == ("expired", 90)
    assert TF.validity(start, end, start - dt.timedelta(days=2)) == ("not_yet_valid", 172800)


def test_version_gap() -> None:
    assert TF.version_gap(["TLSv1", "TLSv1.1"], "TLSv1.2", "TLSv1.3") == "server_older"
    assert TF.version_gap(["TLSv1.3"], "TLSv1.2", "TLSv1.2") == "server_newer"
    assert TF.version_gap(["TLSv1.2", "TLSv1.3"], "TLSv1.2", "TLSv1.3") is None
    assert TF.version_gap([], "TLSv1.2", "TLSv1.3") is None


def test_client_versions_follow_the_openssl_defaults() -> None:
    low, high = TF.client_versions()
    assert low == "TLSv1.2"  # Python's floor for PROTOCOL_TLS_CLIENT
    assert high in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(("header", "offset"), [
    ("Sun, 29 Nov 2026 23:00:00 GMT", 7200),        # RFC 9110's preferred form
    ("Sunday, 29-Nov-26 21:00:00 GMT", 0),          # the obsolete RFC 850 form
    ("Sun Nov 29 20:59:50 2026", -10),              # asctime, no zone: UTC by definition
    ("yesterday", None), (None, None),
])
def test_clock_offset(header: str | None, offset: int | None) -> None:
    assert clock_offset(header, dt.datetime(2026, 11, 29, 21, 0, tzinfo=UTC)) == offset


def test_a_cached_answer_is_not_skew() -> None:
    # A CDN serves a copy stored an hour ago: its Date is the origin's, its Age says how old.
    now = dt.datetime(2026, 11, 29, 21, 0, tzinfo=UTC)
    assert clock_offset("Sun, 29 Nov 2026 20:00:00 GMT", now, "3600") == 0
    assert clock_offset("Sun, 29 Nov 2026 20:00:00 GMT", now, "soon") == -3600


def test_parse_certificate_der_pem_or_nothing() -> None:
    from cryptography.hazmat.primitives import serialization

    from tests.lab.certs import CertificateAuthority

    ca = CertificateAuthority("Unit CA", Path(__import__("tempfile").mkdtemp()))
    der = ca.cert.public_bytes(serialization.Encoding.DER)
    pem = ca.cert.public_bytes(serialization.Encoding.PEM)
    assert TF.parse_certificate(der) == ca.cert == TF.parse_certificate(pem)
    assert TF.parse_certificate(b"<html>not found</html>") is None
    issuing = CertificateAuthority("Unit Issuing", ca.directory, parent=ca)
    leaf = issuing.issue(["app.test"], ca_issuers_url="http://pki.test/i.der")
    assert TF.ca_issuers_url(leaf.cert) == "http://pki.test/i.der"
    assert TF.ca_issuers_url(ca.cert) is None and TF.is_self_issued(ca.cert)


def test_store_holds_issuer_by_name_or_key_id(tmp_path: Path) -> None:
    import ssl

    from cryptography.hazmat.primitives import serialization

    from tests.lab.certs import CertificateAuthority

    root = CertificateAuthority("Unit Root", tmp_path)
    issuing = CertificateAuthority("Unit Issuing", tmp_path, parent=root)
    leaf = issuing.issue(["app.test"])  # no AIA
    leaf_der = leaf.cert.public_bytes(serialization.Encoding.DER)

    def store(*cas: CertificateAuthority) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for ca in cas:
            context.load_verify_locations(cafile=str(ca.cert_path))
        return context

    assert TF.store_holds_issuer(leaf_der, [store(root)]) is False  # the root, not the issuer
    assert TF.store_holds_issuer(leaf_der, [store(root), store(issuing)]) is True
    assert TF.store_holds_issuer(leaf_der, []) is False
    assert TF.store_holds_issuer(b"not a certificate", [store(issuing)]) is None
    other = CertificateAuthority("Unit Issuing (renamed)", tmp_path, parent=root)
    assert TF.store_holds_issuer(leaf_der, [store(other)]) is False  # another name and key
    # Renamed, with the issuer's key: found by the key identifier the leaf names.
    same_key = _ca_with_key("Unit Issuing (renamed)", issuing, tmp_path)
    assert TF.store_holds_issuer(leaf_der, [same_key]) is True


def _ca_with_key(name: str, like: object, directory: Path) -> object:
    """A self-signed CA named ``name`` holding ``like``'s key (so its SKI is the same)."""
    import datetime as _dt
    import ssl

    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = like.key  # type: ignore[attr-defined]
    subject = _x509.Name([_x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (_x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(_x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=1))
            .add_extension(_x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=cert.public_bytes(serialization.Encoding.DER))
    return context


# --- the rules on the probe facts recorded in the lab -------------------------------------------

RECORDED = {
    "tls-expired": "tls.certificate-expired",
    "tls-not-yet-valid": "tls.certificate-not-yet-valid",
    "tls-incomplete-chain": "tls.incomplete-chain",
    "tls-server-too-old": "tls.server-protocol-too-old",
    "tls-client-capped": "tls.client-protocol-capped",
    "client-clock-behind": "clock.this-host-clock-wrong",
    "client-clock-ahead": "clock.this-host-clock-wrong",
    "server-clock-skew": "clock.server-date-skew",
    "ssh-on-https-port": "ports.other-service-on-tls-port",
    "smtp-on-http-port": "ports.other-service-on-http-port",
    "tls-full-chain": None,
}


# tests/lab/chainfaults.py's scenarios (tests/fixtures/chainfaults/README.md).
CHAIN_RECORDED = {
    "tls-leaf-only-no-aia": "tls.leaf-only-issuer-unknown",
    "tls-leaf-only-private-ca": "tls.leaf-only-issuer-unknown",
    "tls-chain-sent-root-untrusted": "tls.untrusted-chain",
    "tls-leaf-only-intermediate-in-store": None,
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge([builtin_knowledge_dir()])


def test_every_recording_is_checked() -> None:
    assert sorted(p.stem for p in (FIXTURES / "tlsfaults").glob("*.json")) == sorted(RECORDED)


def assert_top_rule(kb: KnowledgeBase, folder: str, name: str, rule: str | None) -> None:
    """The whole knowledge base on a recording: ``rule`` first and the only error (or, for
    None, no finding at warning or above)."""
    raw = json.loads((FIXTURES / folder / f"{name}.json").read_text())
    facts = [Fact.from_json(f) for f in raw]
    findings = [f for f in build_findings(kb, run(kb, facts)) if f.at_least_warning]
    if rule is None:
        assert findings == []
        return
    assert findings[0].rule.id == rule, [f.rule.id for f in findings]
    errors = [f.rule.id for f in findings if f.severity == "error"]
    assert errors in ([], [rule])


@pytest.mark.parametrize(("name", "rule"), RECORDED.items())
def test_rules_on_recorded_probe_facts(kb: KnowledgeBase, name: str, rule: str | None) -> None:
    assert_top_rule(kb, "tlsfaults", name, rule)


def test_every_chain_recording_is_checked() -> None:
    assert sorted(p.stem for p in (FIXTURES / "chainfaults").glob("*.json")) == sorted(
        CHAIN_RECORDED)


@pytest.mark.parametrize(("name", "rule"), CHAIN_RECORDED.items())
def test_rules_on_recorded_chain_facts(kb: KnowledgeBase, name: str, rule: str | None) -> None:
    assert_top_rule(kb, "chainfaults", name, rule)
