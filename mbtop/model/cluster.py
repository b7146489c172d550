"""Findings about the cluster's peers, and the snapshot with them. Pure."""

from __future__ import annotations

import dataclasses

from mbtop.catalog import Catalog
from mbtop.model.types import SEVERITY_RANK, Finding, Snapshot, worst
from mbtop.probes.cluster import ClusterState
from mbtop.text import clean


def cluster_port(catalog: Catalog) -> int | None:
    """The port peers must accept on: the catalog's cluster-only port (mb-cluster's 10050)."""
    return next((p.port for p in catalog.ports if p.cluster_only and p.proto == "tcp"), None)


def findings(state: ClusterState) -> list[Finding]:
    """A warning per peer that does not accept on the cluster port: this gateway cannot sync with it."""
    return [
        Finding(
            "warning",
            "cluster-peer-unreachable",
            f"cluster peer {clean(p.peer)} does not accept on port {state.port}: {clean(p.error or 'no answer')}",
            f"check that mb-cluster runs on {clean(p.peer)}, and that both firewalls let the gateways "
            f"reach each other on port {state.port}",
        )
        for p in state.peers
        if not p.up
    ]


def extend(snap: Snapshot, state: ClusterState | None) -> Snapshot:
    """``snap`` with the peers' checks (``cluster``) and their findings among the others (worst first)."""
    if state is None:
        return snap
    extra = findings(state)
    found = sorted((*snap.findings, *extra), key=lambda f: -SEVERITY_RANK[f.severity])
    return dataclasses.replace(
        snap, findings=tuple(found), status=worst([snap.status, *(f.severity for f in extra)]), cluster=state
    )
