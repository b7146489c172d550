"""The flood watch's table of sources: one small record per address (or /24, /64), capped and aged.

A record keeps first/last seen, new connections per second for the last ``WINDOW`` seconds, and
the signs of abuse the log gives (rejects, auth failures, postscreen verdicts...). The table holds
at most ``cap`` records; when full, a tenth goes, quietest and oldest first; records idle for
``IDLE_AFTER`` seconds age out.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections import Counter, deque
from dataclasses import dataclass, field
from functools import lru_cache

IDLE_AFTER = 180.0
WINDOW = 60  # seconds of per-second history


@dataclass
class Source:
    first_seen: float
    last_seen: float
    seconds: deque[tuple[int, int]] = field(default_factory=deque)  # (second, new), the last WINDOW seconds
    total: int = 0  # the sum of ``seconds``: the last minute's new connections, kept up to date
    concurrent: int = 0
    rejects: int = 0
    auth_failures: int = 0
    postscreen: Counter[str] = field(default_factory=Counter)
    rate_limits: int = 0  # Postfix's anvil limits hit (smtpd's "... limit exceeded" warnings)
    pipelining: int = 0  # improper pipelining (smtpd) / COMMAND PIPELINING (postscreen)
    non_smtp: int = 0  # non-SMTP commands, e.g. HTTP spoken to port 25 (smtpd and postscreen)

    def add_new(self, sec: int, n: int) -> None:
        if n <= 0:
            return
        if self.seconds and self.seconds[-1][0] == sec:
            self.seconds[-1] = (sec, self.seconds[-1][1] + n)
        else:
            self.seconds.append((sec, n))
        self.total += n

    def per_minute(self, now: float) -> int:
        """New connections in the last WINDOW seconds, in amortised constant time."""
        cutoff = now - WINDOW
        while self.seconds and self.seconds[0][0] <= cutoff:
            self.total -= self.seconds.popleft()[1]
        return self.total

    def new_in(self, now: float, span: float) -> int:
        cutoff = now - span
        return sum(n for s, n in self.seconds if s > cutoff)


_prefixes: dict[str, str] = {}


def prefix_of(address: str) -> str:
    """The /24 of an IPv4 address, the /64 of an IPv6 one (memoised: sources recur every sample)."""
    found = _prefixes.get(address)
    if found is not None:
        return found
    # The common case without the ipaddress module: a flood means tens of thousands of these a second.
    head, dot, last = address.rpartition(".")
    if dot and last.isdigit() and head.count(".") == 2 and ":" not in head and len(last) <= 3 and int(last) < 256:
        found = f"{head}.0/24"
    else:
        found = _prefix_slow(address)
    if len(_prefixes) > 65536:
        _prefixes.clear()
    _prefixes[address] = found
    return found


@lru_cache(maxsize=16384)
def _prefix_slow(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    v4 = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
    return str(ipaddress.ip_network(f"{v4}/24", strict=False))


class Table:
    """Source (or prefix) -> record, capped and aged."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.rows: dict[str, Source] = {}

    def get(self, key: str, now: float) -> Source:
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= self.cap:
                self._evict(now)
            row = self.rows[key] = Source(now, now)
        row.last_seen = now
        return row

    def _evict(self, now: float) -> None:
        # Drop a tenth of the table: sources with no open connection first, least recently seen first.
        # (A source still hammering is seen every sample, so it is never the least recent.)
        victims = heapq.nsmallest(
            max(1, self.cap // 10), self.rows.items(), key=lambda kv: (kv[1].concurrent > 0, kv[1].last_seen)
        )
        for key, _ in victims:
            del self.rows[key]

    def age(self, now: float) -> None:
        stale = [k for k, r in self.rows.items() if now - r.last_seen > IDLE_AFTER and r.concurrent == 0]
        for k in stale:
            del self.rows[k]
