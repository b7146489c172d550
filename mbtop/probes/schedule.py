"""Slow probes on their own schedule, off the sampling path.

Some probes run programs that can take seconds or hang (an init script's
``status``, ``fail2ban-client``, ``iptables-save``/``nft``).  A ``Periodic``
runs one of them in a thread of its own, every ``every`` seconds or at once
when woken, and keeps its latest answer: a sample asks ``latest()`` and never
waits.  A hung probe delays only its own next answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# How often a sleeping job looks at ``every`` again (it may have shortened, e.g. the Flood tab opened).
RECHECK = 1.0


class Periodic(Generic[T]):
    """``probe`` run in a daemon thread: at start, then every ``every()`` seconds after the end of
    the last run, or at once after ``wake()``.  ``latest()`` returns the last answer (None before
    the first) without waiting."""

    def __init__(self, name: str, probe: Callable[[], T], every: float | Callable[[], float]) -> None:
        self.name = name
        self._probe = probe
        self._every: Callable[[], float] = every if callable(every) else (lambda: float(every))
        self._cond = threading.Condition()
        self._woken = False
        self._stopped = False
        self._value: T | None = None
        self._runs = 0
        self._started_at: float | None = None  # monotonic start of the run under way, None when idle
        self.error: str | None = None  # the last run's exception (a probe should return, not raise)
        self._thread: threading.Thread | None = None

    def start(self) -> Periodic[T]:
        with self._cond:
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._loop, name=f"mbtop-{self.name}", daemon=True)
                self._thread.start()
        return self

    def latest(self) -> T | None:
        with self._cond:
            return self._value

    @property
    def runs(self) -> int:
        with self._cond:
            return self._runs

    @property
    def busy_for(self) -> float:
        """Seconds the run under way has taken so far (0 when idle)."""
        with self._cond:
            started = self._started_at
        return 0.0 if started is None else time.monotonic() - started

    def wake(self) -> None:
        """Run again as soon as the run under way (if any) has ended."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def fresh(self, timeout: float) -> T | None:
        """Wake the job and wait up to ``timeout`` s for an answer started after now (e.g. the rules
        right after an action changed them); the latest answer when it does not come in time."""
        with self._cond:
            wanted = self._runs + (2 if self._started_at is not None else 1)
            self._woken = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._runs >= wanted or self._stopped, timeout)
            return self._value

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                self._woken = False
                self._started_at = time.monotonic()
            try:
                value: T | None = self._probe()
                error = None
            except Exception as exc:  # noqa: BLE001 - a probe's bug must not end its schedule
                value, error = None, f"{type(exc).__name__}: {exc}"
            with self._cond:
                ended = time.monotonic()
                self._started_at = None
                if error is None:
                    self._value = value
                self.error = error
                self._runs += 1
                self._cond.notify_all()
                while not self._stopped and not self._woken:
                    left = ended + self._every() - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(min(left, RECHECK))
