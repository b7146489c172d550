"""Cluster peers: ``[cluster]`` settings, the findings, ``snapshot --json``'s ``cluster``, recordings and
``mbtop_cluster_peer_up``. Pure code on hand-made check results (fakes, by design: the peers' real
sockets are in tests/integration/test_cluster_peers.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from mbtop.catalog import load_reference
from mbtop.config import ClusterConfig, ConfigError, from_data
from mbtop.engine import codec
from mbtop.engine.frame import Frame
from mbtop.export.cluster import cluster_families
from mbtop.model import cluster
from mbtop.model.build import build
from mbtop.model.history import RateTracker
from mbtop.model.serialize import snapshot as snapshot_json
from mbtop.model.types import worst
from mbtop.probes.cluster import ClusterState, PeerCheck
from tests.unit.fakes import listen, proc, sample

CAT = load_reference()
STATE = ClusterState(
    10050,
    (
        PeerCheck("gw2.example", True, None, 0.4, 1.7e9),
        PeerCheck("192.0.2.13", False, "connection refused", None, 1.7e9),
        PeerCheck("gw4.example", False, "no answer within 3 s", None, 1.7e9),
    ),
)


def _snap() -> object:
    return build(CAT, sample(tcp=[listen("127.0.0.1", 25, 7)], owners={7: (proc(70, "master"),)}))


def test_cluster_settings_are_read_and_defaults_mean_no_peers() -> None:
    assert from_data({}, None).cluster == ClusterConfig((), 3.0, 30.0)
    got = from_data(
        {"cluster": {"peers": ["gw2.example", "192.0.2.13", "2001:db8::2"], "timeout": 1, "every": 10}}, None
    )
    assert got.cluster == ClusterConfig(("gw2.example", "192.0.2.13", "2001:db8::2"), 1.0, 10.0)


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"peers": "gw2.example"}, "peers must be a list"),
        ({"peers": ["gw2 example"]}, "is not a host name"),
        ({"peers": ["-oProxyCommand=x"]}, "is not a host name"),
        ({"peers": ["gw2\x1b[31m"]}, "is not a host name"),
        ({"peers": [2]}, "is not a host name"),
        ({"peers": ["gw2", "gw2"]}, "named twice"),
        ({"peers": [f"gw{i}" for i in range(65)]}, "at most 64"),
        ({"timeout": 0}, "timeout must be"),
        ({"every": True}, "every must be"),
        ({"port": 10051}, "unknown setting"),
    ],
)
def test_bad_cluster_settings_are_refused_with_the_reason(table: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        from_data({"cluster": table}, "config.toml")


def test_the_port_is_the_catalogs_cluster_port() -> None:
    assert cluster.cluster_port(CAT) == 10050


def test_each_unreachable_peer_is_a_warning_naming_it_and_why() -> None:
    base = _snap()
    snap = cluster.extend(base, STATE)  # type: ignore[arg-type]
    found = [f for f in snap.findings if f.code == "cluster-peer-unreachable"]
    assert [f.severity for f in found] == ["warning", "warning"]
    assert "192.0.2.13" in found[0].message and "connection refused" in found[0].message
    assert "gw4.example" in found[1].message and "no answer within 3 s" in found[1].message
    assert all("gw2.example" not in f.message for f in found)
    assert snap.status == worst([base.status, "warning"]) and snap.cluster == STATE  # type: ignore[attr-defined]
    assert cluster.extend(snap, None) is snap  # no check yet: nothing added


def test_snapshot_json_has_the_cluster_or_null() -> None:
    assert snapshot_json(_snap())["cluster"] is None  # type: ignore[arg-type]
    doc = snapshot_json(cluster.extend(_snap(), STATE))  # type: ignore[arg-type]
    assert doc["cluster"]["port"] == 10050
    assert [(p["peer"], p["up"], p["error"]) for p in doc["cluster"]["peers"]] == [
        ("gw2.example", True, None),
        ("192.0.2.13", False, "connection refused"),
        ("gw4.example", False, "no answer within 3 s"),
    ]
    assert all(set(p) == {"peer", "up", "error", "latency_ms", "checked_at"} for p in doc["cluster"]["peers"])


def _frame(state: ClusterState | None) -> Frame:
    s = sample(tcp=[listen("127.0.0.1", 25, 7)], owners={7: (proc(70, "master"),)})
    snap = cluster.extend(build(CAT, s), state)
    return Frame(1, s, snap, RateTracker([25]).update(s))


def test_recorded_frames_keep_the_peers_and_older_recordings_still_read() -> None:
    frame = _frame(STATE)
    assert codec.from_json(json.loads(json.dumps(codec.to_json(frame)))) == frame
    old = codec.to_json(_frame(None))
    del old["snapshot"]["cluster"]  # written by an mbtop that knew no cluster
    assert codec.from_json(old).snapshot.cluster is None


class _Families(Collector):
    def __init__(self, frame: Frame) -> None:
        self.frame = frame

    def collect(self):  # type: ignore[no-untyped-def]
        return cluster_families(self.frame)


def test_peer_up_metric_per_peer_and_nothing_before_a_check() -> None:
    reg = CollectorRegistry()
    reg.register(_Families(_frame(STATE)))
    text = generate_latest(reg).decode()
    assert 'mbtop_cluster_peer_up{peer="gw2.example"} 1.0' in text
    assert 'mbtop_cluster_peer_up{peer="192.0.2.13"} 0.0' in text
    assert 'mbtop_cluster_peer_up{peer="gw4.example"} 0.0' in text
    assert "# TYPE mbtop_cluster_peer_up gauge" in text
    assert cluster_families(_frame(None)) == []
    assert cluster_families(dataclasses.replace(_frame(STATE), seq=2))[0].samples[0].labels == {"peer": "gw2.example"}


def test_the_default_config_names_the_cluster_table(tmp_path: Path) -> None:
    from mbtop.cli.config import DEFAULT

    assert "[cluster]" in DEFAULT and "peers = []" in DEFAULT
