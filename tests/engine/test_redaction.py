"""Secrets never leave the process: planted canaries reach no snapshot, report or terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine.facts import Fact, Snapshot
from engine.redact import REDACTED, is_secret_name, redact_fact, redact_text, redact_url

CANARY = "CANARY-7f3a9c"


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD",
                                  "AWS_SESSION_TOKEN", "DB_PASS", "MYAPIKEY", "api-key",
                                  "client_secret", "NPM_AUTH_TOKEN"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "NO_PROXY", "PATH", "AWS_PROFILE", "NODE_ENV",
                                  "SSL_CERT_FILE", "AWS_ACCESS_KEY_ID", "PWD", "KUBECONFIG"])
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


def test_url_credentials_and_key_value_pairs_are_redacted() -> None:
    assert redact_url(f"http://bob:{CANARY}@proxy.lab:3128/") == "http://***@proxy.lab:3128/"
    assert redact_url(f"socks5h://{CANARY}@10.0.0.1:1080") == "socks5h://***@10.0.0.1:1080"
    assert CANARY not in redact_text(f"connect failed: password={CANARY}; retry")
    assert CANARY not in redact_text(f"url postgres://u:{CANARY}@db/x token: {CANARY}")


@pytest.mark.parametrize("url", [
    f"https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKIA{CANARY}&X-Amz-Signature={CANARY}",
    f"https://acct.blob.core.windows.net/c/blob?sv=2022-11-02&sig={CANARY}%3D&se=2026",
    f"https://storage.googleapis.com/b/o?X-Goog-Signature={CANARY}",
    f"https://app.example/callback?code={CANARY}&state=xyz",
    f"curl 'https://maps.example/api?key={CANARY}'",
])
def test_signed_url_and_oauth_query_values_are_redacted(url: str) -> None:
    redacted = redact_text(url)
    assert CANARY not in redacted and REDACTED in redacted


def test_ordinary_query_values_and_text_without_a_url_are_kept() -> None:
    kept = "https://h/search?q=routing&page=2&lang=en"
    assert redact_text(kept) == kept
    assert redact_text("design=1 sig=2 code=3 (no URL)") == "design=1 sig=2 code=3 (no URL)"


def _planted_facts() -> list[Fact]:
    """Facts as a buggy collector or probe might produce them, secrets included."""
    src = {"env": "environment"}
    return [
        Fact("env_var", "env_var:HTTPS_PROXY", src,
             {"name": "HTTPS_PROXY", "present": True, "category": "proxy",
              "value": f"http://alice:{CANARY}@proxy.lab:3128", "redacted": False}),
        Fact("env_var", "env_var:GITHUB_TOKEN", src,
             {"name": "GITHUB_TOKEN", "present": True, "category": "credential",
              "value": CANARY, "redacted": False}),
        Fact("env_var", "env_var:NODE_ENV", src,
             {"name": "NODE_ENV", "present": True, "category": "environment_marker",
              "value": f"prod password={CANARY}", "redacted": False}),
        Fact("probe_proxy", "probe_proxy:x", {"probe": "proxy"},
             {"target": "https://app.lab", "layer": "proxy", "outcome": "proxy_dead",
              "proxy": f"http://alice:{CANARY}@proxy.lab:3128", "variable": "HTTPS_PROXY",
              "error": f"connect to http://alice:{CANARY}@proxy.lab:3128 refused"}),
    ]


def test_redact_fact_removes_every_planted_value() -> None:
    for fact in _planted_facts():
        assert CANARY not in json.dumps(redact_fact(fact).to_json())
    token = redact_fact(_planted_facts()[1])
    assert token.fields["value"] == REDACTED


def test_no_canary_in_snapshot_report_text_html(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    snap = tmp_path / "snap.json"
    Snapshot(_planted_facts(), host="h").save(snap)
    assert CANARY not in snap.read_text()
    # A snapshot written by someone else, secrets and all, is redacted on the way in too.
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps({"whynet": "0.1.0", "schema": 1, "host": "h", "facts": [
        f.to_json() for f in _planted_facts()]}))
    runner = CliRunner()
    outputs = []
    for fmt in ("json", "text", "html"):
        res = runner.invoke(main, ["diagnose", "--snapshot", str(raw), "--format", fmt,
                                   "--save", str(tmp_path / f"r.{fmt}.json")])
        assert res.exit_code in (0, 1), res.output
        outputs.append(res.output)
        outputs.append((tmp_path / f"r.{fmt}.json").read_text())
    assert json.loads(outputs[0])["findings"], "the planted proxy fact should give a finding"
    outputs.append((tmp_path / "cache" / "whynet" / "last.json").read_text())
    for rule in ("proxy.dead", "application.environment-marker"):
        res = runner.invoke(main, ["why", rule])
        assert res.exit_code == 0, res.output
        outputs.append(res.output)
    for text in outputs:
        assert CANARY not in text
