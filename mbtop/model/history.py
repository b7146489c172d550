"""What only a sequence of samples can tell: new connections per second and connection age.

Bounded: one ring buffer of rates per port, and first-seen times only for the
connections present in the latest sample.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from mbtop.probes.sample import Sample
from mbtop.probes.types import InetSocket

HISTORY = 120  # points per port (two minutes at the default interval)

ConnKey = tuple[str, int, str, int]  # local address, local port, remote address, remote port


def conn_key(s: InetSocket) -> ConnKey:
    return (s.local_address, s.local_port, s.remote_address, s.remote_port)


def conn_id(s: InetSocket) -> int:
    """The connection as one int: what the trackers keep for every connection, every sample (a
    64-bit hash of the 4-tuple; a collision would only merge two connections' ages)."""
    return hash((s.local_address, s.local_port, s.remote_address, s.remote_port))


@dataclass(frozen=True, slots=True)
class Rates:
    new_per_s: dict[int, float]  # port -> new connections per second over the last interval
    history: dict[int, tuple[float, ...]]  # port -> recent rates, oldest first
    first_seen: dict[int, float]  # conn_id -> monotonic time it was first seen


class RateTracker:
    def __init__(self, ports: Iterable[int], size: int = HISTORY) -> None:
        self._ports = tuple(ports)
        self._prev: dict[int, set[int]] | None = None
        self._prev_t: float | None = None
        self._hist: dict[int, deque[float]] = {p: deque(maxlen=size) for p in self._ports}
        self._first: dict[int, float] = {}
        self._last: Rates | None = None
        self._read_at: float | None = None

    def update(self, sample: Sample) -> Rates:
        if self._last is not None and sample.connections_at is not None and sample.connections_at == self._read_at:
            return self._last  # the same connections as last time (a big table is read less often)
        self._read_at = sample.connections_at
        cur: dict[int, set[int]] = {p: set() for p in self._ports}
        for _fam, state, local, lport, remote, rport, _inode, _uid, _rq, _wq, _if in sample.tcp.sockets:
            if state == "LISTEN":
                continue
            # Every state counts (a short connection may only ever be seen in TIME_WAIT); the key
            # keeps the remote port, so one connection moving between states is counted once.
            bucket = cur.get(lport)
            if bucket is not None:
                bucket.add(hash((local, lport, remote, rport)))
        now = sample.monotonic
        rates: dict[int, float] = {}
        if self._prev is not None and self._prev_t is not None and now > self._prev_t:
            dt = now - self._prev_t
            for port, keys in cur.items():
                rate = len(keys - self._prev.get(port, set())) / dt
                rates[port] = rate
                self._hist[port].append(rate)
        first = {k: self._first.get(k, now) for keys in cur.values() for k in keys}
        self._first = first
        self._prev, self._prev_t = cur, now
        self._last = Rates(
            new_per_s=rates,
            history={p: tuple(h) for p, h in self._hist.items()},
            first_seen=first,  # a new dict each sample, never changed after: no copy needed
        )
        return self._last


BLOCKS = "▁▂▃▄▅▆▇█"
ASCII = " .:-=+*#"


def sparkline(values: Iterable[float], width: int, ascii_only: bool = False) -> str:
    """The last ``width`` values as one line of block characters, scaled to their maximum."""
    chars = ASCII if ascii_only else BLOCKS
    vals = list(values)[-width:] if width > 0 else []
    if not vals:
        return ""
    top = max(vals)
    if top <= 0:
        return chars[0] * len(vals)
    last = len(chars) - 1
    return "".join(chars[min(last, round(v / top * last))] for v in vals)
