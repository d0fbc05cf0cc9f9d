"""No secret reaches a fact: canary values planted in the environment, in credential files and
in firewall rule comments appear nowhere in the facts of these collectors, raw or in a snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.collectors import (
    certstores,
    credentials,
    dhcp_wpad,
    environment,
    firewalld,
    gnome_proxy,
    iptables,
    kde_proxy,
    nftables,
    ufw,
)
from engine.collectors.base import CollectContext
from engine.facts import Fact, Snapshot

CANARY = "CANARY-7f3a9c"
MODULES = (nftables, iptables, ufw, firewalld, environment, credentials, certstores,
           gnome_proxy, kde_proxy, dhcp_wpad)

SECRET_ENV = {
    "AWS_ACCESS_KEY_ID": f"AKIA{CANARY}",
    "AWS_SECRET_ACCESS_KEY": CANARY,
    "AWS_SESSION_TOKEN": CANARY,
    "GITHUB_TOKEN": CANARY,
    "GH_TOKEN": CANARY,
    "PGPASSWORD": CANARY,
    "NPM_TOKEN": CANARY,
    "VAULT_TOKEN": CANARY,
    "HTTPS_PROXY": f"http://user:{CANARY}@proxy:3128",
    "http_proxy": f"http://{CANARY}:{CANARY}@proxy.corp:8080/",
    "ALL_PROXY": f"socks5://bob:{CANARY}@[2001:db8::1]:1080",
    "ftp_proxy": f"alice:{CANARY}@ftp-proxy:2121",
    "NO_PROXY": "localhost,.corp",
    "JAVA_TOOL_OPTIONS": f"-Djavax.net.ssl.trustStore=/opt/t.jks "
                         f"-Djavax.net.ssl.trustStorePassword={CANARY}",
    "NODE_ENV": "production",
}
SECRET_FILES = {
    ".netrc": f"machine example.com login u password {CANARY}\n",
    ".aws/credentials": f"[default]\naws_secret_access_key = {CANARY}\n",
    ".aws/config": f"[default]\nregion = {CANARY}\n",
    ".pgpass": f"db:5432:*:u:{CANARY}\n",
    ".git-credentials": f"https://u:{CANARY}@github.com\n",
    ".docker/config.json": json.dumps({"auths": {"r": {"auth": CANARY}}}),
    ".kube/config": f"users:\n- user:\n    token: {CANARY}\n",
    ".config/gh/hosts.yml": f"github.com:\n    oauth_token: {CANARY}\n",
    "bundle.pem": f"-----BEGIN CERTIFICATE-----\n{CANARY}\n-----END CERTIFICATE-----\n",
    ".config/kioslaverc": f"[Proxy Settings]\nProxy Config Script=http://u:{CANARY}@pac/p.pac"
                          f"\nProxyType=2\nhttpProxy=http://u:{CANARY}@proxy 3128\n",
    "leases/dhcp/dhclient.leases": 'lease {\n  interface "eth0";\n  option wpad '
                                   f'"http://u:{CANARY}@wpad/wpad.dat";\n}}\n',
}


@pytest.fixture
def ctx(tmp_path: Path) -> CollectContext:
    for rel, text in SECRET_FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    env = {**SECRET_ENV, "SSL_CERT_FILE": str(tmp_path / "bundle.pem"),
           "REQUESTS_CA_BUNDLE": str(tmp_path / ".netrc")}
    return CollectContext(env=env, home=tmp_path, var_lib=tmp_path / "leases")


def _assert_clean(facts: list[Fact]) -> None:
    raw = json.dumps([f.to_json() for f in facts], default=str)
    assert CANARY not in raw
    assert CANARY not in Snapshot(facts).dumps()


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_no_canary_in_collected_facts(module: object, ctx: CollectContext) -> None:
    facts = module.collect(ctx)  # type: ignore[attr-defined]
    assert facts
    _assert_clean(facts)


def test_the_canaries_were_really_planted(ctx: CollectContext) -> None:
    """Guard against a test that passes because nothing was read: the variables are seen."""
    facts = {f.id: f for f in environment.collect(ctx) + credentials.collect(ctx)}
    assert facts["env_var:AWS_SECRET_ACCESS_KEY"]["present"] is True
    assert facts["env_var:HTTPS_PROXY"]["has_credentials"] is True
    assert facts["credential_source:netrc:file"]["present"] is True
    trust = {f.id: f for f in certstores.env_override_facts(ctx.env)}
    assert trust["trust_store:env:SSL_CERT_FILE"]["errors"] == 1
    [kde] = kde_proxy.collect(ctx)
    assert kde["url"] == "http://***@pac/p.pac"
    [lease] = dhcp_wpad.collect(ctx)
    assert lease["url"] == "http://***@wpad/wpad.dat"


def test_rule_comments_with_secrets_are_redacted() -> None:
    nft_json = json.dumps({"nftables": [{"rule": {
        "family": "inet", "table": "t", "chain": "c", "handle": 1,
        "comment": f"password={CANARY}",
        "expr": [{"accept": None}]}}]})
    save = ("*filter\n:INPUT ACCEPT [0:0]\n"
            f'-A INPUT -m comment --comment "token={CANARY}" -j ACCEPT\nCOMMIT\n')
    status = ("Status: active\n\nTo                         Action      From\n"
              "--                         ------      ----\n"
              f"22/tcp                     ALLOW IN    Anywhere                   "
              f"# secret={CANARY}\n")
    zones = (f"public (active)\n  target: default\n  rich rules: \n"
             f'\trule family="ipv4" source address="10.0.0.1" log prefix="password={CANARY}" '
             "accept\n")
    facts = [*nftables.parse_ruleset(nft_json), *iptables.parse_save(save, "iptables-save"),
             *ufw.parse_status(status),
             *firewalld.parse_zones(zones, "public", {"command": "firewall-cmd"})]
    assert any(f.kind == "firewall_rule" for f in facts)
    _assert_clean(facts)
