"""whynet's engine: facts, collectors, probes, knowledge loading, inference and reports."""

__version__ = "0.1.0"

# experta's pinned frozendict needs collections.Mapping & co. (gone in Python 3.10): alias them
# before anything can import experta. See engine/_compat.py.
from engine import _compat  # noqa: E402,F401
