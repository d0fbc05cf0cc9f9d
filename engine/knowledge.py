"""Loading the knowledge base: YAML rule files, read safely, checked against the rule schema.

Rule files are data. They are parsed with a ``yaml.SafeLoader`` subclass that only adds line
numbers, and every problem is reported as ``FILE:LINE: message`` (see :class:`KnowledgeError`).
Where knowledge comes from: the shipped ``knowledge/`` directory, each ``--knowledge DIR``,
the directories in ``WHYNET_KNOWLEDGE`` (``:``-separated), and
``$XDG_CONFIG_HOME/whynet/knowledge`` (``~/.config/whynet/knowledge``). These name a *set* of
rule files: each is loaded once, however many sources name it (see :func:`load_knowledge`).

The rule format and condition vocabulary are documented in docs/writing-rules.md.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine import expr
from engine.files import RULE_FILE_LIMIT, RefusedFile, read_regular
from engine.kinds import KINDS, LAYERS, SEVERITIES, field_problems
from engine.matching import field_passes

CHECKLIST_IDS: frozenset[str] = frozenset(
    [f"B{i}" for i in range(1, 6)] + [f"R{i}" for i in range(1, 9)] + ["C1", "C2"]
    + [f"F{i}" for i in range(1, 8)] + ["P1", "P2", "P3"] + [f"N{i}" for i in range(1, 5)]
    + ["D1", "D2", "T1", "T2", "A1", "A2", "A3"]
)
#: Faults beyond the checklist, each with a rationale in docs/checklist.md ("X" items).
BEYOND_CHECKLIST: dict[str, str] = {
    "X1": "the next hop (gateway, or the target on the link) does not answer ARP/NDP: the "
          "first hop of the path is dead, and every tool beyond it reports a timeout or 'no "
          "route to host' that names the target instead",
    "X2": "the interface the route uses has no carrier (cable, switch port, peer or wifi "
          "association down): the kernel still routes through it, so the fault looks like a "
          "dead target",
    "X3": "IPv4 forwarding is off on a host whose containers or VMs use it as their gateway: "
          "the host works and its guests reach nothing beyond it, which R7 and N2 do not cover",
    "X4": "a container or VM bridge's subnet covers a remote network: its connected route "
          "captures traffic meant for the default gateway (R4's longest prefix, caused by a "
          "virtual network R7 only lists)",
    "X10": "one address family is broken while the other works (IPv6 dropped on the path, or "
           "IPv4): programs that race both families hide it, programs that try the "
           "resolver's order (RFC 6724: AAAA first on a host with global IPv6) wait for a "
           "connect timeout or fail, so the same name works in a browser and hangs in a script",
    "X11": "a path-MTU black hole: a link on the path carries less than the endpoints' MTU "
           "and the ICMP that would say so (fragmentation needed, packet too big) is dropped, "
           "so handshakes pass and the first full-size segment never arrives: it looks like a "
           "server that stops answering (B2 names the layer, not the packet size)",
    "X12": "the path works but carries packets badly: loss, latency or jitter measured with a "
           "bounded train of echoes and reported as figures (loss %, min/avg/max round trip, "
           "jitter); no single probe's outcome shows it, yet connections crawl, stall or break",
    "X20": "a resolver rewrites NXDOMAIN into an address (an ISP's 'search assist' page): "
           "names that do not exist seem to resolve, so a typo or a missing record shows up as "
           "a wrong server instead of 'name not found' (D1 assumes NXDOMAIN is told)",
    "X21": "search domains and ndots send a name somewhere else: a name with a dot answered "
           "through a search domain (ndots:5 in Kubernetes pods, a wildcard record in the "
           "search domain) reaches another host than the name as typed (D1 checks only that "
           "a name resolves)",
    "X22": "a captive portal (hotel, train or guest network) answers a known-answer URL with a "
           "redirect or a login page and holds back other traffic until someone logs in: "
           "every failure looks like a firewall (F1) or a dead server",
    "X23": "an encrypted DNS transport is blocked while plain DNS works, or the reverse: DNS "
           "over TLS (port 853) or DNS over HTTPS refused or dropped by the network, so a "
           "resolver or browser set to use it fails or falls back to plain text (D1 looks at "
           "port 53 only)",
    "X24": "per-link DNS routing domains (systemd-resolved Domains=~zone) send a name to the "
           "wrong link's server: a name of the VPN's zone that is not in the VPN link's "
           "routing domains goes to the default link's server and gets NXDOMAIN (D2 seen "
           "from the resolver's routing, not from the answers)",
    "X30": "the wrong service answers on the port: an SSH, SMTP, FTP or other banner where "
           "HTTP or TLS was expected; the client reports 'wrong version number' or 'not an "
           "HTTP answer', which names neither the service that listens nor the mix-up (R6 "
           "covers default ports, not what really answers)",
    "X31": "clock skew: this host's clock or the server's is off; certificates look expired "
           "or not yet valid and signed tokens or Kerberos tickets are refused, and the "
           "certificate is blamed when the clock is the fault (the server's HTTP Date, this "
           "host's clock and the certificate's dates tell them apart)",
    "X32": "the client and the server share no TLS protocol version (a TLS 1.0/1.1-only "
           "server against current clients, a TLS 1.3-only server against a client capped at "
           "1.2): the handshake fails before any certificate is checked, so T1 and T2 say "
           "nothing about it",
    "X40": "strict reverse-path filtering (rp_filter=1) on a host with several interfaces "
           "drops replies that come in on an interface other than the route back to their "
           "sender (asymmetric routing): the request leaves, the answer arrives and is thrown "
           "away, so the connection times out with nothing on the wire to blame (replies of "
           "every protocol: TCP, DNS answers, echo replies)",
    "X41": "the connection-tracking table is full: the kernel cannot make an entry for a new "
           "connection and drops its packets silently, whatever the firewall rules say, while "
           "established connections keep working",
}
CHECKLIST_IDS = CHECKLIST_IDS | frozenset(BEYOND_CHECKLIST)
CONFIDENCES = ("observed", "inferred", "heuristic")  # how directly the evidence shows a cause
FILE_KEYS = frozenset({"rules", "lists", "disabled", "relations"})
RULE_KEYS = frozenset({
    "id", "title", "checklist", "severity", "layer", "when", "then", "explanation", "advice",
    "examples", "confidence", "fold_by", "description", "references",
})
REQUIRED_RULE_KEYS = ("id", "title", "checklist", "severity", "layer", "when", "explanation",
                      "advice")
CONDITION_KEYS = frozenset({"fact", "as", "match", "test", "left", "right"})
RELATION_KEYS = frozenset({"name", "description", "join", "left", "right", "test", "distinct",
                           "unit"})
RELATION_SIDE_KEYS = frozenset({"fact", "field", "match", "within"})
# How a relation pairs two facts, each computed with an index (engine/relations.py), never
# pair by pair: equal keys (hash), overlapping CIDRs (sort and sweep), a CIDR holding an
# address or a narrower CIDR (per-prefix-length hash: a prefix trie flattened); and, where
# pairs within one key would be n² themselves, one fact per key holding all its facts (hash).
JOINS = ("same", "overlaps", "covers", "group")
# The fields of every relation fact: the two facts' ids and kinds, and the joined value.
RELATION_FIELDS = frozenset({"left", "right", "left_kind", "right_kind", "value"})
# A group's fact also counts its members and names them all.
GROUP_FIELDS = RELATION_FIELDS | {"count", "distinct_count", "members"}
RESERVED_FIELDS = frozenset({"kind", "id", "source"})
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TEMPLATE_RE = re.compile(r"\{([^{}]*)\}")
_UNKNOWN_KIND = "?"


# --- errors -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class KnowledgeError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class SkippedFile:
    """A user rule file left out because it has errors; the rest of the knowledge still runs."""

    file: str
    errors: tuple[KnowledgeError, ...]

    def __str__(self) -> str:
        first = self.errors[0]
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        hint = f"; see `whynet rules validate {self.file}`" if Path(self.file).exists() else ""
        return f"skipped {self.file}: line {first.line}: {first.message}{more}{hint}"


class KnowledgeLoadError(Exception):
    """Raised with every error found, so a user fixes them all in one go."""

    def __init__(self, errors: list[KnowledgeError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


# --- a SafeLoader that remembers lines ----------------------------------------------------------

class LineDict(dict):
    """A mapping from YAML that knows the line of itself and of each key."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}


