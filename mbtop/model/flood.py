"""SMTP flood watch: who is connecting to the mail ports, how hard, and whether it crosses a threshold.

Pure and bounded.  Per source address (and per /24 or /64) it keeps one small
record — first/last seen, new connections per second for the last minute,
rejects, auth failures, postscreen verdicts — in a table capped at
``MAX_SOURCES``; when full, the quietest, oldest records go first, and records
idle for ``IDLE_AFTER`` seconds age out.  New connections are counted both from
consecutive socket samples and from Postfix's log (``connect from`` /
postscreen ``CONNECT``), taking whichever saw more.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from mbtop.model.floodtable import WINDOW, Source, Table, prefix_of
from mbtop.model.types import Finding
from mbtop.probes.firewall import FirewallState
from mbtop.probes.firewall.engine import Rate
from mbtop.probes.types import InetSocket

MAX_SOURCES = 5000
TOP = 10
KERNEL_COUNTERS = ("ListenOverflows", "ListenDrops", "SyncookiesSent", "TCPReqQFullDrop")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Defaults from the reference: its iptables example allows 100 new connections a minute on 25;
    `ufw limit` lets one source make 6 connections in 30 s; Postfix serves 100 sessions at once."""

    total_per_minute: float = 100.0
    source_per_30s: float = 6.0
    concurrent: int = 80
    syn_recv: int = 50
    queue_fill: float = 0.8
    explicit: frozenset[str] = frozenset()  # set in the config: never replaced by a derived value
    origin: str = "reference defaults"


def from_firewall(t: Thresholds, rate: Rate | None, where: str) -> Thresholds:
    """Thresholds matched to the rate limit actually in force on the SMTP port (unless configured).

    A per-source limit (ufw limit: 5 per 30 s) becomes the per-source threshold, a global one
    (iptables -m limit 100/minute) the total: the alert fires when the firewall starts refusing.
    """
    if rate is None or rate.seconds <= 0:
        return t
    if rate.per_source and "source_per_30s" not in t.explicit:
        value = round(rate.count * 30.0 / rate.seconds, 2)
        return replace(t, source_per_30s=value, origin=f"firewall: {where}")
    if not rate.per_source and "total_per_minute" not in t.explicit:
        value = round(rate.count * 60.0 / rate.seconds, 2)
        return replace(t, total_per_minute=value, origin=f"firewall: {where}")
    return t


@dataclass(frozen=True, slots=True)
class TopSource:
    address: str
    concurrent: int
    new_per_min: float
    new_per_30s: int
    rejects: int
    auth_failures: int
    postscreen: tuple[tuple[str, int], ...]
    first_seen: float  # monotonic
    rate_limits: int = 0
    pipelining: int = 0
    non_smtp: int = 0


@dataclass(frozen=True, slots=True)
class FloodState:
    ports: tuple[int, ...]
    new_per_s: float  # over the last sample interval
    new_per_10s: float  # per second, averaged over 10 s
    new_per_min: float  # connections in the last 60 s
    concurrent: int
    syn_recv: int
    queue: int
    backlog: int | None
    kernel: Mapping[str, int]  # counter deltas since the previous sample
    alert: bool
    reasons: tuple[str, ...]
    top_sources: tuple[TopSource, ...]
    top_prefixes: tuple[TopSource, ...]
    history: tuple[float, ...]  # new connections per second, oldest first
    sources_tracked: int
    thresholds: Thresholds = field(default_factory=lambda: Thresholds())


_OPEN = frozenset({"SYN_RECV", "ESTABLISHED", "CLOSE_WAIT"})  # states that hold a connection open


