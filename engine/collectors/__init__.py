"""Collectors: one module per source, each returning plain typed facts with provenance.

``collect_all`` runs every collector in ``COLLECTORS``; a collector that fails unexpectedly is
recorded as a ``collection_error`` fact and the others still run.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from engine.collectors.base import CollectContext
from engine.facts import Fact, collection_error, unique_ids

# Module names under engine.collectors, in the order they run.
COLLECTOR_MODULES: tuple[str, ...] = (
    "links", "routes", "hosts", "resolver", "sockets", "sysctl",
    "nftables", "iptables", "ufw", "firewalld",
    "environment", "credentials", "certstores",
)


def load_collectors() -> list[ModuleType]:
    return [importlib.import_module(f"engine.collectors.{name}") for name in COLLECTOR_MODULES]


def collect_all(ctx: CollectContext | None = None) -> list[Fact]:
    ctx = ctx or CollectContext()
    facts: list[Fact] = []
    for mod in load_collectors():
        name = getattr(mod, "NAME", mod.__name__.rsplit(".", 1)[-1])
        try:
            facts.extend(mod.collect(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken collector must not stop the rest
            facts.append(collection_error(
                name, f"collector failed: {exc.__class__.__name__}: {exc}", {"collector": name}
            ))
    return unique_ids(facts)
