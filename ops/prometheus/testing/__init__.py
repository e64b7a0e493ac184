"""Helpers that run the alert rules on a real Prometheus in tests (see tests/integration)."""
