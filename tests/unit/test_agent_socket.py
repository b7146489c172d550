"""The agent's viewer socket in one process: the socket file made safely, the protocol's hello and
refusals, frames and log batches round trip, and a viewer that does not read never holds up the
engine. The engine is real, on samples recorded from the real stack (tests/fixtures); the viewers
are real sockets; no fakes."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbtop.catalog import load_reference
from mbtop.engine import codec, sockpath, wire
from mbtop.engine.attach import AttachSource, NoAgent
from mbtop.engine.engine import Engine
from mbtop.engine.feeds import LogBatch
from mbtop.engine.frame import Frame
from mbtop.engine.server import QUEUE, AgentServer
from mbtop.logs.postfix import PostfixParser
from mbtop.probes.record import Replay, load

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stack-trouble.json"
SAMPLES = load(FIXTURE)
CATALOG = load_reference()


def wait_for(cond: object, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out: {what}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[AgentServer, Engine]]:
    engine = Engine(CATALOG, Replay(list(SAMPLES)), interval=0.02, follow_logs=False)
    server = AgentServer(tmp_path / "run" / "agent.sock").start()
    server.attach(engine)
    engine.start()
    try:
        yield server, engine
    finally:
        engine.stop()
        server.close()


def no_recheck(_firewall: bool) -> None:
    raise AssertionError("not asked here")


def test_socket_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "run" / "agent.sock"
    os.mkdir(path.parent, 0o755)  # a directory left too open is closed, not trusted
    sock, ino = sockpath.bind(path)
    try:
        st = os.lstat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert stat.S_IMODE(os.lstat(path.parent).st_mode) == 0o700
    finally:
        sock.close()
        sockpath.unlink(path, ino)
    assert not path.exists()


def test_symlinks_are_refused_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    path = tmp_path / "run" / "agent.sock"
    path.parent.mkdir()
    path.symlink_to(target / "agent.sock")
    with pytest.raises(sockpath.SocketPathError, match="is a symlink"):
        sockpath.bind(path)
    assert not (target / "agent.sock").exists()
    linked = tmp_path / "linkdir"
    linked.symlink_to(target)
    with pytest.raises(sockpath.SocketPathError, match="is a symlink"):
        sockpath.bind(linked / "agent.sock")
    assert list(target.iterdir()) == []


def test_a_stale_socket_is_replaced_a_live_one_refused_another_file_kept(tmp_path: Path) -> None:
    path = tmp_path / "run" / "agent.sock"
    first, _ = sockpath.bind(path)
    with pytest.raises(sockpath.SocketPathError, match="another agent runs"):
        sockpath.bind(path)
    first.close()  # the agent died: its file stays, nobody answers
    second, ino2 = sockpath.bind(path)
    with pytest.raises(sockpath.SocketPathError, match="another agent runs"):
        sockpath.bind(path)  # the new one answers
    second.close()
    sockpath.unlink(path, ino2 + 1)  # not the one this agent made: left alone
    assert path.exists()
    sockpath.unlink(path, ino2)
    path.write_text("not a socket")
    with pytest.raises(sockpath.SocketPathError, match="not a socket"):
        sockpath.bind(path)
    assert path.read_text() == "not a socket"


def test_hello_of_another_protocol_is_refused_naming_both_versions(served: tuple[AgentServer, Engine]) -> None:
    server, _ = served
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(server.path))
        s.sendall(wire.pack(wire.hello(protocol=99, version="9.9.9")))
        answer = wire.receive(s)
    assert answer["t"] == "refused"
    assert "protocol 99" in answer["why"] and "9.9.9" in answer["why"]
    assert f"speaks protocol {wire.PROTOCOL}" in answer["why"]


def test_two_viewers_get_the_same_frames_and_the_engine_samples_once(served: tuple[AgentServer, Engine]) -> None:
    server, engine = served
    # the past a viewer gets at hello is the engine's history then: let it hold a few frames first
    wait_for(lambda: len(engine.history()) >= 3, what="three frames in the engine's history")
    got: list[list[Frame]] = [[], []]
    viewers = [AttachSource(server.path, no_recheck) for _ in got]
    for v, frames in zip(viewers, got, strict=True):
        v.start(frames.append, lambda _b: None)
    try:
        wait_for(lambda: all(len(f) >= 20 for f in got), what="20 frames each")
        wait_for(lambda: all(len(v.history()) > 0 for v in viewers), what="the history")
        history = viewers[0].history()  # the engine's, as it was at hello: decoded as it is read
        seqs = [f.seq for f in history]
        assert seqs == sorted(set(seqs)) and history[-1].seq == seqs[-1]
        assert list(history[0:3]) == [history[0], history[1], history[2]]  # a slice: the frames one by one
        kept = {f.seq: f for f in engine.history()}
        middle = history[len(history) // 2]
        assert codec.to_json(middle) == codec.to_json(kept[middle.seq])
    finally:
        for v in viewers:
            v.stop()
    common = sorted({f.seq for f in got[0]} & {f.seq for f in got[1]})
    assert len(common) >= 15
    by_seq = [{f.seq: f for f in frames} for frames in got]
    for seq in common[:5]:
        assert codec.to_json(by_seq[0][seq]) == codec.to_json(by_seq[1][seq])
        assert by_seq[0][seq].snapshot == by_seq[1][seq].snapshot
    assert server.frames_encoded <= server.frames_in  # once a frame, however many viewers
    assert engine.seq >= common[-1]
    assert [f.seq for f in got[0]] == sorted({f.seq for f in got[0]})  # in order, none twice


def test_log_batches_and_the_recent_past_reach_a_viewer(served: tuple[AgentServer, Engine]) -> None:
    server, _engine = served
    parse = PostfixParser(2026).parse
    line = "Nov 28 03:10:00 mx postfix/smtpd[1]: connect from unknown[192.0.2.7]"
    before = LogBatch("mail", "/var/log/mail.log", (parse(line, 1),), "following")
    server._put(before)  # as the engine's log thread would
    wait_for(lambda: server._past_count["mail"] == 1, what="the batch remembered")
    batches: list[LogBatch] = []
    viewer = AttachSource(server.path, no_recheck)
    viewer.start(lambda _f: None, batches.append)
    try:
        wait_for(lambda: any(b.events for b in batches), what="the past at hello")
        wait_for(lambda: viewer.frames > 0, what="a frame")
        server._put(LogBatch("mail", "/var/log/mail.log", (parse(line, 2),), "following"))
        wait_for(lambda: sum(len(b.events) for b in batches) == 2, what="a live batch")
    finally:
        viewer.stop()
    events = [e for b in batches for e in b.events]
    assert [e.line_no for e in events] == [1, 2]
    assert events[0] == before.events[0]


def test_a_viewer_that_does_not_read_never_holds_up_the_engine(served: tuple[AgentServer, Engine]) -> None:
    server, engine = served
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(str(server.path))
    s.sendall(wire.pack(wire.hello()))
    assert wire.receive(s)["t"] == "hello"
    wait_for(lambda: len(server.viewers()) == 1, what="the viewer joined")
    start = engine.seq
    time.sleep(2.0)  # the viewer reads nothing; its socket and then its queue fill up
    assert engine.seq - start >= 40, "the engine slowed down for a viewer that does not read"
    viewer = server.viewers()[0]
    assert len(viewer.queue) <= QUEUE
    dropped = 0
    newest = 0
    caught_up = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # now it reads: it is told what it missed, then gets the newest
        message = wire.receive(s)
        if message["t"] == "dropped":
            dropped += message["frames"]
        elif message["t"] == "frame":
            newest = message["frame"]["seq"]
            # within 5 frames of the engine when it arrived (read then: the engine goes on meanwhile)
            if dropped and newest >= engine.seq - 5:
                caught_up = True
                break
    s.close()
    assert dropped > 0
    assert caught_up, (newest, engine.seq)


def test_no_agent_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(NoAgent, match="no agent"):
        AttachSource(tmp_path / "agent.sock", no_recheck)


def test_a_viewer_falls_back_when_the_agent_goes(tmp_path: Path) -> None:
    engine = Engine(CATALOG, Replay(list(SAMPLES)), interval=0.02, follow_logs=False)
    server = AgentServer(tmp_path / "agent.sock").start()
    server.attach(engine)
    engine.start()
    own = Engine(CATALOG, Replay(list(SAMPLES)), interval=0.02, follow_logs=False)
    from mbtop.engine.source import LiveSource

    frames: list[Frame] = []
    viewer = AttachSource(server.path, no_recheck, lambda: LiveSource(own))
    viewer.start(frames.append, lambda _b: None)
    try:
        wait_for(lambda: len(frames) >= 3, what="frames from the agent")
        assert viewer.via == "via agent"
        server.close()
        engine.stop()
        wait_for(lambda: viewer.lost is not None, what="the agent missed")
        assert viewer.via.startswith("own engine, agent gone")
        assert viewer.note.startswith("the agent stopped at")
        n = len(frames)
        wait_for(lambda: len(frames) > n + 3 and own.seq > 3, what="frames of the viewer's own engine")
    finally:
        viewer.stop()
        engine.stop()
    assert not [t for t in threading.enumerate() if t.name in ("mbtop-engine", "mbtop-attach")]


def test_a_hello_builds_the_history_a_chunk_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hour of history is sent a message at a time, each built when it is sent: built all at once
    it was ~20 MB of JSON, a high-water mark the agent's RSS kept after every viewer's hello (soak)."""
    import dataclasses
    import tracemalloc

    from mbtop.engine import server as server_module

    count = iter(range(1_000_000))
    replay = Replay(list(SAMPLES))
    engine = Engine(
        CATALOG,
        lambda: dataclasses.replace(replay(), taken_at=1_800_000_000.0 + next(count)),
        interval=0.0,
        follow_logs=False,
        history_seconds=600.0,
    )
    engine.start()
    wait_for(lambda: engine.seq >= 700, timeout=60, what="ten minutes of frames")
    engine.stop()
    monkeypatch.setattr(server_module, "HISTORY_CHUNK", 10)
    server = AgentServer(tmp_path / "agent.sock").start()
    server.attach(engine)
    try:
        tracemalloc.start()
        sizes = []
        for chunk in server.history_chunks():  # as a viewer's hello sends them: one, then the next
            sizes.append(len(chunk))
            del chunk
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        server.close()
    assert len(sizes) >= 10  # ~120 frames: 60 of the last minute, one in 10 s before that
    assert peak < 0.5 * sum(sizes), (peak, sum(sizes))  # never the whole history's JSON at once
