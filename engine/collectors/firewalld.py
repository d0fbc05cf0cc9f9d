"""firewalld: zones and the firewall state, through ``firewall-cmd`` or ``firewall-offline-cmd``.

Reads:   ``firewall-cmd --state``; when it prints ``running``: ``firewall-cmd --get-default-zone``,
         ``--get-active-zones`` and ``--list-all-zones`` (the runtime configuration, over D-Bus).
         When firewalld is installed but not running: ``firewall-offline-cmd --get-default-zone``
         and ``--list-all-zones`` (the permanent configuration under /etc/firewalld).
Never:   changes anything (no ``--set-*``, ``--add-*``, ``--reload``), starts the daemon, reads
         /etc/firewalld files directly.
Redacts: nothing is secret in zones; rich rules go through ``engine.redact.redact_text``
         anyway (they are free text).

Facts:

* ``firewall_backend`` (``firewall_backend:firewalld``): present, active (the daemon runs:
  ``--state`` says ``running``), ``default_zone``, ``default_incoming`` (the default zone's
  target as a verdict: ``default``/``%%REJECT%%`` -> reject, ``DROP`` -> drop, ``ACCEPT`` ->
  allow), ``rule_count`` (services, ports, protocols and rich rules of the zones that apply, or of
  the active zones of a stopped daemon's permanent configuration; null when the zones could
  not be read). Its source names the tool used: ``firewall-cmd`` (runtime
  configuration) or ``firewall-offline-cmd`` (permanent configuration, daemon stopped).
  firewalld not installed gives present=False plus ``source_absent``.
* ``firewalld_zone`` per zone (``firewalld_zone:<name>``): name, default, active (the zone
  binds an interface or source: firewalld's own meaning of "active", true in the permanent
  configuration too, although nothing is enforced while the daemon is stopped), applies (the
  zone filters traffic now: the daemon runs and the zone is active or the default zone, which
  takes every interface and source no other zone binds; with no NetworkManager binding
  interfaces, only the default zone applies and none is "active"), interfaces,
  sources, services, ports (``N/proto``, ranges as ``a-b/proto``), protocols, target
  (``%%REJECT%%`` shown as ``REJECT``), masquerade, forward_ports, icmp_blocks, rich_rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.collectors import base
from engine.collectors.firewall_common import absent_backend, backend_fact
from engine.facts import Fact, collection_error, make_fact, unique_ids
from engine.redact import redact_text

NAME = "firewalld"
KINDS = ("firewall_backend", "firewalld_zone", "collection_error", "source_absent")
LIST_FIELDS = ("interfaces", "sources", "services", "ports", "protocols", "forward-ports",
               "source-ports", "icmp-blocks", "rich rules")
TARGET_VERDICT = {"default": "reject", "%%REJECT%%": "reject", "REJECT": "reject",
                  "DROP": "drop", "ACCEPT": "allow"}


def parse_zones(text: str, default_zone: str | None, source: Mapping[str, Any],
                active_zones: Mapping[str, Mapping[str, list[str]]] | None = None,
                running: bool = False) -> list[Fact]:
    """``firewalld_zone`` facts from ``--list-all-zones`` output.

    ``active_zones`` (from ``--get-active-zones``) adds runtime interfaces and sources a zone's
    own listing may lack (interfaces NetworkManager assigned). ``running``: the listing is the
    running daemon's, whose default zone filters every interface and source no zone binds.
    """
    facts = []
    for line, name, flags, values in _zone_blocks(text):
        extra = (active_zones or {}).get(name, {})
        interfaces = _merge(values.get("interfaces", []), extra.get("interfaces", []))
        sources = _merge(values.get("sources", []), extra.get("sources", []))
        target = values.get("target", ["default"])
        default = name == default_zone or "default" in flags
        active = ("active" in flags or bool(interfaces or sources)
                  or name in (active_zones or {}))
        facts.append(make_fact(
            "firewalld_zone", f"firewalld_zone:{name}", {**source, "line": line},
            name=name, default=default, active=active,
            # firewalld's nftables ruleset ends its zone dispatch (filter_INPUT_ZONES) with a
            # `goto` to the default zone: with no NetworkManager to bind interfaces (a server,
            # a container) no zone is "active", yet the default zone filters everything.
            applies=running and (active or default),
            interfaces=interfaces, sources=sources, services=values.get("services", []),
            ports=values.get("ports", []), protocols=values.get("protocols", []),
            target=(target[0] if target else "default").replace("%%REJECT%%", "REJECT"),
            masquerade=values.get("masquerade", ["no"]) == ["yes"],
            forward_ports=values.get("forward-ports", []),
            icmp_blocks=values.get("icmp-blocks", []),
            rich_rules=[redact_text(r) for r in values.get("rich rules", [])],
        ))
    return facts


def _merge(first: list[str], second: list[str]) -> list[str]:
    return first + [v for v in second if v not in first]


def _zone_blocks(text: str) -> list[tuple[int, str, list[str], dict[str, list[str]]]]:
    """(header line, zone name, flags like 'active', {key: values}) per zone block."""
    blocks: list[tuple[int, str, list[str], dict[str, list[str]]]] = []
    key: str | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not line[0].isspace():
            name, _, rest = line.strip().partition(" ")
            flags = [f.strip() for f in rest.strip("() ").split(",") if f.strip()]
            blocks.append((n, name, flags, {}))
            key = None
        elif blocks and line.startswith("\t") and key is not None:
            blocks[-1][3].setdefault(key, []).append(line.strip())  # continuation line
        elif blocks:
            key, _, value = line.strip().partition(":")
            value = value.strip()
            multiline = key in ("rich rules", "forward-ports")
            blocks[-1][3][key] = ([value] if value else []) if multiline else value.split()
    return blocks


def parse_active_zones(text: str) -> dict[str, dict[str, list[str]]]:
    """``--get-active-zones``: zone names at column 0, ``  interfaces: a b`` under each."""
    zones: dict[str, dict[str, list[str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            current = line.strip().split()[0]
            zones[current] = {}
        elif current is not None:
            key, _, value = line.strip().partition(":")
            zones[current][key.strip()] = value.split()
    return zones


def summarize(zones: list[Fact] | None, default_zone: str | None, active: bool,
              source: Mapping[str, Any]) -> Fact:
    """The ``firewall_backend`` fact for firewalld from its zones (None: zones unknown)."""
    default = next((z for z in zones or [] if z.get("name") == default_zone), None)
    counted = ("services", "ports", "protocols", "rich_rules")
    rule_count = None if zones is None else sum(
        len(z.get(k) or []) for z in zones
        if (z.get("applies") if active else z.get("active")) for k in counted)
    return backend_fact(
        "firewalld", "firewall_backend:firewalld", source, present=True, active=active,
        default_zone=default_zone,
        default_incoming=TARGET_VERDICT.get(str(default.get("target"))) if default else None,
        rule_count=rule_count,
    )


# --------------------------------------------------------------------------------------------
# Live collection
# --------------------------------------------------------------------------------------------

def _run(ctx: base.CollectContext, argv: list[str]) -> tuple[str | None, Fact | None]:
    result = base.run_command(argv, timeout=ctx.timeout)
    if result.ok:
        return result.stdout, None
    return None, collection_error(NAME, f"{result.command}: {result.failure()}",
                                  {"command": result.command})


def _state(ctx: base.CollectContext) -> str:
    if base.which("firewall-cmd") is None:
        return "not running"
    result = base.run_command(["firewall-cmd", "--state"], timeout=ctx.timeout)
    out = result.stdout.strip()
    return out if out in ("running", "failed") else "not running"


def collect(ctx: base.CollectContext) -> list[Fact]:
    if base.which("firewall-cmd") is None and base.which("firewall-offline-cmd") is None:
        return absent_backend(NAME, "firewalld", "service",
                              "firewall-cmd: command not found (firewalld not installed)",
                              {"command": "firewall-cmd --state"})
    state = _state(ctx)
    running = state in ("running", "failed")
    tool = "firewall-cmd" if running else "firewall-offline-cmd"
    if base.which(tool) is None:
        source = {"command": "firewall-cmd --state"}
        return [backend_fact("firewalld", "firewall_backend:firewalld", source, active=False),
                collection_error(NAME, f"{tool}: command not found", source)]
    facts: list[Fact] = []
    default_out, error = _run(ctx, [tool, "--get-default-zone"])
    facts.extend([error] if error else [])
    default_zone = default_out.strip() if default_out else None
    active_zones = None
    if running:
        active_out, error = _run(ctx, [tool, "--get-active-zones"])
        facts.extend([error] if error else [])
        active_zones = parse_active_zones(active_out) if active_out is not None else None
    source = {"command": f"{tool} --list-all-zones"}
    zones_out, error = _run(ctx, [tool, "--list-all-zones"])
    zones = None if zones_out is None else parse_zones(
        zones_out, default_zone, source, active_zones, running=state == "running")
    facts.extend([error] if error else [])
    backend = summarize(zones, default_zone, state == "running", source)
    return unique_ids([backend, *(zones or []), *facts])
