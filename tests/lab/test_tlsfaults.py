"""Lab proofs for TLS failures told apart (dates, chain, versions), clock skew and the wrong
service on a port. Each test proves its fault with plain sockets inside the client namespace,
then holds whynet to :func:`test_coverage_scenarios.verdict`: the expected rule ranked first,
the expected first failing layer, no other error; each healthy control: no warning at all.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from engine.expr import duration

from . import tlsfaults as TF
from .netlab import Lab
from .registry import runs
from .scenarios import APP, SERVER_IP, Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab


def tls_fact(report: dict[str, Any]) -> dict[str, Any]:
    [fact] = [f for f in report["facts"] if f["kind"] == "probe_tls"]
    return fact


def http_fact(report: dict[str, Any]) -> dict[str, Any]:
    [fact] = [f for f in report["facts"] if f["kind"] == "probe_http"]
    return fact


# --- dates --------------------------------------------------------------------------------------

@runs("tls-expired")
def test_tls_expired(lab: Lab, sc: Scenario) -> None:
    truth = sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"])
    assert not truth.ok and truth.error == "certificate has expired"
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert (fact["validity"], fact["verify_code"]) == ("expired", 10)
    assert 29 * 86400 < fact["outside_validity_s"] < 31 * 86400
    assert abs(http_fact(report)["clock_offset_s"]) <= 2  # the server's clock agrees
    assert "30 d" in report["findings"][0]["explanation"]


@runs("tls-not-yet-valid")
def test_tls_not_yet_valid(lab: Lab, sc: Scenario) -> None:
    truth = sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"])
    assert not truth.ok and truth.error == "certificate is not yet valid"
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert (fact["validity"], fact["verify_code"]) == ("not_yet_valid", 9)
    assert "2 d 23 h" in report["findings"][0]["explanation"]


# --- chain --------------------------------------------------------------------------------------

@runs("tls-incomplete-chain")
def test_tls_incomplete_chain(lab: Lab, sc: Scenario) -> None:
    truth = sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"])
    assert not truth.ok and truth.error == "unable to get local issuer certificate"
    assert truth.issuer_cn == TF.ISSUING_CA
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert fact["chain_length"] == 1 and fact["chain_incomplete"] is True
    assert fact["missing_issuer"] == f"CN={TF.ISSUING_CA},O=whynet lab"
    assert fact["issuer_url"] == f"http://{TF.PKI}/issuing1.der"
    # With the full chain on the server, the same client verifies: only the chain was wrong.
    sc.servers["web"].stop()
    TF.tls_server(sc.nodes["server"], sc.info["leaf"], cert_file=sc.info["full"])
    assert sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"]).ok


@runs("tls-full-chain")
def test_tls_full_chain(lab: Lab, sc: Scenario) -> None:
    assert sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"]).ok
    report = verdict(lab, sc)
    assert tls_fact(report)["chain_length"] == 2


# --- protocol versions --------------------------------------------------------------------------

@runs("tls-server-too-old")
def test_tls_server_too_old(lab: Lab, sc: Scenario) -> None:
    assert sc.client.call(TF.negotiate, SERVER_IP, 443, "1.2", "1.3") is None
    assert sc.client.call(TF.negotiate, SERVER_IP, 443, "1.0", "1.1") == "TLSv1.1"
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert fact["server_versions"] == ["TLSv1", "TLSv1.1"]
    assert (fact["client_min_version"], fact["version_gap"]) == ("TLSv1.2", "server_older")


@runs("tls-client-capped")
def test_tls_client_capped(lab: Lab, sc: Scenario) -> None:
    assert sc.client.call(TF.negotiate, SERVER_IP, 443, "1.2", "1.2") is None
    assert sc.client.call(TF.negotiate, SERVER_IP, 443, "1.2", "1.3") == "TLSv1.3"
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert fact["server_versions"] == ["TLSv1.3"]
    assert (fact["client_max_version"], fact["version_gap"]) == ("TLSv1.2", "server_newer")
    assert fact["client_openssl_config"] == sc.env["OPENSSL_CONF"]
    # The same client without the capped configuration connects.
    uncapped = {k: v for k, v in sc.env.items() if k != "OPENSSL_CONF"}
    verdict(lab, dataclasses.replace(sc, env=uncapped, checklist=(), expect="", layer=None))


@runs("tls-only-1.2", "tls-only-1.3")
def test_tls_one_version_server(lab: Lab, sc: Scenario) -> None:
    version = "TLSv" + sc.name.rsplit("-", 1)[1]
    assert sc.client.call(TF.negotiate, SERVER_IP, 443, "1.0", "1.3") == version
    report = verdict(lab, sc)
    assert tls_fact(report)["version"] == version


# --- clock skew ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("sc", "validity"), [("client-clock-behind", "not_yet_valid"),
                                              ("client-clock-ahead", "expired")],
                         indirect=["sc"])
def test_client_clock_wrong(lab: Lab, sc: Scenario, validity: str) -> None:
    name = sc.name
    assert sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"]).ok  # right time: it works
    report = verdict(lab, sc)
    fact, http = tls_fact(report), http_fact(report)
    assert fact["validity"] == validity
    days = 3 if name.endswith("behind") else -90
    assert abs(http["clock_offset_s"] - days * 86400) < 120, http["clock_offset_s"]
    supporting = [s["rule"] for s in report["findings"][0]["supporting"]]
    assert ("tls.certificate-not-yet-valid" if days > 0 else "tls.certificate-expired") \
        in supporting


@runs("server-clock-skew")
def test_server_clock_skew(lab: Lab, sc: Scenario) -> None:
    report = verdict(lab, sc)
    offset = http_fact(report)["clock_offset_s"]
    assert abs(offset - 7200) < 60  # the Date truncates to the second: 7199 is as right
    assert f"{duration(offset)} ahead" in report["findings"][0]["explanation"]


@runs("server-clock-close")
def test_server_clock_close(lab: Lab, sc: Scenario) -> None:
    report = verdict(lab, sc)
    assert 15 <= http_fact(report)["clock_offset_s"] <= 25  # seen, and below the threshold


# --- the wrong service on a port ----------------------------------------------------------------

@runs("ssh-on-https-port")
def test_ssh_on_https_port(lab: Lab, sc: Scenario) -> None:
    assert sc.client.call(TF.first_line, SERVER_IP, 443) == TF.SSH_BANNER.encode()
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert (fact["outcome"], fact["greeting_protocol"], fact["greeting"]) == (
        "not_tls", "SSH", TF.SSH_BANNER)


@runs("smtp-on-http-port")
def test_smtp_on_http_port(lab: Lab, sc: Scenario) -> None:
    assert sc.client.call(TF.first_line, SERVER_IP, 80) == TF.SMTP_BANNER.encode()
    report = verdict(lab, sc)
    http = http_fact(report)
    assert (http["greeting_protocol"], http["greeting"]) == ("SMTP", TF.SMTP_BANNER)


@runs("ssh-on-ssh-port")
def test_ssh_on_ssh_port(lab: Lab, sc: Scenario) -> None:
    assert sc.client.call(TF.first_line, SERVER_IP, 22) == TF.SSH_BANNER.encode()
    verdict(lab, sc)
