"""Findings about the machine's own configuration, from whynet run in a real namespace with a
real HOME and environment: per-environment markers (A1), credential files (A2), a variable
that outranks a credentials file (A3), a CA override pointing nowhere (T1), VM adapters (R7).
"""

from __future__ import annotations

from .netlab import Lab, Namespace


def _machine(lab: Lab) -> Namespace:
    """A host with an address, a gateway and a DNS server: healthy networking."""
    client, gw = lab.host("client"), lab.router("gw")
    c1, _ = lab.link(client, gw, "10.63.1.2/24", "10.63.1.1/24")
    client.default_route("10.63.1.1", dev=c1)
    gw.dnsmasq("10.63.1.1", {"app.lab": "10.63.1.1"})
    client.write_resolv_conf(["10.63.1.1"])
    return client


def _top(lab: Lab, ns: Namespace, env: dict[str, str] | None = None) -> tuple[int, list]:
    run = lab.run_whynet(ns, "diagnose", "--format", "json", env=env)
    assert run.report is not None, run.stderr
    return run.exit_code, run.report["findings"]


def test_env_credentials_outrank_the_credentials_file(lab: Lab) -> None:
    client = _machine(lab)
    aws = lab.home() / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text("[default]\naws_access_key_id = AKIAFILE\n")
    (aws / "credentials").chmod(0o600)
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "CANARY-secret-1"}
    code, findings = _top(lab, client, env)
    assert code == 1
    assert findings[0]["rule"] == "credentials.env-outranks-file", findings
    assert "A3" in findings[0]["checklist"]
    assert "CANARY-secret-1" not in str(findings)


def test_world_readable_credentials_file(lab: Lab) -> None:
    client = _machine(lab)
    pgpass = lab.home() / ".pgpass"
    pgpass.write_text("db.lab:5432:*:app:CANARY-secret-2\n")
    pgpass.chmod(0o644)
    code, findings = _top(lab, client)
    assert code == 1
    assert findings[0]["rule"] == "credentials.file-unusable" and "A2" in findings[0]["checklist"]
    assert "CANARY-secret-2" not in str(findings)


def test_ca_override_pointing_at_a_missing_file(lab: Lab) -> None:
    client = _machine(lab)
    code, findings = _top(lab, client, {"REQUESTS_CA_BUNDLE": "/nonexistent/corp-ca.pem"})
    assert code == 1
    assert findings[0]["rule"] == "tls.trust-store-override-missing"
    assert "T1" in findings[0]["checklist"]


def test_environment_marker_is_reported_as_info(lab: Lab) -> None:
    client = _machine(lab)
    code, findings = _top(lab, client, {"ASPNETCORE_ENVIRONMENT": "Staging"})
    assert code == 0  # context, not a fault
    assert findings[0]["rule"] == "application.environment-marker"
    assert "A1" in findings[0]["checklist"] and "Staging" in findings[0]["explanation"]


def test_vm_bridge_is_recognised(lab: Lab) -> None:
    client = _machine(lab)
    client.ip("link", "add", "virbr0", "type", "bridge")
    client.ip("link", "set", "virbr0", "up")
    client.add_address("virbr0", "192.168.122.1/24")
    code, findings = _top(lab, client)
    assert code == 0
    assert findings[0]["rule"] == "link.virtual-adapters" and "R7" in findings[0]["checklist"]


def test_container_network_is_masqueraded(lab: Lab) -> None:
    """A container host: docker0 with 172.17.0.0/16 and Docker's masquerade rule (N2)."""
    client = _machine(lab)
    client.ip("link", "add", "docker0", "type", "bridge")
    client.ip("link", "set", "docker0", "up")
    client.add_address("docker0", "172.17.0.1/16")
    client.nft(
        "table ip nat {\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        '    ip saddr 172.17.0.0/16 oifname != "docker0" masquerade\n'
        "  }\n"
        "}\n"
    )
    code, findings = _top(lab, client)
    assert code == 0  # context, not a fault
    assert findings[0]["rule"] == "nat.virtual-network-masqueraded", findings
    assert "N2" in findings[0]["checklist"] and "172.17.0.0/16" in findings[0]["explanation"]
