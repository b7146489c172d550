"""The flight recorder's store on real SQLite files: deltas, time lookups, the size and age caps,
a writer killed with SIGKILL mid-write, and files that are not recordings."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbtop.engine.store import FORMAT, Recording, RecordingError, Store, apply, diff, parse_duration, parse_size

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=4), JSON, max_size=5), st.dictionaries(st.text(max_size=4), JSON, max_size=5))
def test_patch_turns_one_frame_into_the_other(old: dict[str, object], new: dict[str, object]) -> None:
    patch = diff(old, new)
    assert (patch is None) == (old == new and all(type(old[k]) is type(new[k]) for k in old))
    assert apply(old, patch or {}) == new


def frame(i: int, ports: int = 12) -> dict[str, object]:
    return {
        "taken_at": f"2026-11-28T03:{i // 60 % 60:02d}:{i % 60:02d}",
        "ports": {
            str(p): {"listening": True, "connections": (i + p) % 7 if p < 3 else 0, "pid": 800 + p}
            for p in range(ports)
        },
        "events": [f"line {i}"] if i % 3 == 0 else [],
        "gone": i if i % 5 else None,
    }


def test_frames_come_back_by_time_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "rec" / "mbtop.db"
    store = Store(path, key_every=7)
    for i in range(50):
        store.append(1000.0 + i, frame(i))
    store.close()
    rec = Recording(path)
    assert rec.count() == 50
    assert rec.span() == (1000.0, 1049.0)
    assert rec.at(1020.5) == (1020.0, frame(20))  # the last frame at or before
    assert rec.at(999.0) is None
    assert [f for _, f in rec.between(1010, 1030)] == [frame(i) for i in range(10, 31)]
    for i in random.Random(1).sample(range(50), 20):  # random access through key frames and patches
        assert rec.at(1000.0 + i) == (1000.0 + i, frame(i))
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_deltas_are_small(tmp_path: Path) -> None:
    path = tmp_path / "d" / "mbtop.db"
    store = Store(path, key_every=60)
    for i in range(600):
        store.append(float(i), frame(i, ports=40))
    store.close()
    db = sqlite3.connect(path)
    key, delta = db.execute(
        "SELECT AVG(CASE WHEN base = seq THEN length(data) END), AVG(CASE WHEN base != seq THEN length(data) END)"
        " FROM frames"
    ).fetchone()
    whole = len(json.dumps(frame(300, ports=40)))
    assert key < whole / 4, (key, whole)  # compressed
    assert delta < whole / 15, (delta, whole)  # and a frame that changes little costs little


def test_size_cap_drops_the_oldest_and_holds_within_five_percent(tmp_path: Path) -> None:
    path = tmp_path / "cap" / "mbtop.db"
    cap = parse_size("2M")
    store = Store(path, max_size=cap, key_every=20)
    rnd = random.Random(7)
    biggest = 0
    for i in range(4000):  # incompressible payloads: ~6 MB written in all
        store.append(float(i), {"i": i, "noise": rnd.randbytes(1200).hex()})
        biggest = max(biggest, store.size())
    store.close()
    assert biggest <= cap * 1.05, (biggest, cap)
    rec = Recording(path)
    first, last = rec.span() or (0, 0)
    assert last == 3999.0
    assert first > 0  # the oldest went first
    assert rec.at(last) is not None and rec.at(first) is not None


def test_keep_drops_frames_older_than_the_window(tmp_path: Path) -> None:
    path = tmp_path / "keep" / "mbtop.db"
    store = Store(path, keep=parse_duration("10m"), key_every=10)
    for i in range(0, 3600, 5):
        store.append(float(i), frame(i))
    store.close()
    first, last = Recording(path).span() or (0, 0)
    assert last == 3595.0
    assert 3595 - 600 - 10 * 5 <= first <= 3595 - 600  # whole key-frame groups only


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mbtop.engine.store import Store
    store = Store(Path(sys.argv[1]), key_every=15)
    i = 0
    while True:
        store.append(time.time(), {"i": i, "ports": {str(p): i % (p + 2) for p in range(30)}})
        i += 1
        if i == 5:
            print("writing", flush=True)
    """
)


def test_a_writer_killed_mid_write_leaves_a_recording_that_opens(tmp_path: Path) -> None:
    """SIGKILL at an arbitrary moment of a tight write loop: the file opens and holds every frame
    but the last instants' (the agent writes once a second; here thousands a second)."""
    path = tmp_path / "kill" / "mbtop.db"
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
        time.sleep(0.3 + attempt * 0.17)
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        rec = Recording(path)
        _, last = rec.span() or (0.0, 0.0)
        assert last >= killed_at - 2.0
        _ts, f = rec.at(last) or (0.0, {})
        assert f["ports"]["7"] == f["i"] % 9  # rebuilt whole from its key frame and patches
        rec.close()


