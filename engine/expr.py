"""The safe expression language of rule ``test:`` clauses, and the field operators of ``match:``.

An expression is parsed with :mod:`ast` and *interpreted* by walking the tree: it is never
compiled or evaluated as Python. What it may contain:

* names of bound facts and bound variables (``a``, ``iface``), and ``a.field`` (a fact's field:
  the only attribute access there is);
* literals: strings, numbers, ``true``/``false``/``null`` (also ``True``/``False``/``None``),
  lists ``[1, 2]``;
* comparisons ``== != < <= > >= in not in``, ``and or not``, ``+ -`` on numbers, ``a if c else b``;
* the functions in :data:`FUNCTIONS` (CIDR arithmetic, a few string helpers, and the
  interface a per-interface sysctl names).

Anything else (calls to other names, subscripts, lambdas, comprehensions, dunder names) is
rejected when the rule is loaded, with the rule file's line.
"""

from __future__ import annotations

import ast
import ipaddress
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any


class ExprError(ValueError):
    """An expression outside the vocabulary (raised at load time) or failing at run time."""


@lru_cache(maxsize=4096)
def _parse_net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


@lru_cache(maxsize=1 << 18)  # one parse per distinct address of a large fact base
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text.split("%", 1)[0])


def _net(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    # Cached: rule CIDRs are the same few strings, checked against every candidate fact.
    return _parse_net(str(value))


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return _parse_ip(str(value))


def cidr_contains(cidr: Any, ip: Any) -> bool:
    """True when address ``ip`` (or network) lies inside ``cidr`` (``default`` = everything)."""
    if ip in (None, "") or cidr in (None, ""):
        return False
    net = _net("0.0.0.0/0" if cidr == "default" else cidr)
    text = str(ip)
    if "/" in text:
        inner = _net(text)
        return inner.version == net.version and inner.subnet_of(net)  # type: ignore[arg-type]
    addr = _ip(text)
    return addr.version == net.version and addr in net


def overlaps(a: Any, b: Any) -> bool:
    """True when two CIDRs share at least one address."""
    if a in (None, "") or b in (None, ""):
        return False
    na, nb = _net(a), _net(b)
    return na.version == nb.version and na.overlaps(nb)  # type: ignore[arg-type]


def network(ip: Any, prefix: Any) -> str:
    """The subnet of ``ip``/``prefix`` as a CIDR (``10.0.0.7``, 24 -> ``10.0.0.0/24``)."""
    return str(ipaddress.ip_interface(f"{ip}/{int(prefix)}").network)


def is_private(ip: Any) -> bool:
    return _ip(ip).is_private


def is_loopback(ip: Any) -> bool:
    return _ip(ip).is_loopback


def host_bits_set(cidr: Any) -> bool:
    """True for ``10.0.0.5/24``: a CIDR written with host bits (a likely typo, F7)."""
    text = str(cidr)
    if "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return True
    return False


def prefix_len(cidr: Any) -> int:
    return _net(cidr).prefixlen


def addresses_in(cidr: Any) -> int:
    return _net(cidr).num_addresses


def duration(seconds: Any) -> str:
    """Seconds for people: ``3 d 2 h``, ``2 h 5 min``, ``40 s`` (the sign dropped; the two
    largest units). ``duration(-93784)`` is ``1 d 2 h``."""
    total = abs(int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size} {unit}")
            total %= size
    return " ".join(parts[:2])


_CONF_PREFIXES = ("net.ipv4.conf.", "net.ipv6.conf.")
_CONF_NOT_INTERFACES = frozenset({"all", "default"})


def sysctl_interface(name: Any) -> str | None:
    """The interface a per-interface setting is about, as ``ip link`` names it:
    ``net.ipv4.conf.eth0.rp_filter`` -> ``eth0``, ``net.ipv4.conf.eth0/100.rp_filter`` ->
    ``eth0.100`` (sysctl(8) writes a dot in an interface name as ``/``). None for ``all``,
    ``default`` and any name that is not ``net.ipv4.conf.IF.KEY`` or ``net.ipv6.conf.IF.KEY``.

    It lets a rule relate a setting to interfaces it holds in a list, with ``in``:
    ``sysctl_interface(s.name) in c.interfaces`` (a group of default routes' interfaces)."""
    if not isinstance(name, str):
        return None
    for prefix in _CONF_PREFIXES:
        if name.startswith(prefix):
            interface, dot, key = name[len(prefix):].rpartition(".")
            if not dot or not interface or not key or interface in _CONF_NOT_INTERFACES:
                return None
            return interface.replace("/", ".")
    return None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "cidr_contains": cidr_contains,
    "overlaps": overlaps,
    "network": network,
    "is_private": is_private,
    "is_loopback": is_loopback,
    "host_bits_set": host_bits_set,
    "prefix_len": prefix_len,
    "addresses_in": addresses_in,
    "len": lambda x: len(x) if x is not None else 0,
    "lower": lambda s: str(s).lower() if s is not None else None,
    "upper": lambda s: str(s).upper() if s is not None else None,
    "str": lambda x: "" if x is None else str(x),
    "int": lambda x: int(x),
    "startswith": lambda s, p: isinstance(s, str) and s.startswith(str(p)),
    "endswith": lambda s, p: isinstance(s, str) and s.endswith(str(p)),
    "any_in": lambda xs, ys: any(x in (ys or ()) for x in (xs or ())),
    "overlaps_any": lambda xs, cidr: any(overlaps(x, cidr) for x in _as_list(xs)),
    "duration": duration,
    "sysctl_interface": sysctl_interface,
}

