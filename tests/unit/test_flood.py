"""The flood tracker on hand-made socket lists (pure: no system is read)."""

from __future__ import annotations

import gc
import tracemalloc

from mbtop.model.flood import FloodTracker, Thresholds, prefix_of
from tests.unit.fakes import conn, listen


def _conns(counts: dict[str, int], port: int = 25, state: str = "ESTABLISHED", base: int = 0) -> list:
    out = []
    for address, n in counts.items():
        for i in range(n):
            out.append(conn(port, address, state)._replace(remote_port=40000 + base + i))
    return out


def test_concurrency_rates_windows_and_whichever_saw_more() -> None:
    t = FloodTracker([25, 587])
    lst = [listen("0.0.0.0", 25, 1)]
    first = t.update(lst + _conns({"192.0.2.1": 2}), now=100.0)
    assert first.new_per_min == 0 and first.concurrent == 2 and first.alert is False
    # One second later: 3 new from 192.0.2.1 (sampled), the log saw 5 from 198.51.100.7 that came and went.
    s2 = t.update(lst + _conns({"192.0.2.1": 5}), now=101.0, log_connects={"198.51.100.7": 5, "192.0.2.1": 1})
    top = {x.address: x for x in s2.top_sources}
    assert top["192.0.2.1"].concurrent == 5 and top["192.0.2.1"].new_per_min == 3
    assert top["198.51.100.7"].concurrent == 0 and top["198.51.100.7"].new_per_min == 5
    assert s2.new_per_min == 8 and s2.new_per_s == 8.0 and s2.history == (8.0,)
    # 65 s later the minute window has emptied, and idle sources age out after IDLE_AFTER.
    s3 = t.update(lst, now=166.0)
    assert s3.new_per_min == 0 and s3.concurrent == 0
    assert t.update(lst, now=400.0).sources_tracked == 0


def test_thresholds_and_reasons() -> None:
    t = FloodTracker([25], Thresholds(total_per_minute=9, source_per_30s=6, concurrent=5, syn_recv=2))
    t.update([], now=10.0)
    s = t.update(_conns({"203.0.113.9": 7}) + _conns({"203.0.113.10": 3}, state="SYN_RECV", base=100), now=11.0)
    text = " | ".join(s.reasons)
    assert s.alert and "10 new connections in the last minute (threshold 9)" in text
    assert "203.0.113.9 opened 7 connections in 30 s" in text
    assert "10 concurrent connections" in text and "3 half-open" in text


def test_kernel_counter_deltas_and_accept_queue() -> None:
    t = FloodTracker([25])
    t.update([], now=1.0, kernel={"ListenOverflows": 100, "ListenDrops": 100})
    s = t.update([], now=2.0, kernel={"ListenOverflows": 104, "ListenDrops": 104}, queue=90, backlog=100)
    assert s.kernel["ListenOverflows"] == 4 and s.kernel["SyncookiesSent"] == 0
    assert any("accept queue 90/100" in r for r in s.reasons) and any(
        "dropped 8 connection attempts" in r for r in s.reasons
    )


def test_log_verdicts_per_source() -> None:
    t = FloodTracker([25])
    t.update([], now=1.0)
    for kind, action in (("reject", None), ("reject", None), ("sasl_fail", None), ("postscreen", "PREGREET")):
        t.log_event("203.0.113.5", kind, action, 1.5)
    s = t.update([], now=2.0, log_connects={"203.0.113.5": 1})
    (top,) = s.top_sources
    assert (top.rejects, top.auth_failures, top.postscreen) == (2, 1, (("PREGREET", 1),))


def test_bot_signs_per_source_from_smtpd_and_postscreen() -> None:
    """Rate-limit hits, pipelining and non-SMTP commands feed the Flood tab's columns, per source, even
    from a source with no connection in the window."""
    t = FloodTracker([25])
    t.update([], now=1.0)
    for kind, action in (
        ("rate_limit", None),
        ("rate_limit", None),
        ("pipelining", None),
        ("postscreen", "COMMAND PIPELINING"),
        ("non_smtp", None),
        ("postscreen", "NON-SMTP COMMAND"),
        ("postscreen", "NON-SMTP COMMAND"),
    ):
        t.log_event("203.0.113.7", kind, action, 1.5)
    t.log_event("203.0.113.8", "non_smtp", None, 1.5)
    s = t.update([], now=2.0)
    top = {x.address: x for x in s.top_sources}
    assert (top["203.0.113.7"].rate_limits, top["203.0.113.7"].pipelining, top["203.0.113.7"].non_smtp) == (2, 2, 3)
    assert top["203.0.113.8"].non_smtp == 1 and top["203.0.113.8"].new_per_min == 0
    assert dict(top["203.0.113.7"].postscreen) == {"COMMAND PIPELINING": 1, "NON-SMTP COMMAND": 2}


def test_window_leaves_own_checks_out_of_counts_and_clients() -> None:
    import dataclasses

    from mbtop.logs.postfix import PostfixParser
    from mbtop.logs.window import Window, mail_tally

    p = PostfixParser(2026)
    mine = dataclasses.replace(p.parse("Nov 25 10:00:00 h postfix/smtpd[1]: connect from localhost[127.0.0.1]", 1))
    theirs = p.parse("Nov 25 10:00:00 h postfix/smtpd[2]: warning: non-SMTP command from x[203.0.113.9]: GET /", 2)
    w: Window = Window()
    w.add([dataclasses.replace(mine, own=True), theirs], 100.0, mail_tally)
    assert dict(w.clients) == {"203.0.113.9": 1} and w.own == 1 and len(w.events) == 2
    assert w.last_minute(100.0) == {"lines": 1, "non_smtp": 1}


def test_prefixes() -> None:
    assert prefix_of("203.0.113.77") == "203.0.113.0/24"
    assert prefix_of("2001:db8:1:2:3::9") == "2001:db8:1:2::/64"
    assert prefix_of("::ffff:198.51.100.3") == "198.51.100.0/24"
    assert prefix_of("not an ip") == "not an ip"


def test_memory_stays_flat_with_100k_distinct_sources() -> None:
    """Soak: 100,000 distinct sources over 200 samples; after warm-up memory does not grow."""
    t = FloodTracker([25], cap=2000)
    now = 0.0

    def feed(batch: int) -> None:
        nonlocal now
        for _ in range(batch):
            now += 1.0
            base = int(now) * 500
            connects = {
                f"10.{(base + j) >> 16 & 255}.{(base + j) >> 8 & 255}.{(base + j) & 255}": 1 for j in range(500)
            }
            t.update([], now=now, log_connects=connects)

    feed(40)  # warm-up: the table fills to its cap
    gc.collect()
    tracemalloc.start()
    feed(60)
    gc.collect()
    mid, _ = tracemalloc.get_traced_memory()
    feed(100)  # 50,000 more distinct sources
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert t.update([], now=now + 1).sources_tracked <= 2000
    assert end - mid < 512 * 1024, (mid, end)


def test_fail2ban_status_parsing() -> None:
    from mbtop.probes.fail2ban import parse_status

    text = """Status for the jail: postfix
|- Filter
|  |- Currently failed:	3
|  |- Total failed:	17
|  `- File list:	/var/log/mail.log
`- Actions
   |- Currently banned:	2
   |- Total banned:	5
   `- Banned IP list:	203.0.113.9 2001:db8::7
"""
    j = parse_status("postfix", text)
    assert (j.currently_failed, j.total_failed, j.currently_banned, j.total_banned) == (3, 17, 2, 5)
    assert j.banned == ("203.0.113.9", "2001:db8::7")
