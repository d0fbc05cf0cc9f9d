"""Collectors: one module per source, each returning plain typed facts with provenance.

``collect_all`` runs every collector in ``COLLECTORS``; a collector that fails unexpectedly is
recorded as a ``collection_error`` fact and the others still run.
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

from engine.collectors.base import CollectContext
from engine.facts import Fact, collection_error, unique_ids, valid_unicode, without_gc_passes

# Module names under engine.collectors, in the order they run.
COLLECTOR_MODULES: tuple[str, ...] = (
    "links", "routes", "hosts", "resolver", "sockets", "sysctl", "conntrack",
    "nftables", "iptables", "ufw", "firewalld", "firewall_files",
    "environment", "gnome_proxy", "kde_proxy", "dhcp_wpad", "networkd_wpad",
    "credentials", "certstores",
)

COLLECTOR_THREADS = 4


def load_collectors() -> list[ModuleType]:
    return [importlib.import_module(f"engine.collectors.{name}") for name in COLLECTOR_MODULES]


def _run_one(mod: ModuleType, ctx: CollectContext) -> list[Fact]:
    name = getattr(mod, "NAME", mod.__name__.rsplit(".", 1)[-1])
    try:
        return list(mod.collect(ctx))
    except Exception as exc:  # noqa: BLE001 - one broken collector must not stop the rest
        return [collection_error(
            name, f"collector failed: {exc.__class__.__name__}: {exc}", {"collector": name}
        )]


def collect_all(ctx: CollectContext | None = None) -> list[Fact]:
    """Every collector's facts, in ``COLLECTOR_MODULES`` order. The collectors run in a few
    threads, so one's commands (iptables-save, nft) run while another parses."""
    ctx = ctx or CollectContext()
    modules = load_collectors()
    with without_gc_passes():  # facts hold no cycles: the collector's passes find nothing
        with ThreadPoolExecutor(max_workers=COLLECTOR_THREADS) as pool:
            results = list(pool.map(lambda mod: _run_one(mod, ctx), modules))
        # Names and values are not always UTF-8 (an environment variable, a file name): a fact
        # keeps what they say, as text every report and snapshot can hold.
        return unique_ids(valid_unicode(f) for facts in results for f in facts)
