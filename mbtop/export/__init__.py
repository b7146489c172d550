"""Faces that export what the engine publishes to other systems: Prometheus' ``/metrics``.

Reads frames only (import contract in pyproject): never a probe, a log follower or the UI.
"""
