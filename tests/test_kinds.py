"""Every live fact on the machine running the tests matches its declared kind (osquery-style)."""

from __future__ import annotations

import json

import pytest

from engine.collectors import COLLECTOR_MODULES, collect_all, load_collectors
from engine.facts import Fact, Snapshot
from engine.kinds import KINDS, value_fits


@pytest.fixture(scope="module")
def live_facts() -> list[Fact]:
    return collect_all()


def test_every_collector_module_loads() -> None:
    names = [m.__name__.rsplit(".", 1)[-1] for m in load_collectors()]
    assert names == list(COLLECTOR_MODULES)
    for mod in load_collectors():
        assert set(mod.KINDS) <= set(KINDS), mod.__name__


def test_live_facts_match_their_declared_kinds(live_facts: list[Fact]) -> None:
    problems = []
    for f in live_facts:
        spec = KINDS.get(f.kind)
        if spec is None:
            problems.append(f"{f.id}: undeclared kind {f.kind!r}")
            continue
        assert f.source, f"{f.id}: no source"
        for name, value in f.fields.items():
            field = spec.fields.get(name)
            if field is None:
                problems.append(f"{f.id}: undeclared field {name!r}")
            elif not value_fits(field.type, value):
                problems.append(f"{f.id}: {name}={value!r} is not {field.type}")
    assert not problems, "\n".join(problems[:40])


def test_live_fact_ids_are_unique_and_snapshot_round_trips(live_facts: list[Fact]) -> None:
    ids = [f.id for f in live_facts]
    assert len(ids) == len(set(ids))
    snap = Snapshot(live_facts)
    again = Snapshot.loads(snap.dumps())
    assert json.loads(Snapshot(again.facts, again.host, again.collected_at).dumps()) == \
        json.loads(snap.dumps())


# Kinds a healthy machine may have none of: zero rows is a true answer for them.
MAY_BE_EMPTY = {"neighbor", "firewall_rule", "firewall_chain", "firewalld_zone", "cert",
                "proxy_setting", "listener", "nameserver", "collection_error", "source_absent",
                # a dhclient lease without option 252 says nothing about WPAD
                "proxy_autoconfig"}


def test_every_kind_a_collector_declares_is_present_or_recorded_absent(
    live_facts: list[Fact],
) -> None:
    """A kind this machine lacks is recorded (source_absent / collection_error), never silent."""
    kinds = {f.kind for f in live_facts}
    accounted = {f.fields.get("collector") for f in live_facts
                 if f.kind in ("source_absent", "collection_error")}
    for mod in load_collectors():
        missing = [k for k in mod.KINDS if k not in kinds and k not in MAY_BE_EMPTY]
        assert not missing or mod.NAME in accounted, (
            f"{mod.NAME}: no {missing} facts and no source_absent/collection_error saying why"
        )
