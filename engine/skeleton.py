"""``whynet rules new ID``: a skeleton rule file that is valid and tested as written.

The skeleton is a complete, working rule (TCP to one port refused, with a firing and a silent
example), so a user starts from something ``whynet rules validate`` and ``whynet rules test``
accept and changes one thing at a time. docs/writing-rules.md walks through it.
"""

from __future__ import annotations

from engine.knowledge import _ID_RE

SKELETON = """\
# A whynet rule file, written by `whynet rules new {id}`.
# Edit the rule, then check it:  whynet rules validate {file}  &&  whynet rules test {file}
# Put the file in ~/.config/whynet/knowledge (or pass --knowledge) to use it in every diagnosis.
# The format, every operator and the checklist codes: docs/writing-rules.md.
rules:
  - id: {id}
    title: Nothing listens on port 8080 of the target (the connection is refused)
    # Which checklist items this rule serves (B1..A3, see docs/checklist.md).
    checklist: [B1, F5]
    severity: error        # info, warning, error
    layer: transport       # link, address, route, name, transport, tls, proxy, application
    confidence: observed   # observed, inferred, heuristic
    fold_by: "{{p.target}}"   # one finding per target
    when:
      # A TCP probe to port 8080 was answered with a reset. `as: p` names the fact, so the
      # texts below can say {{p.ip}}; add conditions (or `not:` ones) to narrow the rule.
      - fact: probe_tcp
        as: p
        match: {{port: 8080, outcome: refused}}
    explanation: >
      {{p.ip}} answered TCP port {{p.port}} with a reset: the host is up, but nothing
      accepts connections on that port (or a firewall rejects them).
    advice: >
      Start the service that should listen on port {{p.port}} of {{p.ip}}, or check
      that it listens on that address (`ss -ltnp` on the target).
    examples:
      # `whynet rules test` runs these: the rule must fire on the first, stay silent on the
      # second. Facts are written like the ones in a report (`whynet diagnose --format json`).
      - name: port 8080 refused
        expect: fires
        facts:
          - {{kind: probe_tcp, target: "app:8080", layer: transport, outcome: refused,
             ip: 192.0.2.10, port: 8080, errno: ECONNREFUSED}}
      - name: port 8080 answers
        expect: silent
        facts:
          - {{kind: probe_tcp, target: "app:8080", layer: transport, outcome: open,
             ip: 192.0.2.10, port: 8080}}
"""


def rule_skeleton(rule_id: str, file: str | None = None) -> str:
    """The skeleton rule file for ``rule_id``; ValueError for an id the loader would refuse."""
    if not _ID_RE.match(rule_id):
        raise ValueError(f"bad rule id {rule_id!r}: lower case letters, digits and . _ - "
                         "(e.g. mysite.db-refused)")
    return SKELETON.format(id=rule_id, file=file or f"{rule_id}.yaml")