class LineList(list):
    line: int = 0
    item_lines: list[int]


# libyaml's parser (CSafeLoader) where PyYAML was built with it: ten times faster than the
# pure-Python one, with the same safe constructors and the same line marks.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Bounds on a rule file: the shipped ones are under 30 KB, 2,200 nodes and 12 levels deep.
MAX_DEPTH = 64  # nesting of mappings and sequences
MAX_NODES = 200_000  # nodes once every alias is expanded (billion laughs stays a few KB)


class _LineLoader(_SafeBase):  # type: ignore[valid-type,misc]
    """A safe loader that keeps lines and, once the document is composed and before anything
    is built from it, refuses deep nesting and counts what aliases expand to."""

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _check_shape(node)
        return node


def _check_shape(root: yaml.Node) -> None:
    """Raise a ComposerError when the document nests more than MAX_DEPTH levels, has more than
    MAX_NODES nodes once aliases are expanded, or an alias refers to a node containing it.
    Iterative, each node visited once: nothing here can hit Python's recursion limit."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool, int]] = [(root, False, 1)]
    while stack:
        node, children_done, depth = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            size = 1 + sum(sizes[id(c)] for c in _children(node))
            if size > MAX_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"aliases expand to more than {MAX_NODES} nodes",
                    node.start_mark)
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise yaml.composer.ComposerError(None, None, "an alias refers to a node containing it",
                                              node.start_mark)
        if depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                              node.start_mark)
        open_nodes.add(key)
        stack.append((node, True, depth))
        stack.extend((c, False, depth + 1) for c in _children(node) if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain scalar", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _line_of(obj: Any, key: Any = None, default: int = 1) -> int:
    if isinstance(obj, LineDict):
        return obj.key_lines.get(key, obj.line) if key is not None else obj.line
    if isinstance(obj, LineList):
        if isinstance(key, int) and 0 <= key < len(obj.item_lines):
            return obj.item_lines[key]
        return obj.line
    return default


# --- the rule model -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldTest:
    """One test on one field: ``op`` from expr.OPERATORS, or a binding ``var`` ($name)."""

    field: str
    op: str
    value: Any = None
    var: str | None = None

    def check(self, actual: Any) -> bool:
        """Whether ``actual`` passes this test: the engine's matcher decides."""
        return field_passes(self, actual)

    @functools.cached_property
    def compiled(self) -> Callable[[Any], bool]:
        """The operator with its expected value prepared once (CIDRs parsed, lists built)."""
        return expr.compile_check(self.op, self.value)

    def describe(self) -> str:
        if self.var:
            return f"{self.field} = ${self.var}"
        if self.op == "eq":
            return f"{self.field} == {self.value!r}"
        return f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True)
class Condition:
    kind: str
    alias: str | None
    tests: tuple[FieldTest, ...]
    test: str | None
    negated: bool
    line: int
    # For a relation kind: the names its two facts are bound to, as (name, "left"|"right").
    sides: tuple[tuple[str, str], ...] = ()

    @property
    def alpha_tests(self) -> tuple[FieldTest, ...]:
        """Tests on the fact alone (no binding): what a fact must pass to ever match
        (engine.matching.alpha_passes applies them)."""
        return tuple(t for t in self.tests if t.var is None)

    def describe(self) -> str:
        parts = [f"{'no ' if self.negated else ''}{self.kind}"]
        if self.alias and self.alias != self.kind:
            parts.append(f"as {self.alias}")
        for name, side in self.sides:
            parts.append(f"{side} {name}")
        if self.tests:
            parts.append("where " + ", ".join(t.describe() for t in self.tests))
        if self.test:
            parts.append(f"and {self.test}")
        return " ".join(parts)


@dataclass(frozen=True)
class Derivation:
    kind: str
    fields: Mapping[str, Any]
    line: int


