"""certstores collector: bundles parsed with cryptography (count, expired, bad blocks), env
overrides pointing at missing or odd files, node/java presence, the per-run cache."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from engine.collectors import base, certstores
from engine.collectors.base import CollectContext
from engine.facts import Fact

NOW = dt.datetime.now(dt.timezone.utc)
GARBAGE = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"


def make_cert(cn: str, not_after: dt.datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - dt.timedelta(days=3650)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))


@pytest.fixture(scope="module")
def certs() -> dict[str, x509.Certificate]:
    return {
        "good1": make_cert("Good Root 1", NOW + dt.timedelta(days=365)),
        "good2": make_cert("Good Root 2", NOW + dt.timedelta(days=3650)),
        "old": make_cert("Old Root", NOW - dt.timedelta(days=30)),
    }


def pem(*items: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in items)


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    certstores.clear_cache()


def _env_facts(env: dict[str, str]) -> dict[str, Fact]:
    return {f.id: f for f in certstores.env_override_facts(env)}


def test_bundle_counts_and_expired(tmp_path: Path, certs: dict[str, x509.Certificate]) -> None:
    bundle = tmp_path / "corp.pem"
    bundle.write_bytes(pem(certs["good1"], certs["old"], certs["good2"]))
    facts = _env_facts({"REQUESTS_CA_BUNDLE": str(bundle)})
    store = facts["trust_store:env:REQUESTS_CA_BUNDLE"]
    assert (store["exists"], store["readable"], store["count"], store["expired"],
            store["errors"]) == (True, True, 3, 1, 0)
    assert (store["runtime"], store["variable"], store["path"]) == \
        ("env", "REQUESTS_CA_BUNDLE", str(bundle))
    expired = [f for f in facts.values() if f.kind == "cert"]
    assert len(expired) == 1
    assert expired[0]["subject"] == "CN=Old Root" and expired[0]["expired"] is True
    assert expired[0]["not_after"].startswith(str((NOW - dt.timedelta(days=30)).date()))
    assert expired[0].id.startswith("cert:env:REQUESTS_CA_BUNDLE:")


def test_one_garbage_block_is_counted_as_an_error(tmp_path: Path,
                                                  certs: dict[str, x509.Certificate]) -> None:
    bundle = tmp_path / "mixed.pem"
    bundle.write_bytes(pem(certs["good1"]) + GARBAGE + pem(certs["good2"]))
    store = _env_facts({"SSL_CERT_FILE": str(bundle)})["trust_store:env:SSL_CERT_FILE"]
    assert (store["count"], store["errors"], store["expired"]) == (2, 1, 0)


def test_missing_bundle(tmp_path: Path) -> None:
    store = _env_facts({"SSL_CERT_FILE": str(tmp_path / "nope.pem")})["trust_store:env:SSL_CERT_FILE"]
    assert (store["exists"], store["readable"], store["count"]) == (False, False, None)


def test_a_directory_where_a_bundle_is_expected(tmp_path: Path) -> None:
    facts = _env_facts({"CURL_CA_BUNDLE": str(tmp_path)})
    assert facts["trust_store:env:CURL_CA_BUNDLE"]["count"] is None
    assert any(f.kind == "collection_error" for f in facts.values())


def test_der_empty_and_text_files(tmp_path: Path, certs: dict[str, x509.Certificate]) -> None:
    der = tmp_path / "one.der"
    der.write_bytes(certs["good1"].public_bytes(serialization.Encoding.DER))
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("this is not a certificate\n")
    facts = _env_facts({"NODE_EXTRA_CA_CERTS": str(der), "GIT_SSL_CAINFO": str(empty),
                        "AWS_CA_BUNDLE": str(text)})
    assert facts["trust_store:env:NODE_EXTRA_CA_CERTS"]["count"] == 1
    assert (facts["trust_store:env:GIT_SSL_CAINFO"]["count"],
            facts["trust_store:env:GIT_SSL_CAINFO"]["errors"]) == (0, 0)
    assert facts["trust_store:env:AWS_CA_BUNDLE"]["errors"] == 1


def test_cert_dir_counts_hash_links(tmp_path: Path) -> None:
    for name in ("5ad8a5d6.0", "5ad8a5d6.1", "README", "ca.pem"):
        (tmp_path / name).write_text("x")
    store = _env_facts({"SSL_CERT_DIR": str(tmp_path)})["trust_store:env:SSL_CERT_DIR"]
    assert (store["store_type"], store["exists"], store["count"]) == ("directory", True, 2)


def test_system_store_under_etc(tmp_path: Path, certs: dict[str, x509.Certificate]) -> None:
    facts = {f.id: f for f in certstores.system_facts(tmp_path)}
    first = tmp_path / "ssl/certs/ca-certificates.crt"
    assert facts[f"trust_store:system:{first}"]["exists"] is False
    assert facts[f"trust_store:system:{tmp_path / 'ssl/certs'}"]["exists"] is False
    first.parent.mkdir(parents=True)
    first.write_bytes(pem(certs["good1"], certs["good2"]))
    (tmp_path / "ssl/cert.pem").symlink_to(first)  # same bundle by another name: once
    facts = {f.id: f for f in certstores.system_facts(tmp_path)}
    bundles = [f for f in facts.values() if f["store_type"] == "bundle"]
    assert [b["path"] for b in bundles] == [str(first)] and bundles[0]["count"] == 2


def test_bundle_is_parsed_once_per_run(tmp_path: Path, certs: dict[str, x509.Certificate],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "b.pem"
    bundle.write_bytes(pem(certs["good1"]))
    calls = []
    real = certstores.parse_bundle
    monkeypatch.setattr(certstores, "parse_bundle", lambda data: calls.append(1) or real(data))
    _env_facts({"SSL_CERT_FILE": str(bundle), "REQUESTS_CA_BUNDLE": str(bundle)})
    assert len(calls) == 1


def test_keystore_counts(certs: dict[str, x509.Certificate]) -> None:
    p12 = pkcs12.serialize_key_and_certificates(
        b"trust", None, None, [certs["good1"], certs["good2"]], serialization.NoEncryption())
    assert certstores.keystore_count(p12) == 2
    jks_header = b"\xfe\xed\xfe\xed\x00\x00\x00\x02\x00\x00\x00\x90"
    assert certstores.keystore_count(jks_header) == 144
    assert certstores.keystore_count(b"garbage") is None


def test_node_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "which", lambda binary: None)
    facts = certstores.node_facts(CollectContext(env={}))
    assert [f.kind for f in facts] == ["source_absent"] and facts[0]["what"] == "node"


def test_java_absent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(base, "which", lambda binary: None)
    facts = certstores.java_facts({}, tmp_path)
    assert [f.kind for f in facts] == ["source_absent"] and facts[0]["what"] == "java"


def test_java_home_without_cacerts(tmp_path: Path) -> None:
    facts = certstores.java_facts({"JAVA_HOME": str(tmp_path)}, tmp_path)
    assert facts[0]["exists"] is False and facts[0]["runtime"] == "java"


def test_live_collect() -> None:
    facts = certstores.collect(CollectContext())
    stores = {f["runtime"]: f for f in facts if f.kind == "trust_store"}
    assert stores["python-certifi"]["count"] > 100
    assert stores["system"]["exists"] in (True, False)
    if base.which("node"):
        assert stores["node"]["count"] > 0
    if "java" in stores and stores["java"]["readable"]:
        assert stores["java"]["count"] is None or stores["java"]["count"] > 0
