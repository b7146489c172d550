"""``mbtop_cluster_peer_up{peer}``: whether each peer of ``[cluster] peers`` accepts on the cluster port.

Read from the frame (the engine's last check of the peers), never by connecting: a scrape costs
no network round trip. The label is the peer as the operator's config names it (never a value a
stranger chose); no series at all before the first check or without peers.
"""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from mbtop.engine.frame import Frame

PEER_UP = "mbtop_cluster_peer_up"


def cluster_families(frame: Frame) -> list[GaugeMetricFamily]:
    state = frame.snapshot.cluster
    if state is None:
        return []
    up = GaugeMetricFamily(
        PEER_UP, f"1 when the cluster peer accepts a TCP connection on port {state.port}, else 0", labels=["peer"]
    )
    for p in state.peers:
        up.add_metric([p.peer], 1.0 if p.up else 0.0)
    return [up]
