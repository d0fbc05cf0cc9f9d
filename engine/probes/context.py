"""What probes read from the collected facts (and, for a live run, from /proc and /etc).

Probes run on the live machine, but they take what collectors already found from the facts
(nameservers, nsswitch order, trust stores, sysctls, listeners, firewall rules) so that a probe
and a rule see the same configuration. When a fact is missing, the live source is read instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from engine import files
from engine.facts import Fact

DEFAULT_NSSWITCH_HOSTS = ("files", "dns")  # glibc's default when nsswitch.conf has no hosts line


@dataclass(frozen=True)
class ProbeContext:
    """The run-wide inputs of every probe."""

    timeout: float
    env: Mapping[str, str] = field(default_factory=dict)
    facts: Sequence[Fact] = ()
    pac_url: str | None = None  # diagnose --pac (else auto_proxy from env; probes.pac)
    hosts_path: Path = Path("/etc/hosts")
    etc: Path = Path("/etc")
    proc: Path = Path("/proc")

    def of_kind(self, kind: str) -> list[Fact]:
        return [f for f in self.facts if f.kind == kind]

    @cached_property
    def nameservers(self) -> list[str]:
        """Configured DNS servers, in order, without repeats."""
        seen: list[str] = []
        for f in self.of_kind("nameserver"):
            ip = f.get("ip")
            if isinstance(ip, str) and ip and ip not in seen:
                seen.append(ip)
        return seen

    @cached_property
    def resolver_config(self) -> Fact | None:
        found = self.of_kind("resolver_config")
        return found[0] if found else None

    @cached_property
    def nsswitch_hosts(self) -> list[str]:
        """The sources of the nsswitch ``hosts:`` line, in order, without ``[...]`` actions."""
        cfg = self.resolver_config
        if cfg is not None and isinstance(cfg.get("nsswitch_hosts"), list):
            entries = [str(e) for e in cfg.get("nsswitch_hosts")]
        else:
            entries = _read_nsswitch_hosts(self.etc / "nsswitch.conf")
        return [e for e in entries if not e.startswith("[")] or list(DEFAULT_NSSWITCH_HOSTS)

    @cached_property
    def search_domains(self) -> list[str]:
        cfg = self.resolver_config
        value = cfg.get("search") if cfg is not None else None
        return [str(d).rstrip(".") for d in value] if isinstance(value, list) else []

    @cached_property
    def ndots(self) -> int:
        cfg = self.resolver_config
        for option in (cfg.get("options") or []) if cfg is not None else []:
            if str(option).startswith("ndots:") and str(option)[6:].isdigit():
                return int(str(option)[6:])
        return 1

    def sysctl(self, name: str) -> str | None:
        """A sysctl's value: from a ``sysctl`` fact, else read live from /proc/sys."""
        for f in self.of_kind("sysctl"):
            if f.get("name") == name and f.get("value") is not None:
                return str(f.get("value"))
        try:
            return (self.proc / "sys" / name.replace(".", "/")).read_text().strip()
        except OSError:
            return None

    @cached_property
    def local_addresses(self) -> set[str]:
        """Addresses of this host (address facts), loopback included."""
        found = {"127.0.0.1", "::1"}
        for f in self.of_kind("address"):
            ip = f.get("ip")
            if isinstance(ip, str):
                found.add(_normal_ip(ip))
        return found

    def is_local_address(self, ip: str | None) -> bool:
        if not ip:
            return False
        try:
            if ipaddress.ip_address(ip.split("%")[0]).is_loopback:
                return True
        except ValueError:
            return False
        return _normal_ip(ip) in self.local_addresses


def _normal_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip.split("%")[0]))
    except ValueError:
        return ip


NSSWITCH_READ_LIMIT = 1024 * 1024  # nsswitch.conf is a few hundred bytes


def _read_nsswitch_hosts(path: Path) -> list[str]:
    try:
        text = files.read_head(path, NSSWITCH_READ_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        return list(DEFAULT_NSSWITCH_HOSTS)
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("hosts:"):
            return line[len("hosts:"):].split()
    return list(DEFAULT_NSSWITCH_HOSTS)
