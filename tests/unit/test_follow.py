"""The follower on real files in a temporary directory: every rotation style, bad bytes, long lines."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mbtop.logs.follow import CUT_MARKER, MAX_LINE, Follower, Line


def texts(lines: list[Line]) -> list[str]:
    return [x.text for x in lines]


def append(path: Path, data: str | bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


def test_backfill_then_follow(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, "".join(f"old {i}\n" for i in range(10)))
    f = Follower(str(log), backfill=3)
    first = f.poll()
    assert texts(first) == ["old 7", "old 8", "old 9"] and [x.line_no for x in first] == [1, 2, 3]
    append(log, "new 1\n")
    assert texts(f.poll()) == ["new 1"]
    assert f.poll() == []


def test_partial_line_is_held_until_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    f = Follower(str(log))
    f.poll()
    append(log, "half a li")
    assert f.poll() == []
    append(log, "ne\r\nnext\n")
    assert texts(f.poll()) == ["half a line", "next"]


def test_invalid_utf8_and_overlong_lines(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    f = Follower(str(log))
    f.poll()
    append(log, b"bad \xff\xfe bytes\n" + b"x" * (1024 * 1024) + b"\nafter\n")
    got = f.poll()
    assert got[0].text == "bad \ufffd\ufffd bytes"
    assert got[1].truncated and got[1].text == "x" * MAX_LINE + CUT_MARKER
    assert got[2].text == "after" and len(got) == 3


def test_overlong_line_arriving_in_pieces(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    f = Follower(str(log))
    f.poll()
    for _ in range(5):
        append(log, b"y" * 40000)
        f.poll()
    append(log, b"\nok\n")
    got = f.poll()
    assert texts(got) == ["ok"]  # the cut line was returned while it grew, exactly once
    assert f._count == 2


def test_rename_rotation_with_a_late_writer(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, "a\n")
    f = Follower(str(log), from_start=True)
    assert texts(f.poll()) == ["a"]
    old = open(log, "ab")  # a daemon that has not reopened yet  # noqa: SIM115
    os.rename(log, tmp_path / "mail.log.1")
    append(log, "c\n")  # the new file (logrotate create)
    old.write(b"b\n")
    old.flush()
    got = texts(f.poll())
    old.write(b"b2\n")  # still late, after we switched
    old.close()
    got += texts(f.poll())
    assert sorted(got) == ["b", "b2", "c"] and got.index("b") < got.index("b2")
    assert f.rotations == 1


def test_copytruncate_loses_nothing_even_between_copy_and_truncate(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, "one\ntwo\n")
    f = Follower(str(log), from_start=True)
    assert texts(f.poll()) == ["one", "two"]
    append(log, "three\n")  # written after our last read...
    shutil.copy(log, tmp_path / "mail.log.1")  # ...copied...
    with open(log, "r+b") as fh:
        fh.truncate(0)  # ...and truncated before we looked again
    append(log, "four\n")
    assert texts(f.poll()) == ["three", "four"]


def test_truncate_and_refill_beyond_old_size(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, "short\n")
    f = Follower(str(log), from_start=True)
    f.poll()
    with open(log, "r+b") as fh:
        fh.truncate(0)
    append(log, "a much longer first line than before\nsecond\n")
    assert texts(f.poll()) == ["a much longer first line than before", "second"]


def test_delete_and_recreate_and_late_appearance(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    f = Follower(str(log))
    assert f.poll() == [] and "waiting" in f.status
    append(log, "born\n")
    assert texts(f.poll()) == ["born"]  # a file that appears later is read from its start
    log.unlink()
    assert f.poll() == [] and "removed" in f.status
    append(log, "reborn\n")
    assert texts(f.poll()) == ["reborn"]


def test_read_all_streams_the_whole_file(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, "".join(f"{i}\n" for i in range(50000)) + "tail without newline")
    got = [x for batch in Follower(str(log)).read_all() for x in batch]
    assert len(got) == 50001 and got[-1].text == "tail without newline" and got[12345].text == "12345"
    assert [x.line_no for x in got[:3]] == [1, 2, 3]


def test_backfill_is_marked_as_history(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, "".join(f"old {i}\n" for i in range(5)))
    f = Follower(str(log), backfill=3)
    assert [x.line_no for x in f.poll()] == [1, 2, 3] and f.history_lines == 3
    append(log, "new\n")
    assert f.poll()[0].line_no == 4 and f.history_lines == 3
    late = Follower(str(tmp_path / "later.log"), backfill=3)
    late.poll()
    (tmp_path / "later.log").write_text("first\n")
    assert [x.text for x in late.poll()] == ["first"] and late.history_lines == 0  # a new file is all news


def test_inotify_wakes_only_for_the_followed_file(tmp_path: Path) -> None:
    # Real inotify on a temporary directory: /var/log's other files (syslog, auth.log) are busy and
    # must not wake the mail log's follower; its own writes, renames and creations must.
    from mbtop.logs.follow import Inotify

    log = tmp_path / "mail.log"
    log.write_text("")
    watch = Inotify(str(tmp_path))
    assert watch.fd is not None
    try:
        append(tmp_path / "syslog", "other\n")
        assert watch.drain(b"mail.log") is False
        append(tmp_path / "syslog", "other\n")
        append(log, "mine\n")
        assert watch.drain(b"mail.log") is True
        assert watch.drain(b"mail.log") is False  # drained: nothing left
        os.rename(log, tmp_path / "mail.log.1")  # rotation: the name moves away...
        assert watch.drain(b"mail.log") is True
        log.write_text("")  # ...and comes back
        assert watch.drain(b"mail.log") is True
        append(tmp_path / "syslog", "other\n")
        assert watch.drain() is True  # no name: any event counts
    finally:
        watch.close()


def test_a_busy_log_does_not_spin_the_loop(tmp_path: Path) -> None:
    # A writer appends a line every millisecond (a flood writes thousands a second). While a batch
    # coalesces, inotify's descriptor stays readable; a reader left registered made the event loop
    # spin on it (thousands of wake-ups a second, a tenth of a core and the GIL taken from the
    # screen). The loop must wake about once per batch, and every line must still arrive.
    import asyncio
    import selectors
    import threading
    import time

    from mbtop.logs.follow import follow

    log = tmp_path / "mail.log"
    log.write_text("")
    selects = 0

    class Counting(selectors.EpollSelector):
        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            nonlocal selects
            selects += 1
            return super().select(timeout)

    def writer() -> None:
        with open(log, "a", buffering=1) as fh:
            for i in range(1000):
                fh.write(f"line {i}\n")
                time.sleep(0.001)

    async def run() -> list[str]:
        got: list[str] = []
        thread = threading.Thread(target=writer)
        gen = follow(Follower(str(log), backfill=0))
        started = False
        async for batch in gen:
            if not started:
                thread.start()
                started = True
            got += [x.text for x in batch]
            if len(got) >= 1000:
                break
        await gen.aclose()
        thread.join()
        return got

    loop = asyncio.SelectorEventLoop(Counting())
    try:
        got = loop.run_until_complete(asyncio.wait_for(run(), timeout=30))
    finally:
        loop.close()
    assert got == [f"line {i}" for i in range(1000)]
    # About 1.2 s of writing in batches of 0.1 s: tens of wake-ups. The spin made thousands.
    assert selects < 200, selects
