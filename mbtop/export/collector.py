"""The Prometheus collector over the last frame the engine published.

``FrameCollector`` is an engine subscriber: ``collector(frame)`` (from the engine's thread) adds
the frame's new connections and log events to the exporter's counters and keeps the frame; that
is all the engine waits for. A scrape (``collect``, from the HTTP server's thread) formats that
frame: it never samples, and it takes no lock the engine holds. The counters are dicts replaced
whole by the one writer (copy on write), so a scrape reads a consistent set without a lock.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from mbtop import __version__
from mbtop.export.families import frame_families

if TYPE_CHECKING:
    from mbtop.engine.frame import Frame
    from mbtop.model.history import Rates

log = logging.getLogger(__name__)

# Extra families from outside the frame (issue 20: mbtop.export.cluster's mbtop_cluster_peer_up):
# each is called at every scrape, from the server's thread, and must answer at once.
ExtraFamilies = Callable[[], Iterable[Metric]]

# The parser's mail event kinds (mbtop.logs.events.MailEvent.kind): a kind outside them counts as "other".
MAIL_KINDS = (
    "connect", "disconnect", "lost_connection", "timeout", "too_many_errors", "reject", "reject_warning",
    "sasl_fail", "postscreen", "anvil", "rate_limit", "pipelining", "non_smtp", "tls", "tls_error", "tlsproxy",
    "dnsbl", "client", "cleanup", "qmgr", "removed", "delivery", "bounce", "milter_reject", "daemon", "warning",
    "fatal", "panic", "other",
)  # fmt: skip
WEB_KINDS = ("1xx", "2xx", "3xx", "4xx", "5xx", "error", "other")  # nginx: access lines by status class
_MAIL = frozenset(MAIL_KINDS)


def web_kind(kind: str, status: int | None) -> str:
    if kind == "error":
        return "error"
    if kind == "access" and status is not None and 100 <= status <= 599:
        return f"{status // 100}xx"
    return "other"


class FrameCollector(Collector):
    def __init__(self, extra: Sequence[ExtraFamilies] = (), clock: Callable[[], float] = time.time) -> None:
        self.extra = tuple(extra)
        self.clock = clock
        self._frame: Frame | None = None
        self._frames = 0
        self._logs: dict[tuple[str, str], int] = {("mail", k): 0 for k in MAIL_KINDS} | {
            ("nginx", k): 0 for k in WEB_KINDS
        }
        self._new: dict[tuple[str, str], int] = {}  # (port, daemon) -> new connections seen
        self._rates: Rates | None = None
        self._rates_at: float | None = None  # monotonic time of the sample those rates were counted at

    # --- the engine's side ----------------------------------------------------------------------

    def __call__(self, frame: Frame) -> None:
        """A frame from the engine: count what is new in it, keep it for the next scrape."""
        if frame.rates is not self._rates:  # the rates are counted again only when connections were read
            self._count_new(frame)
        if not frame.logs.backfill and (frame.logs.mail or frame.logs.web):
            self._count_logs(frame)
        self._frames += 1
        self._frame = frame

    def _count_new(self, frame: Frame) -> None:
        rates, now = frame.rates, frame.sample.monotonic
        previous, self._rates, self._rates_at = self._rates_at, rates, now
        daemons = {p.spec.port: p.spec.service for p in frame.snapshot.ports}
        new = dict(self._new)
        for port, daemon in daemons.items():  # every port's series from the first frame on, at 0
            new.setdefault((str(port), daemon), 0)
        self._new = new
        if previous is None or not rates.new_per_s or now <= previous:
            return
        dt = now - previous  # the interval the tracker divided by: rate x dt is the count it saw
        new = dict(new)
        for port, rate in rates.new_per_s.items():
            key = (str(port), daemons.get(port, ""))
            new[key] = new.get(key, 0) + round(rate * dt)
        self._new = new

    def _count_logs(self, frame: Frame) -> None:
        counts = dict(self._logs)
        for ev in frame.logs.mail:
            if not ev.own:
                key = ("mail", ev.kind if ev.kind in _MAIL else "other")
                counts[key] = counts.get(key, 0) + 1
        for w in frame.logs.web:
            if not w.own:
                key = ("nginx", web_kind(w.kind, w.status))
                counts[key] = counts.get(key, 0) + 1
        self._logs = counts

    # --- the scrape's side ----------------------------------------------------------------------

    def describe(self) -> list[Metric]:
        return []  # registering must not collect (no frame yet); names are checked by the tests

    def collect(self) -> Iterator[Metric]:
        start = time.perf_counter()
        frame = self._frame
        info = InfoMetricFamily("mbtop", "the mbtop agent serving these metrics")
        info.add_metric([], {"version": __version__})
        yield info
        age = math.nan if frame is None else max(0.0, self.clock() - frame.time)
        yield GaugeMetricFamily(
            "mbtop_sample_age_seconds", "seconds since the sample these metrics come from (NaN: none yet)", value=age
        )
        yield CounterMetricFamily("mbtop_frames", "frames the engine published to the exporter", value=self._frames)
        if frame is not None:
            yield GaugeMetricFamily(
                "mbtop_sample_failed", "1 when the last sample failed (the metrics repeat the last good one)",
                value=frame.error is not None,
            )  # fmt: skip
            yield from frame_families(frame)
        new = CounterMetricFamily(
            "mbtop_port_new_connections",
            "new TCP connections seen to the documented port since the agent started",
            labels=["port", "daemon"],
        )
        for (port, daemon), n in sorted(self._new.items()):
            new.add_metric([port, daemon], float(n))
        yield new
        events = CounterMetricFamily(
            "mbtop_log_events",
            "log events since the agent started: Postfix event kinds (log=mail), nginx status classes (log=nginx)",
            labels=["log", "kind"],
        )
        for (which, kind), n in sorted(self._logs.items()):
            events.add_metric([which, kind], float(n))
        yield events
        for extra in self.extra:
            try:
                yield from extra()
            except Exception:  # one extra's failure never costs the scrape
                log.exception("extra metric families failed")
        yield GaugeMetricFamily(
            "mbtop_scrape_duration_seconds",
            "seconds this scrape took to collect its metrics from the last frame",
            value=time.perf_counter() - start,
        )