_CONSTANTS = {"true": True, "false": False, "null": None}

_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b,
}
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {ast.Add: operator.add, ast.Sub: operator.sub}


@lru_cache(maxsize=2048)
def parse(source: str) -> ast.expr:
    """Parse and check an expression against the vocabulary; raise ExprError if outside it."""
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"syntax error in expression {source!r}: {exc.msg}") from None
    _check(tree)
    return tree


def names_used(source: str) -> set[str]:
    """Free names of an expression (bound facts and variables), for load-time checks."""
    tree = parse(source)
    functions = {
        id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)
    }
    return {
        n.id for n in ast.walk(tree)
        if isinstance(n, ast.Name) and id(n) not in functions and n.id not in _CONSTANTS
    }


def fields_used(source: str) -> set[tuple[str, str]]:
    """``(name, field)`` pairs of every ``name.field`` in the expression."""
    return {
        (n.value.id, n.attr)
        for n in ast.walk(parse(source))
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
    }


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, bool, type(None))):
            raise ExprError(f"constant {node.value!r} is not allowed")
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExprError(f"name {node.id!r} is not allowed")
    elif isinstance(node, ast.Attribute):
        if not isinstance(node.value, ast.Name) or node.attr.startswith("_"):
            raise ExprError("only fact.field access is allowed (no chained or private attributes)")
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExprError(f"unknown function {name!r} (known: {', '.join(sorted(FUNCTIONS))})")
        if node.keywords:
            raise ExprError("keyword arguments are not allowed")
        for arg in node.args:
            _check(arg)
    elif isinstance(node, ast.Compare):
        if any(type(op) not in _COMPARE for op in node.ops):
            raise ExprError("only == != < <= > >= in, not in comparisons are allowed")
        _check(node.left)
        for c in node.comparators:
            _check(c)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.Not, ast.USub)):
            raise ExprError("only 'not' and unary '-' are allowed")
        _check(node.operand)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExprError("only + and - are allowed")
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.IfExp):
        for n in (node.test, node.body, node.orelse):
            _check(n)
    elif isinstance(node, (ast.List, ast.Tuple)):
        for e in node.elts:
            _check(e)
    else:
        raise ExprError(f"{type(node).__name__} is not part of the expression vocabulary")


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    """Interpret ``source`` with ``scope`` (bound facts as mappings, variables as values)."""
    return _eval(parse(source), scope)


def _eval(node: ast.AST, scope: Mapping[str, Any]) -> Any:  # noqa: C901 - one dispatch
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in scope:
            return scope[node.id]
        raise ExprError(f"unknown name {node.id!r}")
    if isinstance(node, ast.Attribute):
        base = _eval(node.value, scope)
        if isinstance(base, Mapping):
            return base.get(node.attr)
        getter = getattr(base, "get", None)
        if callable(getter):
            return getter(node.attr)
        raise ExprError(f"{ast.unparse(node.value)} is not a fact")
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id](*[_eval(a, scope) for a in node.args])
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, scope)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for v in node.values:
                result = _eval(v, scope)
                if not result:
                    return result
            return result
        result = False
        for v in node.values:
            result = _eval(v, scope)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        val = _eval(node.operand, scope)
        return (not val) if isinstance(node.op, ast.Not) else -val
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, scope), _eval(node.right, scope))
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, scope) else node.orelse, scope)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, scope) for e in node.elts]
    raise ExprError(f"cannot evaluate {type(node).__name__}")  # unreachable after _check


# --- field operators of `match:` -------------------------------------------------------------

