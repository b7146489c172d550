"""The frame codec and the recorder on real recorded samples (tests/fixtures/stack-trouble.json).

Frames are built from those samples with the real ``build``, rate and flood trackers; the store
is a real SQLite file. The only fake is ``_FullStore`` (a store whose disk is full), and it says so.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbtop.catalog import load_reference
from mbtop.engine import codec
from mbtop.engine.frame import Frame, LogLines
from mbtop.engine.recorder import RecordedFrames, Recorder
from mbtop.engine.store import Store
from mbtop.logs.nginx import parse as parse_web
from mbtop.logs.postfix import PostfixParser
from mbtop.model.build import build
from mbtop.model.flood import FloodTracker
from mbtop.model.history import RateTracker, conn_id
from mbtop.probes.record import load
from mbtop.probes.types import InetSocket

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stack-trouble.json"
MAIL = "Nov 27 03:10:05 mx postfix/smtpd[123]: connect from unknown[198.51.100.7]"
WEB = '203.0.113.9 - - [27/Nov/2026:03:10:05 +0000] "GET /admin HTTP/1.1" 200 512 "-" "curl/8"'


def frames() -> list[Frame]:
    cat = load_reference()
    rates = RateTracker(p.port for p in cat.ports)
    flood = FloodTracker([25, 587])
    out = []
    for i, s in enumerate(load(FIXTURE)):
        logs = LogLines(mail=(PostfixParser(2026).parse(MAIL, i + 1),), web=(parse_web(WEB, i + 1),))
        state = flood.update(s.tcp.sockets, s.monotonic)
        out.append(Frame(i + 1, s, build(cat, s), rates.update(s), flood=state, logs=logs))
    return out


def test_round_trip_through_json_text_is_exact() -> None:
    for f in frames():
        text = json.dumps(codec.to_json(f), allow_nan=False)
        back = codec.from_json(json.loads(text))
        assert back == f
        # the NamedTuples come back as themselves, not as plain lists or tuples
        assert all(type(s) is InetSocket for s in back.sample.tcp.sockets)
        assert isinstance(back.sample.aliases[next(iter(back.sample.aliases))], frozenset)


def test_a_newer_or_foreign_format_is_refused_with_a_message() -> None:
    doc = codec.to_json(frames()[0])
    with pytest.raises(codec.CodecError, match="newer"):
        codec.from_json({**doc, "format": 99})
    with pytest.raises(codec.CodecError, match="not a frame"):
        codec.from_json({"seq": 1})
    with pytest.raises(codec.CodecError, match="does not fit"):
        codec.from_json({**doc, "seq": "one"})


def test_compact_keeps_listeners_and_at_most_n_connections_per_port() -> None:
    f = frames()[-1]
    s = f.sample
    flood = tuple(
        InetSocket(2, "ESTABLISHED", "127.0.0.1", 25, f"10.0.{i // 250}.{i % 250}", 40000 + i, 0, 0, 0, 0)
        for i in range(1000)
    ) + tuple(  # the client ends of those connections (local, on ephemeral ports): no tab lists them
        InetSocket(2, "ESTABLISHED", f"10.0.{i // 250}.{i % 250}", 40000 + i, "127.0.0.1", 25, 0, 0, 0, 0)
        for i in range(1000)
    )
    big = dataclasses.replace(
        f, sample=dataclasses.replace(s, tcp=dataclasses.replace(s.tcp, sockets=s.tcp.sockets + flood))
    )
    big = dataclasses.replace(big, rates=RateTracker([25]).update(big.sample))
    small = codec.compact(big, per_port=50)
    on25 = [x for x in small.sample.tcp.sockets if x.local_port == 25 and x.state != "LISTEN"]
    assert len(on25) == 50
    assert not [x for x in small.sample.tcp.sockets if x.local_port >= 40000]
    listeners = [x for x in big.sample.tcp.sockets if x.state == "LISTEN"]
    assert [x for x in small.sample.tcp.sockets if x.state == "LISTEN"] == listeners
    assert len(small.rates.first_seen) <= len(small.sample.tcp.sockets)
    assert small.snapshot == big.snapshot and small.logs == big.logs and small.flood == big.flood
    assert codec.compact(f) is f  # nothing to cut: the same frame


def test_recorder_writes_every_frame_and_reads_them_back_by_time(tmp_path: Path) -> None:
    fs = frames()
    rec = Recorder(Store(tmp_path / "r" / "m.db"))
    for f in fs:
        rec(f)
    rec.close()
    assert rec.status.written == len(fs) and rec.status.dropped == 0
    got = RecordedFrames(tmp_path / "r" / "m.db")
    for f in fs:
        assert got.at(f.time) == codec.compact(f)
        assert got.at(f.time + 0.01) == codec.compact(f)
    assert got.at(fs[0].time - 1) is None
    mail, web = got.events(fs[1].time, fs[2].time)
    assert [e.line_no for e in mail] == [2, 3] and [e.line_no for e in web] == [2, 3]


class _SlowStore:
    """A fake store (the disk is slow): append blocks until released."""

    path = Path("/nonexistent")

    def __init__(self) -> None:
        self.go = threading.Event()
        self.n = 0

    def append(self, ts: float, frame: object) -> int:
        self.go.wait(10)
        self.n += 1
        return self.n

    def close(self) -> None:
        pass


class _FullStore(_SlowStore):
    """A fake store whose filesystem is full."""

    def append(self, ts: float, frame: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_slow_disk_never_blocks_the_engine_and_drops_are_counted() -> None:
    store = _SlowStore()
    rec = Recorder(store, maxsize=4)  # type: ignore[arg-type]
    f = frames()[0]
    for _ in range(20):
        rec(f)  # returns at once although the store is stuck
    assert rec.status.dropped >= 20 - 4 - 1
    store.go.set()
    rec.close()
    assert rec.status.written + rec.status.dropped == 20


def test_a_full_disk_is_said_once_and_retried() -> None:
    said = []
    rec = Recorder(_FullStore(), retry=3600, on_state=said.append)  # type: ignore[arg-type]
    for f in frames():
        rec(f)
    rec.close()
    assert [s.state for s in said] == ["disk full"]
    assert "full" in (said[0].problem or "") and rec.status.dropped == len(frames())


def test_first_seen_times_survive_a_reader_with_another_hash_seed(tmp_path: Path) -> None:
    """conn_id is a hash salted per process: a recording read by another process must still give
    each connection its own first-seen time."""
    f = frames()[-1]
    want = {
        f"{s.local_address}:{s.local_port}-{s.remote_address}:{s.remote_port}": f.rates.first_seen[conn_id(s)]
        for s in f.sample.tcp.sockets
        if conn_id(s) in f.rates.first_seen
    }
    assert want
    doc = tmp_path / "frame.json"
    doc.write_text(json.dumps(codec.to_json(f)))
    script = (
        "import json, sys\n"
        "from mbtop.engine import codec\n"
        "from mbtop.model.history import conn_id\n"
        "f = codec.from_json(json.load(open(sys.argv[1])))\n"
        "print(json.dumps({f'{s.local_address}:{s.local_port}-{s.remote_address}:{s.remote_port}':"
        " f.rates.first_seen[conn_id(s)] for s in f.sample.tcp.sockets if conn_id(s) in f.rates.first_seen}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(doc)],
        capture_output=True, text=True, check=True, timeout=60, env={**os.environ, "PYTHONHASHSEED": "12345"},
    )  # fmt: skip
    assert json.loads(out.stdout) == want


def _flood_events(n: int) -> tuple:
    """Postfix's lines of a connect-and-drop flood from 2,000 sources, as the parser gives them."""
    parser = PostfixParser(2026)
    out = []
    for i in range(n):
        ip = f"10.{i % 7}.{(i * 13) % 256}.{(i * 29) % 256}"
        pid = 4000 + (i * 37) % 300
        text = ("connect from unknown[{ip}]", "lost connection after CONNECT from unknown[{ip}]",
                "disconnect from unknown[{ip}] commands=0/0")[i % 3].format(ip=ip)  # fmt: skip
        out.append(parser.parse(f"Nov 27 03:10:{i % 60:02d} mx postfix/smtpd[{pid}]: {text}", i + 1))
    return tuple(out)


