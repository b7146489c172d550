"""Actions: plan → preview → confirm → run → audit. Only on catalog objects."""
