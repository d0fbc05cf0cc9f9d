"""How a rule's condition matches a fact: the one implementation inference and why-not share.

The compiled experta rules (:mod:`engine.inference`) test every ``match:`` field from a
``P(...)`` predicate that calls :func:`field_passes`, and every ``test:`` from a ``TEST(...)``
that calls :func:`expression_holds`; the facts worth declaring are chosen with
:func:`alpha_passes`. ``why-not`` (:mod:`engine.explain`) re-checks a rule with
:func:`failed_tests` and :func:`expression_holds`, which call the same functions on the same
values, so what why-not says failed is what kept the engine from firing.

A ``$var`` joins conditions: experta compares the values bound to it with ``==`` on its frozen
copies; :func:`same_value` is that comparison on the thawed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine import expr

if TYPE_CHECKING:
    from engine.knowledge import Condition, FieldTest


def plain(value: Any) -> Any:
    """experta freezes lists and dicts; turn them back into JSON types."""
    if value is None or isinstance(value, (str, int, float)):
        return value  # the common case, checked for every field of every fact tested
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        return [plain(v) for v in value]
    return value


def field_passes(test: FieldTest, value: Any) -> bool:
    """Whether a field's value passes one operator test of ``match:`` (raises when the
    operator cannot apply; the engine reports that as a rule error)."""
    return bool(test.compiled(plain(value)))  # expr.OPERATORS[test.op], prepared once


def same_value(bound: Any, value: Any) -> bool:
    """Whether a field's value equals the value a ``$var`` is already bound to."""
    return bool(plain(bound) == plain(value))


def expression_holds(source: str, scope: Mapping[str, Any]) -> bool:
    """Whether a ``test:`` expression is true with the names bound so far."""
    return bool(expr.evaluate(source, scope))


def alpha_passes(cond: Condition, fields: Mapping[str, Any]) -> bool:
    """Whether a fact passes a condition's own field tests (those with no ``$var``); an odd
    value that makes an operator fail simply does not match."""
    try:
        return all(field_passes(t, fields.get(t.field)) for t in cond.alpha_tests)
    except Exception:  # noqa: BLE001
        return False


def failed_tests(cond: Condition, fields: Mapping[str, Any],
                 scope: Mapping[str, Any]) -> list[FieldTest]:
    """The ``match:`` tests a fact fails, given the ``$var`` values bound so far (a ``$var``
    first bound by this condition always passes)."""
    failed = []
    for t in cond.tests:
        value = fields.get(t.field)
        if t.var is not None:
            ok = t.var not in scope or same_value(scope[t.var], value)
        else:
            try:
                ok = field_passes(t, value)
            except Exception:  # noqa: BLE001 - the engine skips such a fact too
                ok = False
        if not ok:
            failed.append(t)
    return failed
