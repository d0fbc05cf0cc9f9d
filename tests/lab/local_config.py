"""Scenarios about the machine's own configuration, on a host whose networking is healthy:
a variable that outranks a credentials file (A3), a credentials file others can read (A2), a
CA override pointing nowhere (T1); and set-ups whynet only describes (an environment marker,
a VM bridge, a masqueraded container network: information, never a warning).

``test_local_config.py`` runs whynet with no target, as ``whynet diagnose`` alone.
"""

from __future__ import annotations

from collections.abc import Callable

from .healthy import _bridge
from .netlab import Lab, Namespace
from .scenarios import Scenario


def _machine(lab: Lab) -> Namespace:
    """A host with an address, a gateway and a DNS server: healthy networking."""
    client, gw = lab.host("client"), lab.router("gw")
    c1, _ = lab.link(client, gw, "10.63.1.2/24", "10.63.1.1/24")
    client.default_route("10.63.1.1", dev=c1)
    gw.dnsmasq("10.63.1.1", {"app.lab": "10.63.1.1"})
    client.write_resolv_conf(["10.63.1.1"])
    return client


def env_outranks_credentials_file(lab: Lab) -> Scenario:
    """~/.aws/credentials holds one key, AWS_ACCESS_KEY_ID another: the variable wins."""
    client = _machine(lab)
    aws = lab.home() / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text("[default]\naws_access_key_id = AKIAFILE\n")
    (aws / "credentials").chmod(0o600)
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "CANARY-secret-1"}
    return Scenario("env-outranks-credentials-file", client, None, env=env, checklist=("A3",),
                    rules=("credentials.env-outranks-file",), info={"secret": "CANARY-secret-1"},
                    expect="AWS_ACCESS_KEY_ID outranks ~/.aws/credentials")


def world_readable_credentials(lab: Lab) -> Scenario:
    """~/.pgpass is mode 0644: libpq ignores a password file others can read."""
    client = _machine(lab)
    pgpass = lab.home() / ".pgpass"
    pgpass.write_text("db.lab:5432:*:app:CANARY-secret-2\n")
    pgpass.chmod(0o644)
    return Scenario("world-readable-credentials", client, None, checklist=("A2",),
                    rules=("credentials.file-unusable",), info={"secret": "CANARY-secret-2"},
                    expect="~/.pgpass is readable by others, so libpq ignores it")


def ca_override_missing(lab: Lab) -> Scenario:
    """REQUESTS_CA_BUNDLE names a file that does not exist."""
    client = _machine(lab)
    return Scenario("ca-override-missing", client, None,
                    env={"REQUESTS_CA_BUNDLE": "/nonexistent/corp-ca.pem"}, checklist=("T1",),
                    rules=("tls.trust-store-override-missing",),
                    expect="the CA bundle override points at a missing file")


def environment_marker(lab: Lab) -> Scenario:
    """ASPNETCORE_ENVIRONMENT=Staging: context for the user (A1), not a fault."""
    client = _machine(lab)
    return Scenario("environment-marker", client, None,
                    env={"ASPNETCORE_ENVIRONMENT": "Staging"},
                    info={"rule": "application.environment-marker", "item": "A1",
                          "mentions": "Staging"},
                    expect="the environment marker is reported as information")


def vm_bridge(lab: Lab) -> Scenario:
    """libvirt's virbr0 with 192.168.122.1/24 (R7): recognised, not blamed."""
    client = _machine(lab)
    _bridge(client, "virbr0", "192.168.122.1/24")
    return Scenario("vm-bridge", client, None,
                    info={"rule": "link.virtual-adapters", "item": "R7", "mentions": "virbr0"},
                    expect="the VM bridge is reported as information")


def container_masquerade(lab: Lab) -> Scenario:
    """A container host: docker0 with 172.17.0.0/16 and Docker's masquerade rule (N2)."""
    client = _machine(lab)
    _bridge(client, "docker0", "172.17.0.1/16")
    client.nft(
        "table ip nat {\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        '    ip saddr 172.17.0.0/16 oifname != "docker0" masquerade\n'
        "  }\n"
        "}\n"
    )
    return Scenario("container-masquerade", client, None,
                    info={"rule": "nat.virtual-network-masqueraded", "item": "N2",
                          "mentions": "172.17.0.0/16"},
                    expect="the masqueraded container network is reported as information")


#: Registered in ``registry.py``: name -> builder(lab).
FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    "env-outranks-credentials-file": env_outranks_credentials_file,
    "world-readable-credentials": world_readable_credentials,
    "ca-override-missing": ca_override_missing,
}
HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    "environment-marker": environment_marker,
    "vm-bridge": vm_bridge,
    "container-masquerade": container_masquerade,
}
