"""The fleet: every gateway's state read from its agent's metrics (directly, or through Prometheus).

Below the UI: no textual, no rich (import-linter contract). ``model`` turns metric samples into a
``Gateway`` per agent; ``scrape`` and ``prometheus`` fetch them over HTTP with the standard library.
"""