@dataclass(frozen=True)
class Example:
    name: str
    facts: tuple[Mapping[str, Any], ...]
    expect: str  # fires | silent | known-miss
    line: int


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    checklist: tuple[str, ...]
    severity: str
    layer: str
    when: tuple[Condition, ...]
    then: tuple[Derivation, ...]
    explanation: str
    advice: str
    confidence: str
    fold_by: str | None
    examples: tuple[Example, ...]
    file: str
    line: int
    description: str = ""

    @property
    def kinds(self) -> set[str]:
        return {c.kind for c in self.when}

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class RelationSide:
    """One side of a relation: facts of ``kind`` passing ``tests``, joined on ``fields``."""

    kind: str
    fields: tuple[str, ...]
    tests: tuple[FieldTest, ...]
    # Only facts on this side ("left"/"right") of some fact of that relation: (name, side).
    within: tuple[str, str] | None = None

    def admits(self, fields: Mapping[str, Any]) -> bool:
        try:
            return all(t.check(fields.get(t.field)) for t in self.tests)
        except Exception:  # noqa: BLE001 - an odd fact simply does not take part
            return False


@dataclass(frozen=True)
class Relation:
    """A named relation between two facts (a ``relations:`` entry), computed with an index by
    engine/relations.py; each pair found becomes a fact of kind ``name`` that rules match."""

    name: str
    join: str  # one of JOINS
    left: RelationSide
    right: RelationSide | None  # None: both facts come from ``left`` (a self-join)
    test: str | None
    description: str
    file: str
    line: int
    distinct: tuple[str, ...] = ()  # group: members must differ in these fields
    unit: str | None = None  # group: an expression over `member`; equal values count as one

    @property
    def right_side(self) -> RelationSide:
        return self.left if self.right is None else self.right

    @property
    def input_kinds(self) -> set[str]:
        return {self.left.kind, self.right_side.kind}

    @property
    def needs(self) -> set[str]:
        """The relations whose facts this one's ``within:`` reads."""
        return {s.within[0] for s in (self.left, self.right) if s is not None and s.within}


@dataclass
class KnowledgeBase:
    rules: list[Rule] = field(default_factory=list)
    lists: dict[str, list[Any]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)
    relations: dict[str, Relation] = field(default_factory=dict)
    disabled_at: dict[str, str] = field(default_factory=dict)  # rule id -> FILE:LINE disabling it
    skipped: list[SkippedFile] = field(default_factory=list)  # broken user files left out

    @property
    def used_relations(self) -> list[Relation]:
        """The relations some active rule matches: only those are computed."""
        kinds = {c.kind for r in self.active_rules for c in r.when}
        wanted = {name for name in self.relations if name in kinds}
        todo = list(wanted)
        while todo:  # and the relations their within: reads, computed before them
            for need in self.relations[todo.pop()].needs:
                if need not in wanted:
                    wanted.add(need)
                    todo.append(need)
        return relation_order([rel for name, rel in self.relations.items() if name in wanted])

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @property
    def active_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.id not in self.disabled]

    @property
    def derived_kinds(self) -> set[str]:
        return {d.kind for r in self.rules for d in r.then}

    def checklist_coverage(self) -> dict[str, list[str]]:
        cover: dict[str, list[str]] = {cid: [] for cid in sorted(CHECKLIST_IDS, key=_cid_key)}
        for r in self.active_rules:
            for cid in r.checklist:
                cover.setdefault(cid, []).append(r.id)
        return cover


def _cid_key(cid: str) -> tuple[int, int]:
    return ("BRCFPNDTAX".index(cid[0]), int(cid[1:]))


# --- where knowledge comes from -----------------------------------------------------------------

def builtin_knowledge_dir() -> Path:
    return Path(str(importlib.resources.files("knowledge")))


def user_knowledge_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    dirs = [Path(p) for p in env.get("WHYNET_KNOWLEDGE", "").split(os.pathsep) if p]
    config = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME", "~")) / ".config")
    xdg = config.expanduser() / "whynet" / "knowledge"
    if xdg.is_dir():
        dirs.append(xdg)
    return dirs


def rule_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_knowledge(
    extra: Iterable[str | Path] = (),
    *,
    strict: Iterable[str | Path] = (),
    include_builtin: bool = True,
    include_user: bool = True,
    env: Mapping[str, str] | None = None,
) -> KnowledgeBase:
    """Load and validate the knowledge base from a *set* of sources.

    Sources, in this order: the shipped rules, ``strict`` (files or directories whose every
    error is fatal: what ``rules test FILE`` was asked to test), ``extra`` (``--knowledge``, the
    files a report was made with), then the user directories. They name rule files, and each
    file is loaded once, however many sources name it (compared by resolved path). A user file
    with errors is left out and recorded in ``kb.skipped``, so one broken file does not stop
    every command; errors in the shipped rules or in ``strict`` raise KnowledgeLoadError.
    """
    errors: list[KnowledgeError] = []
    files: dict[Path, Path] = {}  # resolved -> as the user named it
    fatal: set[Path] = set()

    def add(source: Path, must: bool, named: bool) -> None:
        if not source.exists():
            if named:
                errors.append(KnowledgeError(str(source), 1,
                                             "no such knowledge directory or file"))
            return
        found = rule_files(source)
        if not found and named:
            errors.append(KnowledgeError(str(source), 1, "no *.yaml rule files here"))
        for f in found:
            resolved = f.resolve()
            files.setdefault(resolved, f)
            if must:
                fatal.add(resolved)

    if include_builtin:
        add(builtin_knowledge_dir(), True, True)
    for p in strict:
        add(Path(p), True, True)
    for p in extra:
        add(Path(p), False, True)
    skipped: list[SkippedFile] = []
    if include_user:
        for p in user_knowledge_dirs(env):
            if not p.exists():  # a typo in WHYNET_KNOWLEDGE: say so, and run the rest
                skipped.append(SkippedFile(str(p), (KnowledgeError(
                    str(p), 1, "no such directory (named by WHYNET_KNOWLEDGE)"),)))
            add(p, False, False)
    if errors:
        raise KnowledgeLoadError(errors)
    while True:
        try:
            kb = load_files(list(files.values()))
        except KnowledgeLoadError as exc:
            by_file: dict[Path, list[KnowledgeError]] = {}
            for e in exc.errors:
                by_file.setdefault(Path(e.file).resolve(), []).append(e)
            tolerated = {f: errs for f, errs in by_file.items() if f in files and f not in fatal}
            if not tolerated or len(tolerated) < len(by_file):
                raise KnowledgeLoadError(
                    [e for f, errs in by_file.items() if f not in tolerated for e in errs]
                ) from None
            for f, errs in tolerated.items():
                skipped.append(SkippedFile(str(files.pop(f)), tuple(errs)))
            continue
        kb.skipped = skipped
        return kb


