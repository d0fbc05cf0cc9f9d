"""Lab proofs for ``fwfilefaults``: the firewall file a user edits against the rules loaded.

Each case is shown from the kernel's side first (``nft list ruleset`` in the namespace, plain
sockets from the other machines), then whynet runs in the namespace and is held to
``verdict()`` (the expected rule on top, the expected first failing layer, no other error);
then the advice is followed (the file corrected and reloaded) and whynet must be silent. The
control must give no warning, and must show that whynet read the file and matched its lines.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from . import fwfilefaults as F
from . import scenarios as S
from .netlab import Lab
from .registry import runs
from .scenarios import Scenario
from .test_coverage_scenarios import verdict

pytestmark = pytest.mark.lab


def rules_at(report: dict[str, Any], severity: str) -> list[str]:
    return [f["rule"] for f in report["findings"] if f["severity"] == severity]


def facts_of(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in report["facts"] if f["kind"] == kind]


def healthy(sc: Scenario) -> Scenario:
    """The same scenario judged as a control (after the fix): no warning at all."""
    return dataclasses.replace(sc, checklist=(), expect="", layer=None)


def conf_line(text: str, needle: str) -> int:
    [n] = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return n


@runs("nftables-conf-host-bits")
def test_host_bits_in_nftables_conf(lab: Lab, sc: Scenario) -> None:
    # Ground truth: the kernel kept the network part, and lets the whole LAN in.
    live = sc.client.exec("nft", "list", "ruleset").stdout
    assert "ip saddr 10.20.0.0/24 tcp dport 22 accept" in live, live
    assert F.ADMIN_HOST not in live
    assert sc.nodes["dns"].connect(S.CLIENT_IP, 22, timeout=1.0).outcome == "open"  # not .5
    assert sc.nodes["server"].connect(S.CLIENT_IP, 22, timeout=1.0).outcome == "timeout"
    report = verdict(lab, sc)
    assert rules_at(report, "warning") == ["firewall.cidr-host-bits-set"]
    top = report["findings"][0]
    line = conf_line(F.HOST_BITS_CONF, f"{F.ADMIN_HOST}/24")
    assert f"{F.NFTABLES_CONF} line {line}" in top["explanation"], top["explanation"]
    assert "keeps only the network part (10.20.0.0/24)" in top["explanation"]
    assert not facts_of(report, "firewall_file_drift")  # loaded as written: no drift
    # The advice: write the one host meant, reload. The LAN is shut out, whynet is silent.
    F.load_conf(sc.client, F.HOST_BITS_CONF.replace(f"{F.ADMIN_HOST}/24", F.ADMIN_HOST))
    assert sc.nodes["dns"].connect(S.CLIENT_IP, 22, timeout=1.0).outcome == "timeout"
    verdict(lab, healthy(sc))


@runs("nftables-conf-wider-prefix")
def test_prefix_wider_than_the_lan_in_nftables_conf(lab: Lab, sc: Scenario) -> None:
    # Ground truth: a machine outside the client's /24 (inside the /16) gets in.
    assert "ip saddr 10.20.0.0/16 tcp dport 22 accept" in sc.client.exec(
        "nft", "list", "ruleset").stdout
    server = sc.nodes["server"]
    assert server.connect(S.CLIENT_IP, 22, source=F.BEYOND_LAN).outcome == "open"
    report = verdict(lab, sc)
    assert rules_at(report, "warning") == ["firewall.cidr-wider-than-subnet"]
    top = report["findings"][0]
    line = conf_line(F.wide_conf("16"), "/16")
    assert (f"{F.NFTABLES_CONF} line {line}" in top["explanation"]
            and "subnet on eth0 is 10.20.0.0/24" in top["explanation"]), top["explanation"]
    assert "write 10.20.0.0/24" in top["advice"]
    # The advice: the LAN's own prefix. The outsider is shut out, whynet is silent.
    F.load_conf(sc.client, F.wide_conf("24"))
    assert server.connect(S.CLIENT_IP, 22, timeout=1.0,
                          source=F.BEYOND_LAN).outcome == "timeout"
    assert sc.nodes["dns"].connect(S.CLIENT_IP, 22).outcome == "open"  # the LAN still gets in
    verdict(lab, healthy(sc))


@runs("nftables-conf-not-reloaded")
def test_nftables_conf_edited_not_reloaded(lab: Lab, sc: Scenario) -> None:
    # Ground truth: the live rule drops, the file accepts, the server answers others.
    assert sc.client.connect(S.SERVER_IP, F.PORT, timeout=1.0).outcome == "timeout"
    assert sc.nodes["gw"].connect(S.SERVER_IP, F.PORT).outcome == "open"
    live = sc.client.exec("nft", "list", "ruleset").stdout
    assert f"tcp dport {F.PORT} counter packets" in live and "drop" in live, live
    on_disk = sc.client.exec("cat", F.NFTABLES_CONF).stdout
    assert f"tcp dport {F.PORT} counter accept" in on_disk
    report = verdict(lab, sc, "--timeout", "2")
    top = report["findings"][0]
    assert ("dropped by rule 4 of chain output in table inet filter" in top["explanation"]
            and f"tcp dport {F.PORT} counter drop" in top["explanation"]), top["explanation"]
    # ...a rule the file no longer has: the first advice is to load the file again.
    assert f"not in {F.NFTABLES_CONF}" in top["explanation"]
    assert (f"loaded from {F.NFTABLES_CONF}, which does not have this rule: it was added by "
            "hand, or the file was edited since it was loaded" in top["explanation"])
    assert top["advice"].startswith(f"If {F.NFTABLES_CONF} is what you want, load it again"), (
        top["advice"])
    # The file drift is reported too, naming the line that was edited and the live rule.
    assert rules_at(report, "warning") == ["firewall.file-not-loaded"]
    [drift] = [f for f in report["findings"] if f["rule"] == "firewall.file-not-loaded"]
    line = conf_line(F.output_conf("accept"), f"tcp dport {F.PORT}")
    assert (f"line {line}: ip daddr {S.SERVER_IP} tcp dport {F.PORT} counter accept"
            in drift["explanation"]), drift["explanation"]
    assert f"nft -f {F.NFTABLES_CONF}" in drift["advice"]
    # The advice: check and reload the file. The connection works, whynet is silent.
    sc.client.exec("nft", "-c", "-f", F.NFTABLES_CONF)
    sc.client.exec("nft", "-f", F.NFTABLES_CONF)
    assert sc.client.connect(S.SERVER_IP, F.PORT).outcome == "open"
    verdict(lab, healthy(sc), "--timeout", "2")


@runs("nftables-conf-clean")
def test_clean_nftables_conf_loaded_and_in_sync(lab: Lab, sc: Scenario) -> None:
    assert sc.client.connect(S.SERVER_IP, F.PORT).outcome == "open"
    report = verdict(lab, sc)
    # whynet read the file (each rule line, the define expanded) and found it in sync.
    written = [f for f in facts_of(report, "firewall_file_rule") if f["file"] == F.NFTABLES_CONF]
    assert len([f for f in written if f["chain"] is not None]) == 13, written
    assert all(f["host_bits"] == [] for f in written)
    assert not facts_of(report, "firewall_file_drift")
    assert not facts_of(report, "firewall_file_wide_prefix")
    # ...and matched the deciding live rule to its line of the file.
    [accepted] = [f for f in facts_of(report, "firewall_verdict")
                  if f["protocol"] == "tcp" and f["port"] == F.PORT]
    assert accepted["verdict"] == "accept" and accepted["not_in_file"] is None
    assert (accepted["file"], accepted["line"]) == (
        F.NFTABLES_CONF, conf_line(F.CLEAN_CONF, f"tcp dport {F.PORT} accept"))
