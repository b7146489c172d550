"""``mbtop agent``'s core: the engine without a screen, its recorder, reloads and a clean stop.

The engine is ``mbtop.engine.engine.Engine`` when this mbtop has it; until then (and as a
fallback) ``LocalEngine`` here builds the same ``Frame`` from ``Sampler`` and ``build``, the
rate and flood trackers and the followed mail and web logs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from mbtop.catalog import Catalog
from mbtop.engine.frame import ERROR_LOG_OFFSET, Frame, LogLines
from mbtop.logs import nginx
from mbtop.logs.events import MailEvent, WebEvent
from mbtop.logs.follow import Follower
from mbtop.logs.postfix import PostfixParser
from mbtop.model import flood
from mbtop.model.build import build
from mbtop.model.history import RateTracker
from mbtop.probes.sample import Sampler

log = logging.getLogger("mbtop.agent")
FrameCallback = Callable[[Frame], None]
MAX_EVENTS = 50_000  # log events one frame carries at most (a flood's burst is cut, and said)


class LocalEngine:
    """A minimal engine: one thread samples every ``interval`` s and publishes a frame."""

    def __init__(self, catalog: Catalog, sampler: Sampler, *, interval: float = 1.0, follow_logs: bool = True):
        self.catalog = catalog
        self.sampler = sampler
        self.interval = interval
        self.rates = RateTracker([p.port for p in catalog.ports])
        self.flood = flood.FloodTracker(flood.mail_ports((p.port, p.service) for p in catalog.ports))
        self.parser = PostfixParser(time.localtime().tm_year)
        self.mail = Follower(catalog.logs.mail, backfill=0) if follow_logs else None
        self.web = Follower(catalog.logs.web_access, backfill=0) if follow_logs else None
        self.web_error = Follower(catalog.logs.web_error, backfill=0) if follow_logs else None
        self._subs: list[FrameCallback] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seq = 0

    def subscribe(self, callback: FrameCallback) -> Callable[[], None]:
        self._subs.append(callback)
        return lambda: self._subs.remove(callback)

    def start(self) -> LocalEngine:
        self._thread = threading.Thread(target=self._run, name="mbtop-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for f in (self.mail, self.web, self.web_error):
            if f is not None:
                f.close()

    def _logs(self) -> LogLines:
        mail: list[MailEvent] = []
        web: list[WebEvent] = []
        if self.mail is not None:
            for line in self.mail.poll()[-MAX_EVENTS:]:
                ev = self.parser.parse(line.text, line.line_no)
                mail.append(ev)
                if ev.client_ip:
                    self.flood.log_event(ev.client_ip, ev.kind, ev.fields.get("action"), time.monotonic())
        if self.web is not None:
            web.extend(nginx.parse(line.text, line.line_no) for line in self.web.poll()[-MAX_EVENTS:])
        if self.web_error is not None:
            web.extend(
                nginx.parse(line.text, line.line_no + ERROR_LOG_OFFSET) for line in self.web_error.poll()[-MAX_EVENTS:]
            )
        return LogLines(mail=tuple(mail), web=tuple(web))

    def frame(self) -> Frame:
        sample = self.sampler.sample()
        logs = self._logs()
        snap = build(self.catalog, sample)
        state = self.flood.update(sample.tcp.sockets, sample.monotonic, kernel=sample.netstat)
        self.seq += 1
        return Frame(self.seq, sample, snap, self.rates.update(sample), flood=state, logs=logs)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                frame = self.frame()
            except Exception as exc:  # noqa: BLE001 - one bad sample never stops the agent
                log.warning("sample failed: %s", exc)
            else:
                for cb in list(self._subs):
                    cb(frame)
            next_at = max(next_at + self.interval, time.monotonic())
            self._stop.wait(next_at - time.monotonic())


def make_engine(catalog: Catalog, *, interval: float, use_netlink: bool = True, firewall: bool = True) -> Any:
    """The engine the agent runs: the real one when this mbtop has it, else ``LocalEngine``."""
    sampler = Sampler(catalog, use_netlink=use_netlink, firewall_every=10.0 if firewall else None)
    try:
        from mbtop.engine.engine import Engine  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return LocalEngine(catalog, sampler, interval=interval)
    return Engine(catalog, sampler.sample, interval=interval, gateway=True)
