"""Collector parsing speed on big real-world inputs, as ratios to a baseline in the same run.

Baselines are the least work any parser must do on the same bytes (splitting lines and fields;
cryptography's own bulk PEM loader), so the printed ratio is what whynet's parsing adds on top.
Assertions pin correctness only (`uv run pytest tests/benchmarks -s` prints the figures).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import certifi
import pytest
from cryptography import x509

from engine.collectors import certstores, hosts

pytestmark = pytest.mark.benchmark


def _best_of(fn: Callable[[], Any], rounds: int = 3) -> tuple[Any, float]:
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def test_ad_blocking_hosts_file_of_300k_lines() -> None:
    lines = [b"# ad list", b"127.0.0.1 localhost", b"::1 localhost"]
    lines += [b"0.0.0.0 ads%d.tracker%d.example.com" % (i, i % 977) for i in range(300_000)]
    data = b"\n".join(lines) + b"\n"
    _, baseline = _best_of(lambda: [line.split() for line in data.splitlines()])
    facts, parsed = _best_of(lambda: hosts.parse_hosts(data), rounds=1)
    assert len(facts) == 300_002
    assert facts[-1]["names"] == ["ads299999.tracker60.example.com"]
    print(f"\nhosts: 300k lines split {baseline:.3f}s, parse_hosts {parsed:.3f}s "
          f"({parsed / baseline:.1f}x the bare split)")


def test_parsing_the_certifi_bundle() -> None:
    data = Path(certifi.where()).read_bytes()
    certs, baseline = _best_of(lambda: x509.load_pem_x509_certificates(data))
    result, parsed = _best_of(lambda: certstores.parse_bundle(data))
    assert result.count == len(certs) and result.errors == 0
    print(f"\ncertifi bundle ({len(certs)} certs): bulk load {baseline:.3f}s, parse_bundle "
          f"{parsed:.3f}s ({parsed / baseline:.1f}x)")
