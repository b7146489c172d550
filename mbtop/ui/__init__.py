"""The Textual app: renders snapshots, sends actions; no system calls in widgets."""
