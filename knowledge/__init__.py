"""The shipped knowledge base: YAML rule files only (no code is ever loaded from here)."""
