"""Cluster peers over real sockets: a gateway and three peers, each in its own network namespace, joined
by veth pairs. One peer accepts on 10050, one has nothing there (refused), one drops the SYN (the
timeout). mbtop runs in the gateway's namespace: ``snapshot --json`` and the engine with the
exporter's ``mbtop_cluster_peer_up``. Private namespaces: no lab stack, no lock."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_root_netns
from tests.support.netns import REPO, write_config

pytestmark = pytest.mark.integration

UP, CLOSED, FILTERED = "10.77.1.2", "10.77.2.2", "10.77.3.2"
TIMEOUT = 1.5  # [cluster] timeout: what the filtered peer costs
# Names the gateway's namespace resolves from its own hosts file (`ip netns exec` bind-mounts
# /etc/netns/NAME/ over /etc); any other name goes to a name server that never answers.
NAMED, SILENT = "gw-up.mbtop.test", "gw-nowhere.mbtop.test"
RESOLVER_WAIT = 12  # seconds the resolver waits for that server (resolv.conf timeout × attempts)

DEAF_DNS = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53)); print("ready", flush=True)
sys.stdin.read()
"""

LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 10050)); s.listen(16); print("ready", flush=True)
sys.stdin.read()
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Cluster:
    gw: str

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.gw, *argv], capture_output=True, text=True, timeout=timeout, cwd=REPO
        )


