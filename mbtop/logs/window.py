"""The recent past of a live log: a bounded ring of events and per-second counters for the last minute."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mbtop.logs.events import MailEvent, WebEvent

E = TypeVar("E", MailEvent, WebEvent)
KEEP = 2000  # events kept for the pane and for traces
MINUTE = 60


def mail_tally(ev: MailEvent) -> str | None:
    """The counter an event feeds: connects, rejects, auth failures, sent, deferred, bounced."""
    kind = ev.kind
    if kind == "connect":
        return "connect"
    if kind in ("reject", "milter_reject"):
        return "reject"
    if kind == "sasl_fail":
        return "auth_fail"
    if kind in ("rate_limit", "pipelining", "non_smtp"):
        return kind
    if kind == "delivery":
        status = ev.fields.get("status")
        return status if status in ("sent", "deferred", "bounced") else None
    return None


def web_tally(ev: WebEvent) -> str | None:
    if ev.kind == "access" and ev.status is not None:
        return f"{ev.status // 100}xx"
    return "error" if ev.kind == "error" else None


@dataclass
class _Second:
    at: int
    counts: Counter[str]


class Window(Generic[E]):
    def __init__(self, keep: int = KEEP) -> None:
        self.events: deque[E] = deque(maxlen=keep)
        self._seconds: deque[_Second] = deque(maxlen=MINUTE)
        self.total = 0
        self.clients: Counter[str] = Counter()  # over the kept events only: bounded by ``keep``
        self.own = 0  # mbtop's own health-check lines seen (not in ``clients`` nor the counters)

    def add(self, events: Iterable[E], now: float, tally: Callable[[E], str | None]) -> None:
        sec = int(now)
        if not self._seconds or self._seconds[-1].at != sec:
            self._seconds.append(_Second(sec, Counter()))
        bucket = self._seconds[-1].counts
        for ev in events:
            if len(self.events) == self.events.maxlen:
                old = self.events[0]
                if old.client_ip and not old.own:
                    self.clients[old.client_ip] -= 1
                    if self.clients[old.client_ip] <= 0:
                        del self.clients[old.client_ip]
            self.events.append(ev)
            self.total += 1
            if ev.own:  # mbtop's own health check: shown when asked for, never counted as traffic
                self.own += 1
                continue
            if ev.client_ip:
                self.clients[ev.client_ip] += 1
            key = tally(ev)
            if key:
                bucket[key] += 1
            bucket["lines"] += 1

    def last_minute(self, now: float) -> Counter[str]:
        cutoff = int(now) - MINUTE
        out: Counter[str] = Counter()
        for s in self._seconds:
            if s.at > cutoff:
                out.update(s.counts)
        return out

    def trace(self, queue_id: str) -> list[E]:
        return [e for e in self.events if getattr(e, "queue_id", None) == queue_id]
