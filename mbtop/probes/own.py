"""mbtop's own connections (the protocol checks), so that mbtop does not report itself.

A health check opens a real connection to port 25; without this, that
connection (and its TIME_WAIT) would show as a remote 127.0.0.1 in the
overview and as a new connection in the flood watch.  Each check records its
client address and port here; samples leave those sockets out for ``TTL``
seconds (TIME_WAIT lasts 60 s).  Bounded and thread-safe.
"""

from __future__ import annotations

import threading
import time

TTL = 120.0
CAP = 4096


class OwnConnections:
    def __init__(self, ttl: float = TTL, cap: int = CAP) -> None:
        self._ttl = ttl
        self._cap = cap
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int], float] = {}

    def add(self, address: str, port: int) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= self._cap:
                self._expire(now)
                if len(self._seen) >= self._cap:
                    self._seen.pop(next(iter(self._seen)))
            self._seen[(address, port)] = now + self._ttl

    def current(self) -> frozenset[tuple[str, int]]:
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            return frozenset(self._seen)

    def _expire(self, now: float) -> None:
        for key in [k for k, until in self._seen.items() if until < now]:
            del self._seen[key]


OWN = OwnConnections()