@contextmanager
def cluster() -> Iterator[Cluster]:
    tag = uuid.uuid4().hex[:6]
    gw = f"mbcl-g-{tag}"
    peers = [f"mbcl-{i}-{tag}" for i in (1, 2, 3)]
    with ExitStack() as stack:
        for ns in (gw, *peers):
            _ip("netns", "add", ns)
            stack.callback(subprocess.run, ["ip", "netns", "delete", ns], check=False, capture_output=True)
            _ip("-n", ns, "link", "set", "lo", "up")
        for i, ns in enumerate(peers, 1):
            _ip("link", "add", f"vg{i}", "netns", gw, "type", "veth", "peer", "name", "vp", "netns", ns)
            _ip("-n", gw, "addr", "add", f"10.77.{i}.1/24", "dev", f"vg{i}")
            _ip("-n", gw, "link", "set", f"vg{i}", "up")
            _ip("-n", ns, "addr", "add", f"10.77.{i}.2/24", "dev", "vp")
            _ip("-n", ns, "link", "set", "vp", "up")
        # Peer 1 accepts on the cluster port; peer 2 has nothing there; peer 3 drops what comes to it.
        up = subprocess.Popen(
            ["ip", "netns", "exec", peers[0], sys.executable, "-c", LISTENER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(up.wait, 10)
        stack.callback(up.stdin.close)  # type: ignore[union-attr]
        assert up.stdout is not None and up.stdout.readline().strip() == "ready"
        etc = Path("/etc/netns") / gw
        etc.mkdir(parents=True)
        stack.callback(shutil.rmtree, etc, ignore_errors=True)
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n{UP} {NAMED}\n")
        (etc / "resolv.conf").write_text(f"nameserver 127.0.0.1\noptions timeout:{RESOLVER_WAIT} attempts:1\n")
        dns = subprocess.Popen(
            ["ip", "netns", "exec", gw, sys.executable, "-c", DEAF_DNS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(dns.wait, 10)
        stack.callback(dns.stdin.close)  # type: ignore[union-attr]
        assert dns.stdout is not None and dns.stdout.readline().strip() == "ready"
        subprocess.run(
            ["ip", "netns", "exec", peers[2], "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "10050", "-j", "DROP"],
            check=True,
            capture_output=True,
        )
        yield Cluster(gw)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Cluster, Path]]:
    require_root_netns()
    cfg = write_config(
        tmp_path / "config.toml",
        f'[cluster]\npeers = ["{UP}", "{CLOSED}", "{FILTERED}", "{NAMED}", "{SILENT}"]\n'
        f"timeout = {TIMEOUT}\nevery = 60\n",
    )
    with cluster() as c:
        yield c, cfg


def test_snapshot_json_says_which_peer_accepts_and_why_the_others_do_not(lab: tuple[Cluster, Path]) -> None:
    c, cfg = lab
    start = time.monotonic()
    out = c.run(
        sys.executable, "-m", "mbtop", "--config", str(cfg), "snapshot", "--json", "--sample", "0", "--no-health",
        "--no-firewall",
    )  # fmt: skip
    took = time.monotonic() - start
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    peers = {p["peer"]: p for p in doc["cluster"]["peers"]}
    assert doc["cluster"]["port"] == 10050 and list(peers) == [UP, CLOSED, FILTERED, NAMED, SILENT]
    assert peers[UP]["up"] is True and peers[UP]["error"] is None and peers[UP]["latency_ms"] is not None
    assert peers[NAMED]["up"] is True  # a name, resolved from the gateway's hosts file
    assert peers[CLOSED]["up"] is False and peers[CLOSED]["error"] == "connection refused"
    for silent in (FILTERED, SILENT):  # no SYN-ACK; no answer from the name server
        assert peers[silent]["up"] is False and peers[silent]["error"] == f"no answer within {TIMEOUT:g} s"
    found = {f["message"]: f for f in doc["findings"] if f["code"] == "cluster-peer-unreachable"}
    assert len(found) == 3 and all(f["severity"] == "warning" for f in found.values())
    assert any(CLOSED in m and "connection refused" in m for m in found)
    assert any(FILTERED in m and "no answer within" in m for m in found)
    assert any(SILENT in m and "no answer within" in m for m in found)
    assert took >= TIMEOUT  # the silent peers were waited for, and only that long (checks run at once)
    # Not the resolver's 12 s either: the command ends without waiting for the lookup it gave up on.
    assert took < RESOLVER_WAIT, f"snapshot took {took:.1f} s"


ENGINE = """
import json, sys, time
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry
from mbtop.config import load
from mbtop.engine.engine import Engine
from mbtop.export.cluster import cluster_families
from mbtop.model.serialize import cluster
from mbtop.probes.sample import Sampler

cfg = load(__import__("pathlib").Path(sys.argv[1]))
sampler = Sampler(cfg.catalog, firewall_every=None)
engine = Engine(cfg.catalog, sampler.sample, interval=0.2, follow_logs=False, peers=cfg.cluster.peers,
                peer_timeout=cfg.cluster.timeout, peer_every=cfg.cluster.every)
frames = []
engine.subscribe(frames.append)
start = time.monotonic()
engine.start()
while time.monotonic() - start < 20 and not any(f.snapshot.cluster for f in frames):
    time.sleep(0.05)
first = next(f for f in frames if f.snapshot.cluster)
before = sum(1 for f in frames if f.seq < first.seq)
class Families:
    def collect(self):
        return cluster_families(first)
reg = CollectorRegistry()
reg.register(Families())
engine.stop()
print(json.dumps({"before": before, "cluster": cluster(first.snapshot.cluster),
                  "codes": [f.code for f in first.snapshot.findings], "metrics": generate_latest(reg).decode()}))
"""


def test_the_engine_checks_peers_off_its_sample_path_and_exports_them(lab: tuple[Cluster, Path]) -> None:
    c, cfg = lab
    out = c.run(sys.executable, "-c", textwrap.dedent(ENGINE), str(cfg))
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    # Frames kept coming every 0.2 s while the filtered peer's check waited its 1.5 s: a check on the
    # sample path would have held the first frame until it ended, and that frame would carry it.
    assert got["before"] >= 3, got["before"]
    assert [(p["peer"], p["up"]) for p in got["cluster"]["peers"]] == [
        (UP, True), (CLOSED, False), (FILTERED, False), (NAMED, True), (SILENT, False),
    ]  # fmt: skip
    assert got["codes"].count("cluster-peer-unreachable") == 3
    metrics = got["metrics"]
    assert f'mbtop_cluster_peer_up{{peer="{UP}"}} 1.0' in metrics
    assert f'mbtop_cluster_peer_up{{peer="{CLOSED}"}} 0.0' in metrics
    assert f'mbtop_cluster_peer_up{{peer="{FILTERED}"}} 0.0' in metrics
