"""TLS probe against real TLS servers on loopback, with certificates made per test."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from probe_helpers import (
    CA,
    Server,
    http_server,
    self_signed,
    tarpit,
    tls_server,
    trust_store_fact,
)

from engine.facts import Fact
from engine.probes.target import parse_target
from engine.probes.tls import (
    interception_hint,
    is_public_name,
    leaf_info,
    name_matches,
    probe_tls,
)
from engine.redact import redact_fact


def run_tls(url: str, ctx) -> Fact:
    return asyncio.run(probe_tls(parse_target(url), "127.0.0.1", ctx))


@pytest.fixture
def servers():
    started: list[Server] = []
    yield started
    for s in started:
        s.stop()


def start(servers: list[Server], server: Server) -> Server:
    servers.append(server)
    return server


def test_self_signed_is_untrusted_everywhere(tmp_path: Path, make_ctx, servers) -> None:
    cert = self_signed(tmp_path, ["localhost"], ["127.0.0.1"])
    srv = start(servers, tls_server(cert.cert_path, cert.key_path))
    fact = run_tls(f"https://127.0.0.1:{srv.port}/", make_ctx())
    assert fact["outcome"] == "tls_untrusted"
    assert fact["self_signed"] is True
    assert fact["name_matches"] is True
    assert "self-signed certificate" in fact["verify_error"]
    assert fact["trusted_by"] == []
    assert certifi.where() in fact["untrusted_by"]
    assert fact["chain_length"] == 1
    assert fact["version"].startswith("TLS")
    assert fact["layer"] == "tls" and fact["port"] == srv.port


def test_wrong_name_with_trusted_chain_is_name_mismatch(tmp_path: Path, make_ctx,
                                                        servers) -> None:
    ca = CA(tmp_path)
    leaf = ca.issue(["wrong.example"])
    srv = start(servers, tls_server(leaf.cert_path, leaf.key_path))
    ctx = make_ctx(env={"SSL_CERT_FILE": str(ca.path)}, facts=[trust_store_fact(str(ca.path))])
    fact = run_tls(f"https://127.0.0.1:{srv.port}/", ctx)
    assert fact["outcome"] == "tls_name_mismatch"
    assert fact["name_matches"] is False
    assert "mismatch" in fact["verify_error"]
    assert str(ca.path) in fact["trusted_by"]
    assert fact["sans"] == ["wrong.example"]


def test_private_ca_named_by_ssl_cert_file_is_trusted_by_that_store(tmp_path: Path, make_ctx,
                                                                    servers) -> None:
    ca = CA(tmp_path)
    leaf = ca.issue([], ["127.0.0.1"])
    srv = start(servers, tls_server(leaf.cert_path, leaf.key_path))
    url = f"https://127.0.0.1:{srv.port}/"
    store = trust_store_fact(str(ca.path))

    with_env = run_tls(url, make_ctx(env={"SSL_CERT_FILE": str(ca.path)}, facts=[store]))
    assert with_env["outcome"] == "tls_ok"
    assert with_env["trusted_by"] == [str(ca.path)]
    assert certifi.where() in with_env["untrusted_by"]
    assert with_env["chain_length"] == 2
    assert "Probe Test Root CA" in with_env["issuer"]
    assert with_env["unexpected_issuer"] is False  # an address, not a public name

    # The store exists, but the client's environment does not point at it: untrusted.
    without_env = run_tls(url, make_ctx(facts=[store]))
    assert without_env["outcome"] == "tls_untrusted"
    assert str(ca.path) in without_env["trusted_by"]
    # The server sends its CA too, so OpenSSL words it as a self-signed root in the chain.
    assert "self-signed certificate in certificate chain" in without_env["verify_error"]


def test_missing_store_is_reported_not_used(tmp_path: Path, make_ctx, servers) -> None:
    cert = self_signed(tmp_path, [], ["127.0.0.1"])
    srv = start(servers, tls_server(cert.cert_path, cert.key_path))
    missing = trust_store_fact(str(tmp_path / "nope.pem"))
    missing = Fact(missing.kind, missing.id, missing.source, {**missing.fields, "exists": False})
    fact = run_tls(f"https://127.0.0.1:{srv.port}/", make_ctx(facts=[missing]))
    assert any("nope.pem: missing" in e for e in fact["store_errors"])
    assert str(tmp_path / "nope.pem") not in fact["trusted_by"] + fact["untrusted_by"]


def test_intercepting_issuer_is_flagged(tmp_path: Path, make_ctx, servers) -> None:
    ca = CA(tmp_path, "Zscaler Root CA", "Zscaler Inc.")
    leaf = ca.issue([], ["127.0.0.1"])
    srv = start(servers, tls_server(leaf.cert_path, leaf.key_path))
    fact = run_tls(f"https://127.0.0.1:{srv.port}/", make_ctx())
    assert fact["unexpected_issuer"] is True
    assert "Zscaler" in fact["interception_hint"]


def test_tarpit_is_bounded_by_the_timeout(make_ctx, servers) -> None:
    srv = start(servers, tarpit())
    began = time.monotonic()
    fact = run_tls(f"https://127.0.0.1:{srv.port}/", make_ctx(timeout=0.5))
    assert time.monotonic() - began < 1.5
    assert fact["outcome"] == "timeout"
    assert "never spoke" in fact["error"]


def test_plain_http_on_a_tls_port_is_not_tls(make_ctx, servers) -> None:
    srv = start(servers, http_server())
    fact = run_tls(f"https://127.0.0.1:{srv.port}/", make_ctx(timeout=1.0))
    assert fact["outcome"] == "not_tls", fact["error"]


def test_closed_port_gives_the_tcp_outcome(make_ctx) -> None:
    from probe_helpers import dead_port

    fact = run_tls(f"https://127.0.0.1:{dead_port()}/", make_ctx(timeout=1.0))
    assert fact["outcome"] == "refused"
    assert fact["chain_length"] == 0


@pytest.mark.parametrize(("host", "dns", "ips", "cns", "expected"), [
    ("www.example.com", ["www.example.com"], [], [], True),
    ("WWW.Example.com.", ["www.example.com"], [], [], True),
    ("a.example.com", ["*.example.com"], [], [], True),
    ("a.b.example.com", ["*.example.com"], [], [], False),
    ("example.com", ["*.example.com"], [], [], False),
    ("x.com", ["*.com"], [], [], False),
    ("other.example", ["www.example.com"], [], [], False),
    ("10.0.0.1", [], ["10.0.0.1"], [], True),
    ("10.0.0.1", ["10.0.0.1"], [], [], False),
    ("cn.example", [], [], ["cn.example"], True),
    ("cn.example", ["san.example"], [], ["cn.example"], False),
])
def test_name_matches(host, dns, ips, cns, expected) -> None:
    assert name_matches(host, dns, ips, cns) is expected


@pytest.mark.parametrize(("host", "public"), [
    ("www.example.org", True), ("intranet.corp", False), ("printer.local", False),
    ("nas", False), ("10.0.0.1", False), ("app.internal", False), ("x.home.arpa", False),
])
def test_is_public_name(host: str, public: bool) -> None:
    assert is_public_name(host) is public


def test_interception_hint_for_a_local_ca_on_a_public_name() -> None:
    hint = interception_hint("Corp Root CA", ["/etc/corp-ca.pem"], certifi.where(),
                             "www.example.org")
    assert hint and "local" in hint
    assert interception_hint("Corp Root CA", ["/etc/corp-ca.pem", certifi.where()],
                             certifi.where(), "www.example.org") is None
    assert interception_hint("Corp Root CA", ["/etc/corp-ca.pem"], certifi.where(),
                             "git.corp") is None
    assert "Fortinet" in interception_hint("FortiGate CA", [], certifi.where(), "x.example.org")


def test_interception_hint_needs_a_product_phrase_and_a_privately_trusted_chain() -> None:
    # Bare words that name people and companies are not products (issue 10: "charles").
    for issuer in ("Charles University Root CA", "AVG Technologies Code CA", "ESET Corp CA"):
        assert interception_hint(issuer, [], certifi.where(), "git.corp") is None, issuer
    assert "Charles" in interception_hint("Charles Proxy CA (29 Nov 2026, laptop)", [],
                                          certifi.where(), "git.corp")
    assert "ESET" in interception_hint("ESET SSL Filter CA", [], certifi.where(), "git.corp")
    # A chain the public bundle trusts is a public CA's, whatever its name says.
    assert interception_hint("Symantec Class 3 Secure Server CA - G4", [certifi.where()],
                             certifi.where(), "www.example.org") is None


def _subject_hash(cert: Path) -> str:
    """OpenSSL's subject hash: the name its certificate-directory lookup opens (HASH.0)."""
    return subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(cert)],
                          capture_output=True, text=True, check=True, timeout=10).stdout.strip()


