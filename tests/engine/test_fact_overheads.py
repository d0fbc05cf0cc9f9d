"""Per-fact work cut to what a fact can need (issue 9), without changing any answer:

* redaction walks only the fields a kind declares able to hold a secret, and gives the same
  result as walking every field on real facts;
* the compiled field checks (a rule's CIDRs parsed once) agree with the plain operators;
* the per-kind type checks agree with ``value_fits`` field by field.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine import expr
from engine.facts import Fact
from engine.kinds import KINDS, SECRET_FIELDS, field_problems, value_fits
from engine.redact import (
    _SAFE_FIELDS,
    _SUSPECT,
    REDACTED,
    _may_hold_secret,
    _redact_field,
    is_secret_name,
    redact_fact,
    redact_text,
)
from tests.benchmarks.generate import GENERATORS, base_snapshot


def _real_facts() -> list[Fact]:
    facts = list(base_snapshot().facts)
    for make in GENERATORS.values():
        facts.extend(make(300))
    return facts


def _walk_every_field(fact: Fact) -> dict[str, Any]:
    """The redaction before issue 9: every field of every fact."""
    return {k: _redact_field(fact, k, v) for k, v in fact.fields.items()}


def test_secret_field_declarations_name_real_fields_of_real_kinds() -> None:
    for kind, names in SECRET_FIELDS.items():
        assert kind in KINDS, kind
        assert names <= set(KINDS[kind].fields), (kind, names - set(KINDS[kind].fields))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def test_declared_redaction_leaves_no_text_redaction_would_change_on_real_facts() -> None:
    """Kinds that declare nothing are redacted as before (every field, by name and text); in
    the others, no string is left that URL or key=value redaction would still change."""
    facts = _real_facts()
    assert {f.kind for f in facts} >= {"hosts_entry", "firewall_rule", "route", "env_var"}
    for f in facts:
        out = redact_fact(f)
        if f.kind not in SECRET_FIELDS:
            assert dict(out.fields) == _walk_every_field(f), f.id
            continue
        for name, value in out.fields.items():
            assert not is_secret_name(name) or name in _SAFE_FIELDS, (f.id, name)
            for text in _strings(value):
                assert redact_text(text) == text, (f.id, name, text)


def test_nested_keys_of_a_declared_field_keep_their_names() -> None:
    """firewall_rule.matches is a list of {key, op, values, text}: 'key' is not a secret."""
    matches = [{"key": "unknown", "op": "==", "values": [],
                "text": "-m string --string password=hunter2"}]
    out = redact_fact(Fact("firewall_rule", "r:1", {}, {"matches": matches}))
    assert out.fields["matches"][0]["key"] == "unknown"
    assert "hunter2" not in out.fields["matches"][0]["text"]


@pytest.mark.parametrize(("kind", "fields", "field"), [
    ("firewall_rule", {"chain": "INPUT", "text": '-A INPUT -m comment --comment '
                                                 '"password=hunter2" -j ACCEPT'}, "text"),
    ("hosts_entry", {"ip": "10.0.0.1", "note": "http://user:hunter2@proxy:3128"}, "note"),
    ("env_var", {"name": "GITHUB_TOKEN", "value": "hunter2", "present": True}, "value"),
    ("probe_target", {"target": "https://user:hunter2@example.test/"}, "target"),
    ("some_derived_kind", {"detail": "token=hunter2"}, "detail"),
])
def test_secrets_are_still_redacted_where_they_can_be(kind: str, fields: dict[str, Any],
                                                      field: str) -> None:
    """Declared secret fields, fields a kind does not declare, and kinds with no declaration."""
    out = redact_fact(Fact(kind, f"{kind}:1", {}, fields))
    assert "hunter2" not in str(out.fields[field])
    assert REDACTED in str(out.fields[field]) or "***@" in str(out.fields[field])


def test_a_fact_with_nothing_to_redact_is_not_copied() -> None:
    f = Fact("hosts_entry", "h:1", {"file": "/etc/hosts"}, {"ip": "0.0.0.0", "names": ["a.b"]})
    assert redact_fact(f) is f


CIDR_LISTS = [["127.0.0.0/8", "::1/128", "0.0.0.0/32", "::/128"], ["10.0.0.0/8"], ["default"],
              ["192.168.0.0/16", "fd00::/8"], [], "10.1.0.0/16"]


def _values(facts: list[Fact]) -> list[Any]:
    out: list[Any] = [None, "", "bad", ["bad"], [], "10.0.0.1%eth0", ["10.1.2.3", "fd00::1"]]
    for f in facts:
        for name in ("ip", "network", "destination", "gateway", "saddr", "daddr"):
            if name in f.fields:
                out.append(f.fields[name])
    return out


@pytest.mark.parametrize("op", ["in_cidr", "not_in_cidr", "in", "not_in"])
def test_compiled_checks_agree_with_the_operators(op: str) -> None:
    values = _values(_real_facts())
    assert len(values) > 500
    for expected in CIDR_LISTS:
        check = expr.compile_check(op, expected)
        for v in values:
            assert check(v) == expr.OPERATORS[op](v, expected), (op, expected, v)


def test_per_kind_type_checks_agree_with_value_fits() -> None:
    for f in _real_facts():
        spec = KINDS.get(f.kind)
        if spec is None:
            continue
        assert field_problems(f.kind, dict(f.fields)) == []
        for name, value in f.fields.items():
            if name in spec.fields:
                assert value_fits(spec.fields[name].type, value)
    bad = {"ip": "not-an-ip", "prefix": "24", "family": True, "network": "10.0.0.0/33"}
    problems = field_problems("address", bad)
    assert [p.split("'")[1] for p in problems] == ["ip", "prefix", "family", "network"]


def test_the_cheap_secret_pre_check_misses_nothing_the_regex_finds() -> None:
    """redact_text skips text the pre-check clears: it must clear nothing _SUSPECT matches,
    in any case and with the characters a case-blind regex treats as ASCII letters."""
    texts = [t for f in _real_facts() for v in f.fields.values() for t in _strings(v)]
    words = ["://", "password", "passwd", "token", "secret", "apikey", "api_key", "api-key",
             "auth", "bearer", "basic"]
    variants = [w for word in words for w in (word, word.upper(), word.title(),
                                              word.replace("s", "\u017f"),  # long s
                                              word.replace("i", "\u0131"),  # dotless i
                                              word.replace("k", "\u212a"))]  # Kelvin sign
    texts += [f"-m comment --comment \"x {w} y\"" for w in variants]
    texts += ["", "plain text", "caf\u00e9 au lait", "\u212a", "pa\u017f\u017fword=x"]
    assert sum(bool(_SUSPECT.search(t)) for t in texts) > 40
    for text in texts:
        if _SUSPECT.search(text):
            assert _may_hold_secret(text), text
