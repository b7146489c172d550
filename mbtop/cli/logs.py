"""`mbtop logs FILE`: parse a mail or nginx log headlessly, as events or as a summary."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from mbtop.logs import nginx
from mbtop.logs.events import MailEvent, WebEvent
from mbtop.logs.fastsum import summarize
from mbtop.logs.follow import Follower, Line, LogUnavailable, follow
from mbtop.logs.own import OwnSessions
from mbtop.logs.postfix import PostfixParser
from mbtop.logs.summary import render
from mbtop.text import clean

Event = MailEvent | WebEvent


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parents: list[argparse.ArgumentParser]
) -> None:
    p = sub.add_parser("logs", parents=parents, help="parse a Postfix or nginx log: events or a summary")
    p.add_argument(
        "file", nargs="?", help="the log file (e.g. /var/log/mail.log, /var/log/nginx/mailborder-access.log)"
    )
    p.add_argument("--format", choices=("postfix", "nginx", "auto"), default="auto", help="default: guess")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--events", action="store_true", help="one event per input line (the default)")
    what.add_argument("--summary", action="store_true", help="totals, like pflogsumm / goaccess")
    p.add_argument("--json", action="store_true", help="events as JSON lines; the summary as one JSON document")
    p.add_argument("--year", type=int, help="year for timestamps that carry none (default: this year)")
    p.add_argument("--follow", action="store_true", help="keep reading as the file grows (events only)")
    p.add_argument(
        "--replay", dest="replay_path", type=Path, metavar="PATH", help="the events of a recording instead of a file"
    )
    p.add_argument("--from", dest="time_from", metavar="TIME", help="with --replay: from (03:10, -15m, …)")
    p.add_argument("--to", dest="time_to", metavar="TIME", help="with --replay: to (default: now)")


def guess_format(path: str, first: Iterable[Line]) -> str:
    if "nginx" in path:
        return "nginx"
    for line in first:
        if not line.text.strip():
            continue
        return "nginx" if nginx.parse(line.text, 0).kind != "other" else "postfix"
    return "postfix"


def _parser(fmt: str, year: int) -> Callable[[str, int], Event]:
    if fmt == "nginx":
        return nginx.parse
    return PostfixParser(year).parse


def _text(ev: Event) -> str:
    who = ev.client_ip or "-"
    kind = ev.kind + ("/own" if ev.own else "")  # mbtop's own health check
    if isinstance(ev, MailEvent):
        head = f"{ev.line_no:>7} {ev.timestamp or '-':<19} {kind:<15} {who:<15} {ev.queue_id or '-':<12}"
    else:
        head = f"{ev.line_no:>7} {ev.timestamp or '-':<25} {kind:<6} {who:<15} {ev.status or '-':<4}"
    return f"{head} {clean(ev.message)}"


def _write_events(events: Iterable[Event], as_json: bool, out: TextIO) -> None:
    for ev in events:
        # json.dumps escapes every control character, so hostile text stays inert in the output too.
        out.write((json.dumps(ev.to_json()) if as_json else _text(ev)) + "\n")


def _cannot_read(path: str, exc: Exception) -> int:
    """One line on stderr saying why the log cannot be read; the exit code for it."""
    if isinstance(exc, FileNotFoundError):
        why = "no such file"
    elif isinstance(exc, IsADirectoryError):
        why = "is a directory"
    elif isinstance(exc, OSError):
        why = str(exc.strerror or exc)
    else:
        why = str(exc)
    print(f"mbtop: {path}: {why}", file=sys.stderr)
    return 1


def _summary(args: argparse.Namespace, year: int) -> int:
    """The whole file at bytes level: only its head is read here (to guess the format)."""
    try:
        with open(args.file, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        return _cannot_read(args.file, exc)
    fmt = args.format
    if fmt == "auto":
        lines = head.decode("utf-8", "replace").splitlines()[:20]
        fmt = guess_format(args.file, [Line(text, i + 1) for i, text in enumerate(lines)])
    doc = summarize(args.file, fmt, year).to_json()
    text = json.dumps(doc, indent=2) if args.json else "\n".join(clean(x) for x in render(doc).splitlines())
    sys.stdout.write(text + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.replay_path is not None:
        if args.file or args.summary or args.follow:
            print("mbtop: logs --replay reads the recording's events: no FILE, --summary or --follow", file=sys.stderr)
            return 2
        from mbtop.cli import replay

        return replay.logs(args)
    if not args.file:
        print("mbtop: logs needs a FILE (or --replay PATH)", file=sys.stderr)
        return 2
    year = args.year or dt.date.today().year
    if args.summary:
        return _summary(args, year)
    follower = Follower(args.file, from_start=True)
    try:
        batches = follower.read_all()
        first = next(batches, [])
    except (LogUnavailable, OSError) as exc:
        return _cannot_read(args.file, exc)
    if follower.error:
        print(f"mbtop: {args.file}: {follower.error}", file=sys.stderr)
        return 1
    fmt = args.format if args.format != "auto" else guess_format(args.file, first[:20])
    parse = _parser(fmt, year)
    out = sys.stdout

    def all_batches() -> Iterable[list[Line]]:
        yield first
        yield from batches

    # mbtop's own SMTP checks are known at their disconnect line: their sessions are held until then.
    own = OwnSessions() if fmt != "nginx" else None

    def events(batch: list[Line], offset: int = 0) -> Iterable[Event]:
        parsed = (parse(line.text, line.line_no + offset) for line in batch)
        return parsed if own is None else own.feed(parsed)  # type: ignore[arg-type]

    for batch in all_batches():
        _write_events(events(batch), args.json, out)
    if own is not None:
        _write_events(own.flush(), args.json, out)
    if args.follow:
        live = Follower(args.file, backfill=0)

        async def tail() -> None:
            offset = follower._count
            async for batch in follow(live):
                _write_events(events(batch, offset), args.json, out)
                if own is not None:
                    _write_events(own.flush(), args.json, out)  # a live tail waits for no session
                out.flush()

        try:
            asyncio.run(tail())
        except KeyboardInterrupt:
            return 0
    return 0
