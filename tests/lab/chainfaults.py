"""Lab scenarios for a server that sends its certificate alone, with no caIssuers URL (AIA) to
fetch the issuer from (T1): a missing intermediate and a private CA look the same from the
client, and both differ from a chain sent whole that ends at an untrusted root.

Each builder starts from :func:`scenarios.office` and serves ``https://app.corp.test/`` from a
real TLS server (``serve.py``) with certificates made for the test (``certs.py``); none of the
certificates here carries an AIA extension. ``test_chainfaults.py`` proves each case with a
plain OpenSSL handshake from the client first, then holds whynet to ``verdict()``.
"""

from __future__ import annotations

from collections.abc import Callable

from .certs import CertificateAuthority, write_chain
from .netlab import Lab
from .scenarios import APP, Scenario, office
from .tlsfaults import ISSUING_CA, ROOT_CA, tls_server

PRIVATE_CA = "Example Private Root CA"


def lone_leaf(lab: Lab, case: str) -> Scenario:
    """The cases:

    * ``missing-intermediate``: Corp Root CA -> Corp Issuing CA 1 -> leaf, no AIA; the client
      trusts the root (SSL_CERT_FILE), the server sends the leaf alone.
    * ``private-ca``: a private root signs the leaf directly, no AIA; the server sends the
      leaf alone and the client was never given the root (its default store).
    * ``root-untrusted``: the server sends leaf and intermediate (a complete chain), the
      client does not trust the root: still ``tls.untrusted-chain``.
    * ``intermediate-in-store`` (control): the server sends the leaf alone, but the client's
      bundle holds the root and the intermediate: it verifies.
    """
    o = office(lab)
    if case == "private-ca":
        private = CertificateAuthority(PRIVATE_CA, lab.certdir)
        leaf = private.issue([APP], stem="private-leaf")
        web = tls_server(o.server, leaf)
        return o.scenario("tls-leaf-only-private-ca", f"https://{APP}/", servers={"web": web},
                          checklist=("T1",), layer="tls", expect="tls.leaf-only-issuer-unknown",
                          info={"ca": private.cert_path, "leaf": leaf})
    root = lab.ca(ROOT_CA)
    issuing = CertificateAuthority(ISSUING_CA, lab.certdir, parent=root)
    leaf = issuing.issue([APP])  # no ca_issuers_url: nothing to fetch the issuer from
    full = write_chain(lab.certdir / "fullchain.pem", leaf.cert, issuing.cert)
    info = {"ca": root.cert_path, "leaf": leaf, "full": full}
    if case == "missing-intermediate":
        web = tls_server(o.server, leaf)
        return o.scenario("tls-leaf-only-no-aia", f"https://{APP}/",
                          env={"SSL_CERT_FILE": str(root.cert_path)}, servers={"web": web},
                          checklist=("T1",), layer="tls", expect="tls.leaf-only-issuer-unknown",
                          info=info)
    if case == "root-untrusted":
        web = tls_server(o.server, leaf, cert_file=full)
        return o.scenario("tls-chain-sent-root-untrusted", f"https://{APP}/",
                          servers={"web": web}, checklist=("T1",), layer="tls",
                          expect="tls.untrusted-chain", info=info)
    bundle = write_chain(lab.certdir / "root-and-issuing.pem", root.cert, issuing.cert)
    web = tls_server(o.server, leaf)
    return o.scenario("tls-leaf-only-intermediate-in-store", f"https://{APP}/",
                      env={"SSL_CERT_FILE": str(bundle)}, servers={"web": web},
                      info={**info, "bundle": bundle})


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "tls-leaf-only-no-aia": lambda lab: lone_leaf(lab, "missing-intermediate"),
    "tls-leaf-only-private-ca": lambda lab: lone_leaf(lab, "private-ca"),
    "tls-chain-sent-root-untrusted": lambda lab: lone_leaf(lab, "root-untrusted"),
}

HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "tls-leaf-only-intermediate-in-store": lambda lab: lone_leaf(lab, "intermediate-in-store"),
}
