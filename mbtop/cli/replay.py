"""Time travel: ``snapshot --replay PATH --at TIME``, ``logs --replay PATH --from --to`` (headless)
and ``mbtop replay [PATH]`` (the live screen on a recording).

TIME is ``03:10`` or ``03:10:05`` (today, local time; yesterday when that is still to come),
``2026-11-27 03:10:05`` (local), or ``-15m`` (before now). A recording that cannot be read gives
the store's message and exit 2; a time outside the recording exit 3.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbtop.config import Config
from mbtop.engine.store import RecordingError
from mbtop.engine.when import parse_time, when
from mbtop.text import clean

if TYPE_CHECKING:  # the recorder loads cattrs: when a recording is read, not to build the CLI's parser
    from mbtop.engine.recorder import RecordedFrames

SPEEDS = (1.0, 10.0, 60.0)  # as mbtop.engine.playback's (not imported: it loads cattrs for the parser)

EXIT_UNREADABLE = 2
EXIT_OUTSIDE = 3
SLACK = 5.0  # seconds past the last frame that still count as inside the recording
__all__ = ["EXIT_OUTSIDE", "EXIT_UNREADABLE", "add_parser", "logs", "parse_time", "screen", "snapshot"]


def _open(path: Path) -> RecordedFrames | None:
    from mbtop.engine.recorder import RecordedFrames

    try:
        return RecordedFrames(path)
    except RecordingError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return None


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
        held = f"it holds {when(span[0])} to {when(span[1])}" if span else "it holds no frames"
        print(f"mbtop: {args.replay_path}: {when(at)} is outside the recording ({held})", file=sys.stderr)
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
        print(f"# recorded {when(frame.time)}")
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
            held = f"it holds {when(span[0])} to {when(span[1])}" if span else "it holds no frames"
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


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay", parents=parents, help="the live screen on a recording (`mbtop agent --record`), with a time bar"
    )
    p.add_argument(
        "path", nargs="?", type=Path, metavar="PATH", help="the recording (default: the agent's, [agent] record)"
    )
    p.add_argument("--at", metavar="TIME", help="start there (03:10, 2026-11-27 03:10:05, -15m before the end)")
    p.add_argument("--speed", type=float, choices=SPEEDS, default=1.0, help="1, 10 or 60 times real time")
    p.add_argument("--paused", action="store_true", help="start paused (space plays)")


def screen(cfg: Config, args: argparse.Namespace) -> int:
    """``mbtop replay [PATH]``: a recording that cannot be read gives its message and exit 2,
    a start time outside it exit 3; never a traceback."""
    import importlib

    from mbtop.engine.playback import RecordingSource

    path = args.path or cfg.agent.record
    if path is None:
        print("mbtop: no recording given, and the agent records nothing ([agent] record = false)", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        source = RecordingSource(path, speed=args.speed, playing=not args.paused)
    except RecordingError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return EXIT_UNREADABLE
    cur = source.cursor
    if args.at:
        try:
            at = parse_time(args.at, now=cur.end)
        except ValueError as exc:
            source.stop()
            print(f"mbtop: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
        if not cur.start - SLACK <= at <= cur.end + SLACK:
            source.stop()
            print(
                f"mbtop: {path}: {when(at)} is outside the recording (it holds {when(cur.start)} to {when(cur.end)})",
                file=sys.stderr,
            )
            return EXIT_OUTSIDE
        source.goto(at)
    try:
        app = importlib.import_module("mbtop.ui.app")
    except ImportError as exc:
        source.stop()
        print(f"mbtop: the screen cannot start: {exc} — reinstall (sudo scripts/install)", file=sys.stderr)
        return 1
    return int(app.run_recording(cfg, args, source))
