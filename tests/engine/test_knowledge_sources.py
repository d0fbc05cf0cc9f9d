"""Knowledge sources are a set of files: each loads once, a broken user file is left out."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine.knowledge import KnowledgeLoadError, builtin_knowledge_dir, load_knowledge

MINE = """\
rules:
  - {id: mine.two-defaults, title: two defaults, checklist: [R1], severity: warning,
     layer: route, when: [{fact: route, as: a, match: {destination: default}}],
     explanation: "via {a.gateway}", advice: "fix it"}
"""


def _user_dir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    config = tmp_path / "config"
    user = config / "whynet" / "knowledge"
    user.mkdir(parents=True)
    return user, {"XDG_CONFIG_HOME": str(config)}


def test_a_file_named_by_every_source_loads_once(tmp_path: Path) -> None:
    user, env = _user_dir(tmp_path)
    (user / "mine.yaml").write_text(MINE)
    env["WHYNET_KNOWLEDGE"] = str(user)
    shipped = builtin_knowledge_dir() / "proxy.yaml"
    # The user directory four times over (XDG, env, --knowledge, the report's file list), and
    # a shipped file named again, as `rules test knowledge/proxy.yaml` does.
    kb = load_knowledge([user, user / "mine.yaml", str(user / ".." / "knowledge"), shipped],
                        env=env)
    assert [r.id for r in kb.rules].count("mine.two-defaults") == 1
    assert [r.id for r in kb.rules].count("proxy.dead") == 1
    assert kb.skipped == []
    assert len(kb.files) == len({Path(f).resolve() for f in kb.files})


def test_a_broken_user_file_is_skipped_and_the_rest_runs(tmp_path: Path) -> None:
    user, env = _user_dir(tmp_path)
    (user / "mine.yaml").write_text(MINE)
    (user / "broken.yaml").write_text("rules: [\n")
    kb = load_knowledge(env=env)
    assert kb.get("mine.two-defaults") is not None
    assert kb.get("proxy.dead") is not None  # the shipped rules always load
    assert [s.file for s in kb.skipped] == [str(user / "broken.yaml")]
    assert str(kb.skipped[0]).startswith(f"skipped {user / 'broken.yaml'}: line 2: YAML error")


def test_a_user_file_reusing_a_shipped_id_is_skipped_not_the_shipped_one(tmp_path: Path) -> None:
    user, env = _user_dir(tmp_path)
    (user / "copy.yaml").write_text(MINE.replace("mine.two-defaults", "proxy.dead"))
    kb = load_knowledge(env=env)
    assert Path(kb.get("proxy.dead").file).parent == builtin_knowledge_dir()  # type: ignore[union-attr]
    assert "duplicate rule id 'proxy.dead'" in str(kb.skipped[0])


def test_errors_in_a_file_asked_for_by_name_are_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINE.replace("checklist: [R1]", "checklist: [Z9]"))
    with pytest.raises(KnowledgeLoadError) as exc:
        load_knowledge(strict=[bad], include_user=False)
    assert len(exc.value.errors) == 1
    assert str(exc.value.errors[0]).startswith(f"{bad}:2: unknown checklist item 'Z9'")


def test_a_bad_disabled_id_is_blamed_on_the_file_and_line_naming_it(tmp_path: Path) -> None:
    user, env = _user_dir(tmp_path)
    (user / "a.yaml").write_text(MINE)
    (user / "z-tuning.yaml").write_text("disabled:\n  - proxy.dead\n  - no.such-rule\n")
    kb = load_knowledge(env=env)
    assert str(kb.skipped[0]).startswith(
        f"skipped {user / 'z-tuning.yaml'}: line 3: 'disabled' names unknown rule 'no.such-rule'")
    with pytest.raises(KnowledgeLoadError) as exc:
        load_knowledge(strict=[user / "z-tuning.yaml"], include_user=False)
    assert [str(e) for e in exc.value.errors] == [
        f"{user / 'z-tuning.yaml'}:3: 'disabled' names unknown rule 'no.such-rule'"]


def test_rules_test_of_a_shipped_file_tests_that_file(runner: CliRunner) -> None:
    shipped = builtin_knowledge_dir() / "proxy.yaml"
    res = runner.invoke(main, ["rules", "test", str(shipped), "-v"])
    assert res.exit_code == 0, res.output
    tested = {line.split(" / ")[0].split(": ", 1)[1] for line in res.output.splitlines()
              if line.startswith("ok: ")}
    assert tested and all(rule_id.startswith("proxy.") for rule_id in tested)


def test_a_broken_user_file_is_one_warning_line_and_the_command_runs(
    runner: CliRunner, tmp_path: Path
) -> None:
    user, _ = _user_dir(tmp_path)
    (user / "broken.yaml").write_text("rules: [\n")
    res = runner.invoke(main, ["rules", "list", "--format", "json"])
    assert res.exit_code == 0
    warnings = [line for line in res.stderr.splitlines() if line]
    assert len(warnings) == 1 and warnings[0].startswith(f"Warning: skipped {user / 'broken.yaml'}")


def test_rules_list_shows_disabled_rules_and_never_cuts_ids(
    runner: CliRunner, tmp_path: Path
) -> None:
    user, _ = _user_dir(tmp_path)
    (user / "tuning.yaml").write_text("disabled:\n  - proxy.dead\n")
    ids = [r.id for r in load_knowledge(include_user=False).rules]
    for width in ("30", "80", "200"):
        res = runner.invoke(main, ["rules", "list"], env={"COLUMNS": width})
        assert res.exit_code == 0, res.output
        words = set(res.output.replace("│", " ").split())
        assert set(ids) <= words, (width, set(ids) - words)
        assert f"disabled: proxy.dead (by {user / 'tuning.yaml'}:2)" in res.output


def test_rules_new_writes_a_skeleton_that_validates_and_passes_its_examples(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "mine.yaml"
    res = runner.invoke(main, ["rules", "new", "mysite.db-refused", "-o", str(path)])
    assert res.exit_code == 0, res.output
    assert "id: mysite.db-refused" in path.read_text()
    res = runner.invoke(main, ["rules", "validate", str(path)])
    assert (res.exit_code, res.output) == (0, "1 file(s), 1 rule(s): ok\n")
    res = runner.invoke(main, ["rules", "test", str(path), "-v"])
    assert res.exit_code == 0, res.output
    assert "expected fires, fired" in res.output
    assert "expected silent, stayed silent" in res.output
    assert res.output.endswith("2 passed, 0 failed\n")
    again = runner.invoke(main, ["rules", "new", "mysite.db-refused", "-o", str(path)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_a_missing_whynet_knowledge_directory_is_one_warning(tmp_path: Path) -> None:
    kb = load_knowledge(env={"WHYNET_KNOWLEDGE": str(tmp_path / "typo"),
                             "XDG_CONFIG_HOME": str(tmp_path)})
    assert kb.get("proxy.dead") is not None
    assert [str(s) for s in kb.skipped] == [
        f"skipped {tmp_path / 'typo'}: line 1: no such directory (named by WHYNET_KNOWLEDGE)"]
