"""What a test needs from the machine: skipped without root, a failure with the reason as root.

As root (the README's `sudo scripts/test`, CI) the suite runs on the target machine, where every
requirement must hold: a missing one is a broken set-up, never a reason to pass by skipping.
sudo drops `CI`, so the rule is keyed on the user, not on the environment.
"""

from __future__ import annotations

import os

import pytest


def strict() -> bool:
    """Must every requirement be met (root on the target machine, or CI)?"""
    return os.geteuid() == 0 or os.environ.get("CI") == "true"


def require(ok: bool, why: str) -> None:
    """Skip without root; as root, fail with ``why``."""
    if ok:
        return
    if strict():
        pytest.fail(f"requirement missing (running as root, nothing is skipped): {why}", pytrace=False)
    pytest.skip(why)
