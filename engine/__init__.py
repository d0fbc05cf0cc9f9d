"""whynet's engine: facts, collectors, probes, knowledge loading, inference and reports."""

__version__ = "0.1.0"