KILLED_BETWEEN = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from mbtop.engine.store import Store
    store = Store(Path(sys.argv[1]), key_every=3)
    for i in range(3):
        store.append(float(i), {"i": i})
    def trace(sql):
        if sql.startswith("UPDATE frames SET base"):  # the key frame's second statement
            os.kill(os.getpid(), signal.SIGKILL)
    store.db.set_trace_callback(trace)
    store.append(3.0, {"i": 3})  # frame 0 was a key frame; with key_every=3 so is this one
    """
)


def test_a_key_frame_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """SIGKILL exactly between a key frame's row and its base: nothing of it may stay."""
    path = tmp_path / "between" / "mbtop.db"
    proc = subprocess.run([sys.executable, "-c", KILLED_BETWEEN, str(path)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    db = sqlite3.connect(path)
    rows = db.execute("SELECT ts, base FROM frames ORDER BY seq").fetchall()
    db.close()
    assert [ts for ts, _ in rows] == [0.0, 1.0, 2.0]
    assert all(base > 0 for _, base in rows)


def test_a_key_frame_left_without_its_base_still_opens(tmp_path: Path) -> None:
    """Writers before the fix committed a key frame's row and its base in two steps; one killed in
    between left ``base = -1``. Such a frame is read as the key frame it is."""
    path = tmp_path / "old" / "mbtop.db"
    store = Store(path, key_every=3)
    for i in range(4):
        store.append(float(i), frame(i))
    store.close()
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO frames (ts, base, data) SELECT 9.0, -1, data FROM frames WHERE seq = base LIMIT 1")
    db.close()
    rec = Recording(path)
    ts, got = rec.at(9.0) or (0.0, {})
    assert ts == 9.0 and got == frame(0)
    assert rec.at(3.0) == (3.0, frame(3))


def test_files_that_are_not_recordings_are_refused_with_a_reason(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    with pytest.raises(RecordingError, match="not an mbtop recording"):
        Recording(text)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(RecordingError, match="empty or truncated"):
        Recording(empty)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(RecordingError, match="not an mbtop recording"):
        Recording(other)

    good = tmp_path / "good" / "mbtop.db"
    store = Store(good)
    for i in range(300):
        store.append(float(i), {"i": i, "blob": random.Random(i).randbytes(2000).hex()})
    store.close()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(RecordingError, match="truncated or damaged"):
        rec = Recording(truncated)
        list(rec.between(0, 300))
    garbled = tmp_path / "garbled.db"
    data = bytearray(good.read_bytes())
    for off in range(8192, len(data), 4096):
        data[off : off + 64] = bytes(64)
    garbled.write_bytes(bytes(data))
    with pytest.raises(RecordingError):
        rec = Recording(garbled)
        list(rec.between(0, 300))

    newer = tmp_path / "newer" / "mbtop.db"
    Store(newer).close()
    db = sqlite3.connect(newer)
    db.execute("UPDATE meta SET value = ? WHERE key = 'format'", (str(FORMAT + 1),))
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match="newer mbtop"):
        Recording(newer)


def test_never_writes_through_a_symlink_or_into_someone_elses_directory(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    d = tmp_path / "rec"
    d.mkdir(mode=0o700)
    (d / "mbtop.db").symlink_to(victim)
    with pytest.raises(RecordingError, match="symlink"):
        Store(d / "mbtop.db")
    assert victim.read_text() == "keep me"
    linked_dir = tmp_path / "linkdir"
    linked_dir.symlink_to(d)
    with pytest.raises(RecordingError, match="not a directory"):
        Store(linked_dir / "x.db")
    if os.geteuid() == 0:
        foreign = tmp_path / "foreign"
        foreign.mkdir()
        os.chown(foreign, 65534, 65534)
        with pytest.raises(RecordingError, match="not by this user"):
            Store(foreign / "mbtop.db")


def test_sizes_and_durations_parse_the_way_people_write_them() -> None:
    assert parse_size("2M") == 2 << 20
    assert parse_size("256MB") == 256 << 20
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("500k") == 500 << 10
    assert parse_duration("10m") == 600
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("90") == 90
    for bad in ("", "abc", "-1M", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_a_damaged_big_frame_is_refused_with_a_reason(tmp_path: Path) -> None:
    """Big frames are bz2 (a flood's log events): a cut or garbled one is a clear RecordingError."""
    path = tmp_path / "bz" / "mbtop.db"
    store = Store(path)
    big = {"logs": [f"event {i} from 10.0.{i % 256}.{i % 253}" for i in range(3000)]}
    store.append(1.0, big)
    store.close()
    db = sqlite3.connect(path)
    (data,) = db.execute("SELECT data FROM frames").fetchone()
    assert data[:3] == b"BZh"
    for bad in (data[: len(data) // 2], data[:10] + bytes(len(data) - 10)):
        with db:
            db.execute("UPDATE frames SET data = ?", (bad,))
        rec = Recording(path)
        with pytest.raises(RecordingError, match="truncated or damaged"):
            rec.at(1.0)
        rec.close()
    db.close()
