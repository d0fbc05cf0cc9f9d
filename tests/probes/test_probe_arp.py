"""When the ARP probe asks at all: only on links that do ARP.

The sysfs values are those Linux 6.18 shows for a veth with ``arp off`` (``0x1083``: UP,
BROADCAST, NOARP, MULTICAST) and a plain veth (``0x1002``), read in a lab namespace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.probes import arp


def _sysfs(root: Path, name: str, address: str, flags: str) -> None:
    (root / name).mkdir()
    (root / name / "address").write_text(address + "\n")
    (root / name / "flags").write_text(flags + "\n")


def test_arp_is_asked_only_on_links_that_do_arp(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _sysfs(tmp_path, "eth0", "52:54:00:12:34:56", "0x1003")
    _sysfs(tmp_path, "wg0", "02:00:5e:66:00:02", "0x1083")  # arp off: a layer-3 tunnel
    _sysfs(tmp_path, "lo", "00:00:00:00:00:00", "0x9")
    monkeypatch.setattr(arp, "SYS_NET", tmp_path)
    assert arp.interface_mac("eth0") == "52:54:00:12:34:56"
    assert arp.interface_mac("wg0") is None  # silence there would prove nothing
    assert arp.interface_mac("lo") is None
    assert arp.interface_mac("gone0") is None
