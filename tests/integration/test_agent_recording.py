"""A real ``mbtop agent`` recording the real machine: kill -9 mid-write, and a squatter found by
``snapshot --replay --at`` inside its window only (on the lab stack: run under the stack lock)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mbtop.engine.recorder import RecordedFrames
from tests.support import stack as st
from tests.support.netns import REPO, Netns


@contextmanager
def agent(path: Path, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mbtop", "agent", "--no-serve", "--record", str(path), "--no-health", *extra],
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    try:
        st.wait_until(lambda: path.exists() and _count(path) >= 2, 60, what="the agent's first frames")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()


def _count(path: Path) -> int:
    try:
        rec = RecordedFrames(path)
    except Exception:  # noqa: BLE001 - not there yet
        return 0
    try:
        return rec.recording.count()
    finally:
        rec.close()


def test_kill_9_mid_write_leaves_a_recording_with_every_frame_older_than_2s(tmp_path: Path) -> None:
    path = tmp_path / "rec" / "mbtop.db"
    for round_ in range(3):  # three kills at different moments of the write cycle, into the same file
        started = time.time()
        with agent(path, "--interval", "0.2") as proc:
            time.sleep(2.0 + 0.37 * round_)
            killed_at = time.time()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        rec = RecordedFrames(path)  # opens: not damaged
        span = rec.span()
        assert span is not None
        times = [f.time for f in rec.between(span[0], span[1])]  # every frame decodes
        rec.close()
        assert times == sorted(times)
        assert times[-1] >= killed_at - 2.0, f"round {round_}: last frame {killed_at - times[-1]:.2f} s before the kill"
        mine = [t for t in times if t >= started]  # this round's frames: no hole among them
        gaps = [b - a for a, b in itertools.pairwise(mine)]
        assert max(gaps) < 1.5, f"round {round_}: a hole of {max(gaps):.2f} s between recorded frames"


def _replay_port(path: Path, at: float, port: int) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "mbtop", "snapshot", "--replay", str(path), "--at",
         time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    doc = json.loads(out.stdout)
    return next(p for p in doc["ports"] if p["port"] == port)


def test_a_squatter_is_found_in_its_window_and_not_outside(tmp_path: Path) -> None:
    st.require_stack()
    path = tmp_path / "rec" / "mbtop.db"
    with agent(path, "--interval", "0.5"):
        time.sleep(2)
        before = time.time()
        time.sleep(1.5)
        with st.squatter_on(6379, "redis-server") as squatter:
            st.wait_until(lambda: not st.port_free(6379), 30, what="the squatter")
            time.sleep(2.5)
            inside = time.time()
            time.sleep(1.5)
            pid = squatter.pid
        time.sleep(1.5)  # squatter_on restored the stack: redis is back
        after = time.time()
        time.sleep(1.5)
    port = _replay_port(path, inside, 6379)
    assert [(x["pid"], x["process"]) for x in port["listeners"]] == [(pid, "squatter")]
    assert any(f["code"] == "unexpected-owner" for f in port["findings"])
    for when in (before, after):
        port = _replay_port(path, when, 6379)
        assert pid not in [x["pid"] for x in port["listeners"]]
        assert not any(f["code"] == "unexpected-owner" for f in port["findings"])


def test_the_size_cap_holds_under_a_real_smtp_flood(tmp_path: Path) -> None:
    st.require_stack()
    path = tmp_path / "rec" / "mbtop.db"
    cap = 512 << 10  # small enough that the flood's frames and mail log events pass it several times
    with agent(path, "--interval", "0.2", "--max-size", "512k") as proc:
        started = time.time()
        flood = subprocess.Popen(
            [sys.executable, str(REPO / "tests/support/floodgen.py"), "1000", "15", "2000"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        peak = 0
        while flood.poll() is None:
            peak = max(peak, sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()))
            time.sleep(0.2)
        stats = json.loads(flood.communicate(timeout=30)[0])
        assert proc.poll() is None, "the agent died under the flood"
    # A real flood reached Postfix (how much of it depends on the machine's load: the cap is what
    # is judged, and that it was reached is the trimming below).
    assert stats["connected"] > 2_000, stats
    assert peak <= cap * 1.05, f"{peak} bytes on disk, cap {cap}"
    rec = RecordedFrames(path)
    span = rec.span()
    assert span is not None and span[0] > started + 5, "nothing was trimmed: the cap was never reached"
    frame = rec.at(span[1])
    rec.close()
    assert frame is not None and frame.snapshot.ports  # what is left is a readable, recent frame


def test_sighup_keeps_a_refused_config_and_sigterm_closes_the_recording(tmp_path: Path) -> None:
    path = tmp_path / "rec" / "mbtop.db"
    conf = tmp_path / "config.toml"
    conf.write_text("[agent]\ninterval = 0.5\n")
    conf.chmod(0o600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mbtop", "--config", str(conf), "agent", "--no-serve", "--record", str(path),
         "--no-health"],
        cwd=REPO, stderr=subprocess.PIPE, text=True, env={**os.environ, "INVOCATION_ID": "test"},
    )  # fmt: skip
    try:
        st.wait_until(lambda: _count(path) >= 2, 60, what="the agent's first frames")
        conf.write_text("[agent]\ninterval = -1\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(2)
        assert proc.poll() is None, "a refused config stopped the agent"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert any("config not reloaded, the old one is kept" in x and "interval" in x for x in lines), err
    assert any("recording closed" in x for x in lines), err
    assert all(x.startswith(("INFO ", "WARNING ", "ERROR ")) for x in lines), err  # no timestamps under systemd
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed at the stop
    assert _count(path) >= 2


LISTENER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 25))
s.listen(4096)
while True:
    c, _ = s.accept()
    c.sendall(b"220 lab ESMTP\\r\\n")
    c.close()
"""


def test_the_size_cap_holds_under_a_flood_in_a_namespace(ns: Netns, tmp_path: Path) -> None:
    """The same cap without the lab stack: a real SMTP-greeting listener on port 25 in a private
    network namespace, a real agent there, 1,000 connections/s (no mail log: sockets only)."""
    path = tmp_path / "rec" / "mbtop.db"
    cap = 512 << 10
    listener = subprocess.Popen(ns.argv(sys.executable, "-c", LISTENER))
    agent_proc = subprocess.Popen(
        ns.argv(sys.executable, "-m", "mbtop", "agent", "--no-serve", "--record", str(path), "--no-health",
                "--interval", "0.2", "--max-size", "512k"),
        cwd=REPO, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        st.wait_until(lambda: _count(path) >= 2, 60, what="the agent's first frames")
        started = time.time()
        flood = subprocess.Popen(
            ns.argv(sys.executable, str(REPO / "tests/support/floodgen.py"), "1000", "25", "2000"),
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        peak = 0
        while flood.poll() is None:
            peak = max(peak, sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()))
            time.sleep(0.2)
        stats = json.loads(flood.communicate(timeout=30)[0])
        assert agent_proc.poll() is None, "the agent died under the flood"
    finally:
        for p in (agent_proc, listener):
            p.kill()
            p.wait(10)
    assert stats["connected"] > 10_000, stats
    assert peak <= cap * 1.05, f"{peak} bytes on disk, cap {cap}"
    rec = RecordedFrames(path)
    span = rec.span()
    assert span is not None and span[0] > started + 5, "nothing was trimmed: the cap was never reached"
    last = rec.at(span[1])
    rec.close()
    assert last is not None and any(p.spec.port == 25 and p.listening for p in last.snapshot.ports)
