"""``uv run python -m tests.benchmarks``: print every scale figure (see scale.py)."""

from tests.benchmarks.scale import main

main()
