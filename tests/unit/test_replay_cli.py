"""``snapshot --replay --at`` and ``logs --replay`` on a real recording built from recorded samples,
and ``[agent]`` in the config. The recording is a real SQLite store; nothing is faked."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from mbtop.cli import main
from mbtop.cli.replay import parse_time
from mbtop.config import ConfigError, from_data
from mbtop.engine.recorder import Recorder
from mbtop.engine.store import Store
from mbtop.model.serialize import flood as flood_json
from mbtop.model.serialize import snapshot as snapshot_json
from tests.unit.test_codec_recorder import frames


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "rec" / "mbtop.db"
    rec = Recorder(Store(path))
    for f in frames():
        rec(f)
    rec.close()
    return path


def _at(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def test_snapshot_replay_prints_the_live_schema_of_the_frame_at_or_before(
    recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fs = frames()
    target = fs[2]
    assert main(["snapshot", "--replay", str(recording), "--at", _at(target.time + 0.5), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    want = snapshot_json(target.snapshot)
    assert target.flood is not None
    want["flood"] = flood_json(target.flood)
    want["flood"]["fail2ban"] = None
    assert doc == json.loads(json.dumps(want))


def test_a_time_outside_the_recording_exits_3(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = frames()[0].time
    assert main(["snapshot", "--replay", str(recording), "--at", _at(first - 60)]) == 3
    assert "outside the recording" in capsys.readouterr().err
    assert main(["snapshot", "--replay", str(recording), "--at", "-1s"]) == 3  # the fixture is from the past


@pytest.mark.parametrize("damage", ["truncate", "newer", "garbage"])
def test_a_damaged_or_newer_recording_exits_2_with_a_message(
    recording: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if damage == "truncate":
        data = recording.read_bytes()
        recording.write_bytes(data[: len(data) // 3])
    elif damage == "newer":
        with sqlite3.connect(recording) as db:
            db.execute("UPDATE meta SET value = '9' WHERE key = 'format'")
    else:
        recording.write_bytes(b"not sqlite at all" * 20)
    code = main(["snapshot", "--replay", str(recording), "--at", _at(frames()[0].time), "--json"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("mbtop: ") and "Traceback" not in err
    if damage == "newer":
        assert "newer" in err


def test_logs_replay_prints_the_window_events_in_the_logs_json_format(
    recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fs = frames()
    code = main(
        ["logs", "--replay", str(recording), "--from", _at(fs[1].time), "--to", _at(fs[2].time + 0.9), "--json"]
    )
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["line_no"] for x in lines] == [2, 3, 2, 3]  # mail, then web
    assert lines[0] == fs[1].logs.mail[0].to_json()


def test_parse_time_forms() -> None:
    now = dt.datetime(2026, 11, 28, 4, 0, 0).timestamp()
    assert parse_time("-15m", now) == now - 900
    assert parse_time("03:10", now) == dt.datetime(2026, 11, 28, 3, 10).timestamp()
    assert parse_time("05:10", now) == dt.datetime(2026, 11, 27, 5, 10).timestamp()  # still to come: yesterday
    assert parse_time("2026-11-27 03:10:05", now) == dt.datetime(2026, 11, 27, 3, 10, 5).timestamp()
    with pytest.raises(ValueError, match="not a time"):
        parse_time("soon", now)


def test_agent_table_is_validated() -> None:
    cfg = from_data({"agent": {"record": "/srv/x.db", "max_size": "2M", "keep": "10m", "interval": 5}}, "t")
    assert (cfg.agent.record, cfg.agent.max_size, cfg.agent.keep, cfg.agent.interval) == (
        Path("/srv/x.db"),
        2 << 20,
        600.0,
        5.0,
    )
    assert from_data({"agent": {"record": False}}, "t").agent.record is None
    for bad in ({"record": "rel.db"}, {"max_size": "lots"}, {"keep": -1}, {"interval": 0}, {"colour": 1}):
        with pytest.raises(ConfigError, match=r"\[agent\]"):
            from_data({"agent": bad}, "t")
