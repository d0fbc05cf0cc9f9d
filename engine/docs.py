"""Generated README sections: the fact reference and the probe outcomes.

``python -m engine.docs`` rewrites the sections between their markers in README.md;
``tests/test_readme.py`` fails when the README is behind the code.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from engine.kinds import markdown_reference
from engine.probes.outcomes import MEANINGS


def outcomes_reference() -> str:
    lines = ["| outcome | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in MEANINGS.items()]
    return "\n".join(lines)


SECTIONS = {"facts": markdown_reference, "outcomes": outcomes_reference}


def render(readme: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)

        def fill(m: re.Match[str], make: Callable[[], str] = make) -> str:
            return m.group(1) + make() + "\n" + m.group(2)

        readme = pattern.sub(fill, readme)
    return readme


def main() -> int:
    path = Path(__file__).resolve().parents[1] / "README.md"
    path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
