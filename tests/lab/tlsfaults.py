"""Scenarios for TLS failures told apart, clock skew, and the wrong service on a port (issue 13:
X30, X31, X32 and T1's dates and chains).

Each builder reuses :func:`scenarios.office` (client, resolver and gateway on a LAN, the server
behind the gateway, ``app.corp.test`` resolving to it) and adds exactly one fault, or none for a
healthy control. Clocks are skewed for real with libfaketime (Debian package ``faketime``),
preloaded into one process: the server (its HTTP ``Date`` runs ahead) or whynet itself (this
host's clock runs behind or ahead). A namespace cannot have its own wall clock, so this is the
way to give one process a wrong time without touching the machine's.

``FAULTS`` and ``HEALTHY`` map each scenario's name to its builder (the lab's count reads them).
"""

from __future__ import annotations

import datetime as dt
import glob
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from .certs import CertificateAuthority, Issued, write_chain
from .netlab import SERVE_PY, Lab, Namespace, Server
from .scenarios import APP, SERVER_IP, Scenario, office

PKI = "pki.corp.test"
ROOT_CA = "Corp Root CA"
ISSUING_CA = "Corp Issuing CA 1"
SSH_BANNER = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
SMTP_BANNER = "220 mail.corp.test ESMTP Postfix (Debian/GNU)"
#: What an OpenSSL client configuration capped at TLS 1.2 looks like (an old hardening guide's).
CAPPED_OPENSSL_CNF = """\
openssl_conf = openssl_init

[openssl_init]
ssl_conf = ssl_configuration

[ssl_configuration]
system_default = tls_system_default

[tls_system_default]
MinProtocol = TLSv1.2
MaxProtocol = TLSv1.2
CipherString = DEFAULT:@SECLEVEL=2
"""


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def faketime_library() -> str:
    """libfaketime's multi-threaded build (whynet's probes run in threads), or skip."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    return found[0]


def faketime_env(offset: str) -> dict[str, str]:
    """The environment that moves one process's wall clock by ``offset`` ("-3d", "+2h").
    Its monotonic clock moves with it (libfaketime's default): with the monotonic clock left
    real (FAKETIME_DONT_FAKE_MONOTONIC), Python's ``time.sleep`` (an absolute
    ``clock_nanosleep`` on CLOCK_MONOTONIC) fails with EINVAL about one call in ten, which
    broke ``subprocess.run``'s wait for ``ip route get`` in whynet's route probe."""
    return {"LD_PRELOAD": faketime_library(), "FAKETIME": offset}


def serve_with_clock(ns: Namespace, offset: str, mode: str, ip: str, port: int,
                     *extra: str) -> Server:
    """A serve.py server whose clock runs ``offset`` from the real one."""
    env = [f"{k}={v}" for k, v in faketime_env(offset).items()]
    argv = ["env", *env, ns.lab.python, str(SERVE_PY), mode, "--host", ip, "--port", str(port),
            *extra]
    return ns.spawn(f"{mode}-skewed", argv, ip=ip, port=port)


def tls_server(ns: Namespace, cert: Issued, *, port: int = 443, versions: str = "",
               cert_file: Path | None = None) -> Server:
    extra = ["--cert", str(cert_file or cert.cert_path), "--key", str(cert.key_path)]
    if versions:
        extra += ["--tls-versions", versions]
    return ns.serve("tls", SERVER_IP, port, *extra)


def _trusting(ca: CertificateAuthority) -> dict[str, str]:
    return {"SSL_CERT_FILE": str(ca.cert_path)}


# --- ground truth from inside a namespace (plain sockets, no whynet) ----------------------------

def negotiate(ip: str, port: int, low: str, high: str, timeout: float = 2.0) -> str | None:
    """The version a client offering ``low``..``high`` (unverified) negotiates, or None."""
    versions = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version, ctx.maximum_version = versions[low], versions[high]
    try:
        with socket.create_connection((ip, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw) as tls:
            return tls.version()
    except (ssl.SSLError, OSError):
        return None


def first_line(ip: str, port: int, timeout: float = 2.0) -> bytes:
    """What the server says before the client says anything (one line)."""
    with socket.create_connection((ip, port), timeout=timeout) as sock:
        data = b""
        while b"\n" not in data:
            chunk = sock.recv(512)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0]


# --- T1: certificate dates ----------------------------------------------------------------------

def tls_expired(lab: Lab) -> Scenario:
    """The server's certificate ran out 30 days ago; both clocks are right (its Date agrees)."""
    o = office(lab)
    ca = lab.ca(ROOT_CA)
    cert = ca.issue([APP], window=(now() - dt.timedelta(days=90), now() - dt.timedelta(days=30)))
    web = tls_server(o.server, cert)
    return o.scenario("tls-expired", f"https://{APP}/", env=_trusting(ca), servers={"web": web},
                      checklist=("T1",), layer="tls", expect="tls.certificate-expired",
                      info={"ca": ca.cert_path})


