"""GNOME's proxy setting through gsettings: recorded real outputs (tests/fixtures/desktop_proxy),
whose settings are read under sudo, and a live gsettings run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.collectors import base, gnome_proxy
from engine.collectors.base import CollectContext, CommandResult, SessionUser, session_user

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "desktop_proxy" / "gnome"


def recorded(name: str, argv: list[str]) -> CommandResult:
    read = (FIXTURES / name).with_suffix
    return CommandResult(tuple(argv), int(read(".rc").read_text()), read(".stdout").read_text(),
                         read(".stderr").read_text())


def run_recorded(monkeypatch: pytest.MonkeyPatch, outputs: dict[str, str],
                 ctx: CollectContext) -> list[dict]:
    """collect() with each ``gsettings get SCHEMA KEY`` answered by its recording."""
    asked: list[list[str]] = []

    def fake(argv: list[str], timeout: float = 0, env: object = None,
             user: object = None) -> CommandResult:
        asked.append(argv)
        return recorded(outputs[argv[-1]], argv)

    monkeypatch.setattr(base, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(base, "run_command", fake)
    facts = gnome_proxy.collect(ctx)
    return [{"kind": f.kind, "id": f.id, "source": f.source, **f.fields} for f in facts]


@pytest.fixture
def ctx(tmp_path: Path) -> CollectContext:
    return CollectContext(env={"HOME": str(tmp_path)}, home=tmp_path)


def test_parse_gvariant_string() -> None:
    assert gnome_proxy.parse_gvariant_string("'auto'\n") == "auto"
    assert gnome_proxy.parse_gvariant_string(
        (FIXTURES / "quote-url.stdout").read_text()) == "http://pac.corp.example/it's.pac"
    assert gnome_proxy.parse_gvariant_string("'a\\\\b\\'c'") == "a\\b'c"
    assert gnome_proxy.parse_gvariant_string("") is None
    assert gnome_proxy.parse_gvariant_string("@ms nothing") is None


def test_auto_with_a_pac_url(monkeypatch: pytest.MonkeyPatch, ctx: CollectContext) -> None:
    [fact] = run_recorded(monkeypatch, {"mode": "auto-mode", "autoconfig-url": "auto-url"}, ctx)
    assert fact["id"] == "proxy_autoconfig:gnome"
    assert (fact["mode"], fact["url"], fact["uses_pac"], fact["auto_detect"]) == (
        "auto", "http://wpad.corp.example/proxy.pac", True, False)
    assert fact["source"] == {
        "command": "gsettings get org.gnome.system.proxy autoconfig-url"}
    assert fact["sudo_uid"] is None


def test_auto_without_url_detects(monkeypatch: pytest.MonkeyPatch, ctx: CollectContext) -> None:
    [fact] = run_recorded(monkeypatch, {"mode": "auto-mode", "autoconfig-url": "empty-url"},
                          ctx)
    assert (fact["mode"], fact["url"], fact["uses_pac"], fact["auto_detect"]) == (
        "auto", None, False, True)


@pytest.mark.parametrize(("recording", "mode"), [("none-mode", "none"),
                                                 ("manual-mode", "manual")])
def test_no_pac(monkeypatch: pytest.MonkeyPatch, ctx: CollectContext, recording: str,
                mode: str) -> None:
    [fact] = run_recorded(monkeypatch, {"mode": recording}, ctx)  # the URL is not asked
    assert (fact["mode"], fact["uses_pac"], fact["auto_detect"]) == (mode, False, False)
    assert fact["source"] == {"command": "gsettings get org.gnome.system.proxy mode"}


@pytest.mark.parametrize("recording", ["missing-schema", "no-schema"])
def test_no_schema_is_absence(monkeypatch: pytest.MonkeyPatch, ctx: CollectContext,
                              recording: str) -> None:
    [fact] = run_recorded(monkeypatch, {"mode": recording}, ctx)
    assert (fact["kind"], fact["what"]) == ("source_absent", "schema")


def test_no_gsettings_is_absence(monkeypatch: pytest.MonkeyPatch, ctx: CollectContext) -> None:
    monkeypatch.setattr(base, "which", lambda name: None)
    [fact] = gnome_proxy.collect(ctx)
    assert (fact.kind, fact["what"]) == ("source_absent", "gsettings")


def test_credentials_in_the_url_are_dropped() -> None:
    user = SessionUser("a", 1000, 1000, Path("/home/a"), Path("/home/a/.config"), False)
    fact = gnome_proxy.settings_fact("auto", "http://bob:CANARY-1@pac.test/p.pac", user, "c")
    assert "CANARY-1" not in str(fact.to_json())


# --- whose settings --------------------------------------------------------------------------

def test_sudo_reads_the_invoking_users_settings(tmp_path: Path) -> None:
    env = {"SUDO_USER": "nobody", "SUDO_UID": "65534", "HOME": "/root",
           "XDG_CONFIG_HOME": "/root/.config"}
    user = session_user(CollectContext(env=env, home=Path("/root"), euid=0, run=tmp_path))
    assert (user.name, user.uid, user.via_sudo) == ("nobody", 65534, True)
    assert user.config_home == user.home / ".config"  # not root's XDG_CONFIG_HOME
    command_env = user.command_env(CollectContext(env=env, run=tmp_path))
    assert command_env["HOME"] == str(user.home) and "XDG_CONFIG_HOME" not in command_env


def test_sudo_variables_that_do_not_hold_are_ignored(tmp_path: Path) -> None:
    def who(env: dict[str, str], euid: int) -> str:
        return session_user(CollectContext(env=env, home=tmp_path, euid=euid)).name

    assert who({"SUDO_USER": "nobody", "SUDO_UID": "1234"}, 0) == "root"  # uid disagrees
    assert who({"SUDO_USER": "no-such-user-here"}, 0) == "root"
    assert who({"SUDO_USER": "root"}, 0) == "root"
    assert who({"SUDO_USER": "root"}, 65534) == "nobody"  # not root: its own settings


def test_own_settings_follow_xdg_config_home(tmp_path: Path) -> None:
    ctx = CollectContext(env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")}, home=tmp_path)
    assert session_user(ctx).config_home == tmp_path / "cfg"
    ctx = CollectContext(env={"XDG_CONFIG_HOME": "relative"}, home=tmp_path)
    assert session_user(ctx).config_home == tmp_path / ".config"


@pytest.mark.skipif(os.geteuid() != 0, reason="running a command as another user needs root")
def test_commands_for_a_sudo_user_run_as_that_user(tmp_path: Path) -> None:
    ctx = CollectContext(env={"SUDO_USER": "nobody", "SUDO_UID": "65534"}, euid=0)
    user = session_user(ctx)
    result = base.run_command(["id", "-u"], env=user.command_env(ctx), user=user)
    assert result.ok and result.stdout.strip() == "65534"


@pytest.mark.skipif(shutil.which("gsettings") is None, reason="gsettings not installed")
def test_live_gsettings_without_a_dconf_database(tmp_path: Path) -> None:
    """A user who never changed the setting: the schema's default, mode 'none'."""
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    facts = gnome_proxy.collect(CollectContext(env=env, home=tmp_path))
    kinds = {f.kind for f in facts}
    assert kinds in ({"proxy_autoconfig"}, {"source_absent"})  # no GNOME schema: absent
    if kinds == {"proxy_autoconfig"}:
        assert facts[0]["mode"] == "none" and facts[0]["uses_pac"] is False