def test_a_floods_events_round_trip_by_column_and_stay_small(tmp_path: Path) -> None:
    """3,000 events a second is what a 1,000 connections/s flood writes: they are stored as columns
    (bz2 for a frame that big) and come back exactly; the issue's budget is 60 MB an hour."""
    f = dataclasses.replace(frames()[0], logs=LogLines(mail=_flood_events(3000)))
    data = codec.to_json(f)
    assert set(data["logs"]["mail"]) == {"n", "columns", "line_no_runs"} and data["logs"]["mail"]["n"] == 3000
    assert data["logs"]["mail"]["line_no_runs"] == [[1, 3000]]
    assert codec.from_json(json.loads(json.dumps(data))) == f
    store = Store(tmp_path / "rec" / "mbtop.db")
    store.append(1.0, {"logs": data["logs"]})
    store.append(
        2.0, {"logs": codec.to_json(dataclasses.replace(f, logs=LogLines(mail=_flood_events(3001)[1:])))["logs"]}
    )
    store.close()
    rec = RecordedFrames(tmp_path / "rec" / "mbtop.db")
    mail, _web = rec.events(0.0, 3.0)
    assert len(mail) == 6000 and mail[:3000] == list(f.logs.mail)
    sizes = [n for (n,) in rec.recording.db.execute("SELECT LENGTH(data) FROM frames")]
    # the same events as lists of dicts through zlib, as recorded before
    rows = codec._rows(data["logs"]["mail"])
    before = len(zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 6))
    assert max(sizes) < 0.45 * before, (sizes, before)  # columns alone: 0.57; with bz2: 0.37


