"""The queue and the vitals on their own cadence, for the live screen: read by one worker thread,
handed over as one immutable value (never a shared object written from a thread)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from mbtop.model import queue as queuemodel
from mbtop.probes import vitals as vitalsprobe

QUEUE_EVERY = 10.0  # seconds between reads of the queue (postqueue -j: ~1 s at 100,000 messages)
VITALS_EVERY = 60.0  # disks, certificates and the clock change slowly
TREND = 120  # queue totals kept for the trend (20 minutes at QUEUE_EVERY)


def read_queue(config_dir: str | None = None) -> queuemodel.QueueState:
    """The queue, or why not: whatever goes wrong reading it degrades to ``available: false``."""
    try:
        return queuemodel.read(config_dir)
    except Exception as exc:  # noqa: BLE001 - a probe that fails says why; it never stops a snapshot or the screen
        return queuemodel.unavailable(f"reading the queue failed: {type(exc).__name__}: {exc}")


def read_vitals() -> vitalsprobe.Vitals | None:
    try:
        return vitalsprobe.probe()
    except Exception:  # noqa: BLE001 - as above: no vitals rather than no snapshot
        return None


@dataclass(frozen=True, slots=True)
class GatewayState:
    queue: queuemodel.QueueState | None
    vitals: vitalsprobe.Vitals | None
    trend: tuple[int, ...]  # the queue's total at each read, oldest first


class GatewayReader:
    """Call ``read()`` from one worker at a time: it reads what is due and returns the new state."""

    def __init__(
        self, queue_every: float = QUEUE_EVERY, vitals_every: float = VITALS_EVERY, config_dir: str | None = None
    ) -> None:
        self.config_dir = config_dir  # Postfix's configuration directory (None: the default instance)
        self.queue_every = queue_every
        self.vitals_every = vitals_every
        self._queue_at = float("-inf")
        self._vitals_at = float("-inf")
        self._trend: deque[int] = deque(maxlen=TREND)
        self.state = GatewayState(None, None, ())

    def read(self, now: float | None = None, force_queue: bool = False) -> GatewayState:
        now = time.monotonic() if now is None else now
        queue, vitals = self.state.queue, self.state.vitals
        if force_queue or now - self._queue_at >= self.queue_every:
            self._queue_at = now
            queue = read_queue(self.config_dir)
            if queue.available:
                self._trend.append(queue.total)
        if now - self._vitals_at >= self.vitals_every:
            self._vitals_at = now
            vitals = read_vitals()
        self.state = GatewayState(queue, vitals, tuple(self._trend))
        return self.state
