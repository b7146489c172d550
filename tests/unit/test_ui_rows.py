"""Pure UI helpers: column fitting, short reasons, keyed row diffs."""

from __future__ import annotations

import pytest

from mbtop.catalog import load_reference
from mbtop.model.build import build
from mbtop.model.diff import diff_rows
from mbtop.model.history import RateTracker, conn_id, sparkline
from mbtop.ui.rows import FINDINGS, OVERVIEW, PADDING, SOCKETS, fit, short_reason
from tests.unit.fakes import conn, listen, proc, sample, sockfile


@pytest.mark.parametrize("table", [OVERVIEW, SOCKETS, FINDINGS])
@pytest.mark.parametrize("width", [80, 100, 160, 200])
def test_fit_keeps_essentials_and_never_overflows(table, width: int) -> None:  # type: ignore[no-untyped-def]
    shown, flex = fit(table, width)
    assert all(c in shown for c in table if c.priority == 0)
    total = sum((c.width if c.width is not None else flex) + PADDING for c in shown) + PADDING + 2
    assert total <= width
    assert [c for c in table if c in shown] == list(shown)  # order kept


def test_fit_drops_highest_priority_first() -> None:
    narrow, _ = fit(OVERVIEW, 80)
    wide, _ = fit(OVERVIEW, 200)
    assert len(wide) == len(OVERVIEW)
    dropped = [c for c in OVERVIEW if c not in narrow]
    kept_optional = [c for c in narrow if c.priority > 0]
    assert dropped and min(c.priority for c in dropped) >= max(c.priority for c in kept_optional)


def test_short_reasons() -> None:
    cat = load_reference()
    php = "/var/run/php/mailborder.sock"
    s = sample(
        tcp=[listen("0.0.0.0", 6379, 7)],
        owners={7: (proc(99, "nc"),)},
        files={php: sockfile(php, owner="root", group="root", mode=0o666)},
    )
    snap = build(cat, s)
    p = next(p for p in snap.ports if p.spec.port == 6379)
    assert short_reason(p) == "exposed on 0.0.0.0; held by nc[99]"
    sock = next(x for x in snap.sockets if x.spec.path == php)
    assert short_reason(sock).startswith("owner root:root (want mailborder:www-data)")
    assert "mode 0666 (want 0660)" in short_reason(sock)
    p25 = next(p for p in snap.ports if p.spec.port == 25)
    assert short_reason(p25) == "not listening"


def test_diff_rows() -> None:
    old = {"a": ("1", "x"), "b": ("2", "y"), "c": ("3", "z")}
    new = {"a": ("1", "x"), "b": ("2", "Y"), "d": ("4", "w")}
    d = diff_rows(old, new)
    assert d.added == ("d",) and d.removed == ("c",) and d.changed == (("b", 1),) and not d.reordered
    assert diff_rows(old, {"b": old["b"], "a": old["a"]}).reordered
    assert diff_rows(old, dict(old)) == diff_rows({}, {}).__class__((), (), (), False)


def test_rate_tracker_counts_new_connections_once() -> None:
    import dataclasses

    t = RateTracker([25])
    base = sample(tcp=[listen("127.0.0.1", 25, 1)])
    first = t.update(base)
    assert first.new_per_s == {}
    c1, c2 = conn(25, "192.0.2.1"), conn(25, "192.0.2.2")
    s2 = dataclasses.replace(
        base, monotonic=3.0, tcp=dataclasses.replace(base.tcp, sockets=(*base.tcp.sockets, c1, c2))
    )
    r2 = t.update(s2)
    assert r2.new_per_s[25] == 1.0  # 2 new in 2 s
    # The same connections, one now in TIME_WAIT: nothing new.
    c1_tw = c1._replace(state="TIME_WAIT")
    s3 = dataclasses.replace(s2, monotonic=4.0, tcp=dataclasses.replace(s2.tcp, sockets=(*base.tcp.sockets, c1_tw, c2)))
    r3 = t.update(s3)
    assert r3.new_per_s[25] == 0.0 and r3.history[25] == (1.0, 0.0)
    assert r3.first_seen[conn_id(c2)] == 3.0


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 4], 4) == "▁▃▅█"
    assert sparkline([0, 0], 4) == "▁▁"
    assert sparkline([1, 2, 3], 2) == "▆█"
    assert sparkline([0, 4], 2, ascii_only=True) == " #"
    assert sparkline([], 5) == ""


def test_postfix_severities_and_outbound_failures_are_coloured_by_what_they_mean() -> None:
    """error: lines (msg_syslog's severity between warning and fatal) are critical; the SMTP client's
    'connect to …' failures a warning; an outbound TLS session is plain information."""
    from mbtop.logs.postfix import PostfixParser
    from mbtop.ui.widgets.logspane import mail_role

    def role(line: str) -> str:
        return mail_role(PostfixParser(2026).parse(line, 1))

    assert role("Nov 28 09:42:11 mx postfix/trivial-rewrite[5]: error: open database /etc/postfix/transport.db: "
                "No such file or directory") == "critical"  # fmt: skip
    assert role("Nov 28 09:42:11 mx postfix/smtp[7]: connect to mx.example.net[192.0.2.7]:25: "
                "Connection refused") == "warning"  # fmt: skip
    tls = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
    outbound = f"Trusted TLS connection established to mx.example.net[192.0.2.7]:25: {tls}"
    assert role(f"Nov 28 09:42:11 mx postfix/smtp[7]: {outbound}") == ""
