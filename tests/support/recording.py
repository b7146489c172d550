"""Recordings for tests, made the way the agent makes them: frames from the real engine (on the
samples recorded from the lab stack, tests/fixtures/stack-trouble.json), compacted, encoded and
written by the real ``Store``. Only the samples' times are set, one frame a second from ``start``,
and each frame carries one mail log line of its own (``client 10.0.<i // 256>.<i % 256>``) so a
test can tell which frame's events are shown."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mbtop.catalog import load_reference
from mbtop.engine import codec
from mbtop.engine.engine import Engine
from mbtop.engine.frame import Frame, LogLines
from mbtop.engine.store import Store
from mbtop.logs.postfix import PostfixParser
from mbtop.probes.record import Replay, load

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stack-trouble.json"
START = 1_795_824_600.0  # 2026-11-28 00:10:00 UTC


def client(i: int) -> str:
    return f"10.0.{i // 256}.{i % 256}"


def frames(count: int, start: float = START, step: float = 1.0) -> list[Frame]:
    """``count`` frames through a real engine (no thread: one ``_sample`` and ``_publish`` each)."""
    base = load(FIXTURE)
    samples = [
        dataclasses.replace(base[i % len(base)], taken_at=start + i * step, monotonic=1000.0 + i * step)
        for i in range(count)
    ]
    engine = Engine(load_reference(), Replay(samples), interval=3600.0)
    out: list[Frame] = []
    engine.subscribe(out.append)
    parser = PostfixParser(2026)
    for i in range(count):
        frame = engine._sample()
        line = f"Nov 28 00:10:00 mx postfix/smtpd[{100 + i}]: connect from unknown[{client(i)}]"
        frame = dataclasses.replace(frame, logs=LogLines(mail=(parser.parse(line, i + 1),)))
        engine._publish(frame)
    return out


def write(path: Path, frames_: list[Frame], key_every: int = 5) -> Path:
    store = Store(path, key_every=key_every)
    for f in frames_:
        store.append(f.time, codec.to_json(codec.compact(f)))
    store.close()
    return path
