"""What every plan is made from: the catalog, the latest sample, and whether actions may run at all."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mbtop.catalog import Catalog
from mbtop.model.types import Snapshot
from mbtop.probes.sample import Sample


class UsageError(ValueError):
    """The target is not something mbtop knows (exit 2)."""


@dataclass(frozen=True, slots=True)
class Context:
    catalog: Catalog
    sample: Sample | None
    snapshot: Snapshot | None
    read_only: bool = False
    root: bool = True
    init_dir: Path = Path("/etc/init.d")
    force: bool = False  # block: a network broader than /8 (IPv4) or /32 (IPv6) was asked for on purpose


def gate(ctx: Context) -> str | None:
    """Why no action may run here at all (read-only, not root), or None."""
    if ctx.read_only:
        return "read-only mode (--read-only or read_only in the config): actions are disabled"
    if not ctx.root:
        return "needs root: run mbtop with sudo"
    return None
