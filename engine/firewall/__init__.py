"""Firewall path evaluation: which rule of this host's ruleset decides a connection.

Works from facts only (``firewall_rule``/``firewall_chain``), so a snapshot diagnoses like a
live run. :mod:`engine.firewall.evaluate` walks the ruleset as the kernel does;
:mod:`engine.firewall.verdicts` turns probes and ``--listen`` ports into packets and the
evaluator's answers into ``firewall_verdict`` facts.
"""

from engine.firewall.evaluate import Packet, RuleRef, Ruleset, Verdict

__all__ = ["Packet", "Ruleset", "RuleRef", "Verdict"]
