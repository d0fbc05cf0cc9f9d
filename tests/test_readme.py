"""The README's generated sections match the code, and its quick start names real commands."""

from __future__ import annotations

from pathlib import Path

from engine.docs import render

README = Path(__file__).resolve().parents[1] / "README.md"


def test_generated_sections_are_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert render(text) == text, "README is stale: run `uv run python -m engine.docs`"
    assert "| `probe_tcp` |" in text and "| `refused` |" in text


def test_quick_start_is_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert commands[0] == "uv sync"
    assert commands[1].startswith("uv run whynet ")
    assert len(commands) == 2