def tls_not_yet_valid(lab: Lab) -> Scenario:
    """The certificate starts in three days (issued with a future date); both clocks are right."""
    o = office(lab)
    ca = lab.ca(ROOT_CA)
    cert = ca.issue([APP], window=(now() + dt.timedelta(days=3), now() + dt.timedelta(days=60)))
    web = tls_server(o.server, cert)
    return o.scenario("tls-not-yet-valid", f"https://{APP}/", env=_trusting(ca),
                      servers={"web": web}, checklist=("T1", "X31"), layer="tls",
                      expect="tls.certificate-not-yet-valid", info={"ca": ca.cert_path})


# --- T1: a chain without its intermediate -------------------------------------------------------

def _issuing_chain(lab: Lab, o_server: Namespace) -> tuple[CertificateAuthority, Issued, Path,
                                                             Server]:
    """Root -> issuing CA -> leaf with an AIA caIssuers URL; the issuing CA's certificate is
    published (DER) at that URL by a web server on the PKI host."""
    root = lab.ca(ROOT_CA)
    issuing = CertificateAuthority(ISSUING_CA, lab.certdir, parent=root)
    der = lab.certdir / "issuing1.der"
    from cryptography.hazmat.primitives import serialization

    der.write_bytes(issuing.cert.public_bytes(serialization.Encoding.DER))
    der.chmod(0o644)
    leaf = issuing.issue([APP], ca_issuers_url=f"http://{PKI}/issuing1.der")
    full = write_chain(lab.certdir / "fullchain.pem", leaf.cert, issuing.cert)
    pki = o_server.serve("http", SERVER_IP, 80, "--body-file", str(der))
    return root, leaf, full, pki


def tls_chain(lab: Lab, *, complete: bool) -> Scenario:
    """The server sends its certificate without the issuing CA between it and the root the
    client trusts (cert.pem where fullchain.pem was meant); ``complete=True`` is the control."""
    o = office(lab, records={PKI: SERVER_IP})
    root, leaf, full, pki = _issuing_chain(lab, o.server)
    web = tls_server(o.server, leaf, cert_file=full if complete else None)
    servers = {"web": web, "pki": pki}
    if complete:
        return o.scenario("tls-full-chain", f"https://{APP}/", env=_trusting(root),
                          servers=servers, info={"ca": root.cert_path})
    return o.scenario("tls-incomplete-chain", f"https://{APP}/", env=_trusting(root),
                      servers=servers, checklist=("T1",), layer="tls",
                      expect="tls.incomplete-chain",
                      info={"ca": root.cert_path, "full": full, "leaf": leaf})


# --- X32: protocol versions ---------------------------------------------------------------------

def tls_versions(lab: Lab, server_versions: str, *, capped_client: bool = False) -> Scenario:
    """The server accepts only ``server_versions``; ``capped_client``: the client's OpenSSL
    configuration (OPENSSL_CONF) stops at TLS 1.2."""
    o = office(lab)
    ca = lab.ca(ROOT_CA)
    web = tls_server(o.server, ca.issue([APP]), versions=server_versions)
    env = _trusting(ca)
    if capped_client:
        cnf = lab.workdir / "capped-openssl.cnf"
        cnf.write_text(CAPPED_OPENSSL_CNF)
        env["OPENSSL_CONF"] = str(cnf)
    target = f"https://{APP}/"
    info = {"ca": ca.cert_path, "versions": server_versions}
    if server_versions in ("1.0-1.1",):
        return o.scenario("tls-server-too-old", target, env=env, servers={"web": web},
                          checklist=("X32",), layer="tls",
                          expect="tls.server-protocol-too-old", info=info)
    if capped_client:
        return o.scenario("tls-client-capped", target, env=env, servers={"web": web},
                          checklist=("X32",), layer="tls", expect="tls.client-protocol-capped",
                          info=info)
    return o.scenario(f"tls-only-{server_versions.split('-')[0]}", target, env=env,
                      servers={"web": web}, info=info)


# --- X31: clock skew ----------------------------------------------------------------------------

