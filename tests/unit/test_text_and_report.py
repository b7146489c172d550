"""Outside text never reaches the terminal as control sequences."""

from __future__ import annotations

import dataclasses
import sys
import unicodedata

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


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


def test_clean_removes_bidi_overrides_and_zero_width_characters() -> None:
    # "admin" shown for "nimda" (U+202E), and a name that looks like another with invisible joins
    assert clean("\u202enimda\u202c") == "nimda"
    assert clean(f"post{ZERO_WIDTH}fix") == "postfix"
    assert clean(f"a{BIDI}b") == "ab"
    assert clean("Grüße, 日本, émoji 🙂") == "Grüße, 日本, émoji 🙂"  # visible text stays


def test_clean_removes_every_unicode_format_character() -> None:
    fmt = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    left = [f"U+{ord(c):04X}" for c in fmt if clean(f"a{c}b") != "ab"]
    assert not left, left


def test_bidi_in_a_process_name_is_neutralised_in_text_and_literal_in_json() -> None:
    import json

    from mbtop.model.serialize import snapshot as to_json

    name = "redis\u202e-server\u200b"
    s = sample(tcp=[listen("127.0.0.1", 6379, 5)], owners={5: (proc(9, name),)})
    snap = build(load_reference(), s)
    for text in (snapshot_table(snap), check_text(snap)[0]):
        assert not set(text) & set(BIDI + ZERO_WIDTH)
        assert "redis-server" in text
    doc = to_json(snap)
    port = next(p for p in doc["ports"] if p["port"] == 6379)
    assert port["listeners"][0]["process"] == name  # the data as it is
    assert "\\u202e" in json.dumps(doc)  # escaped by the encoder, never raw on a terminal


def test_the_firewall_table_names_who_is_kept_out_and_why_a_port_is_unknown() -> None:
    """`mbtop firewall` says the whole answer: every exception (the screen shows six), a limit's
    condition, and why a verdict is unknown (pure code: verdicts built by hand)."""
    from mbtop.catalog import load_reference
    from mbtop.cli.report import firewall_table
    from mbtop.probes.firewall import FamilyVerdict, FirewallState, PortFirewall

    nets = tuple(f"198.51.100.{i}/32" for i in range(8))
    fam = FamilyVerdict(4, "allow", (), "INPUT: -A INPUT -p tcp --dport 25 -j ACCEPT", None, excepted=nets)
    ports = {
        25: PortFirewall(25, "iptables", "allow", (), fam.rule, None, (fam,), excepted=nets),
        80: PortFirewall(80, "iptables", "limit", (), "r", "25/minute burst 5", ()),
        3306: PortFirewall(3306, "iptables", "unknown", (), None, None, (), reason="-m string: cannot be evaluated"),
    }
    state = FirewallState("iptables", True, ports, ("IPv4 INPUT policy DROP (iptables)",), True)
    text = firewall_table(load_reference(), state)
    line = {row.split()[0]: row for row in text.splitlines() if "/tcp" in row}
    assert "anyone except " + ", ".join(nets) in line["25/tcp"]
    assert "anyone, 25/minute burst 5" in line["80/tcp"]
    assert "-m string: cannot be evaluated" in line["3306/tcp"]
