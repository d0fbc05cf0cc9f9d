"""The network lab: real networks in namespaces for whynet's end-to-end tests (see netlab)."""