def load_files(paths: Iterable[Path], errors: list[KnowledgeError] | None = None) -> KnowledgeBase:
    errors = [] if errors is None else errors
    docs: list[tuple[str, LineDict]] = []
    for path in paths:
        doc = _read_yaml(path, errors)
        if doc is not None:
            docs.append((str(path), doc))
    kb = KnowledgeBase(files=[f for f, _ in docs])
    # Lists first (rules in any file may use lists from any file), then rules.
    for fname, doc in docs:
        for name, values in (doc.get("lists") or {}).items():
            if not isinstance(values, list):
                errors.append(KnowledgeError(fname, _line_of(doc["lists"], name),
                                             f"list {name!r} must be a sequence"))
            elif name in kb.lists:
                errors.append(KnowledgeError(fname, _line_of(doc["lists"], name),
                                             f"list {name!r} is defined twice"))
            else:
                kb.lists[str(name)] = list(values)
    raw_rules: list[tuple[str, LineDict]] = []
    for fname, doc in docs:
        rules = doc.get("rules") or []
        if not isinstance(rules, list):
            errors.append(KnowledgeError(fname, _line_of(doc, "rules"), "'rules' must be a list"))
            continue
        for i, r in enumerate(rules):
            if not isinstance(r, LineDict):
                errors.append(KnowledgeError(fname, _line_of(rules, i),
                                             "each rule must be a mapping"))
            else:
                raw_rules.append((fname, r))
        disabled = doc.get("disabled") or []
        if isinstance(disabled, list):
            for i, rid in enumerate(disabled):
                kb.disabled.add(str(rid))
                kb.disabled_at.setdefault(str(rid), f"{fname}:{_line_of(disabled, i)}")
        else:
            errors.append(KnowledgeError(fname, _line_of(doc, "disabled"),
                                         "'disabled' must be a list of rule ids"))
    derived = _derived_fields(raw_rules)
    for fname, doc in docs:
        _load_relations(fname, doc, kb, derived, errors)
    for name, rel in kb.relations.items():
        derived[name] = (set(GROUP_FIELDS) | set(rel.distinct)
                         | ({"units"} if rel.unit is not None else set())
                         if rel.join == "group" else set(RELATION_FIELDS))
    errors.extend(_within_errors(kb.relations))
    seen: dict[str, str] = {}
    for fname, raw in raw_rules:
        rule = _build_rule(fname, raw, kb.lists, derived, errors, kb.relations)
        if rule is None:
            continue
        if rule.id in seen:
            errors.append(KnowledgeError(fname, rule.line,
                                         f"duplicate rule id {rule.id!r} (also in {seen[rule.id]})"))
            continue
        seen[rule.id] = rule.location
        kb.rules.append(rule)
    errors.extend(growing_cycles(kb.rules))
    for rid in sorted(kb.disabled - set(seen)):
        where, _, line = kb.disabled_at[rid].rpartition(":")
        errors.append(KnowledgeError(where, int(line), f"'disabled' names unknown rule {rid!r}"))
    if errors:
        raise KnowledgeLoadError(errors)
    return kb


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _can_grow(value: Any) -> bool:
    """A derived field whose template adds to what it copies (``"{a.path}/x"``, two
    placeholders): fed back to the rule that made it, it gives a new, longer value each time.
    A plain copy (``"{a.gateway}"``) or a literal gives the same fact again, which is dropped."""
    if not isinstance(value, str):
        return False
    found = _PLACEHOLDER.findall(value)
    return bool(found) and (len(found) > 1 or found[0] != value)


def growing_cycles(rules: list[Rule]) -> list[KnowledgeError]:
    """Rules whose ``then:`` leads back to their own ``when:`` (through derived kinds and the
    rules matching them) with a field that can grow on each turn: such rules never finish.

    The graph has an edge from each rule to every rule matching a kind it derives; a rule on a
    cycle of that graph with a growing derived field is reported at its ``then:``."""
    matching: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        for cond in rule.when:
            if not cond.negated:
                matching.setdefault(cond.kind, []).append(i)
    edges = [sorted({j for d in rule.then for j in matching.get(d.kind, [])}) for rule in rules]
    errors = []
    for i, rule in enumerate(rules):
        growing = [d for d in rule.then if any(_can_grow(v) for v in d.fields.values())]
        if not growing or not _reaches(edges, i, i):
            continue
        d = growing[0]
        errors.append(KnowledgeError(rule.file, d.line, (
            f"rule {rule.id!r} derives {d.kind!r} facts that lead back to its own when: with a "
            "field that grows each time (a then: cycle that never ends): copy fields unchanged, "
            "or derive a kind no rule on the way back matches")))
    return errors


def _reaches(edges: list[list[int]], start: int, goal: int) -> bool:
    seen: set[int] = set()
    todo = list(edges[start])
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node])
    return False


