"""The documents' generated sections match the code, the rule-writing guide covers the whole
vocabulary, and the README's quick start names real commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import expr
from engine.docs import DOCUMENTS, ROOT, render
from engine.kinds import KINDS
from engine.knowledge import CHECKLIST_IDS, CONDITION_KEYS, RULE_KEYS, load_knowledge
from engine.ruletest import run_examples

README = ROOT / "README.md"
WRITING_RULES = ROOT / "docs" / "writing-rules.md"
CHECKLIST = ROOT / "docs" / "checklist.md"


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_generated_sections_are_current(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    assert render(text, DOCUMENTS[name]) == text, f"{name} is stale: run `uv run python -m engine.docs`"


def test_generated_sections_are_filled() -> None:
    assert "| `refused` |" in README.read_text(encoding="utf-8")
    guide = WRITING_RULES.read_text(encoding="utf-8")
    assert all(f"| `{kind}` |" in guide for kind in KINDS)


def test_the_guide_documents_every_operator_function_and_rule_key() -> None:
    guide = WRITING_RULES.read_text(encoding="utf-8")
    rows = [line for line in guide.splitlines() if line.startswith("| `")]
    documented = {name for line in rows for name in re.findall(r"`(\w+)`", line.split("|")[1])}
    documented |= {name for line in rows
                   for name in re.findall(r"`(\w+)\(", line.split("|")[1])}
    assert set(expr.OPERATORS) - documented == set()
    assert set(expr.FUNCTIONS) - documented == set()
    assert set(RULE_KEYS) - documented == set()
    assert all(f"{key}:" in guide for key in CONDITION_KEYS)
    assert "../shared" not in guide and "DESIGN.md" not in guide


def test_every_checklist_code_is_explained() -> None:
    text = CHECKLIST.read_text(encoding="utf-8")
    explained = set(re.findall(r"^\| ([A-Z]\d+) \|", text, re.M))
    assert explained == set(CHECKLIST_IDS)


def test_quick_start_is_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert commands[0] == "uv sync"
    assert commands[1].startswith("uv run whynet ")
    assert len(commands) == 2


def test_no_document_cites_files_users_do_not_have() -> None:
    for path in [README, *Path(ROOT / "docs").glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text and "../shared" not in text, path


def test_the_worked_example_rule_validates_and_passes_its_examples(tmp_path: Path) -> None:
    guide = WRITING_RULES.read_text(encoding="utf-8")
    yaml_text = guide.split("## A worked example", 1)[1].split("```yaml\n", 1)[1].split("```")[0]
    rule_file = tmp_path / "mysite.db-down.yaml"
    rule_file.write_text(yaml_text)
    kb = load_knowledge(strict=[rule_file], include_user=False)
    results = run_examples(kb, {str(rule_file)})
    assert [(r.rule.id, r.example.expect, r.passed) for r in results] == [
        ("mysite.db-down", "fires", True), ("mysite.db-down", "silent", True)]


def test_no_code_cites_files_users_do_not_have() -> None:
    sources = [ROOT / "cli.py", *ROOT.glob("engine/**/*.py"), *ROOT.glob("knowledge/*.yaml")]
    citing = [p for p in sources if "DESIGN.md" in p.read_text(encoding="utf-8")
              or "../shared" in p.read_text(encoding="utf-8")]
    assert citing == []