def test_a_fifo_in_the_certificate_directory_is_skipped_not_waited_on(
        tmp_path: Path, make_ctx, servers) -> None:
    """OpenSSL opens SSL_CERT_DIR's HASH.N files with a blocking fopen during the handshake:
    a FIFO named as the issuer's hash link stopped the run past any timeout. Its entries are
    read as regular files only; the FIFO is named in store_errors and the real CA still works."""
    ca = CA(tmp_path)
    leaf = ca.issue([], ["127.0.0.1"])
    srv = start(servers, tls_server(leaf.cert_path, leaf.key_path))
    capath = tmp_path / "certs"
    capath.mkdir()
    link = _subject_hash(ca.path)
    fifo = capath / f"{link}.0"
    os.mkfifo(fifo)
    (capath / f"{link}.1").write_bytes(ca.path.read_bytes())
    store = trust_store_fact(str(capath), "SSL_CERT_DIR")
    ctx = make_ctx(timeout=2.0, env={"SSL_CERT_DIR": str(capath),
                                     "SSL_CERT_FILE": str(tmp_path / "none.pem")},
                   facts=[store])
    result: list[Fact] = []
    worker = threading.Thread(target=lambda: result.append(
        run_tls(f"https://127.0.0.1:{srv.port}/", ctx)), daemon=True)
    start_time = time.monotonic()
    worker.start()
    worker.join(timeout=3.0)  # --timeout 2, plus 1 s
    if worker.is_alive():  # blocked on the FIFO: release it, then fail
        with open(fifo, "wb"):
            pass
        worker.join(timeout=10)
        pytest.fail("the TLS probe blocked on a FIFO in SSL_CERT_DIR")
    assert time.monotonic() - start_time < 3.0
    [fact] = result
    assert fact["outcome"] == "tls_ok", fact.fields  # HASH.1, the real CA, still trusted
    assert str(capath) in fact["trusted_by"]
    assert [e for e in fact["store_errors"] if e.startswith(str(fifo))] == [
        f"{fifo}: skipped: not a regular file (a FIFO)"]


