"""Generated documentation sections: the fact reference, the probe outcomes, the X items.

``python -m engine.docs`` rewrites each section between its ``<!-- name:start -->`` and
``<!-- name:end -->`` markers in README.md and docs/; ``tests/test_readme.py`` fails when a
document is behind the code.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from engine.kinds import markdown_reference
from engine.knowledge import BEYOND_CHECKLIST
from engine.probes.outcomes import MEANINGS

ROOT = Path(__file__).resolve().parents[1]


def outcomes_reference() -> str:
    lines = ["| outcome | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in MEANINGS.items()]
    return "\n".join(lines)


def beyond_checklist() -> str:
    lines = ["| code | what it is about |", "|---|---|"]
    lines += [f"| {code} | {text} |" for code, text in BEYOND_CHECKLIST.items()]
    return "\n".join(lines)


#: Each document, relative to the repository, and the generated sections it holds.
DOCUMENTS: dict[str, dict[str, Callable[[], str]]] = {
    "README.md": {"outcomes": outcomes_reference},
    "docs/writing-rules.md": {"facts": markdown_reference},
    "docs/checklist.md": {"beyond": beyond_checklist},
}


def render(text: str, sections: Mapping[str, Callable[[], str]]) -> str:
    for name, make in sections.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)

        def fill(m: re.Match[str], make: Callable[[], str] = make) -> str:
            return m.group(1) + make() + "\n" + m.group(2)

        text = pattern.sub(fill, text)
    return text


def main() -> int:
    for name, sections in DOCUMENTS.items():
        path = ROOT / name
        path.write_text(render(path.read_text(encoding="utf-8"), sections), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