def test_events_recorded_as_lists_of_dicts_are_still_read() -> None:
    f = frames()[0]
    data = codec.to_json(f)
    data["logs"]["mail"] = codec._rows(data["logs"]["mail"])  # the form of recordings made before
    data["logs"]["web"] = codec._rows(data["logs"]["web"])
    assert isinstance(data["logs"]["mail"], list)
    assert codec.from_json(data) == f
    assert codec.logs_from_json(data) == f.logs


def test_columns_of_the_wrong_length_are_refused() -> None:
    data = codec.to_json(frames()[0])
    data["logs"]["mail"]["columns"]["pid"].append(1)
    with pytest.raises(codec.CodecError, match="wrong length"):
        codec.from_json(data)


PIECES = ["a", "[", "]", "1.2.3.4", "unknown", "\x00", "c", "\x00c"]
EVENT = st.fixed_dictionaries(
    {
        "line_no": st.one_of(st.integers(-5, 40), st.none()),
        "client_ip": st.one_of(st.none(), st.sampled_from(["1.2.3.4", "::1", ""]), st.text(max_size=4)),
        "client_hostname": st.one_of(st.none(), st.sampled_from(["unknown", "a[b]"]), st.text(max_size=4)),
        "message": st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT, max_size=12))
def test_columns_give_back_exactly_the_events(events: list[dict[str, object]]) -> None:
    """Whatever the messages hold (the placeholder itself, the client twice, no client) and however
    the line numbers run, the columns decode to the very same events."""
    for e in events:
        if e["client_ip"] and e["client_hostname"] and e["message"] and len(events) % 2:
            client = f"{e['client_hostname']}[{e['client_ip']}]"
            token = "\x00c" if isinstance(e["line_no"], int) and e["line_no"] % 2 else ""
            e["message"] = f"x {client} y {client}{token}"
    packed = json.loads(json.dumps(codec._columns([dict(e) for e in events])))
    assert codec._rows(packed) == events
