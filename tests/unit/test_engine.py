"""The headless engine on samples recorded from the real stack (tests/fixtures): pure code, no
system access beyond temporary log files; the source is the recording, not a fake."""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from pathlib import Path

import pytest

from mbtop.catalog import LogSpec, load_reference
from mbtop.engine import codec
from mbtop.engine.engine import Engine
from mbtop.engine.frame import Frame
from mbtop.engine.history import RECENT_SECONDS, Packed, trimmed
from mbtop.engine.source import FrameSource, LiveSource, SampleReplaySource
from mbtop.model.build import build
from mbtop.probes.record import Replay, load
from mbtop.probes.sample import Sample

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stack-trouble.json"
SAMPLES = load(FIXTURE)
CATALOG = load_reference()


def wait_for(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_frames_carry_what_the_screen_showed() -> None:
    engine = Engine(CATALOG, Replay(list(SAMPLES)), interval=0.01, follow_logs=False)
    frames: list[Frame] = []
    unsubscribe = engine.subscribe(frames.append)
    engine.start()
    try:
        wait_for(lambda: len(frames) >= len(SAMPLES))
    finally:
        engine.stop()
    unsubscribe()
    assert [f.seq for f in frames[: len(SAMPLES)]] == list(range(1, len(SAMPLES) + 1))
    for frame, sample in zip(frames, SAMPLES, strict=False):
        assert frame.sample == sample
        expected = build(CATALOG, sample)
        assert [(p.key, p.status, p.connections_total) for p in frame.snapshot.ports] == [
            (p.key, p.status, p.connections_total) for p in expected.ports
        ]
        assert frame.flood is not None
    assert frames[1].rates.new_per_s.keys() == {p.port for p in CATALOG.ports}  # rates from the second on
    assert not [t for t in threading.enumerate() if t.name == "mbtop-engine"]


def test_next_sample_only_after_the_last_was_published() -> None:
    engine = Engine(CATALOG, Replay(list(SAMPLES)), interval=0.0, follow_logs=False)
    inside = threading.Semaphore(1)
    overlaps: list[int] = []
    seen: list[int] = []

    def slow(frame: Frame) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(frame.seq)
            return
        time.sleep(0.05)
        seen.append(frame.seq)
        inside.release()

    engine.subscribe(slow)
    engine.start()
    wait_for(lambda: len(seen) >= 5)
    engine.stop()
    assert overlaps == []
    assert seen == sorted(seen)


def test_sample_now_does_not_wait_for_the_interval() -> None:
    engine = Engine(CATALOG, Replay(list(SAMPLES)), interval=3600.0, follow_logs=False)
    frames: list[Frame] = []
    engine.subscribe(frames.append)
    engine.start()
    try:
        wait_for(lambda: len(frames) == 1)
        engine.sample_now()
        wait_for(lambda: len(frames) == 2, timeout=5.0)
    finally:
        engine.stop()


def test_history_is_bounded_and_keeps_listeners_and_counts() -> None:
    replay = Replay(list(SAMPLES))
    count = iter(range(1_000_000))

    def one_a_second() -> Sample:  # the recording, one sample a second of its time
        return dataclasses.replace(replay(), taken_at=1_800_000_000.0 + next(count))

    engine = Engine(CATALOG, one_a_second, interval=0.0, follow_logs=False, history_seconds=5.0)
    frames: list[Frame] = []
    engine.subscribe(frames.append)
    engine.start()
    wait_for(lambda: len(frames) >= 30)
    engine.stop()
    history = engine.history()
    assert [f.seq for f in history] == [f.seq for f in frames[-6:]]  # the last 5 s, nothing older
    full = frames[0]
    small = trimmed(full)
    assert all(s.state == "LISTEN" for s in small.sample.tcp.sockets)
    assert len(small.sample.tcp.sockets) < len(full.sample.tcp.sockets)
    assert small.snapshot == full.snapshot and small.rates.first_seen == {}


def test_history_keeps_its_span_every_frame_recent_one_in_ten_seconds_older() -> None:
    replay = Replay(list(SAMPLES))
    count = iter(range(1_000_000))

    def one_a_second() -> Sample:
        return dataclasses.replace(replay(), taken_at=1_800_000_000.0 + next(count))

    span = 600.0  # the agent's is an hour (HISTORY_SECONDS): the same code, fewer frames to wait for
    engine = Engine(CATALOG, one_a_second, interval=0.0, follow_logs=False, history_seconds=span)
    engine.start()
    wait_for(lambda: engine.seq >= span + 200, timeout=120)
    engine.stop()
    history = engine.history()
    times = [f.time - 1_800_000_000.0 for f in history]
    newest = times[-1]
    assert span - 10 <= newest - times[0] <= span  # the span, nothing older
    recent = [t for t in times if t >= newest - RECENT_SECONDS]
    assert recent == [newest - i for i in range(len(recent) - 1, -1, -1)]  # every second of the last minute
    assert len(recent) == RECENT_SECONDS + 1
    older = [t for t in times if t < newest - RECENT_SECONDS]
    assert older and all(b - a >= 10 for a, b in itertools.pairwise(older))
    assert len(times) <= RECENT_SECONDS + 1 + (span - RECENT_SECONDS) / 10 + 1
    # The older frames are kept packed (the frame's JSON), and decoded as they were when asked for
    packed = engine.past.kept()[:3]
    assert all(isinstance(p, Packed) for p in packed)
    assert [json.dumps(codec.to_json(f), separators=(",", ":")).encode() for f in history[:3]] == [
        p.json() for p in packed if isinstance(p, Packed)
    ]


def test_a_failing_sample_repeats_the_last_good_frame_with_the_reason() -> None:
    calls = iter([SAMPLES[0]])

    def source() -> object:
        try:
            return next(calls)
        except StopIteration:
            raise OSError("netlink went away") from None

    engine = Engine(CATALOG, source, interval=0.01, follow_logs=False)  # type: ignore[arg-type]
    frames: list[Frame] = []
    engine.subscribe(frames.append)
    engine.start()
    wait_for(lambda: len(frames) >= 2)
    engine.stop()
    assert frames[0].error is None
    assert frames[1].error == "OSError: netlink went away" and frames[1].sample == frames[0].sample


def test_logs_feed_frames_faces_and_the_flood_inbox(tmp_path: Path) -> None:
    for name in ("mail.log", "access.log", "error.log"):
        (tmp_path / name).write_text("")
    spec = LogSpec(str(tmp_path / "mail.log"), str(tmp_path / "access.log"), str(tmp_path / "error.log"))
    catalog = dataclasses.replace(CATALOG, logs=spec)
    source: FrameSource = SampleReplaySource(catalog, SAMPLES, interval=0.05, follow_logs=True)
    frames: list[Frame] = []
    batches: list[object] = []
    source.start(frames.append, batches.append)
    try:
        wait_for(lambda: len(frames) >= 1)
        with (tmp_path / "mail.log").open("a") as f:
            f.write("Nov 28 04:00:00 mx postfix/smtpd[123]: connect from unknown[203.0.113.5]\n")
        wait_for(lambda: any(e.client_ip == "203.0.113.5" for fr in frames for e in fr.logs.mail))
    finally:
        source.stop()
    assert not source.live and source.recheck() is None
    assert any(getattr(b, "events", ()) for b in batches)
    assert not [t for t in threading.enumerate() if t.name in ("mbtop-engine", "mbtop-logs")]


def test_live_source_of_a_replay_is_not_live() -> None:
    source = LiveSource(Engine(CATALOG, Replay(list(SAMPLES)), follow_logs=False))
    assert not source.live