# "token." to 6 KB: the string the backtracking secret pattern of engine/redact.py took 69 s on
# (issue 14); as a certificate's organisation it held diagnose over 7 minutes.
HOSTILE_ORGANIZATION = "token." * 1000


def test_a_six_kilobyte_token_organisation_is_parsed_and_probed_in_bounds(
        tmp_path: Path, make_ctx, servers) -> None:
    cert = self_signed(tmp_path, ["localhost"], ["127.0.0.1"], HOSTILE_ORGANIZATION)
    der = x509.load_pem_x509_certificate(cert.cert_path.read_bytes()).public_bytes(
        serialization.Encoding.DER)
    start_time = time.monotonic()
    leaf = leaf_info(der, "127.0.0.1")  # the probe's own parsing
    assert time.monotonic() - start_time < 1
    assert leaf.subject == f"CN=localhost,O={HOSTILE_ORGANIZATION}"
    assert leaf.issuer == leaf.subject and leaf.self_signed and leaf.name_matches
    assert HOSTILE_ORGANIZATION in leaf.issuer_text
    assert interception_hint(leaf.issuer_text, [], certifi.where(), "127.0.0.1") is None

    srv = start(servers, tls_server(cert.cert_path, cert.key_path))
    start_time = time.monotonic()
    fact = run_tls(f"https://127.0.0.1:{srv.port}/", make_ctx(timeout=2.0))
    redacted = redact_fact(fact)  # what every snapshot, report and log line goes through
    assert time.monotonic() - start_time < 3.0  # --timeout 2, plus 1 s
    assert fact["outcome"] == "tls_untrusted" and fact["self_signed"] is True
    assert redacted["subject"].startswith("CN=localhost,O=token.token.")