class FloodTracker:
    def __init__(self, ports: Iterable[int], thresholds: Thresholds | None = None, cap: int = MAX_SOURCES) -> None:
        self.ports = tuple(ports)
        self.thresholds = thresholds or Thresholds()
        self._sources = Table(cap)
        self._prefixes = Table(cap)
        self._prev_keys: dict[int, str] | None = None  # connection id -> its remote address
        self._prev_t: float | None = None
        self._prev_kernel: Mapping[str, int] | None = None
        self._totals: deque[tuple[int, int]] = deque(maxlen=WINDOW)  # (second, new)
        self._history: deque[float] = deque(maxlen=120)

    def log_event(self, address: str | None, kind: str, action: str | None, now: float) -> None:
        """A mail log event about a source: rejects, auth failures, postscreen verdicts, and the signs of
        bots: rate limits hit, improper pipelining, non-SMTP commands."""
        if not address:
            return
        row = self._sources.get(address, now)
        if kind == "reject" or kind == "milter_reject":
            row.rejects += 1
        elif kind == "sasl_fail":
            row.auth_failures += 1
        elif kind == "rate_limit":
            row.rate_limits += 1
        elif kind == "pipelining":
            row.pipelining += 1
        elif kind == "non_smtp":
            row.non_smtp += 1
        elif kind == "postscreen" and action and action != "CONNECT":
            row.postscreen[action] += 1
            if action == "COMMAND PIPELINING":
                row.pipelining += 1
            elif action == "NON-SMTP COMMAND":
                row.non_smtp += 1

    def update(
        self,
        sockets: Iterable[InetSocket],
        now: float,
        log_connects: Mapping[str, int] | None = None,
        kernel: Mapping[str, int] | None = None,
        queue: int = 0,
        backlog: int | None = None,
    ) -> FloodState:
        """One sample: the sockets of the flood ports, and the log's connects per source since the last one."""
        ports = frozenset(self.ports)
        keys: dict[int, str] = {}
        counts: dict[str, int] = {}
        count = counts.get
        syn_recv = 0
        # Once per connection per sample: fields unpacked in the loop header, no attribute lookups.
        for _fam, state, local, lport, remote, rport, _inode, _uid, _rq, _wq, _if in sockets:
            if lport not in ports or state == "LISTEN":
                continue
            if state in _OPEN:
                counts[remote] = count(remote, 0) + 1
                if state == "SYN_RECV":
                    syn_recv += 1
            keys[hash((local, lport, remote, rport))] = remote
        concurrent = Counter(counts)
        sampled_new: Counter[str] = Counter()
        if self._prev_keys is not None:
            prev = self._prev_keys
            for k, address in keys.items():
                if k not in prev:
                    sampled_new[address] += 1
        logged = Counter(log_connects or {})
        sec = int(now)
        total_new = 0
        for address in set(sampled_new) | set(logged):
            n = max(sampled_new[address], logged[address])  # whichever saw more
            total_new += n
            self._sources.get(address, now).add_new(sec, n)
            self._prefixes.get(prefix_of(address), now).add_new(sec, n)
        for row in self._sources.rows.values():
            row.concurrent = 0
        for row in self._prefixes.rows.values():
            row.concurrent = 0
        # With more sources than the table holds, only the heaviest are recorded one by one (the
        # totals count them all): inserting every source would evict as many, every sample.
        by_prefix: Counter[str] = Counter()
        for address, n in concurrent.items():
            by_prefix[prefix_of(address)] += n
        for table, counts in ((self._sources, concurrent), (self._prefixes, by_prefix)):
            heavy = counts.most_common(table.cap // 2) if len(counts) > table.cap // 2 else counts.items()
            for key, n in heavy:
                table.get(key, now).concurrent = n
        self._sources.age(now)
        self._prefixes.age(now)
        dt = now - self._prev_t if self._prev_t is not None else None
        first = self._prev_keys is None and not logged
        self._prev_keys, self._prev_t = keys, now
        if not first:
            if self._totals and self._totals[-1][0] == sec:
                self._totals[-1] = (sec, self._totals[-1][1] + total_new)
            else:
                self._totals.append((sec, total_new))
        rate = total_new / dt if dt and dt > 0 else 0.0
        if not first:
            self._history.append(rate)
        per_min = float(sum(n for s, n in self._totals if s > now - 60))
        per_10 = sum(n for s, n in self._totals if s > now - 10) / 10.0
        deltas: dict[str, int] = {}
        if kernel is not None and self._prev_kernel is not None:
            deltas = {k: max(0, kernel.get(k, 0) - self._prev_kernel.get(k, 0)) for k in KERNEL_COUNTERS}
        if kernel is not None:
            self._prev_kernel = dict(kernel)
        top = self._top(self._sources, now)
        reasons = self._reasons(per_min, sum(concurrent.values()), syn_recv, queue, backlog, top, deltas)
        return FloodState(
            ports=self.ports,
            new_per_s=rate,
            new_per_10s=per_10,
            new_per_min=per_min,
            concurrent=sum(concurrent.values()),
            syn_recv=syn_recv,
            queue=queue,
            backlog=backlog,
            kernel=deltas,
            alert=bool(reasons),
            reasons=tuple(reasons),
            top_sources=top,
            top_prefixes=self._top(self._prefixes, now),
            history=tuple(self._history),
            sources_tracked=len(self._sources.rows),
            thresholds=self.thresholds,
        )

    def _top(self, table: Table, now: float) -> tuple[TopSource, ...]:
        def signs(r: Source) -> int:
            return r.rejects + r.auth_failures + r.rate_limits + r.pipelining + r.non_smtp

        ranked = sorted(
            table.rows.items(),
            key=lambda kv: (-(kv[1].concurrent + kv[1].new_in(now, WINDOW)), -signs(kv[1]), kv[0]),
        )
        out = []
        for address, r in ranked[:TOP]:
            if r.concurrent == 0 and r.new_in(now, WINDOW) == 0 and signs(r) == 0:
                continue
            out.append(
                TopSource(
                    address,
                    r.concurrent,
                    float(r.new_in(now, WINDOW)),
                    r.new_in(now, 30),
                    r.rejects,
                    r.auth_failures,
                    tuple(sorted(r.postscreen.items())),
                    r.first_seen,
                    r.rate_limits,
                    r.pipelining,
                    r.non_smtp,
                )
            )
        return tuple(out)

    def _reasons(
        self,
        per_min: float,
        concurrent: int,
        syn_recv: int,
        queue: int,
        backlog: int | None,
        top: tuple[TopSource, ...],
        kernel: Mapping[str, int],
    ) -> list[str]:
        t = self.thresholds
        out: list[str] = []
        if per_min > t.total_per_minute:
            out.append(f"{per_min:.0f} new connections in the last minute (threshold {t.total_per_minute:.0f})")
        over = [s for s in top if s.new_per_30s > t.source_per_30s]
        if over:
            out.append(
                f"{over[0].address} opened {over[0].new_per_30s} connections in 30 s "
                f"(threshold {t.source_per_30s:.0f})" + (f" and {len(over) - 1} more sources" if len(over) > 1 else "")
            )
        if concurrent > t.concurrent:
            out.append(f"{concurrent} concurrent connections (threshold {t.concurrent})")
        if syn_recv > t.syn_recv:
            out.append(f"{syn_recv} half-open connections (SYN_RECV, threshold {t.syn_recv})")
        if backlog and queue >= t.queue_fill * backlog:
            out.append(f"accept queue {queue}/{backlog}")
        dropped = kernel.get("ListenOverflows", 0) + kernel.get("ListenDrops", 0) + kernel.get("TCPReqQFullDrop", 0)
        if dropped:
            out.append(f"the kernel dropped {dropped} connection attempts (listen queue overflow)")
        return out


def mail_ports(ports: Iterable[tuple[int, str]]) -> tuple[int, ...]:
    """The flood-watched ports: every documented port of the Postfix service ((port, service) pairs)."""
    return tuple(p for p, service in ports if service == "postfix")


def finding(state: FloodState) -> Finding | None:
    if not state.alert:
        return None
    ports = "/".join(str(p) for p in state.ports)
    top = state.top_sources[0].address if state.top_sources else None
    return Finding(
        "warning",
        "smtp-flood",
        f"SMTP flood on {ports}: " + "; ".join(state.reasons),
        "see who in the flood view (5); block the top source"
        + (f" ({top})" if top else "")
        + " with the firewall, or rate-limit the port (ufw limit 25/tcp)",
        port=state.ports[0] if state.ports else None,
        action=f"block {top}" if top else None,
    )


def firewall_rate(state: FirewallState | None, ports: Iterable[int]) -> tuple[Rate | None, str]:
    """The rate limit the firewall puts on the first flood-watched port that has one."""
    if state is None:
        return None, ""
    for port in ports:
        fw = state.get(port)
        if fw is not None and fw.verdict == "limit" and fw.rate is not None:
            return fw.rate, f"{port}: {fw.limit}"
    return None, ""