def client_clock(lab: Lab, offset: str) -> Scenario:
    """This host's clock (whynet's, through libfaketime) runs ``offset`` from the real time;
    the server's clock is right and its certificate was issued an hour ago for 30 days. Behind,
    the certificate looks not yet valid; far enough ahead, expired."""
    o = office(lab)
    ca = lab.ca(ROOT_CA)
    cert = ca.issue([APP], window=(now() - dt.timedelta(hours=1), now() + dt.timedelta(days=30)))
    web = tls_server(o.server, cert)
    env = {**_trusting(ca), **faketime_env(offset)}
    name = "client-clock-behind" if offset.startswith("-") else "client-clock-ahead"
    return o.scenario(name, f"https://{APP}/", env=env, servers={"web": web},
                      checklist=("X31", "T1"), layer="tls", expect="clock.this-host-clock-wrong",
                      info={"ca": ca.cert_path, "offset": offset})


def server_clock(lab: Lab, offset: str) -> Scenario:
    """The web server's clock runs ``offset`` from the real one (libfaketime on its process):
    its Date header says so. Two hours is a fault; twenty seconds is the control."""
    o = office(lab)
    web = serve_with_clock(o.server, offset, "http", SERVER_IP, 80, "--body", "ok")
    target = f"http://{APP}/"
    if offset in ("+20s", "-20s"):
        return o.scenario("server-clock-close", target, servers={"web": web},
                          info={"offset": offset})
    return o.scenario("server-clock-skew", target, servers={"web": web}, checklist=("X31",),
                      layer=None, expect="clock.server-date-skew", info={"offset": offset})


# --- X30: the wrong service on a port -----------------------------------------------------------

def ssh_on_https_port(lab: Lab) -> Scenario:
    """An SSH server answers on 443 (a port forward pointing at the wrong machine's 22)."""
    o = office(lab)
    ssh = o.server.serve("greet", SERVER_IP, 443, "--banner", SSH_BANNER,
                         "--reply", "Invalid SSH identification string.", "--close-after-reply")
    return o.scenario("ssh-on-https-port", f"https://{APP}/", servers={"ssh": ssh},
                      checklist=("X30",), layer="tls", expect="ports.other-service-on-tls-port",
                      info={"port": 443, "banner": SSH_BANNER})


def smtp_on_http_port(lab: Lab) -> Scenario:
    """A mail server answers on port 80: the HTTP request gets an SMTP greeting and errors."""
    o = office(lab)
    smtp = o.server.serve("greet", SERVER_IP, 80, "--banner", SMTP_BANNER,
                          "--reply", "502 5.5.2 Error: command not recognized")
    return o.scenario("smtp-on-http-port", f"http://{APP}/", servers={"smtp": smtp},
                      checklist=("X30",), layer="application",
                      expect="ports.other-service-on-http-port",
                      info={"port": 80, "banner": SMTP_BANNER})


def ssh_on_ssh_port(lab: Lab) -> Scenario:
    """The control: the SSH banner on 22 where ssh:// asks for it."""
    o = office(lab)
    ssh = o.server.serve("greet", SERVER_IP, 22, "--banner", SSH_BANNER,
                         "--reply", "Invalid SSH identification string.", "--close-after-reply")
    return o.scenario("ssh-on-ssh-port", f"ssh://{APP}", servers={"ssh": ssh},
                      info={"port": 22, "banner": SSH_BANNER})


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "tls-expired": tls_expired,
    "tls-not-yet-valid": tls_not_yet_valid,
    "tls-incomplete-chain": lambda lab: tls_chain(lab, complete=False),
    "tls-server-too-old": lambda lab: tls_versions(lab, "1.0-1.1"),
    "tls-client-capped": lambda lab: tls_versions(lab, "1.3-1.3", capped_client=True),
    "client-clock-behind": lambda lab: client_clock(lab, "-3d"),
    "client-clock-ahead": lambda lab: client_clock(lab, "+90d"),
    "server-clock-skew": lambda lab: server_clock(lab, "+2h"),
    "ssh-on-https-port": ssh_on_https_port,
    "smtp-on-http-port": smtp_on_http_port,
}

HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "tls-full-chain": lambda lab: tls_chain(lab, complete=True),
    "tls-only-1.2": lambda lab: tls_versions(lab, "1.2-1.2"),
    "tls-only-1.3": lambda lab: tls_versions(lab, "1.3-1.3"),
    "server-clock-close": lambda lab: server_clock(lab, "+20s"),
    "ssh-on-ssh-port": ssh_on_ssh_port,
}
