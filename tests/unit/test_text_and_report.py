"""Outside text never reaches the terminal as control sequences."""

from __future__ import annotations

import dataclasses

from mbtop.catalog import apply_overrides, load_reference
from mbtop.cli.report import check_text, snapshot_table
from mbtop.model.build import build
from mbtop.text import clean, clip
from tests.unit.fakes import listen, proc, sample

HOSTILE = "evil\x1b]0;pwned\x07[bold red]x[/]\x1b[2J\x9b31m\r\nnext\x00\x7f\tend"


def test_clean_strips_escapes_and_controls_but_keeps_text() -> None:
    out = clean(HOSTILE)
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert all(c >= " " for c in out)
    assert out == "evil[bold red]x[/]next end"
    assert clean("plain text") == "plain text"
    assert clean("a\tb") == "a b"


def test_clean_handles_unterminated_sequences() -> None:
    assert clean("ok\x1b]0;never ends") == "ok"
    assert clean("ok\x1b[") == "ok"


def test_clip() -> None:
    assert clip("abcdef", 4) == "abc…" and clip("abc", 4) == "abc" and clip("abc", 0) == ""


def test_hostile_process_name_is_printed_inert() -> None:
    cat = load_reference()
    s = sample(tcp=[listen("127.0.0.1", 6379, 5)], owners={5: (dataclasses.replace(proc(9, HOSTILE)),)})
    snap = build(cat, s)
    for text in (snapshot_table(snap), check_text(snap)[0]):
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "[bold red]x[/]" in snapshot_table(snap)


def test_check_exit_codes() -> None:
    cat = load_reference()
    assert check_text(build(cat, sample()))[1] == 2  # nothing listens: critical
    no_sockets = apply_overrides(cat, {"sockets": {s.id: {"disabled": True} for s in cat.sockets}})
    text, code = check_text(build(no_sockets, sample(tcp_error="cannot read TCP sockets")))
    assert code == 3 and text.startswith("MBTOP UNKNOWN") and "cannot read TCP sockets" in text
