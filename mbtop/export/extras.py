"""THE HOOK for metric families that do not come from the frame (issue 20).

``extra_families(cfg)`` returns callables; the collector calls each at every scrape, from the
HTTP server's thread, and adds what it yields (a callable that raises is logged and skipped; it
must answer at once: do the slow work elsewhere and return the latest result). What the frame
holds is not added here but in ``mbtop.export.families`` (the cluster peers' ``mbtop_cluster_peer_up``
from ``mbtop.export.cluster`` among them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mbtop.config import Config
    from mbtop.export.collector import ExtraFamilies


def extra_families(cfg: Config) -> tuple[ExtraFamilies, ...]:
    """What the agent's collector adds to every scrape beyond the frame (nothing yet)."""
    return ()