def _read_yaml(path: Path, errors: list[KnowledgeError]) -> LineDict | None:
    try:
        text = read_regular(path, RULE_FILE_LIMIT).decode("utf-8")
    except RefusedFile as exc:
        errors.append(KnowledgeError(str(path), 1, f"cannot read: {exc}"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(KnowledgeError(str(path), 1, f"cannot read: {exc.__class__.__name__}"))
        return None
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        msg = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        errors.append(KnowledgeError(str(path), line, f"YAML error: {msg}"))
        return None
    except yaml.YAMLError as exc:  # a reader error (a byte YAML refuses): one line
        text_line = text.count("\n", 0, getattr(exc, "position", 0)) + 1
        errors.append(KnowledgeError(str(path), text_line, f"YAML error: {' '.join(str(exc).split())}"))
        return None
    if doc is None:
        errors.append(KnowledgeError(str(path), 1, "empty rule file"))
        return None
    if not isinstance(doc, LineDict):
        errors.append(KnowledgeError(str(path), 1, "a rule file must be a mapping with 'rules:'"))
        return None
    for key in doc:
        if key not in FILE_KEYS:
            errors.append(KnowledgeError(str(path), _line_of(doc, key),
                                         f"unknown top-level key {key!r} "
                                         f"(known: {', '.join(sorted(FILE_KEYS))})"))
    return doc


def _derived_fields(raw_rules: list[tuple[str, LineDict]]) -> dict[str, set[str]]:
    """Kinds derived by some rule's ``then:``, with their fields: rules may match them."""
    out: dict[str, set[str]] = {}
    for _, raw in raw_rules:
        for d in raw.get("then") or []:
            if isinstance(d, Mapping) and isinstance(d.get("fact"), str):
                fields = d.get("fields") or {}
                out.setdefault(d["fact"], set()).update(
                    str(k) for k in (fields if isinstance(fields, Mapping) else {})
                )
    return out


def kind_fields(kind: str, derived: Mapping[str, set[str]]) -> set[str] | None:
    if kind in KINDS:
        return set(KINDS[kind].fields) | RESERVED_FIELDS
    if kind in derived:
        return set(derived[kind]) | RESERVED_FIELDS
    return None


class _RuleChecker:
    """Builds one Rule from its YAML, collecting errors with lines."""

    def __init__(self, fname: str, raw: LineDict, lists: Mapping[str, list[Any]],
                 derived: Mapping[str, set[str]], errors: list[KnowledgeError],
                 relations: Mapping[str, Relation]):
        self.fname, self.raw, self.lists, self.derived = fname, raw, lists, derived
        self.relations = relations
        self.errors = errors
        self.ok = True

    def err(self, line: int, message: str) -> None:
        self.ok = False
        self.errors.append(KnowledgeError(self.fname, line, message))

    def line(self, key: str) -> int:
        return _line_of(self.raw, key)

    def build(self) -> Rule | None:
        raw = self.raw
        for key in raw:
            if key not in RULE_KEYS:
                self.err(self.line(key), f"unknown rule key {key!r}")
        for key in REQUIRED_RULE_KEYS:
            if key not in raw:
                self.err(raw.line, f"rule {raw.get('id', '?')!r} has no {key!r}")
        if not self.ok:
            return None
        rid = raw["id"]
        if not isinstance(rid, str) or not _ID_RE.match(rid):
            self.err(self.line("id"), f"bad rule id {rid!r} (lower case, digits, . _ -)")
        severity = raw["severity"]
        if severity not in SEVERITIES:
            self.err(self.line("severity"),
                     f"bad severity {severity!r} (one of {', '.join(SEVERITIES)})")
        layer = raw["layer"]
        if layer not in LAYERS:
            self.err(self.line("layer"), f"bad layer {layer!r} (one of {', '.join(LAYERS)})")
        confidence = raw.get("confidence", "inferred")
        if confidence not in CONFIDENCES:
            self.err(self.line("confidence"),
                     f"bad confidence {confidence!r} (one of {', '.join(CONFIDENCES)})")
        checklist = self._checklist()
        for key in ("title", "explanation", "advice"):
            if not isinstance(raw[key], str) or not raw[key].strip():
                self.err(self.line(key), f"{key!r} must be a non-empty string")
        when, bound = self._conditions()
        then = self._derivations(bound)
        for key in ("title", "explanation", "advice", "fold_by"):
            if isinstance(raw.get(key), str):
                self._check_template(raw[key], bound, self.line(key))
        examples = self._examples()
        if not self.ok:
            return None
        return Rule(
            id=rid, title=raw["title"].strip(), checklist=tuple(checklist), severity=severity,
            layer=layer, when=tuple(when), then=tuple(then),
            explanation=" ".join(raw["explanation"].split()),
            advice=" ".join(raw["advice"].split()), confidence=confidence,
            fold_by=raw.get("fold_by"), examples=tuple(examples), file=self.fname,
            line=raw.line, description=str(raw.get("description", "")).strip(),
        )

    def _checklist(self) -> list[str]:
        items = self.raw["checklist"]
        if not isinstance(items, list) or not items:
            self.err(self.line("checklist"), "'checklist' must be a non-empty list of item IDs")
            return []
        for i, cid in enumerate(items):
            if cid not in CHECKLIST_IDS:
                self.err(_line_of(items, i), f"unknown checklist item {cid!r} (B1..A3, X1..)")
        return [str(c) for c in items]

    def _conditions(self) -> tuple[list[Condition], dict[str, str | None]]:
        """Parse ``when:``; returns the conditions and the names bound (alias -> kind, var -> None)."""
        when = self.raw["when"]
        bound: dict[str, str | None] = {}
        out: list[Condition] = []
        if not isinstance(when, list) or not when:
            self.err(self.line("when"), "'when' must be a non-empty list of conditions")
            return out, bound
        for i, item in enumerate(when):
            line = _line_of(when, i)
            negated = isinstance(item, Mapping) and set(item) == {"not"}
            body = item["not"] if negated else item
            if not isinstance(body, LineDict):
                self.err(line, "a condition must be a mapping with 'fact:' (or 'not:')")
                continue
            cond = self._condition(body, negated, bound)
            if cond is not None:
                out.append(cond)
        if out and all(c.negated for c in out):
            self.err(self.line("when"), "a rule needs at least one positive condition")
        return out, bound

    def _condition(self, body: LineDict, negated: bool,
                   bound: dict[str, str | None]) -> Condition | None:
        for key in body:
            if key not in CONDITION_KEYS:
                self.err(_line_of(body, key), f"unknown condition key {key!r} "
                                              f"(known: {', '.join(sorted(CONDITION_KEYS))})")
        kind = body.get("fact")
        fields = kind_fields(kind, self.derived) if isinstance(kind, str) else None
        if not isinstance(kind, str) or fields is None:
            self.err(_line_of(body, "fact"), f"unknown fact kind {kind!r}")
            if isinstance(body.get("as"), str):
                bound[body["as"]] = _UNKNOWN_KIND  # no follow-on errors about this name
            return None
        alias = body.get("as")
        if alias is not None:
            if negated:
                self.err(_line_of(body, "as"), "a 'not:' condition cannot bind a name with 'as'")
            elif not isinstance(alias, str) or not _NAME_RE.match(alias) or alias in bound:
                self.err(_line_of(body, "as"), f"bad or repeated name {alias!r}")
        match = body.get("match")
        if match is None:
            match = LineDict()
        elif not isinstance(match, LineDict):
            self.err(_line_of(body, "match"), "'match' must be a mapping of field: value")
            match = LineDict()
        tests: list[FieldTest] = []
        new_vars: list[str] = []
        for fname, spec in match.items():
            line = _line_of(match, fname)
            if fname not in fields:
                self.err(line, f"unknown field {fname!r} of fact kind {kind!r}")
                continue
            tests.extend(self._field_tests(str(fname), spec, line, negated, bound, new_vars))
        if alias and not negated:
            bound[alias] = kind
        for v in new_vars:
            bound[v] = None
        sides = self._sides(body, kind, negated, bound)
        if sides and not alias:
            alias = kind if kind not in bound else None  # the relation fact needs a name
            if alias is None:
                self.err(body.line, f"name this {kind} condition with 'as:'")
            else:
                bound[alias] = kind
        test = body.get("test")
        if test is not None:
            if negated:
                self.err(_line_of(body, "test"),
                         "'test' is not allowed inside 'not:' (use match with $bindings)")
            else:
                self._check_expr(str(test), bound, _line_of(body, "test"))
        return Condition(kind=kind, alias=alias if not negated else None, tests=tuple(tests),
                         test=None if test is None else str(test), negated=negated,
                         line=body.line, sides=sides)

    def _sides(self, body: LineDict, kind: str, negated: bool,
               bound: dict[str, str | None]) -> tuple[tuple[str, str], ...]:
        """``left: a`` / ``right: b`` on a relation kind: bind the two related facts."""
        out: list[tuple[str, str]] = []
        for side in ("left", "right"):
            if side not in body:
                continue
            line = _line_of(body, side)
            rel = self.relations.get(kind)
            name = body[side]
            if rel is None:
                self.err(line, f"'{side}:' binds a fact of a relation; {kind!r} is not one")
            elif negated:
                self.err(line, f"a 'not:' condition cannot bind a name with '{side}:'")
            elif not isinstance(name, str) or not _NAME_RE.match(name) or name in bound:
                self.err(line, f"bad or repeated name {name!r}")
            else:
                bound[name] = (rel.left if side == "left" else rel.right_side).kind
                out.append((name, side))
        return tuple(out)

    def _field_tests(self, fname: str, spec: Any, line: int, negated: bool,
                     bound: dict[str, str | None], new_vars: list[str]) -> list[FieldTest]:
        if isinstance(spec, str) and spec.startswith("$"):
            var = spec[1:]
            if not _NAME_RE.match(var):
                self.err(line, f"bad variable name {spec!r}")
                return []
            if var in bound and bound[var] is not None:
                self.err(line, f"${var} is already the name of a fact (as: {var})")
                return []
            if var not in bound:
                if negated:
                    self.err(line, f"${var} is first used inside 'not:'; bind it before")
                    return []
                new_vars.append(var)
            return [FieldTest(fname, "eq", None, var)]
        if isinstance(spec, Mapping):
            out = []
            for op, value in spec.items():
                if op not in expr.OPERATORS:
                    self.err(_line_of(spec, op), f"unknown operator {op!r} "
                                                 f"(known: {', '.join(sorted(expr.OPERATORS))})")
                    continue
                out.append(FieldTest(fname, str(op), self._value(value, _line_of(spec, op))))
            return out
        if isinstance(spec, list):
            return [FieldTest(fname, "in", self._value(spec, line))]
        value = self._value(spec, line)
        return [FieldTest(fname, "in" if isinstance(value, list) else "eq", value)]

    def _value(self, value: Any, line: int) -> Any:
        """Resolve ``@list`` references; plain values pass through."""
        if isinstance(value, str) and value.startswith("@"):
            name = value[1:]
            if name not in self.lists:
                self.err(line, f"unknown list {value!r}")
                return []
            return list(self.lists[name])
        if isinstance(value, list):
            out: list[Any] = []
            for v in value:
                resolved = self._value(v, line)
                out.extend(resolved if isinstance(v, str) and v.startswith("@") else [resolved])
            return out
        return value

    def _check_expr(self, source: str, bound: Mapping[str, str | None], line: int) -> None:
        try:
            names = expr.names_used(source)
            pairs = expr.fields_used(source)
        except expr.ExprError as exc:
            self.err(line, str(exc))
            return
        for name in sorted(names - set(bound)):
            self.err(line, f"expression uses {name!r}, which no earlier condition binds")
        for name, fname in sorted(pairs):
            kind = bound.get(name)
            if kind is None:
                if name in bound:
                    self.err(line, f"{name} is a variable, not a fact: {name}.{fname} is invalid")
                continue
            fields = kind_fields(kind, self.derived) or set()
            if kind != _UNKNOWN_KIND and fname not in fields:
                self.err(line, f"unknown field {fname!r} of fact kind {kind!r} in {name}.{fname}")

    def _check_template(self, text: str, bound: Mapping[str, str | None], line: int) -> None:
        for m in _TEMPLATE_RE.finditer(text):
            self._check_expr(m.group(1), bound, line)

    def _derivations(self, bound: Mapping[str, str | None]) -> list[Derivation]:
        then = self.raw.get("then")
        if then is None:
            return []
        if not isinstance(then, list):
            self.err(self.line("then"), "'then' must be a list of {fact:, fields:}")
            return []
        out: list[Derivation] = []
        for i, d in enumerate(then):
            line = _line_of(then, i)
            if not isinstance(d, LineDict) or not isinstance(d.get("fact"), str):
                self.err(line, "each 'then' item needs 'fact: KIND'")
                continue
            unknown = set(d) - {"fact", "fields"}
            if unknown:
                self.err(line, f"unknown key(s) {sorted(unknown)} in 'then'")
            kind = d["fact"]
            if kind in KINDS:
                self.err(line, f"'then' cannot derive {kind!r}: that kind is collected or probed")
            elif not _NAME_RE.match(kind):
                self.err(line, f"bad derived fact kind {kind!r}")
            fields = d.get("fields") or {}
            if not isinstance(fields, Mapping):
                self.err(line, "'fields' must be a mapping")
                continue
            for k, v in fields.items():
                if k in RESERVED_FIELDS or "__" in str(k):
                    self.err(_line_of(fields, k), f"field name {k!r} is reserved")
                if isinstance(v, str):
                    self._check_template(v, bound, _line_of(fields, k))
            out.append(Derivation(kind, dict(fields), line))
        return out

    def _examples(self) -> list[Example]:
        examples = self.raw.get("examples") or []
        out: list[Example] = []
        if not isinstance(examples, list):
            self.err(self.line("examples"), "'examples' must be a list")
            return out
        for i, ex in enumerate(examples):
            line = _line_of(examples, i)
            if not isinstance(ex, Mapping):
                self.err(line, "an example must be a mapping with name, facts, expect")
                continue
            unknown = set(ex) - {"name", "facts", "expect"}
            if unknown:
                self.err(line, f"unknown key(s) {sorted(unknown)} in example")
            expect = ex.get("expect")
            if expect not in ("fires", "silent", "known-miss"):
                self.err(line, "example 'expect' must be fires, silent or known-miss")
            facts = ex.get("facts")
            if not isinstance(facts, list) or not all(
                isinstance(f, Mapping) and isinstance(f.get("kind"), str) for f in facts
            ):
                self.err(line, "example 'facts' must be a list of mappings with 'kind'")
                continue
            for j, f in enumerate(facts):
                fields = kind_fields(f["kind"], self.derived)
                if fields is None:
                    self.err(_line_of(facts, j), f"example fact of unknown kind {f['kind']!r}")
                    continue
                for k in f:
                    if k not in fields:
                        self.err(_line_of(f, k),
                                 f"example fact: unknown field {k!r} of kind {f['kind']!r}")
                for problem in field_problems(f["kind"], {k: v for k, v in f.items()
                                                          if k not in RESERVED_FIELDS}):
                    self.err(_line_of(facts, j), f"example fact: {problem}")
            out.append(Example(str(ex.get("name", f"example {i + 1}")), tuple(facts),
                               str(expect), line))
        return out


def _build_rule(fname: str, raw: LineDict, lists: Mapping[str, list[Any]],
                derived: Mapping[str, set[str]], errors: list[KnowledgeError],
                relations: Mapping[str, Relation]) -> Rule | None:
    return _RuleChecker(fname, raw, lists, derived, errors, relations).build()


def _load_relations(fname: str, doc: LineDict, kb: KnowledgeBase,
                    derived: Mapping[str, set[str]], errors: list[KnowledgeError]) -> None:
    raw = doc.get("relations")
    if raw is None:
        return
    if not isinstance(raw, list):
        errors.append(KnowledgeError(fname, _line_of(doc, "relations"),
                                     "'relations' must be a list"))
        return
    for i, item in enumerate(raw):
        if not isinstance(item, LineDict):
            errors.append(KnowledgeError(fname, _line_of(raw, i),
                                         "each relation must be a mapping with 'name:'"))
            continue
        rel = _RelationChecker(fname, item, kb.lists, derived, errors).build_relation()
        if rel is None:
            continue
        if rel.name in kb.relations:
            other = kb.relations[rel.name]
            errors.append(KnowledgeError(fname, rel.line, f"duplicate relation {rel.name!r} "
                                                          f"(also in {other.file}:{other.line})"))
            continue
        kb.relations[rel.name] = rel


class _RelationChecker:
    """Builds one Relation from its YAML, collecting errors with lines."""

    def __init__(self, fname: str, raw: LineDict, lists: Mapping[str, list[Any]],
                 derived: Mapping[str, set[str]], errors: list[KnowledgeError]):
        # The field tests of a side are the rule condition vocabulary without $bindings.
        self.rules = _RuleChecker(fname, raw, lists, derived, errors, {})
        self.fname, self.raw, self.derived = fname, raw, derived

    def err(self, line: int, message: str) -> None:
        self.rules.err(line, message)

    def build_relation(self) -> Relation | None:
        raw = self.raw
        for key in raw:
            if key not in RELATION_KEYS:
                self.err(_line_of(raw, key), f"unknown relation key {key!r} "
                                             f"(known: {', '.join(sorted(RELATION_KEYS))})")
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            self.err(_line_of(raw, "name"), f"bad relation name {name!r} (lower_snake_case)")
            return None
        if name in KINDS or name in self.derived:
            self.err(_line_of(raw, "name"),
                     f"relation name {name!r} is already a fact kind (collected or derived)")
        join = raw.get("join")
        if join not in JOINS:
            self.err(_line_of(raw, "join"), f"bad join {join!r} (one of {', '.join(JOINS)})")
        left = self._side(raw.get("left"), _line_of(raw, "left"), "left", join)
        right = None
        if raw.get("right") is not None:
            right = self._side(raw.get("right"), _line_of(raw, "right"), "right", join)
        distinct = self._distinct(raw, join, left)
        unit = self._unit(raw, join, left, distinct)
        test = raw.get("test")
        if join == "group":
            for key in ("right", "test"):
                if raw.get(key) is not None:
                    self.err(_line_of(raw, key), f"a 'group' relation has no pairs: no '{key}:' "
                                                 "(members that must differ: distinct:)")
        if test is not None and left is not None:
            bound: dict[str, str | None] = {
                "left": left.kind, "right": (right or left).kind}
            self.rules._check_expr(str(test), bound, _line_of(raw, "test"))
        if not self.rules.ok or left is None or (raw.get("right") is not None and right is None):
            return None
        return Relation(name=name, join=str(join), left=left, right=right,
                        test=None if test is None else str(test), distinct=distinct, unit=unit,
                        description=" ".join(str(raw.get("description", "")).split()),
                        file=self.fname, line=raw.line)

    def _distinct(self, raw: LineDict, join: Any, left: RelationSide | None) -> tuple[str, ...]:
        """``distinct: [fields]`` of a group (the fields its members must differ in) or of an
        ``overlaps`` self-join (the fields the two facts of a pair must differ in)."""
        spec = raw.get("distinct")
        if spec is None:
            return ()
        line = _line_of(raw, "distinct")
        if join not in ("group", "overlaps") or (join == "overlaps"
                                                 and raw.get("right") is not None):
            self.err(line, "'distinct:' is for 'join: group' and for an 'overlaps' self-join "
                           "(no 'right:') only")
            return ()
        names = spec if isinstance(spec, list) else [spec]
        if not names or not all(isinstance(n, str) for n in names):
            self.err(line, "'distinct:' takes a field name or a list of field names")
            return ()
        if left is not None:
            known = set(KINDS[left.kind].fields)
            for n in names:
                if n not in known:
                    self.err(line, f"unknown field {n!r} of fact kind {left.kind!r}")
                elif n in GROUP_FIELDS:
                    # The group fact holds each distinct field's values under its name.
                    self.err(line, f"'distinct:' field {n!r} is also a field of the group "
                                   f"fact ({', '.join(sorted(GROUP_FIELDS))})")
        return tuple(str(n) for n in names)

    def _unit(self, raw: LineDict, join: Any, left: RelationSide | None,
              distinct: tuple[str, ...]) -> str | None:
        """``unit: EXPRESSION`` of a group: an expression over ``member`` (a member fact) whose
        equal values count as one member (a bond's ports and the bond)."""
        spec = raw.get("unit")
        if spec is None:
            return None
        line = _line_of(raw, "unit")
        if join != "group":
            self.err(line, "'unit:' is for 'join: group' only")
            return None
        if distinct:
            self.err(line, "a group takes 'distinct:' or 'unit:', not both")
            return None
        if not isinstance(spec, str) or not spec.strip():
            self.err(line, "'unit:' takes an expression over 'member' (a member fact)")
            return None
        if left is not None:
            self.rules._check_expr(spec, {"member": left.kind}, line)
        return spec

    def _side(self, body: Any, line: int, which: str, join: Any) -> RelationSide | None:
        if not isinstance(body, LineDict):
            self.err(line, f"relation '{which}' must be a mapping with fact:, field: and "
                           "optional match:")
            return None
        for key in body:
            if key not in RELATION_SIDE_KEYS:
                self.err(_line_of(body, key), f"unknown key {key!r} in relation '{which}' "
                                              f"(known: {', '.join(sorted(RELATION_SIDE_KEYS))})")
        kind = body.get("fact")
        if not isinstance(kind, str) or kind not in KINDS:
            # Relations are computed before inference, so only collected or probed facts.
            self.err(_line_of(body, "fact"), f"relation side: unknown collected or probed "
                                             f"fact kind {kind!r}")
            return None
        known = set(KINDS[kind].fields)
        raw_fields = body.get("field")
        names = raw_fields if isinstance(raw_fields, list) else [raw_fields]
        if not names or not all(isinstance(n, str) for n in names):
            self.err(_line_of(body, "field"), f"relation '{which}' needs field: NAME "
                                              "(or a list of names for 'same')")
            return None
        for n in names:
            if n not in known:
                self.err(_line_of(body, "field"), f"unknown field {n!r} of fact kind {kind!r}")
        if join in ("overlaps", "covers") and len(names) != 1:
            self.err(_line_of(body, "field"), f"join {join!r} takes one field per side")
        match = body.get("match")
        tests: list[FieldTest] = []
        if match is not None and not isinstance(match, LineDict):
            self.err(_line_of(body, "match"), "'match' must be a mapping of field: value")
        elif match is not None:
            for fname, spec in match.items():
                fline = _line_of(match, fname)
                if fname not in known:
                    self.err(fline, f"unknown field {fname!r} of fact kind {kind!r}")
                elif isinstance(spec, str) and spec.startswith("$"):
                    self.err(fline, "a relation side cannot bind $variables (the join is "
                                    "its 'field')")
                else:
                    tests.extend(self.rules._field_tests(str(fname), spec, fline, False, {}, []))
        within = None
        if "within" in body:
            spec = body["within"]
            name, _, which = spec.rpartition(".") if isinstance(spec, str) else ("", "", "")
            if not _NAME_RE.match(name) or which not in ("left", "right"):
                self.err(_line_of(body, "within"), f"within: takes RELATION.left or "
                                                   f"RELATION.right, not {spec!r}")
            else:
                within = (name, which)
        return RelationSide(kind, tuple(str(n) for n in names), tuple(tests), within)


def relation_order(rels: list[Relation]) -> list[Relation]:
    """``rels`` with each relation after those its ``within:`` reads (cycles are load errors,
    :func:`_within_errors`; here a relation in one is simply left last)."""
    by_name = {r.name: r for r in rels}
    out: list[Relation] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(rel: Relation) -> None:
        if state.get(rel.name):
            return
        state[rel.name] = 1
        for need in sorted(rel.needs):
            if need in by_name:
                visit(by_name[need])
        state[rel.name] = 2
        out.append(rel)

    for rel in rels:
        visit(rel)
    return out


def _within_errors(relations: Mapping[str, Relation]) -> list[KnowledgeError]:
    """``within: NAME.SIDE`` must name a relation whose SIDE is facts of the same kind, and
    no relation may read itself through a chain of them."""
    errors = []
    for rel in relations.values():
        for side in (rel.left, rel.right):
            if side is None or side.within is None:
                continue
            name, which = side.within
            other = relations.get(name)
            if other is None:
                errors.append(KnowledgeError(rel.file, rel.line, f"relation {rel.name!r}: "
                                             f"within: names unknown relation {name!r}"))
                continue
            kind = (other.left if which == "left" else other.right_side).kind
            if kind != side.kind:
                errors.append(KnowledgeError(rel.file, rel.line, (
                    f"relation {rel.name!r}: within: {name}.{which} holds {kind} facts, "
                    f"not {side.kind}")))
        seen, todo = set(), list(rel.needs)
        while todo:
            name = todo.pop()
            if name == rel.name:
                errors.append(KnowledgeError(rel.file, rel.line, f"relation {rel.name!r} "
                                             "reads itself through within:"))
                break
            if name in seen or name not in relations:
                continue
            seen.add(name)
            todo.extend(relations[name].needs)
    return errors


def render_template(text: str, scope: Mapping[str, Any]) -> Any:
    """Fill ``{a.field}`` / ``{expr}`` placeholders. A template that is exactly one placeholder
    keeps the value's type (a list stays a list); failures render as ``?``."""
    whole = _TEMPLATE_RE.fullmatch(text.strip())
    if whole:
        try:
            return expr.evaluate(whole.group(1), scope)
        except Exception:  # noqa: BLE001 - a template must never break a report
            return "?"

    def one(m: re.Match[str]) -> str:
        try:
            value = expr.evaluate(m.group(1), scope)
        except Exception:  # noqa: BLE001
            return "?"
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return "none" if value is None else str(value)

    return _TEMPLATE_RE.sub(one, text)
