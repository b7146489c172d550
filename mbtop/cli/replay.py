"""Headless time travel: ``snapshot --replay PATH --at TIME`` and ``logs --replay PATH --from --to``.

TIME is ``03:10`` or ``03:10:05`` (today, local time; yesterday when that is still to come),
``2026-11-27 03:10:05`` (local), or ``-15m`` (before now). A recording that cannot be read gives
the store's message and exit 2; a time outside the recording exit 3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from mbtop.engine.recorder import RecordedFrames
from mbtop.engine.store import RecordingError, parse_duration
from mbtop.text import clean

EXIT_UNREADABLE = 2
EXIT_OUTSIDE = 3
SLACK = 5.0  # seconds past the last frame that still count as inside the recording


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds from ``03:10``, ``2026-11-27 03:10:05``, ``-15m`` (ValueError otherwise)."""
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


def _open(path: Path) -> RecordedFrames | None:
    try:
        return RecordedFrames(path)
    except RecordingError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return None


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def snapshot(args: argparse.Namespace) -> int:
    from mbtop.cli.report import snapshot_table
    from mbtop.model.serialize import fail2ban as fail2ban_json
    from mbtop.model.serialize import flood as flood_json
    from mbtop.model.serialize import snapshot as to_json

    try:
        at = parse_time(args.at) if args.at else time.time()
    except ValueError as exc:
        print(f"mbtop: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    rec = _open(args.replay_path)
    if rec is None:
        return EXIT_UNREADABLE
    try:
        span = rec.span()
        frame = rec.at(at) if span is not None and at <= span[1] + SLACK else None
    except RecordingError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        rec.close()
    if frame is None:
        held = f"it holds {_when(span[0])} to {_when(span[1])}" if span else "it holds no frames"
        print(f"mbtop: {args.replay_path}: {_when(at)} is outside the recording ({held})", file=sys.stderr)
        return EXIT_OUTSIDE
    if args.json:
        doc = to_json(frame.snapshot)
        if frame.flood is not None:
            doc["flood"] = flood_json(frame.flood)
            doc["flood"]["fail2ban"] = fail2ban_json(frame.fail2ban) if frame.fail2ban is not None else None
        else:
            doc["flood"] = None
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"# recorded {_when(frame.time)}")
        print(snapshot_table(frame.snapshot, None))
    return 0


def logs(args: argparse.Namespace) -> int:
    from mbtop.cli.logs import _write_events

    try:
        start = parse_time(args.time_from) if args.time_from else 0.0
        end = parse_time(args.time_to) if args.time_to else time.time()
    except ValueError as exc:
        print(f"mbtop: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    rec = _open(args.replay_path)
    if rec is None:
        return EXIT_UNREADABLE
    try:
        span = rec.span()
        if span is None or end < span[0] or start > span[1] + SLACK:
            held = f"it holds {_when(span[0])} to {_when(span[1])}" if span else "it holds no frames"
            print(f"mbtop: {args.replay_path}: the window is outside the recording ({held})", file=sys.stderr)
            return EXIT_OUTSIDE
        mail, web = rec.events(start, end)
    except RecordingError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        rec.close()
    _write_events([*mail, *web], args.json, sys.stdout)
    return 0
