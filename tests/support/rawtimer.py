"""Time when text reaches the terminal: tmux copies the pane's output into a FIFO read by a thread."""

from __future__ import annotations

import os
import threading
import time


class RawTimer:
    def __init__(self, fifo: str) -> None:
        os.mkfifo(fifo)
        self.fifo = fifo
        self.chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self.fifo, "rb", buffering=0) as fh:
            while chunk := fh.read(65536):
                with self._lock:
                    self.chunks.append((time.monotonic(), chunk))

    def first_after(self, since: float, marker: bytes, timeout: float = 5.0) -> float:
        """Seconds from ``since`` until output written after it contains ``marker``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                data = b"".join(c for t, c in self.chunks if t >= since)
                stamps = [t for t, c in self.chunks if t >= since]
            if marker in data:
                # the chunk that completed the marker
                acc = b""
                for t, c in [(t, c) for t, c in self.chunks if t >= since]:
                    acc += c
                    if marker in acc:
                        return t - since
                return stamps[-1] - since
            time.sleep(0.002)
        raise AssertionError(f"{marker!r} never reached the terminal")
