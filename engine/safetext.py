"""Text safe to show: values from facts, rule files and reports, cleaned of control characters.

Other people control much of what whynet shows (a certificate's subject, a firewall rule's
comment, a snapshot from another machine). Shown raw, an escape sequence recolours or rewrites
the terminal, an OSC-8 sequence plants a link, a NUL or a lone surrogate breaks the output
file. Kept free of rich so the command line's error path can use it cheaply.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but tab and newline, DEL and C1 (ESC, CSI, OSC start sequences), the bidi
# embedding/override/isolate characters (text that reads differently from what it is), and
# lone surrogates (not encodable: a crash when written).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"[\t\n]+")


def clean(value: Any, *, one_line: bool = False) -> str:
    """``value`` as text safe to show: control characters removed (tab and newline kept, or
    turned into spaces with ``one_line``)."""
    text = _UNSAFE.sub("", value if isinstance(value, str) else str(value))
    return _LINE_BREAKS.sub(" ", text) if one_line else text
