"""Fixtures for the probe tests: a probe context, loopback servers, the namespace lab."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from probe_helpers import Netns, lab_unavailable, namespace_pair

from engine.facts import Fact
from engine.probes.context import ProbeContext


@pytest.fixture
def make_ctx(tmp_path: Any):
    """A ProbeContext factory with an empty hosts file unless told otherwise."""
    def build(timeout: float = 2.0, env: dict[str, str] | None = None,
              facts: list[Fact] | None = None, hosts: str = "") -> ProbeContext:
        hosts_path = tmp_path / "hosts"
        hosts_path.write_text(hosts)
        return ProbeContext(timeout=timeout, env=env or {}, facts=facts or [],
                            hosts_path=hosts_path)
    return build


@pytest.fixture
def lab_pair() -> Iterator[tuple[Netns, Netns]]:
    """Client and server namespaces on a veth (10.231.1.1 and 10.231.1.2), or a skip."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    with namespace_pair() as pair:
        yield pair
