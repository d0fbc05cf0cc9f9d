"""Make experta 1.9.4 importable on Python >= 3.10.

experta pins ``frozendict==1.2``, which still reads ``collections.Mapping``; that alias was
removed in Python 3.10. Restoring the ``collections.abc`` names on ``collections`` before
experta is first imported lets the pinned versions run unchanged, with plain ``pip install .``
as well as with uv. Importing this module is idempotent.
"""

from __future__ import annotations

import collections
import collections.abc

for _name in ("Mapping", "MutableMapping", "Sequence", "Iterable", "Hashable", "Callable"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
