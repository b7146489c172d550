"""The engine's log feeds: the mail log (or journald), nginx's access and error logs, followed on an
asyncio loop in a thread of its own, parsed off that loop, handed over batch by batch.

Textual-free: what the live screen did in its own event loop, now below it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from mbtop.catalog import Catalog
from mbtop.engine.frame import ERROR_LOG_OFFSET
from mbtop.logs import journal, nginx
from mbtop.logs.events import MailEvent, WebEvent
from mbtop.logs.follow import Follower, Line, follow
from mbtop.logs.own import OwnSessions, live_sessions
from mbtop.logs.postfix import PostfixParser

log = logging.getLogger(__name__)

FLOOD_KINDS = frozenset(
    {"connect", "postscreen", "reject", "milter_reject", "sasl_fail", "rate_limit", "pipelining", "non_smtp"}
)


@dataclass(frozen=True, slots=True)
class LogBatch:
    """New events from one followed log, as they came (a face draws them without waiting for a frame)."""

    which: str  # "mail" or "web"
    path: str
    events: tuple[MailEvent, ...] | tuple[WebEvent, ...]
    status: str  # the follower's status text
    history: int = 0  # events with line_no up to this came from the backfill: the past
    reset: bool = False  # a recording jumped: these events replace what the face kept, not add to it

    @property
    def backfill(self) -> bool:
        return bool(self.history) and all(e.line_no <= self.history for e in self.events)


def parse_batch(
    parse: Callable[[str, int], MailEvent | WebEvent], batch: list[Line], offset: int, own: OwnSessions | None = None
) -> list[Any]:
    events = [parse(x.text, x.line_no + offset) for x in batch]
    return own.mark(events) if own is not None else events  # type: ignore[arg-type]


class LogFeeds:
    """Follows the catalog's logs on an asyncio loop in its own thread; ``deliver`` is called from
    that thread with every parsed batch. ``stop()`` cancels the followers (closing their files and
    journalctl) and joins the thread."""

    def __init__(self, catalog: Catalog, deliver: Callable[[LogBatch], None]) -> None:
        self.catalog = catalog
        self._deliver = deliver
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = threading.Event()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="mbtop-logs", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        logs = self.catalog.logs
        jobs: list[Coroutine[Any, Any, None]] = [
            self._follow("mail", logs.mail, 0),
            self._follow("web", logs.web_access, 0),
            self._follow("web", logs.web_error, ERROR_LOG_OFFSET),
        ]
        self._tasks = [loop.create_task(job) for job in jobs]
        self._ready.set()
        try:
            loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
        finally:
            with contextlib.suppress(RuntimeError):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _follow(self, which: str, path: str, offset: int) -> None:
        try:
            await self._follow_one(which, path, offset)
        except asyncio.CancelledError:
            raise
        except Exception:  # a log that cannot be followed never takes the engine down
            log.exception("following %s", path)

    async def _follow_one(self, which: str, path: str, offset: int) -> None:
        follower = Follower(path, backfill=200)
        year = time.localtime().tm_year
        parse = PostfixParser(year).parse if which == "mail" else nginx.parse
        own = live_sessions() if which == "mail" else None  # marks mbtop's own SMTP checks
        self._deliver(LogBatch(which, path, (), follower.status))
        if which == "mail" and not os.path.exists(path) and await asyncio.to_thread(journal.has_postfix):
            status = f"no {path}: following Postfix in journald (journalctl --facility=mail -f)"
            async for batch in journal.follow_journal():
                events = parse_batch(parse, batch, 0, own)
                self._deliver(LogBatch(which, path, tuple(events), status))
            return
        async for batch in follow(follower):
            # Parsed in a thread: a flood writes thousands of lines a second and the loop must not wait.
            events = await asyncio.to_thread(parse_batch, parse, batch, offset, own)
            history = follower.history_lines + offset if follower.history_lines else 0
            self._deliver(LogBatch(which, path, tuple(events), follower.status, history))

    def stop(self, timeout: float = 5.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        def cancel() -> None:
            for task in self._tasks:
                task.cancel()

        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(cancel)
        thread.join(timeout)
        self._thread = None
