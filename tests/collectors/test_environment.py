"""environment collector: env_var facts (present or not, values only when not secret) and the
effective proxy per scheme."""

from __future__ import annotations

import pytest

from engine.collectors import environment
from engine.collectors.base import CollectContext
from engine.facts import Fact


def _facts(env: dict[str, str]) -> dict[str, Fact]:
    return {f.id: f for f in environment.collect(CollectContext(env=env))}


def test_every_known_variable_is_recorded_set_or_not() -> None:
    facts = _facts({"NODE_ENV": "production"})
    env_vars = [f for f in facts.values() if f.kind == "env_var"]
    assert len(env_vars) == len(environment.VARIABLES)
    assert facts["env_var:NODE_ENV"]["present"] is True
    assert facts["env_var:NODE_ENV"]["value"] == "production"
    assert facts["env_var:NODE_ENV"]["category"] == "environment_marker"
    unset = facts["env_var:ASPNETCORE_ENVIRONMENT"]
    assert (unset["present"], unset["value"], unset["redacted"]) == (False, None, False)
    assert unset.source == {"env": "ASPNETCORE_ENVIRONMENT"}


@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GITHUB_TOKEN",
                                  "GH_TOKEN", "PGPASSWORD", "AWS_ACCESS_KEY_ID", "NPM_TOKEN"])
def test_secret_values_are_withheld(name: str) -> None:
    f = _facts({name: "s3cr3t-value"})[f"env_var:{name}"]
    assert (f["present"], f["value"], f["redacted"], f["category"]) == \
        (True, None, True, "credential")


def test_path_like_credential_variables_keep_their_value() -> None:
    facts = _facts({"KUBECONFIG": "/home/u/.kube/other", "AWS_PROFILE": "prod"})
    assert facts["env_var:KUBECONFIG"]["value"] == "/home/u/.kube/other"
    assert facts["env_var:AWS_PROFILE"]["value"] == "prod"


def test_proxy_url_credentials_are_stripped() -> None:
    f = _facts({"HTTPS_PROXY": "http://user:p%40ss@proxy.corp:3128"})["env_var:HTTPS_PROXY"]
    assert (f["value"], f["has_credentials"], f["redacted"]) == \
        ("http://proxy.corp:3128", True, False)
    bare = _facts({"https_proxy": "bob:pw@10.0.0.1:8080"})["env_var:https_proxy"]
    assert (bare["value"], bare["has_credentials"]) == ("10.0.0.1:8080", True)


def test_java_tool_options_keeps_only_the_truststore() -> None:
    opts = ("-Xmx1g -Djavax.net.ssl.trustStore=/opt/corp.jks "
            "-Djavax.net.ssl.trustStorePassword=hunter2")
    f = _facts({"JAVA_TOOL_OPTIONS": opts})["env_var:JAVA_TOOL_OPTIONS"]
    assert (f["value"], f["redacted"]) == ("/opt/corp.jks", True)
    assert _facts({"JAVA_TOOL_OPTIONS": "-Xmx1g"})["env_var:JAVA_TOOL_OPTIONS"]["value"] is None


def test_tls_overrides() -> None:
    facts = _facts({"NODE_TLS_REJECT_UNAUTHORIZED": "0", "SSL_CERT_FILE": "/x.pem"})
    assert facts["env_var:NODE_TLS_REJECT_UNAUTHORIZED"]["value"] == "0"
    assert facts["env_var:SSL_CERT_FILE"]["category"] == "tls_override"


def test_lowercase_wins_and_curl_ignores_upper_http_proxy() -> None:
    facts = _facts({
        "https_proxy": "http://low:3128", "HTTPS_PROXY": "http://up:3128",
        "HTTP_PROXY": "http://upper-http:8080", "NO_PROXY": "a.example", "no_proxy":
        "localhost, .corp,10.0.0.0/8,,",
    })
    https = facts["proxy_setting:https"]
    assert (https["url"], https["host"], https["port"], https["variable"]) == \
        ("http://low:3128", "low", 3128, "https_proxy")
    assert https["ignored"] == ["HTTPS_PROXY"]
    assert https["no_proxy"] == ["localhost", ".corp", "10.0.0.0/8"]
    http = facts["proxy_setting:http"]
    assert (http["url"], http["variable"], http["ignored"]) == (None, None, ["HTTP_PROXY"])


def test_all_proxy_fallback_and_no_proxy_upper() -> None:
    facts = _facts({"ALL_PROXY": "socks5://[2001:db8::1]:1080", "NO_PROXY": "*"})
    for scheme in ("http", "https", "ftp", "all"):
        p = facts[f"proxy_setting:{scheme}"]
        assert (p["variable"], p["host"], p["port"]) == ("ALL_PROXY", "2001:db8::1", 1080)
        assert p["no_proxy"] == ["*"]


def test_no_proxy_at_all() -> None:
    p = _facts({})["proxy_setting:https"]
    assert (p["url"], p["host"], p["port"], p["no_proxy"], p["ignored"]) == \
        (None, None, None, [], [])


def test_proxy_without_port_and_with_credentials() -> None:
    p = _facts({"https_proxy": "http://u:pw@proxy.corp/"})["proxy_setting:https"]
    assert (p["url"], p["host"], p["port"], p["has_credentials"]) == \
        ("http://proxy.corp/", "proxy.corp", None, True)
