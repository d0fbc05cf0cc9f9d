"""ufw: Ubuntu's firewall front end, as ``ufw status verbose`` reports it.

Reads:   ``ufw status verbose`` (needs root). Without root, ``/etc/ufw/ufw.conf`` (``ENABLED=``)
         and ``/etc/default/ufw`` (``DEFAULT_INPUT_POLICY=``/``DEFAULT_OUTPUT_POLICY=``), which
         are world-readable, give whether ufw is enabled at boot and its defaults; the rules stay
         unknown (``rule_count`` null).
Never:   changes ufw (no enable, reload or rule commands), reads ``/etc/ufw/user*.rules``.
Redacts: the rule line (with its comment) goes through ``engine.redact.redact_text``.

Facts:

* ``firewall_backend`` (``firewall_backend:ufw``): present, active (``Status: active``; from
  ``ENABLED=yes`` when not root, with ``active_source`` saying which), ``default_incoming``,
  ``default_outgoing``, ``default_routed`` (allow, deny, reject, disabled), ``logging``,
  ``rule_count``. ufw not installed gives present=False plus ``source_absent``.
* ``firewall_rule`` per rule line, id ``firewall_rule:ufw:<ip|ip6>:<in|out|fwd>:<n>`` (``n`` is
  the rule's order within its family and direction, which is also its order in ufw's
  ``ufw-user-input``/``ufw6-user-output``... chain), with ``backend="ufw"``, ``table="filter"``,
  ``chain`` the ufw user chain, ``hook`` input/output/forward (IN/OUT/FWD), the decoded ports,
  addresses and interfaces, ``verdict`` (ALLOW accept, DENY drop, REJECT reject, LIMIT accept:
  it rejects only above a connection rate), ``action`` as ufw prints it (``LIMIT IN``) and the
  line as ``text`` (comment included). A port with no protocol is matched by ufw for tcp and
  udp: ``protocol`` is null and ``protocols`` is ``["tcp", "udp"]``. ufw's REJECT answers tcp
  with a reset and everything else with ICMP port unreachable; ``reject_with`` says so for the
  rule's protocol.

ufw programs its rules into iptables (or nft through iptables-nft), where the iptables collector
records them in the ``ufw-*`` chains as the authoritative rules; these ufw rules are the
user's view of them and carry ``authoritative=False``, so no rule is counted twice.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.collectors import base
from engine.collectors.firewall_common import PortMatch, absent_backend, backend_fact, blank_rule
from engine.facts import Fact, collection_error, make_fact
from engine.redact import redact_text

NAME = "ufw"
KINDS = ("firewall_backend", "firewall_rule", "collection_error", "source_absent")
COMMAND = ("ufw", "status", "verbose")
SOURCE = {"command": " ".join(COMMAND)}

VERDICTS = {"ALLOW": "accept", "DENY": "drop", "REJECT": "reject", "LIMIT": "accept"}
HOOKS = {"IN": "input", "OUT": "output", "FWD": "forward"}
DIRECTIONS = {"input": "in", "output": "out", "forward": "fwd"}
_RULE = re.compile(
    r"^(?:\[\s*(?P<number>\d+)\]\s*)?(?P<to>.*?)\s+(?P<action>ALLOW|DENY|REJECT|LIMIT)"
    r"(?:\s(?P<dir>IN|OUT|FWD))?\s+(?P<from>.*?)"
    r"(?:\s+\((?P<attrs>(?:log|log-all|out)(?:,\s*[\w-]+)*)\))?(?:\s+#\s?(?P<comment>.*))?\s*$"
)
_DEFAULT = re.compile(r"(\w+) \((incoming|outgoing|routed)\)")
_PORTS = re.compile(r"^[\d,:]+$")


@dataclass
class _Location:
    """One side of a ufw rule (the ``To`` or ``From`` column)."""

    address: str | None = None
    ports: str | None = None
    protocol: str | None = None
    interface: str | None = None
    app: str | None = None
    v6: bool = False


def parse_location(text: str) -> _Location:
    """``10.0.0.1 80,443/tcp``, ``22/tcp (v6) on eth0``, ``Anywhere``, ``OpenSSH (v6)``..."""
    loc = _Location()
    text = text.strip()
    m = re.search(r"\s+on\s+(\S+)$", text)
    if m:
        loc.interface, text = m.group(1), text[:m.start()]
    if "(v6)" in text:
        loc.v6, text = True, text.replace("(v6)", " ")
    m = re.search(r"\(([^()]+)\)\s*$", text)  # verbose: "22/tcp (OpenSSH)"
    if m:
        loc.app, text = m.group(1).strip(), text[:m.start()]
    tokens = text.split()
    address = _address(tokens[0]) if tokens else None
    if tokens and tokens[0].split("/")[0] == "Anywhere":
        loc.protocol = _proto_suffix(tokens.pop(0))
    elif address is not None:
        tokens.pop(0)
        loc.address, loc.protocol = address
    if tokens:
        spec = " ".join(tokens)
        ports, _, proto = spec.partition("/")
        if _PORTS.match(ports):
            loc.ports, loc.protocol = ports, proto or loc.protocol
        elif loc.app is None:
            loc.app = spec
    return loc


def _proto_suffix(token: str) -> str | None:
    _, _, proto = token.partition("/")
    return proto or None


def _address(token: str) -> tuple[str, str | None] | None:
    """``10.0.0.0/8`` -> (cidr, None); ``10.0.0.0/8/tcp`` -> (cidr, "tcp"); else None."""
    parts = token.split("/")
    proto = None
    if len(parts) > 1 and parts[-1].isalpha():
        proto, parts = parts[-1], parts[:-1]
    candidate = "/".join(parts)
    try:
        ipaddress.ip_network(candidate, strict=False)
    except ValueError:
        return None
    return candidate, proto


def parse_status(text: str, source: Mapping[str, Any] = SOURCE) -> list[Fact]:
    """Facts from ``ufw status verbose`` output."""
    backend: dict[str, Any] = {"present": True, "active": None, "active_source": "ufw status"}
    rules: list[dict[str, Any]] = []
    in_rules = False
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("Status:"):
            backend["active"] = stripped.split(":", 1)[1].strip() == "active"
        elif stripped.startswith("Logging:"):
            backend["logging"] = stripped.split(":", 1)[1].strip()
        elif stripped.startswith("Default:"):
            for policy, direction in _DEFAULT.findall(stripped):
                backend[f"default_{direction}"] = policy
        elif stripped.startswith("--"):
            in_rules = True
        elif in_rules and stripped:
            rule = _rule(stripped, n)
            if rule is not None:
                rules.append(rule)
    _number(rules)
    backend["rule_count"] = len(rules) if backend["active"] is not None else None
    facts = [backend_fact("ufw", "firewall_backend:ufw", source, **_backend_fields(backend))]
    if backend["active"] is None:
        facts.append(collection_error(NAME, "no 'Status:' line in ufw output", source))
    for rule in rules:
        line = rule.pop("_line")
        fid = f"firewall_rule:ufw:{rule['family']}:{DIRECTIONS[rule['hook']]}:{rule['position']}"
        facts.append(make_fact("firewall_rule", fid, {**source, "line": line}, **rule))
    return facts


def _backend_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "present": values.get("present", True), "active": values.get("active"),
        "active_source": values.get("active_source"), "rule_count": values.get("rule_count"),
        "default_incoming": values.get("default_incoming"),
        "default_outgoing": values.get("default_outgoing"),
        "default_routed": values.get("default_routed"), "logging": values.get("logging"),
    }


def _number(rules: list[dict[str, Any]]) -> None:
    counts: dict[tuple[str, str], int] = {}
    for rule in rules:
        key = (rule["family"], rule["hook"])
        counts[key] = counts.get(key, 0) + 1
        rule["position"] = counts[key]


def _rule(line: str, number: int) -> dict[str, Any] | None:
    m = _RULE.match(line)
    if m is None:
        return None
    to, frm = parse_location(m.group("to")), parse_location(m.group("from"))
    action, direction = m.group("action"), (m.group("dir") or "IN")
    v6 = to.v6 or frm.v6 or any(":" in (a or "") for a in (to.address, frm.address))
    family = "ip6" if v6 else "ip"
    protocol = to.protocol or frm.protocol
    dports, sports = PortMatch(), PortMatch()
    if to.ports:
        dports.add_text(to.ports)
    if frm.ports:
        sports.add_text(frm.ports)
    protocols = [protocol] if protocol else (["tcp", "udp"] if to.ports or frm.ports else [])
    hook = HOOKS[direction]
    forward = direction == "FWD"
    fields = blank_rule(
        backend="ufw", family=family, table="filter",
        chain=f"{'ufw6' if v6 else 'ufw'}-user-{hook}", hook=hook, reached_from=[hook],
        protocol=protocol, protocols=protocols,
        dports=dports.sorted(), dport_ranges=dports.ranges,
        sports=sports.sorted(), sport_ranges=sports.ranges,
        daddr=[to.address] if to.address else [], saddr=[frm.address] if frm.address else [],
        iifname=frm.interface if forward else (to.interface if direction == "IN" else None),
        oifname=to.interface if forward else (frm.interface if direction == "OUT" else None),
        verdict=VERDICTS[action], action=f"{action} {direction}",
        reject_with=_reject_with(action, protocol, v6), authoritative=False,
        text=redact_text(line),
    )
    fields["_line"] = number
    return fields


def _reject_with(action: str, protocol: str | None, v6: bool) -> str | None:
    if action != "REJECT":
        return None
    if protocol == "tcp":
        return "tcp-reset"
    return "icmpv6-port-unreachable" if v6 else "icmp-port-unreachable"


# --------------------------------------------------------------------------------------------
# Without root: the configuration files
# --------------------------------------------------------------------------------------------

def parse_conf(text: str) -> dict[str, str]:
    """``KEY=value`` lines of ``ufw.conf``/``/etc/default/ufw`` (quotes removed)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("\"'")
    return values


