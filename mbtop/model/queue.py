"""The mail queue in numbers: counts, bytes and ages per queue, top domains and senders, deferred
reasons grouped, and qshape's age table. Pure functions over the probe's messages, in one pass."""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from mbtop.model.types import Finding
from mbtop.probes import queue as probe

QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")
COUNTED = (*QUEUES, "corrupt")
TOP = 20
SHAPE_TICK = 5  # minutes: qshape's default bucket time
SHAPE_BUCKETS = 10  # qshape's default bucket count
SHAPE_WIDTH = 80
SHAPE_DOMAIN_WIDTH = 18


@dataclass(frozen=True, slots=True)
class QueueThresholds:
    messages: int = 100  # Mailborder's daily check: the queue stays under 100 messages
    deferred_hours: float = 4.0  # a deferred message older than this is a finding


@dataclass(frozen=True, slots=True)
class Shape:
    """qshape's table: ``heads`` ("T", "5", "10", … "1280+") and rows (domain, counts), TOTAL first."""

    heads: tuple[str, ...]
    rows: tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True, slots=True)
class QueueState:
    available: bool
    reason: str | None = None  # why not available, or what was only partly read
    taken_at: float = 0.0
    seconds: float = 0.0  # how long the read took
    counts: tuple[tuple[str, int], ...] = ()
    bytes: tuple[tuple[str, int], ...] = ()
    oldest_seconds: tuple[tuple[str, float | None], ...] = ()
    top_domains: tuple[tuple[str, int], ...] = ()
    top_senders: tuple[tuple[str, int], ...] = ()
    deferred_reasons: tuple[tuple[str, int], ...] = ()
    shapes: tuple[tuple[str, Shape], ...] = ()  # per queue

    def count(self, queue: str) -> int:
        return dict(self.counts).get(queue, 0)

    @property
    def total(self) -> int:
        """Messages in the queue (corrupt files are not messages any more)."""
        return sum(n for q, n in self.counts if q != "corrupt")

    def shape(self, queues: Iterable[str] = ("deferred",)) -> Shape:
        return merge_shapes([s for q, s in self.shapes if q in set(queues)])


def unavailable(reason: str) -> QueueState:
    return QueueState(available=False, reason=reason, taken_at=time.time())


def domain_of(address: str) -> str:
    """A recipient's domain exactly as qshape computes it (lower case, after the last @)."""
    a = address.lower()
    if a == "":
        return "MAILER-DAEMON"
    at = a.rfind("@")
    if at >= 0:
        a = a[at + 1 :]
    a = a.replace("..", ".")
    return _EDGE_DOTS.sub(r"\1", a, count=1)


_EDGE_DOTS = re.compile(r"\.?(.+?)\.?$")


def sender_key(sender: str) -> str:
    return sender.lower() if sender else "MAILER-DAEMON"


