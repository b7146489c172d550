"""`mbtop replay PATH` on a recording that cannot be read: a message and an exit code, never a
traceback (the real CLI in a subprocess, on files made by the real Store and then damaged)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import recording

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mbtop", "replay", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recording.write(tmp_path_factory.mktemp("rec") / "r" / "mbtop.db", recording.frames(12))


def damaged(tmp: Path, good: Path, how: str) -> Path:
    bad = tmp / "bad.db"
    data = good.read_bytes()
    if how == "truncated":
        bad.write_bytes(data[: len(data) // 3])
    elif how == "garbage":
        bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    elif how == "empty":
        bad.write_bytes(b"")
    elif how == "newer":
        bad.write_bytes(data)
        db = sqlite3.connect(bad)
        db.execute("UPDATE meta SET value = '99' WHERE key = 'format'")
        db.commit()
        db.close()
    elif how == "json":
        bad.write_text('{"samples": []}')
    return bad


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("truncated", "truncated or damaged"),
        ("garbage", "not a readable mbtop recording"),
        ("empty", "empty or truncated"),
        ("newer", "by a newer mbtop"),
        ("json", "not an mbtop recording"),
    ],
)
def test_a_damaged_recording_is_refused_with_a_message(tmp_path: Path, good: Path, how: str, says: str) -> None:
    out = run(str(damaged(tmp_path, good, how)))
    assert out.returncode == 2, out
    assert says in out.stderr and out.stderr.startswith("mbtop: "), out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_missing_file_and_times_outside_or_unreadable(tmp_path: Path, good: Path) -> None:
    out = run(str(tmp_path / "nothing.db"))
    assert (out.returncode, "No such file" in out.stderr, "Traceback" in out.stderr) == (2, True, False), out
    out = run(str(good), "--at", "2020-01-01 00:00")
    assert out.returncode == 3 and "is outside the recording (it holds" in out.stderr, out
    out = run(str(good), "--at", "teatime")
    assert out.returncode == 2 and "not a time: 'teatime'" in out.stderr, out


@pytest.mark.parametrize("how", ["truncated", "newer", "json", "missing", "bad-json"])
def test_the_old_replay_flag_refuses_what_it_cannot_read_with_a_message(tmp_path: Path, good: Path, how: str) -> None:
    if how == "missing":
        bad = tmp_path / "nothing"
    elif how == "bad-json":
        bad = tmp_path / "bad.json"
        bad.write_text('{"samples": [{"x": 1}]}')
    else:
        bad = damaged(tmp_path, good, how)
    out = subprocess.run(
        [sys.executable, "-m", "mbtop", "--replay", str(bad)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and out.stderr.startswith(f"mbtop: {bad}"), out
    assert "Traceback" not in out.stderr + out.stdout