def _policy_word(value: str | None) -> str | None:
    return {"DROP": "deny", "ACCEPT": "allow", "REJECT": "reject"}.get((value or "").upper())


def from_config(etc: Path) -> list[Fact]:
    """What the world-readable configuration says, when ``ufw status`` cannot run."""
    conf_path, default_path = etc / "ufw" / "ufw.conf", etc / "default" / "ufw"
    source = {"file": str(conf_path)}
    try:
        conf = parse_conf(base.read_text(conf_path))
    except OSError as exc:
        return [backend_fact("ufw", "firewall_backend:ufw", source),
                collection_error(NAME, f"{conf_path}: {exc.strerror or exc}", source)]
    try:
        defaults = parse_conf(base.read_text(default_path))
    except OSError:
        defaults = {}
    enabled = conf.get("ENABLED", "").lower()
    values = {
        "active": enabled == "yes" if enabled in ("yes", "no") else None,
        "active_source": "ufw.conf ENABLED", "rule_count": None,
        "default_incoming": _policy_word(defaults.get("DEFAULT_INPUT_POLICY")),
        "default_outgoing": _policy_word(defaults.get("DEFAULT_OUTPUT_POLICY")),
        "logging": conf.get("LOGLEVEL"),
    }
    return [backend_fact("ufw", "firewall_backend:ufw", source, **_backend_fields(values))]


# --------------------------------------------------------------------------------------------
# Live collection
# --------------------------------------------------------------------------------------------

def collect(ctx: base.CollectContext) -> list[Fact]:
    if base.which("ufw") is None:
        return absent_backend(NAME, "ufw", "binary", "ufw: command not found (not installed)",
                              SOURCE)
    if os.geteuid() != 0:
        return from_config(Path(ctx.etc))
    result = base.run_command(list(COMMAND), timeout=ctx.timeout)
    if not result.ok:
        facts = from_config(Path(ctx.etc))
        facts.append(collection_error(NAME, result.failure(), SOURCE))
        return facts
    return parse_status(result.stdout, SOURCE)
