"""Helpers for collector tests that need a network namespace (root and iproute2).

Namespaces are named ``wnc-<tag>-<pid>`` so parallel workers and other suites (the lab uses
``wl<pid>-...``) never clash, and are always deleted, with their ``/etc/netns/NAME`` directory.
Every veth is created inside the namespace: nothing is linked to the host's network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NETNS_ETC = Path("/etc/netns")


def require_netns() -> None:
    """Skip the calling test unless it can create network namespaces."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    if shutil.which("ip") is None and not Path("/usr/sbin/ip").exists():
        pytest.skip("needs iproute2's ip to create network namespaces")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=10, capture_output=True)


@contextmanager
def namespace(tag: str) -> Iterator[str]:
    name = f"wnc-{tag}-{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    ip("netns", "add", name)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        shutil.rmtree(NETNS_ETC / name, ignore_errors=True)


def collect_in(ns: str, module: str, timeout: float = 60) -> tuple[int, list[dict[str, Any]]]:
    """Run ``engine.collectors.<module>.collect`` inside ``ns`` in a fresh interpreter (so
    ``ip netns exec`` bind-mounts ``/etc/netns/NS/*``); its exit status and facts as JSON."""
    code = (
        "import json\n"
        "from engine.collectors.base import CollectContext\n"
        f"from engine.collectors import {module} as m\n"
        "print(json.dumps([f.to_json() for f in m.collect(CollectContext())]))\n"
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code], capture_output=True,
        text=True, timeout=timeout, cwd=REPO,
    )
    facts = json.loads(proc.stdout) if proc.returncode == 0 else []
    assert proc.returncode == 0, proc.stderr
    return proc.returncode, facts
