"""Fuzzing every collector's parse_* function, and snapshot and rule loading (issue 14, item 8).

Inputs are recorded real outputs (tests/fixtures) with bytes flipped, cut, repeated or spliced in
by hypothesis, plus arbitrary text. A parser must return facts (a broken input gives a
``collection_error`` fact) and never raise; loaders must raise only their one-line error types.
The budget is fixed (tests/hardening/conftest.py): the same examples run in CI every time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.collectors import (
    certstores,
    environment,
    firewalld,
    hosts,
    iptables,
    links,
    nftables,
    resolver,
    routes,
    sockets,
    ufw,
)
from engine.facts import Fact, FactError, Snapshot
from engine.knowledge import KnowledgeLoadError, load_files

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

HOSTILE_CHARS = st.sampled_from(["\x00", "\x01", "\x1b[31m", "\u202e", "\ud800", "\ufffd", "\"",
                                 "\\", "{", "}", "[", "]", ",", ":", "\n", " ", "/", "@",
                                 "token." * 50, "9" * 40, "-1", "nan", "\xff"])


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """A recorded output with a few edits: a hostile string spliced in, a cut, a repeat."""
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["insert", "cut", "repeat", "truncate"]))
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        if edit == "insert":
            text = text[:at] + draw(HOSTILE_CHARS) + text[at:]
        elif edit == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif edit == "repeat":
            text = text[:at] + text[at:at + 200] * draw(st.integers(2, 20)) + text[at:]
        else:
            text = text[:at]
    return text


def fixture(path: str) -> str:
    return (FIXTURES / path).read_bytes().decode("utf-8", "replace")


def inputs(*paths: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(paths).map(fixture).flatmap(mutated),
                     st.text(max_size=300))


def _facts_only(result: Any) -> None:
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, Fact):
            json.dumps(item.to_json(), default=str)


TEXT_PARSERS: dict[str, tuple[Callable[[str], Any], tuple[str, ...]]] = {
    "links.parse_links": (links.parse_links, ("links/host-ip-j-d-link-show.json",
                                              "links/oddname-ip-j-d-link-show.json")),
    "links.parse_addresses": (links.parse_addresses, ("links/netns-ip-j-addr-show.json",
                                                      "links/oddname-ip-j-addr-show.json")),
    "routes.parse_routes": (lambda t: routes.parse_routes(t, 4, "ip -j route"),
                            ("routes/netns-ip-j-d-4-route-show-table-all.json",)),
    "routes.parse_rules": (lambda t: routes.parse_rules(t, 4, "ip -j rule"),
                           ("routes/netns-ip-j-rule-show.json",)),
    "routes.parse_neighbors": (routes.parse_neighbors, ("routes/netns-ip-j-neigh-show.json",)),
    "nftables.parse_ruleset": (nftables.parse_ruleset, ("nftables/ruleset-native.json",
                                                        "nftables/ruleset-iptables-nft.json")),
    "iptables.parse_save": (lambda t: iptables.parse_save(t, "iptables-save"),
                            ("iptables/iptables-nft-save.txt", "iptables/iptables-save-ufw.txt")),
    "ufw.parse_status": (ufw.parse_status, ("ufw/ufw-status-active.txt",
                                            "ufw/ufw-status-numbered.txt")),
    "ufw.parse_conf": (ufw.parse_conf, ("ufw/ufw.conf",)),
    "ufw.parse_location": (ufw.parse_location, ("ufw/ufw-status-active.txt",)),
    "firewalld.parse_zones": (lambda t: firewalld.parse_zones(t, "public", {"command": "x"}),
                              ("firewalld/offline-list-all-zones.txt",)),
    "firewalld.parse_active_zones": (firewalld.parse_active_zones,
                                     ("firewalld/offline-list-all-zones.txt",)),
    "resolver.parse_resolv_conf": (resolver.parse_resolv_conf,
                                   ("resolver/host-etc-resolv.conf",
                                    "resolver/run-systemd-resolve-resolv.conf")),
    "resolver.parse_nsswitch_hosts": (resolver.parse_nsswitch_hosts,
                                      ("resolver/host-etc-nsswitch.conf",)),
    "resolver.parse_resolvectl_dns": (resolver.parse_resolvectl_dns,
                                      ("resolver/resolvectl-dns.txt",)),
    "sockets.parse_ss": (sockets.parse_ss, ("sockets/host-root-ss-H-tulpne.txt",)),
    "sockets.parse_ss_line": (lambda t: sockets.parse_ss_line(t, True),
                              ("sockets/netns-root-ss-H-tulpne.txt",)),
    "sockets.parse_ss_process": (sockets.parse_ss_process, ("sockets/host-root-ss-H-tulpn.txt",)),
    "sockets.parse_ss_user": (lambda t: sockets.parse_ss_user(t.split(), True),
                              ("sockets/host-root-ss-H-tulpne.txt",)),
}


@pytest.mark.parametrize("name", sorted(TEXT_PARSERS))
def test_text_parsers_never_raise(name: str) -> None:
    parse, paths = TEXT_PARSERS[name]

    @given(inputs(*paths))
    def check(text: str) -> None:
        start = time.monotonic()
        _facts_only(parse(text))
        assert time.monotonic() - start < 5

    check()


@given(st.one_of(st.sampled_from(["hosts/host-etc-hosts"]).map(fixture).flatmap(mutated)
                 .map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=300)))
def test_parse_hosts_never_raises(data: bytes) -> None:
    _facts_only(hosts.parse_hosts(data))


@given(st.binary(max_size=64))
def test_parse_address_never_raises(token: bytes) -> None:
    hosts.parse_address(token)


@given(st.one_of(st.binary(max_size=400),
                 st.sampled_from(["-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
                                  "MIIB", "\x00"]).map(str.encode)))
def test_parse_bundle_never_raises(data: bytes) -> None:
    certstores.parse_bundle(data)


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=60), max_size=8))
def test_parse_environment_never_raises(env: dict[str, str]) -> None:
    _facts_only(environment.parse_environment(env))


def _snapshot_text() -> str:
    facts = links.parse_links(fixture("links/netns-ip-j-d-link-show.json"))
    return json.dumps({"whynet": "0.1.0", "schema": 1, "host": "h",
                       "facts": [f.to_json() for f in facts]})


@given(st.one_of(mutated(_snapshot_text()), st.text(max_size=200)))
def test_snapshot_loading_gives_one_line_errors(text: str) -> None:
    try:
        Snapshot.loads(text, "snap.json")
    except FactError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("snap.json")


RULE_FILE = (Path(__file__).resolve().parents[2] / "knowledge" / "application.yaml").read_text()


@given(mutated(RULE_FILE))
def test_rule_loading_gives_file_line_errors(tmp_path_factory: pytest.TempPathFactory,
                                             text: str) -> None:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    start = time.monotonic()
    try:
        load_files([path])
    except KnowledgeLoadError as exc:
        for error in exc.errors:
            assert str(error).startswith(f"{path}:"), error
            assert "\n" not in str(error).strip(), error
    assert time.monotonic() - start < 10
