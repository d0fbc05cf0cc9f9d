"""KDE's proxy setting from kioslaverc: files in KDE's format (tests/fixtures/desktop_proxy/kde,
README there), the system file cascading under the user's, and absence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.collectors import kde_proxy
from engine.collectors.base import CollectContext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "desktop_proxy" / "kde"


def collect(tmp_path: Path, user_file: str | None = None,
            system_file: str | None = None) -> list[dict]:
    home, etc = tmp_path / "home", tmp_path / "etc"
    (home / ".config").mkdir(parents=True)
    (etc / "xdg").mkdir(parents=True)
    if user_file:
        shutil.copy(FIXTURES / user_file, home / ".config" / "kioslaverc")
    if system_file:
        shutil.copy(FIXTURES / system_file, etc / "xdg" / "kioslaverc")
    ctx = CollectContext(env={"HOME": str(home)}, home=home, etc=etc)
    return [{"kind": f.kind, "source": f.source, **f.fields} for f in kde_proxy.collect(ctx)]


def test_pac_file(tmp_path: Path) -> None:
    [fact] = collect(tmp_path, "pac.kioslaverc")
    assert (fact["origin"], fact["mode"], fact["url"], fact["uses_pac"]) == (
        "kde", "pac", "http://wpad.corp.example/proxy.pac", True)
    assert fact["source"] == {"file": str(tmp_path / "home/.config/kioslaverc"), "line": 5}


def test_local_script_path_becomes_a_file_url(tmp_path: Path) -> None:
    [fact] = collect(tmp_path, "local-file.kioslaverc")
    assert fact["url"] == "file:///etc/proxy/corp.pac"


def test_detect_automatically(tmp_path: Path) -> None:
    [fact] = collect(tmp_path, "wpad.kioslaverc")
    assert (fact["mode"], fact["url"], fact["auto_detect"], fact["uses_pac"]) == (
        "wpad", None, True, False)
    assert fact["source"]["line"] == 6  # ProxyType decides


def test_a_script_kept_while_the_proxy_is_off_is_not_in_force(tmp_path: Path) -> None:
    [fact] = collect(tmp_path, "disabled-with-script.kioslaverc")
    assert (fact["mode"], fact["url"], fact["uses_pac"]) == ("none", None, False)
    assert "proxy.corp.example" not in str(fact)  # manual entries are not recorded


def test_the_users_file_overrides_the_administrators(tmp_path: Path) -> None:
    [fact] = collect(tmp_path, "wpad.kioslaverc", system_file="pac.kioslaverc")
    assert fact["mode"] == "wpad"  # ProxyType from the user's file
    [fact] = collect(tmp_path / "b", None, system_file="pac.kioslaverc")
    assert fact["uses_pac"] and fact["source"]["file"].endswith("etc/xdg/kioslaverc")


def test_kconfig_dialect() -> None:
    text = ("# comment\nTop=1\n[Other]\nProxyType=1\n[Proxy Settings]\nProxyType[$i]=2\n"
            "Name[de]=x\nProxy Config Script=http://a/p\\s1.pac\n[Proxy Settings]\n"
            "ProxyType=3\n")
    entries = kde_proxy.parse_group(text, "f")
    assert {k: (e.value, e.line) for k, e in entries.items()} == {
        "ProxyType": ("3", 10), "Proxy Config Script": ("http://a/p 1.pac", 8)}


def test_no_file_is_absence(tmp_path: Path) -> None:
    [fact] = collect(tmp_path)
    assert (fact["kind"], fact["what"]) == ("source_absent", "kioslaverc")


def test_an_unreadable_file_is_a_collection_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "kioslaverc").mkdir(parents=True)  # a directory, not a file
    ctx = CollectContext(env={}, home=home, etc=tmp_path / "etc")
    [fact] = kde_proxy.collect(ctx)
    assert fact.kind == "collection_error"


@pytest.mark.parametrize("secret", ["http://u:CANARY-2@pac.test/x.pac"])
def test_credentials_in_the_url_are_dropped(tmp_path: Path, secret: str) -> None:
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "kioslaverc").write_text(
        f"[Proxy Settings]\nProxy Config Script={secret}\nProxyType=2\n")
    [fact] = kde_proxy.collect(CollectContext(env={}, home=home, etc=tmp_path / "etc"))
    assert "CANARY-2" not in str(fact.to_json())
