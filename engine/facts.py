"""The fact model and the snapshot file.

A fact is a flat record: ``kind`` (snake_case), ``id`` (stable within a snapshot), ``source``
(where it came from: ``{"file": "/etc/hosts", "line": 7}``, ``{"command": "ip -j route"}``,
``{"netlink": "RTM_GETROUTE"}``) and fields. In JSON it is one flat object; in Python a
:class:`Fact`. Collectors and probes create facts; the engine only reads them.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import re
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import __version__
from engine.files import SNAPSHOT_LIMIT, RefusedFile, read_regular
from engine.kinds import field_problems
from engine.redact import redact_fact, redacted_json

SCHEMA_VERSION = 1
RESERVED_KEYS = frozenset({"kind", "id", "source"})


class FactError(ValueError):
    """A fact or snapshot that does not have the shape whynet writes."""


@dataclass(frozen=True)
class Fact:
    """One observation, with where it came from."""

    kind: str
    id: str
    source: Mapping[str, Any]
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fields = self.fields
        if "kind" in fields or "id" in fields or "source" in fields:  # RESERVED_KEYS, per fact
            clash = RESERVED_KEYS.intersection(fields)
            raise FactError(f"{self.kind} {self.id}: field name(s) {sorted(clash)} are reserved")

    def get(self, name: str, default: Any = None) -> Any:
        if name in RESERVED_KEYS:
            return getattr(self, name)
        return self.fields.get(name, default)

    def __getitem__(self, name: str) -> Any:
        if name in RESERVED_KEYS:
            return getattr(self, name)
        return self.fields[name]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "source": dict(self.source), **self.fields}

    @classmethod
    def from_json(cls, data: Any, where: str = "fact", *, owned: bool = False) -> Fact:
        """A fact from its JSON object. ``owned``: ``data`` was parsed for this fact alone and
        becomes its fields (no copy: a busy node's snapshot is then held once, not twice)."""
        if type(data) is not dict and not isinstance(data, Mapping):  # dict: no ABC check
            raise FactError(f"{where}: expected an object, got {type(data).__name__}")
        kind, fid, source = data.get("kind"), data.get("id"), data.get("source")
        if not isinstance(kind, str) or not kind:
            raise FactError(f"{where}: missing or non-string 'kind'")
        if not isinstance(fid, str) or not fid:
            raise FactError(f"{where}: missing or non-string 'id'")
        if type(source) is not dict and not isinstance(source, Mapping):
            raise FactError(f"{where} ({fid}): 'source' must be an object")
        fields = data if owned and isinstance(data, dict) else dict(data)
        del fields["kind"], fields["id"], fields["source"]
        problems = field_problems(kind, fields)
        if problems:
            raise FactError(f"{where} ({fid}): {problems[0]}")
        return cls(kind=kind, id=fid, source=source if owned else dict(source), fields=fields)

    def describe_source(self) -> str:
        """``/etc/hosts:7``, ``command: ip -j route``, ``netlink: RTM_GETROUTE``..."""
        return describe_source(self.source)


def describe_source(source: Mapping[str, Any]) -> str:
    if "file" in source:
        where = str(source["file"])
        if source.get("line") is not None:
            where += f":{source['line']}"
        return where
    for key in ("command", "netlink", "probe", "env", "rule", "sysctl"):
        if key in source:
            return f"{key}: {source[key]}"
    return ", ".join(f"{k}: {v}" for k, v in source.items()) or "unknown"


def make_fact(kind: str, fid: str, source: Mapping[str, Any], /, **fields: Any) -> Fact:
    """The one way collectors and probes build facts: ``make_fact("route", "route:0", src, ...)``."""
    return Fact(kind=kind, id=fid, source=dict(source), fields=fields)


def collection_error(
    collector: str, reason: str, source: Mapping[str, Any], what: str | None = None
) -> Fact:
    """A source that could not be read: recorded, never raised. ``what`` names the part of
    the source (a file, a command) when one collector reads several."""
    fid = f"collection_error:{collector}" + (f":{what}" if what else "")
    return make_fact("collection_error", fid, source, collector=collector, reason=reason)


def absent(collector: str, what: str, reason: str, source: Mapping[str, Any]) -> Fact:
    """A source this machine does not have (no nft binary, no firewalld): present=False."""
    return make_fact(
        "source_absent", f"source_absent:{collector}:{what}", source, collector=collector,
        what=what, reason=reason,
    )


@dataclass
class Snapshot:
    """Collected facts plus where and when; what ``whynet collect`` writes."""

    facts: list[Fact]
    host: str = field(default_factory=socket.gethostname)
    collected_at: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    )
    whynet: str = __version__

    def _head(self) -> dict[str, Any]:
        return {"whynet": self.whynet, "schema": SCHEMA_VERSION, "host": self.host,
                "collected_at": self.collected_at}

    def to_json(self) -> dict[str, Any]:
        return {**self._head(), "facts": [redact_fact(f).to_json() for f in self.facts]}

    def dumps(self) -> str:
        """The snapshot as JSON, one fact per line, each redacted (``redacted_json``: as
        ``to_json`` does, searching a fact's text once rather than walking its values). Each
        fact goes through json's C encoder (``indent`` would force the pure-Python one: 40 s
        for a busy node's 200,000 facts)."""
        head = json.dumps(self._head(), indent=1, default=str)[:-2]  # without the closing "\n}"
        if not self.facts:
            return head + ',\n "facts": []\n}'
        body = ",\n".join(redacted_json(f) for f in self.facts)
        return f'{head},\n "facts": [\n{body}\n ]\n}}'

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps() + "\n", encoding="utf-8")

    @classmethod
    def loads(cls, text: str, name: str = "snapshot") -> Snapshot:
        return cls.from_json(_parse_json(text, name), name, owned=True)

    @classmethod
    def from_json(cls, data: Any, name: str = "snapshot", *, owned: bool = False) -> Snapshot:
        """``owned``: ``data`` was parsed for this snapshot alone; its objects are reused."""
        if isinstance(data, Mapping) and "findings" in data and "justification" in data:
            raise FactError(f"{name}: this is a whynet report, not a snapshot (make a snapshot "
                            "with `whynet collect -o FILE`; read a report with `whynet why`)")
        if not isinstance(data, Mapping) or "whynet" not in data or "facts" not in data:
            raise FactError(f"{name}: not a whynet snapshot (no 'whynet' and 'facts' keys)")
        if data.get("schema") != SCHEMA_VERSION:
            raise FactError(
                f"{name}: snapshot schema {data.get('schema')!r} is not supported "
                f"(this whynet reads schema {SCHEMA_VERSION})"
            )
        if not isinstance(data["facts"], list):
            raise FactError(f"{name}: 'facts' must be a list")
        facts = [Fact.from_json(f, f"{name}: fact #{i}", owned=owned)
                 for i, f in enumerate(data["facts"])]
        seen: set[str] = set()
        for f in facts:
            if f.id in seen:
                raise FactError(f"{name}: duplicate fact id {f.id!r}")
            seen.add(f.id)
        return cls(
            facts=facts,
            host=str(data.get("host", "")),
            collected_at=str(data.get("collected_at", "")),
            whynet=str(data["whynet"]),
        )

    @classmethod
    def load(cls, path: str | Path) -> Snapshot:
        p = Path(path)
        try:
            text = read_regular(p, SNAPSHOT_LIMIT).decode("utf-8")
        except RefusedFile as exc:
            raise FactError(f"{p}: cannot read snapshot: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise FactError(f"{p}: cannot read snapshot ({exc.__class__.__name__}: {exc})") from None
        with without_gc_passes():
            data = _parse_json(text, str(p))
            del text  # the parsed facts are all that is kept: the text would double the peak
            return cls.from_json(data, str(p), owned=True)


@contextmanager
def without_gc_passes() -> Iterator[None]:
    """Parsed JSON and facts hold no reference cycles, so the cycle collector's passes over
    the growing heap while a big snapshot loads (or a collection parses 20,000 firewall rules)
    find nothing and only cost time (more than linear in the number of facts: half the CPU of
    parsing a big ruleset). Switched off for the load, restored after.

    Once loaded, the facts are frozen out of the collector's sight (``gc.freeze``): otherwise
    its first pass after the load walks every one of the millions of new objects (half a
    second for a busy node), and each later pass of the oldest generation walks them again.
    Reference counting still frees them when the snapshot is dropped: they hold no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _parse_json(text: str, name: str) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FactError(f"{name}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise FactError(f"{name}: not a whynet snapshot (nested too deeply)") from None
    check_unicode(text, data, name)
    return data


# A JSON escape of a UTF-16 surrogate: only then can a decoded string hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_unicode(text: str, data: Any, name: str) -> None:
    """Refuse JSON whose strings hold a lone surrogate (``"\\ud800"``): not Unicode, so no
    report, terminal or file could show it. Checked only when the text has such an escape."""
    if not _SURROGATE_ESCAPE.search(text):
        return
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise FactError(f"{name}: a string holds a lone UTF-16 surrogate (\\ud800-\\udfff): "
                        "not valid Unicode") from None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_text(match: re.Match[str]) -> str:
    code = ord(match.group())
    # Python decodes a byte that is not UTF-8 (an environment value, a file name) as
    # U+DC80..U+DCFF ("surrogateescape"): shown as the byte it was; any other one as U+FFFD.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else "\ufffd"


_NO_TEXT = (int, float, bool, type(None))


def _has_surrogate(value: Any) -> bool:
    """Whether any string in ``value`` (keys too) holds a lone surrogate. Walked with a stack
    and exact types first, and ASCII strings (nearly all) cleared without the regex: every
    value of every collected fact passes here (30,000 firewall rules: a tenth of a second)."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        v = pop()
        t = type(v)
        if t is str:
            if not v.isascii() and _LONE_SURROGATE.search(v) is not None:
                return True
        elif t is dict:
            extend(v)
            extend(v.values())
        elif t is list or t is tuple:
            extend(v)
        elif t in _NO_TEXT:
            continue
        elif isinstance(v, str):
            if _LONE_SURROGATE.search(v) is not None:
                return True
        elif isinstance(v, (list, tuple)):
            extend(v)
        elif isinstance(v, Mapping):
            extend(v)
            extend(v.values())
    return False


def _valid_text(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub(_surrogate_text, value)
    if isinstance(value, (list, tuple)):
        return [_valid_text(v) for v in value]
    if isinstance(value, Mapping):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    return value


def valid_unicode_data(text: str, data: Any) -> Any:
    """``data`` decoded from JSON ``text``, with every lone surrogate replaced as
    :func:`valid_unicode` does (looked for only when the text has such an escape)."""
    if not _SURROGATE_ESCAPE.search(text) or not _has_surrogate(data):
        return data
    return _valid_text(data)


def valid_unicode(fact: Fact) -> Fact:
    """``fact`` with every lone surrogate in its text replaced (a byte that was not UTF-8 as
    ``\\xNN``), so reports and snapshots made from this machine's facts are valid Unicode and
    load again (a snapshot or report holding one is refused: :func:`check_unicode`)."""
    # repr() (in C) writes every lone surrogate as the escape \udXXX, and nothing else as
    # that text but a literal backslash (written doubled): without "\ud" in it, the fact has
    # none, and the walk below is spared (30,000 firewall rules: 0.9 s -> a tenth of that).
    if "\\ud" not in repr((fact.id, fact.source, fact.fields)):
        return fact
    if not (_has_surrogate(fact.id) or _has_surrogate(fact.source)
            or _has_surrogate(fact.fields)):
        return fact
    return Fact(fact.kind, _valid_text(fact.id), _valid_text(fact.source),
                _valid_text(fact.fields))


def unique_ids(facts: Iterable[Fact]) -> list[Fact]:
    """Make ids unique by suffixing repeats (``route:default``, ``route:default#2``)."""
    seen: dict[str, int] = {}
    out: list[Fact] = []
    for f in facts:
        n = seen.get(f.id, 0) + 1
        seen[f.id] = n
        out.append(f if n == 1 else Fact(f.kind, f"{f.id}#{n}", f.source, f.fields))
    return out