def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, frozenset, set)):
        return list(value)
    return [value]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _cmp(op: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def check(actual: Any, expected: Any) -> bool:
        a, e = _num(actual), _num(expected)
        return a is not None and e is not None and op(a, e)

    return check


def _in_any_cidr(actual: Any, expected: Any) -> bool:
    return any(
        cidr_contains(net, a) for net in _as_list(expected) for a in _as_list(actual) if a
    )


def _safe(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """Odd values (an unparsable address) make a CIDR operator false instead of raising."""

    def check(actual: Any, expected: Any) -> bool:
        try:
            return fn(actual, expected)
        except (ValueError, TypeError):
            return False

    return check


def _contains(actual: Any, part: Any) -> bool:
    """A string contains a substring; a list contains an element."""
    if isinstance(actual, str):
        return isinstance(part, str) and part in actual
    return part in _as_list(actual)


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, (list, tuple)) and isinstance(expected, list):
        return list(actual) == expected
    return actual == expected


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _equal,
    "ne": lambda a, e: not _equal(a, e),
    "in": lambda a, e: a in _as_list(e),
    "not_in": lambda a, e: a not in _as_list(e),
    "lt": _cmp(operator.lt), "le": _cmp(operator.le),
    "gt": _cmp(operator.gt), "ge": _cmp(operator.ge),
    "contains": lambda a, e: _contains(a, e),
    "contains_any": lambda a, e: any(_contains(a, x) for x in _as_list(e)),
    "exists": lambda a, e: (a is not None and a != [] and a != "") == bool(e),
    "in_cidr": _safe(_in_any_cidr),
    "not_in_cidr": _safe(lambda a, e: a is not None and not _in_any_cidr(a, e)),
    "overlaps": _safe(lambda a, e: any(
        overlaps(x, n) for x in _as_list(a) for n in _as_list(e) if x and x != "default"
    )),
    "startswith": lambda a, e: isinstance(a, str) and any(a.startswith(p) for p in _as_list(e)),
    "endswith": lambda a, e: isinstance(a, str) and any(a.endswith(p) for p in _as_list(e)),
}


# --- compiled field checks ---------------------------------------------------------------------

def compile_check(op: str, expected: Any) -> Callable[[Any], bool]:
    """``lambda actual: OPERATORS[op](actual, expected)``, with the work that depends only on
    ``expected`` done once: a rule's CIDRs parsed once, not once per fact tested (the prefilter
    tests every fact of a kind; an ad-blocking hosts file has 150,000)."""
    generic = OPERATORS[op]
    if op in ("in_cidr", "not_in_cidr"):
        try:
            nets = [_net("0.0.0.0/0" if n == "default" else n) for n in _as_list(expected)
                    if n not in (None, "")]
        except (ValueError, TypeError):
            return lambda actual: generic(actual, expected)
        inside = _compiled_in_cidr(nets)
        if op == "in_cidr":
            return inside
        if not nets:
            return lambda actual: actual is not None
        return lambda actual: actual is not None and not inside(actual) \
            and _parses(actual)
    if op in ("in", "not_in"):
        values = _as_list(expected)
        if op == "in":
            return lambda actual: actual in values
        return lambda actual: actual not in values
    return lambda actual: generic(actual, expected)


@lru_cache(maxsize=1 << 18)  # parsed once per distinct value, not once per test
def _span(text: str) -> tuple[int, int, int]:
    """(version, first address as int, prefix length) of an address (full length) or CIDR."""
    if "/" in text:
        net = _net(text)
        return net.version, int(net.network_address), net.prefixlen
    addr = _ip(text)
    return addr.version, int(addr), addr.max_prefixlen


def _compiled_in_cidr(nets: list[Any]) -> Callable[[Any], bool]:
    spans = [(n.version, int(n.network_address), n.prefixlen, n.max_prefixlen) for n in nets]

    def inside(actual: Any) -> bool:
        try:
            for x in _as_list(actual):
                if not x:
                    continue
                version, first, plen = _span(str(x))
                for n_version, n_first, n_plen, bits in spans:
                    if (version == n_version and plen >= n_plen
                            and first >> (bits - n_plen) == n_first >> (bits - n_plen)):
                        return True
        except (ValueError, TypeError):
            return False
        return False

    return inside


def _parses(actual: Any) -> bool:
    """Every non-empty value is an address or CIDR (``not_in_cidr`` is false otherwise)."""
    try:
        for x in _as_list(actual):
            if x:
                _span(str(x))
    except (ValueError, TypeError):
        return False
    return True