_NORMALISE = (
    (re.compile(r"<[^<>\s]*@[^<>\s]*>|[^\s<>()\[\]'\",;:]+@[^\s<>()\[\]'\",;]+"), "<address>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "IP"),
    (re.compile(r"\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]"), "[IP]"),
    (re.compile(r"\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{8,}\b"), "<id>"),
    (re.compile(r"\b\d{5,}\b"), "N"),
    (re.compile(r"\s+"), " "),
)
_REASON_CACHE: dict[str, str] = {}


def normalise_reason(reason: str) -> str:
    """The remote's reply without what differs between messages: addresses, queue ids, long numbers."""
    cached = _REASON_CACHE.get(reason)
    if cached is not None:
        return cached
    # qmgr's "delivery temporarily suspended: X" for the messages behind the one that met X: one cause.
    text = reason.removeprefix("delivery temporarily suspended: ")
    for pattern, repl in _NORMALISE:
        text = pattern.sub(repl, text)
    text = text.strip()[:300] or "(no reason given)"
    if len(_REASON_CACHE) >= 10_000:
        _REASON_CACHE.clear()
    _REASON_CACHE[reason] = text
    return text


def bucket(arrival: float, now: float, tick: int = SHAPE_TICK, buckets: int = SHAPE_BUCKETS) -> int:
    """qshape's bucket of a message (1 … buckets), with qshape's own arithmetic."""
    m = (now - arrival) / (60 * tick)
    if m < 1:
        return 1
    b = 2 + int(math.log(m) / math.log(2))
    return b if b < buckets else buckets


def shape_heads(tick: int = SHAPE_TICK, buckets: int = SHAPE_BUCKETS) -> tuple[str, ...]:
    heads = ["T"]
    t = tick
    for i in range(1, buckets + 1):
        heads.append(f"{t}+" if i == buckets else str(t))
        if i < buckets - 1:
            t += t
    return tuple(heads)


@dataclass
class _Tally:
    """One pass over the messages: everything the state needs, nothing per message kept."""

    now: float
    counts: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    oldest: dict[str, float] = field(default_factory=dict)
    domains: dict[str, int] = field(default_factory=dict)
    senders: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def add(self, m: probe.Message) -> None:
        q = m.queue
        self.counts[q] = self.counts.get(q, 0) + 1
        self.sizes[q] = self.sizes.get(q, 0) + m.size
        old = self.oldest.get(q)
        if m.arrival and (old is None or m.arrival < old):
            self.oldest[q] = m.arrival
        s = sender_key(m.sender)
        self.senders[s] = self.senders.get(s, 0) + 1
        shape = self.shapes.get(q)
        if shape is None:
            shape = self.shapes[q] = {}
        b = bucket(m.arrival, self.now)
        seen: set[str] = set()
        why: set[str] = set()
        for address, reason in m.recipients:
            d = domain_of(address)
            row = shape.get(d)
            if row is None:
                row = shape[d] = [0] * (SHAPE_BUCKETS + 1)
            row[0] += 1
            row[b] += 1
            seen.add(d)
            if reason is not None and q == "deferred":
                why.add(normalise_reason(reason))
        for d in seen:
            self.domains[d] = self.domains.get(d, 0) + 1
        for r in why:
            self.reasons[r] = self.reasons.get(r, 0) + 1


def _top(counter: dict[str, int], n: int = TOP) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def _shape(rows: dict[str, list[int]], limit: int | None) -> Shape:
    total = [0] * (SHAPE_BUCKETS + 1)
    for counts in rows.values():
        for i, n in enumerate(counts):
            total[i] += n
    ordered = sorted(rows.items(), key=lambda kv: (-kv[1][0], len(kv[0]), kv[0]))
    if limit is not None:
        ordered = ordered[:limit]
    return Shape(shape_heads(), (("TOTAL", tuple(total)), *((d, tuple(c)) for d, c in ordered)))


def shape_text(shape: Shape, width: int = SHAPE_WIDTH) -> str:
    """The table in qshape's own layout (column widths, right-aligned domains, ``+`` for a cut name)."""
    total = shape.rows[0][1] if shape.rows else (0,) * len(shape.heads)
    widths: list[int] = []
    for head, n in zip(shape.heads, total, strict=True):
        w = max(len(str(n)), len(head))
        widths.append(w + 1 if w > 2 else 3)
    dw = max(SHAPE_DOMAIN_WIDTH, max(width, SHAPE_WIDTH) - sum(widths))

    def line(name: str, cells: Iterable[object]) -> str:
        n = len(name)
        if n > dw:
            name = ".+" + name[n - dw + 2 :] if name.startswith(".") else "+" + name[n - dw + 1 :]
        else:
            name = name.rjust(dw)
        return name + "".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([line("", shape.heads), *(line(d, c) for d, c in shape.rows)]) + "\n"


def merge_shapes(shapes: Iterable[Shape]) -> Shape:
    rows: dict[str, list[int]] = {}
    for s in shapes:
        for d, counts in s.rows:
            if d == "TOTAL":
                continue
            row = rows.setdefault(d, [0] * (SHAPE_BUCKETS + 1))
            for i, n in enumerate(counts):
                row[i] += n
    return _shape(rows, None)


def summarise(
    messages: Iterable[probe.Message],
    now: float,
    corrupt: probe.Corrupt | None = None,
    shape_limit: int | None = 50,
) -> QueueState:
    """The queue's state from its messages (streamed: 100,000 of them need no list)."""
    t = _Tally(now)
    add = t.add
    for m in messages:
        add(m)
    c = corrupt or probe.Corrupt()
    counts = {q: t.counts.get(q, 0) for q in QUEUES}
    counts["corrupt"] = c.count
    sizes = {q: t.sizes.get(q, 0) for q in QUEUES}
    sizes["corrupt"] = c.size
    oldest: dict[str, float | None] = {q: (max(0.0, now - t.oldest[q]) if q in t.oldest else None) for q in QUEUES}
    oldest["corrupt"] = max(0.0, now - c.oldest) if c.oldest is not None else None
    return QueueState(
        available=True,
        reason=c.error,
        taken_at=now,
        counts=tuple(counts.items()),
        bytes=tuple(sizes.items()),
        oldest_seconds=tuple(oldest.items()),
        top_domains=_top(t.domains),
        top_senders=_top(t.senders),
        deferred_reasons=_top(t.reasons),
        shapes=tuple((q, _shape(rows, shape_limit)) for q, rows in sorted(t.shapes.items())),
    )


def read(
    config_dir: str | None = None, shape_limit: int | None = 50, timeout: float = probe.QUEUE_TIMEOUT
) -> QueueState:
    """Read the live queue (blocking, bounded by ``timeout``): call it off the UI thread."""
    if probe.which("postqueue") is None:
        return unavailable("Postfix is not installed (no postqueue)")
    now = time.time()
    reader = probe.Reader(config_dir, timeout)
    spool = probe.corrupt(probe.queue_directory(config_dir))
    state = summarise(reader, now, spool, shape_limit)
    if reader.error is not None:
        return QueueState(available=False, reason=reader.error, taken_at=now, seconds=reader.seconds)
    return dataclasses.replace(state, seconds=reader.seconds)


# --- selection: the messages of a sender, a domain, a reason (drill-down and actions) -------------


SELECTORS = ("id", "sender", "domain", "reason", "queue")


def matches(m: probe.Message, by: str, value: str) -> bool:
    if by == "id":
        return m.queue_id == value
    if by == "sender":
        return sender_key(m.sender) == value.lower() or (value == "MAILER-DAEMON" and not m.sender)
    if by == "domain":
        want = value.lower()
        return any(domain_of(a) == want for a, _ in m.recipients)
    if by == "reason":
        return m.queue == "deferred" and any(r is not None and normalise_reason(r) == value for _, r in m.recipients)
    if by == "queue":
        return m.queue == value
    raise ValueError(f"unknown selector {by!r} (one of {', '.join(SELECTORS)})")


def select(
    messages: Iterable[probe.Message], by: str, value: str, queues: Iterable[str] | None = None
) -> list[probe.Message]:
    """The messages ``by`` = ``value`` (in ``queues`` when given), in the queue's order."""
    allowed = set(queues) if queues is not None else None
    return [m for m in messages if (allowed is None or m.queue in allowed) and matches(m, by, value)]


# --- findings -----------------------------------------------------------------------------------


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def findings(state: QueueState, t: QueueThresholds) -> list[Finding]:
    if not state.available:
        return []
    out: list[Finding] = []
    total = state.total
    if total > t.messages:
        out.append(
            Finding(
                "warning",
                "queue-over-threshold",
                f"the mail queue holds {total} messages (threshold {t.messages})",
                "see why in the Queue tab (8) or `mbtop queue`: deferred reasons (a dead relay) and top senders "
                "(an outbound spam run); once fixed, `postqueue -f`",
            )
        )
    age = dict(state.oldest_seconds).get("deferred")
    if age is not None and age > t.deferred_hours * 3600:
        out.append(
            Finding(
                "warning",
                "queue-deferred-old",
                f"a deferred message has waited {_age(age)} (threshold {t.deferred_hours:g} h)",
                "read its deferred reason (`mbtop queue`, `postqueue -p`); fix the destination or route, "
                "or delete the mail that will never go (`mbtop queue delete --reason …`)",
            )
        )
    held = state.count("hold")
    if held:
        out.append(
            Finding(
                "warning",
                "queue-hold",
                f"{held} message(s) on hold",
                "held mail is never delivered until released: look at it (`mbtop queue`), then "
                "`mbtop queue release` or `mbtop queue delete`",
            )
        )
    bad = state.count("corrupt")
    if bad:
        out.append(
            Finding(
                "warning",
                "queue-corrupt",
                f"{bad} corrupt queue file(s) in the spool's corrupt directory",
                "Postfix could not read them: look in the mail log for the queue ids and `postsuper -s`; "
                "the files stay until removed by hand",
            )
        )
    return out
