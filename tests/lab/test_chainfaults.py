"""Lab proofs for ``chainfaults``: a lone leaf without AIA whose issuer no store knows (a
missing intermediate, a private CA), a whole chain ending at an untrusted root, and a lone
leaf whose intermediate the client's store holds. Each is shown with a plain OpenSSL
handshake from the client first, then whynet is held to ``verdict()``."""

from __future__ import annotations

import pytest

from . import chainfaults as C
from . import tlsfaults as TF
from .netlab import Lab
from .registry import runs
from .scenarios import APP, SERVER_IP, Scenario
from .test_coverage_scenarios import verdict
from .test_tlsfaults import tls_fact

pytestmark = pytest.mark.lab
UNKNOWN_ISSUER = "unable to get local issuer certificate"


@runs("tls-leaf-only-no-aia")
def test_leaf_only_missing_intermediate(lab: Lab, sc: Scenario) -> None:
    truth = sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"])
    assert not truth.ok and truth.error == UNKNOWN_ISSUER and truth.issuer_cn == TF.ISSUING_CA
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert (fact["chain_length"], fact["issuer_url"], fact["issuer_in_store"]) == (1, None, False)
    assert fact["missing_issuer"] == f"CN={TF.ISSUING_CA},O=whynet lab"
    explanation = report["findings"][0]["explanation"]
    assert "leaves out an intermediate" in explanation and "private CA" in explanation
    # It was the missing intermediate: with the full chain on the server, the client verifies.
    sc.servers["web"].stop()
    TF.tls_server(sc.nodes["server"], sc.info["leaf"], cert_file=sc.info["full"])
    assert sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"]).ok


@runs("tls-leaf-only-private-ca")
def test_leaf_only_private_ca(lab: Lab, sc: Scenario) -> None:
    truth = sc.client.tls(SERVER_IP, 443, APP)
    assert not truth.ok and truth.error == UNKNOWN_ISSUER and truth.issuer_cn == C.PRIVATE_CA
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert (fact["chain_length"], fact["issuer_in_store"]) == (1, False)
    # It was the private CA: trusting its root, the same lone leaf verifies.
    assert sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"]).ok


@runs("tls-chain-sent-root-untrusted")
def test_whole_chain_untrusted_root(lab: Lab, sc: Scenario) -> None:
    truth = sc.client.tls(SERVER_IP, 443, APP)
    assert not truth.ok and truth.error == UNKNOWN_ISSUER
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert (fact["chain_length"], fact["issuer_in_store"]) == (2, False)
    assert fact["missing_issuer"] == f"CN={TF.ROOT_CA},O=whynet lab"
    assert sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"]).ok


@runs("tls-leaf-only-intermediate-in-store")
def test_leaf_only_with_the_intermediate_in_the_store(lab: Lab, sc: Scenario) -> None:
    assert sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["bundle"]).ok
    assert not sc.client.tls(SERVER_IP, 443, APP, cafile=sc.info["ca"]).ok  # root alone: no
    report = verdict(lab, sc)
    fact = tls_fact(report)
    assert (fact["outcome"], fact["chain_length"]) == ("tls_ok", 1)
