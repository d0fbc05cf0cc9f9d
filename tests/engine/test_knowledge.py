"""Loading and validating rule files: every error is FILE:LINE: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.knowledge import KnowledgeLoadError, builtin_knowledge_dir, load_files, load_knowledge

GOOD = """\
rules:
  - id: test.two-defaults
    title: two defaults
    checklist: [R1]
    severity: warning
    layer: route
    when:
      - fact: route
        as: a
        match: {destination: default}
    explanation: "via {a.gateway}"
    advice: "fix it"
"""


def _errors(tmp_path: Path, text: str, name: str = "r.yaml") -> list[str]:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(KnowledgeLoadError) as exc:
        load_files([f])
    return [str(e) for e in exc.value.errors]


def test_shipped_knowledge_loads_and_every_rule_names_checklist_items() -> None:
    kb = load_knowledge(include_user=False)
    assert kb.rules, "the shipped knowledge base is empty"
    for rule in kb.rules:
        assert rule.checklist and rule.explanation and rule.advice
        assert any(e.expect == "fires" for e in rule.examples), f"{rule.id}: no firing example"
        assert any(e.expect == "silent" for e in rule.examples), f"{rule.id}: no silent example"


def test_malformed_yaml_reports_file_and_line(tmp_path: Path) -> None:
    errs = _errors(tmp_path, "rules:\n  - id: x\n    title: [unclosed\n    severity: info\n")
    assert len(errs) == 1
    assert errs[0].startswith(f"{tmp_path / 'r.yaml'}:")
    assert "YAML error" in errs[0]
    line = int(errs[0].split(":")[1])
    assert line in (3, 4, 5)


def test_unknown_fact_kind_is_reported_at_its_line(tmp_path: Path) -> None:
    errs = _errors(tmp_path, GOOD.replace("fact: route", "fact: routez"))
    assert errs == [f"{tmp_path / 'r.yaml'}:8: unknown fact kind 'routez'"]


def test_unknown_field_bad_severity_and_checklist(tmp_path: Path) -> None:
    text = (GOOD.replace("destination: default", "dest: default")
            .replace("severity: warning", "severity: fatal")
            .replace("[R1]", "[R1, Z9]"))
    errs = _errors(tmp_path, text)
    joined = "\n".join(errs)
    assert ":10: unknown field 'dest' of fact kind 'route'" in joined
    assert ":5: bad severity 'fatal'" in joined
    assert ":4: unknown checklist item 'Z9'" in joined


def test_unknown_rule_key_and_missing_required_key(tmp_path: Path) -> None:
    errs = _errors(tmp_path, GOOD.replace("    advice: \"fix it\"\n", "    advise: x\n"))
    joined = "\n".join(errs)
    assert "unknown rule key 'advise'" in joined
    assert "has no 'advice'" in joined


def test_duplicate_id_names_both_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(KnowledgeLoadError) as exc:
        load_files([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    (err,) = exc.value.errors
    assert err.file.endswith("b.yaml") and err.line == 2
    assert "duplicate rule id 'test.two-defaults'" in err.message
    assert "a.yaml:2" in err.message


@pytest.mark.parametrize(
    "expression, message",
    [
        ("__import__('os').system('id')", "unknown function"),
        ("__import__('os')", "unknown function '__import__'"),
        ("a.gateway.__class__", "only fact.field access"),
        ("[x for x in a]", "ListComp is not part of the expression vocabulary"),
        ("a.nosuchfield == 1", "unknown field 'nosuchfield'"),
        ("b.gateway == 1", "uses 'b', which no earlier condition binds"),
        ("a.metric ** 2", "only + and - are allowed"),
        ("lambda: 1", "Lambda is not part"),
    ],
)
def test_expressions_outside_the_vocabulary_are_rejected(
    tmp_path: Path, expression: str, message: str
) -> None:
    text = GOOD.replace("match: {destination: default}",
                        f"match: {{destination: default}}\n        test: \"{expression}\"")
    errs = _errors(tmp_path, text)
    assert any(message in e and ":11:" in e for e in errs), errs


def test_yaml_tags_that_construct_python_objects_are_refused(tmp_path: Path) -> None:
    errs = _errors(tmp_path, "rules: !!python/object/apply:os.system ['id']\n")
    assert "YAML error" in errs[0]


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert _errors(tmp_path, "") == [f"{tmp_path / 'r.yaml'}:1: empty rule file"]
    assert "must be a mapping" in _errors(tmp_path, "- 1\n- 2\n")[0]


def test_empty_knowledge_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeLoadError) as exc:
        load_knowledge([tmp_path], include_user=False)
    assert str(exc.value) == f"{tmp_path}:1: no *.yaml rule files here"


def test_user_dirs_from_env_and_xdg(tmp_path: Path) -> None:
    xdg = tmp_path / "cfg" / "whynet" / "knowledge"
    xdg.mkdir(parents=True)
    (xdg / "mine.yaml").write_text(GOOD)
    kb = load_knowledge(env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert kb.get("test.two-defaults") is not None
    assert str(builtin_knowledge_dir()) in kb.files[0]


def test_derived_kinds_may_be_matched_and_not_redeclared(tmp_path: Path) -> None:
    text = GOOD.replace("    advice: \"fix it\"\n", "    advice: x\n    then:\n"
                        "      - fact: route\n        fields: {x: 1}\n")
    errs = _errors(tmp_path, text)
    assert any("cannot derive 'route'" in e for e in errs)
