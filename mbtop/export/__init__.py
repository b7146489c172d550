"""Prometheus metrics from the engine's frames (the agent's ``/metrics``)."""
