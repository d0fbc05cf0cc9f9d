"""A real TLS server whose certificate's organisation is 6 KB of ``token.`` (issue 14, item 1).

That string made the old secret pattern of engine/redact.py backtrack for 69 s; as the O= of a
self-signed certificate it held ``diagnose https://… --timeout 2`` over 7 minutes. Here a real
server in the lab presents such a certificate (made with cryptography, served by serve.py), and
whynet runs inside the client's namespace: it must answer within --timeout + 1 s (or, on a
loaded machine where start-up and collection alone take that long, within twice the same
diagnosis against an ordinary self-signed certificate, measured in the same run, plus 1 s: the
fault this guards against took minutes), its TLS probe
within --timeout + 1 s, with a well formed report whose top finding is the self-signed
certificate.
"""

from __future__ import annotations

import time
from typing import Any

from .netlab import Lab
from .scenarios import APP, SERVER_IP, office

HOSTILE_ORGANIZATION = "token." * 1000  # 6,000 characters
TIMEOUT = 2.0


def _diagnose(lab: Lab, client: Any, url: str, *args: str) -> tuple[Any, float]:
    start = time.monotonic()
    run = lab.run_whynet(client, "diagnose", url, "--timeout", f"{TIMEOUT:g}", *args)
    return run, time.monotonic() - start


def test_a_six_kilobyte_token_organisation_answers_within_the_timeout(lab: Lab) -> None:
    o = office(lab)
    hostile = lab.self_signed([APP], organization=HOSTILE_ORGANIZATION)
    assert f"O={HOSTILE_ORGANIZATION}" in hostile.cert.subject.rfc4514_string()
    o.server.tls_server(SERVER_IP, 443, hostile)
    o.server.tls_server(SERVER_IP, 8443, lab.self_signed([APP]))
    # Ground truth: the server really presents it.
    shown = o.client.tls(SERVER_IP, 443, APP)
    assert not shown.ok and "self-signed" in shown.error and shown.subject_cn == APP

    baseline, baseline_s = _diagnose(lab, o.client, f"https://{APP}:8443/", "--format", "json")
    run, hostile_s = _diagnose(lab, o.client, f"https://{APP}/", "--format", "json")
    print(f"\ndiagnose --timeout {TIMEOUT:g}: ordinary self-signed {baseline_s:.2f} s, "
          f"6 KB token organisation {hostile_s:.2f} s")
    # Within --timeout + 1 s, or (on a loaded machine, where start-up and collection alone
    # can take that long, and vary between two runs) within twice the ordinary certificate's
    # run plus 1 s. The backtracking this guards against took minutes, far beyond either.
    bound = max(TIMEOUT + 1.0, 2 * baseline_s + 1.0)
    assert hostile_s <= bound, (hostile_s, baseline_s)
    for got in (baseline, run):
        assert got.exit_code == 1 and got.report is not None, got.stderr
        assert "Traceback" not in got.stderr and "internal error" not in got.stderr
    report = run.report
    assert report["findings"][0]["rule"] == "tls.self-signed"
    assert report["findings"][0]["rule"] == baseline.report["findings"][0]["rule"]
    failing = [row["layer"] for row in report["layers"] if row["status"] == "fail"]
    assert failing[:1] == ["tls"], report["layers"]
    [tls] = [f for f in report["facts"] if f["kind"] == "probe_tls"]
    assert tls["outcome"] == "tls_untrusted" and tls["elapsed_ms"] < (TIMEOUT + 1) * 1000
    assert tls["subject"].startswith("CN=app.corp.test,O=token.token.")

    text, text_s = _diagnose(lab, o.client, f"https://{APP}/")
    assert text.exit_code == 1 and text_s <= bound, (text_s, text.stderr)
    assert "tls.self-signed" in text.stdout
    assert not any(ch in text.stdout for ch in "\x00\x1b\x07"), text.stdout[:200]
