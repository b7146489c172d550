"""Times as an operator types them: ``03:10``, ``2026-11-27 03:10:05``, ``-15m``.

Shared by the headless time travel (``snapshot --replay --at``, ``logs --replay --from/--to``) and
the replay screen's `g` (go to), where "now" is the recording's last frame.
"""

from __future__ import annotations

import datetime as dt
import time

from mbtop.engine.store import parse_duration


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds from ``03:10`` or ``03:10:05`` (on ``now``'s day, local time; the day before
    when that is still to come), ``2026-11-27 03:10:05`` (local), or ``-15m`` (before ``now``).
    ValueError, with a message for a person, otherwise."""
    now = time.time() if now is None else now
    t = text.strip()
    if t.startswith("-"):
        return now - parse_duration(t[1:])
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(t, fmt).timestamp()
        except ValueError:
            pass
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            clock = dt.datetime.strptime(t, fmt).time()
        except ValueError:
            continue
        today = dt.datetime.fromtimestamp(now).date()
        stamp = dt.datetime.combine(today, clock).timestamp()
        return stamp - 86400 if stamp > now else stamp
    raise ValueError(f"not a time: {text!r} (e.g. 03:10, 2026-11-27 03:10:05, -15m)")


def when(ts: float) -> str:
    """``2026-11-27 03:10:05``, local time."""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
