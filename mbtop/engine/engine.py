"""The headless monitor: every source and schedule of mbtop, publishing one ``Frame`` a sample.

The engine owns the sampler (its connection budget and background probes), the protocol checks
(``HealthWatch``), fail2ban on its own schedule (more often while a face shows the Flood tab), the
mail queue and vitals (``GatewayReader``), the log followers and parsers, the flood tracker with
its inbox, the rate tracker and the host findings (smtp-flood, queue, vitals). It runs in threads
of its own: one samples (the next sample is scheduled only after the last was published, never
overlapping), one runs the log followers' asyncio loop. Faces subscribe; callbacks are called
from the engine's threads and must hand over (a Textual app: ``post_message``), not draw.

Textual-free (import contract in pyproject): the live screen, the agent and tests all use it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence

from mbtop.catalog import Catalog
from mbtop.engine.feeds import FLOOD_KINDS, LogBatch, LogFeeds
from mbtop.engine.frame import Frame, LogLines
from mbtop.engine.history import HISTORY_SECONDS, History, trimmed
from mbtop.logs.events import MailEvent, WebEvent
from mbtop.model import cluster as clustermodel
from mbtop.model import queue as queuemodel
from mbtop.model.build import build, with_host_findings
from mbtop.model.flood import FloodState, FloodTracker, Thresholds, finding, firewall_rate, from_firewall, mail_ports
from mbtop.model.gateway import QUEUE_EVERY, GatewayReader, GatewayState
from mbtop.model.history import RateTracker
from mbtop.model.types import Snapshot
from mbtop.model.vitals import VitalsThresholds, extend
from mbtop.probes import cluster, fail2ban
from mbtop.probes.fail2ban import Fail2ban
from mbtop.probes.healthwatch import HealthWatch
from mbtop.probes.sample import Sample, Sampler
from mbtop.probes.schedule import Periodic

log = logging.getLogger(__name__)

Source = Callable[[], Sample]
FrameCallback = Callable[[Frame], None]
LogCallback = Callable[[LogBatch], None]
FAIL2BAN_EVERY = 60.0  # seconds (fail2ban-client is a Python program)
FAIL2BAN_FLOOD_EVERY = 10.0  # seconds, while a face shows the Flood tab
PEER_EVERY = 30.0  # seconds between checks of the cluster's peers
PENDING_EVENTS = 50_000  # log events waiting for the next frame, per log kind (a flood cannot grow it)


def name_thread(name: str) -> None:
    """The calling thread's name as the kernel shows it (/proc/PID/task/*/comm, top -H): an engine
    thread can be told from the screen's threads (a test proves that an attached screen has none)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):  # not Linux: the name stays the interpreter's
        pass


class Engine:
    def __init__(
        self,
        catalog: Catalog,
        source: Source,
        *,
        interval: float = 1.0,
        follow_logs: bool = True,
        thresholds: Thresholds | None = None,
        health_every: float | None = None,
        health_timeout: float = 3.0,
        gateway: bool = False,
        queue_thresholds: queuemodel.QueueThresholds | None = None,
        vitals_thresholds: VitalsThresholds | None = None,
        history_seconds: float = HISTORY_SECONDS,
        peers: Sequence[str] = (),
        peer_timeout: float = cluster.DEFAULT_TIMEOUT,
        peer_every: float = PEER_EVERY,
    ) -> None:
        self.catalog = catalog
        self.source = source
        self.interval = interval
        # The live system's sampler behind ``source`` (None for a recording): asked for a full read
        # on demand, told what each read cost, made to re-read the rules after an action.
        owner = getattr(source, "__self__", None)
        self.sampler: Sampler | None = owner if isinstance(owner, Sampler) else None
        self.follow_logs = follow_logs
        self.thresholds = thresholds or Thresholds()
        self.flood = FloodTracker(mail_ports((p.port, p.service) for p in catalog.ports), self.thresholds)
        self.tracker = RateTracker([p.port for p in catalog.ports])
        # Protocol checks in their own thread; each sample takes the answers that belong to its listeners.
        self.health_watch = HealthWatch(catalog, health_every, health_timeout) if health_every else None
        self._flood_visible = False
        self.fail2ban_job: Periodic[Fail2ban] | None = (
            Periodic(
                "fail2ban", fail2ban.probe, lambda: FAIL2BAN_FLOOD_EVERY if self._flood_visible else FAIL2BAN_EVERY
            )
            if follow_logs
            else None
        )
        # The cluster's peers, checked in a thread of their own (a filtered peer costs the timeout).
        port = clustermodel.cluster_port(catalog)
        self.cluster_job: Periodic[cluster.ClusterState] | None = (
            Periodic("cluster", functools.partial(cluster.probe, tuple(peers), port, peer_timeout), peer_every)
            if peers and port is not None
            else None
        )
        self.gateway = GatewayReader() if gateway else None
        self.queue_thresholds = queue_thresholds or queuemodel.QueueThresholds()
        self.vitals_thresholds = vitals_thresholds or VitalsThresholds()
        self.gateway_state: GatewayState | None = None
        self._gateway_job: Periodic[GatewayState] | None = None
        # Mail log events for the flood tracker: appended by the log thread, drained by the sampling
        # thread (deque append/popleft are thread-safe); bounded so a flood cannot grow it without end.
        self.flood_inbox: deque[tuple[str, str, str | None]] = deque(maxlen=200_000)
        self._flood_state: FloodState | None = None
        self.feeds = LogFeeds(catalog, self._on_logs) if follow_logs else None
        self._lock = threading.Lock()  # subscribers, pending log events, statuses, history
        self._frame_subs: list[FrameCallback] = []
        self._log_subs: list[LogCallback] = []
        self._pending_mail: deque[MailEvent] = deque(maxlen=PENDING_EVENTS)
        self._pending_web: deque[WebEvent] = deque(maxlen=PENDING_EVENTS)
        self._pending_backfill = True
        self._log_status: dict[str, str] = {}
        self.past = History(history_seconds)  # what a viewer attaching to the agent starts with
        self.last: Frame | None = None
        self.error: str | None = None  # why the last sample failed; None after a good one
        self.seq = 0
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # --- faces ---------------------------------------------------------------------------------

    def subscribe(self, callback: FrameCallback) -> Callable[[], None]:
        """Call ``callback(frame)`` (from the engine's thread) with every frame; returns the unsubscribe."""
        with self._lock:
            self._frame_subs.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._frame_subs:
                    self._frame_subs.remove(callback)

        return unsubscribe

    def subscribe_logs(self, callback: LogCallback) -> Callable[[], None]:
        """Call ``callback(batch)`` (from the log thread) with every log batch as it is parsed, for
        a face that shows log lines sooner than the next frame; frames carry them too."""
        with self._lock:
            self._log_subs.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._log_subs:
                    self._log_subs.remove(callback)

        return unsubscribe

    def history(self) -> list[Frame]:
        """The last ``history_seconds`` of frames, oldest first, trimmed (see ``History``)."""
        return self.past.frames()

    def set_flood_visible(self, visible: bool) -> None:
        """A face shows the Flood tab: fail2ban is asked more often then."""
        self._flood_visible = visible

    @property
    def flood_visible(self) -> bool:
        return self._flood_visible

    # --- life ----------------------------------------------------------------------------------

    def start(self) -> Engine:
        if self._thread is not None:
            return self
        # The logs are followed before the first sample starts the protocol checks: a check's SMTP
        # session must reach the follower live (claimed as mbtop's own), not in the backfill.
        if self.feeds is not None:
            self.feeds.start()
        self._thread = threading.Thread(target=self._loop, name="mbtop-engine", daemon=True)
        self._thread.start()
        for job in (self.fail2ban_job, self.cluster_job):
            if job is not None:
                job.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sampling, the followers and the background probes; join the engine's threads."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.feeds is not None:
            self.feeds.stop()
        for job in (self.fail2ban_job, self._gateway_job, self.cluster_job):
            if job is not None:
                job.stop()
        if self.health_watch is not None:
            self.health_watch.stop()
        if self.sampler is not None:
            self.sampler.close()

    def sample_now(self) -> None:
        """Take the next sample at once, and with the whole connection table (the budget waits)."""
        if self.sampler is not None:
            self.sampler.read_connections_next()
        self._wake.set()

    def recheck(self, firewall: bool = False) -> Snapshot:
        """A fresh sample, whole, built (blocking, in the caller's thread): an action's verification.
        ``firewall``: the rules just changed, read them now."""
        if self.sampler is not None:
            self.sampler.read_connections_next()
            if firewall:
                self.sampler.firewall(force=True)
        return build(self.catalog, self.source())

    def refresh_gateway(self) -> GatewayState | None:
        """Read the queue and vitals now (blocking; after a queue action)."""
        if self.gateway is None:
            return None
        return self._read_gateway(self.gateway, force_queue=True)

    def _read_gateway(self, reader: GatewayReader, force_queue: bool = False) -> GatewayState:
        state = reader.read(force_queue=force_queue)
        self.gateway_state = state
        return state

    # --- sampling ------------------------------------------------------------------------------

    def _loop(self) -> None:
        name_thread("mbtop-engine")
        while not self._stopped.is_set():
            self._wake.clear()
            frame: Frame | None
            try:
                frame = self._sample()
            except Exception as exc:  # a probe's failure is shown, never the end of the engine
                error = f"{type(exc).__name__}: {exc}"
                if error != self.error:  # once per new reason, not once a second
                    log.exception("sample failed")
                self.error = error
                frame = None if self.last is None else dataclasses.replace(self.last, error=self.error)
            if frame is not None:
                self._publish(frame)
            reader = self.gateway
            if self._gateway_job is None and reader is not None and self.last is not None:
                # The queue and vitals from the first frame on, on their own cadence.
                self._gateway_job = Periodic(
                    "gateway", functools.partial(self._read_gateway, reader), QUEUE_EVERY
                ).start()
            self._wake.wait(self.interval)

    def _sample(self) -> Frame:
        # Nothing in here waits for a program or a daemon: the slow probes (protocol checks,
        # firewall rules, init scripts, fail2ban) answer from their own threads.
        sample = self.source()
        if self.health_watch is not None:
            sample = dataclasses.replace(sample, health=self.health_watch.observe(sample))
        snapshot = build(self.catalog, sample)
        gateway = self.gateway_state
        if gateway is not None:
            snapshot = extend(snapshot, gateway.queue, gateway.vitals, self.queue_thresholds, self.vitals_thresholds)
        start = time.thread_time()
        rates = self.tracker.update(sample)
        flood = self._flood_update(sample, snapshot)
        if sample.fresh_connections and self.sampler is not None:
            # What a read of the connection table costs includes counting its rates and sources.
            self.sampler.charge_connections(time.thread_time() - start)
        alert = finding(flood) if flood is not None else None
        if alert is not None:
            snapshot = with_host_findings(snapshot, [alert])  # smtp-flood, as `mbtop check` reports it
        if self.cluster_job is not None:
            snapshot = clustermodel.extend(snapshot, self.cluster_job.latest())
        f2b = self.fail2ban_job.latest() if self.fail2ban_job is not None else None
        self.error = None
        return Frame(0, sample, snapshot, rates, flood, f2b, gateway, self._take_logs())

    def _publish(self, frame: Frame) -> None:
        with self._lock:
            self.seq += 1
            frame = dataclasses.replace(frame, seq=self.seq)
            self.last = frame
            subs = list(self._frame_subs)
        self.past.remember(trimmed(frame))
        for callback in subs:
            try:
                callback(frame)
            except Exception:  # one face's bug never stops the others or the engine
                log.exception("frame subscriber failed")

    def _flood_update(self, sample: Sample, snapshot: Snapshot) -> FloodState | None:
        """The flood watch, from a sample with newly read connections (and the log's events since
        the last one); between reads of a big connection table, the last state stands."""
        if not sample.fresh_connections and self._flood_state is not None:
            return self._flood_state
        connects: Counter[str] = Counter()
        inbox = self.flood_inbox
        while inbox:
            kind, address, action = inbox.popleft()
            if kind == "connect" or (kind == "postscreen" and action == "CONNECT"):
                connects[address] += 1
            else:
                self.flood.log_event(address, kind, action, sample.monotonic)
        watched = [p for p in snapshot.ports if p.spec.port in self.flood.ports]
        backlogs = [p.backlog for p in watched if p.backlog]
        rate, where = firewall_rate(sample.firewall, self.flood.ports)
        self.flood.thresholds = from_firewall(self.thresholds, rate, where)
        flood = self.flood.update(
            sample.tcp.sockets,
            sample.monotonic,
            log_connects=connects,
            kernel=sample.netstat,
            queue=sum(p.accept_queue for p in watched),
            backlog=max(backlogs) if backlogs else None,
        )
        self._flood_state = flood
        return flood

    # --- logs ----------------------------------------------------------------------------------

    def _on_logs(self, batch: LogBatch) -> None:
        """From the log thread: feed the flood inbox, keep the events for the next frame, pass it on."""
        if batch.which == "mail":
            for ev in batch.events:
                if (
                    isinstance(ev, MailEvent)
                    and ev.client_ip
                    and ev.kind in FLOOD_KINDS
                    and ev.line_no > batch.history
                    and not ev.own
                ):
                    self.flood_inbox.append((ev.kind, ev.client_ip, ev.fields.get("action")))
        with self._lock:
            if batch.which == "mail":
                self._pending_mail.extend(batch.events)  # type: ignore[arg-type]
            else:
                self._pending_web.extend(batch.events)  # type: ignore[arg-type]
            if batch.events and not batch.backfill:
                self._pending_backfill = False
            self._log_status[batch.path] = batch.status
            subs = list(self._log_subs)
        for callback in subs:
            try:
                callback(batch)
            except Exception:
                log.exception("log subscriber failed")

    def _take_logs(self) -> LogLines:
        with self._lock:
            mail, web = tuple(self._pending_mail), tuple(self._pending_web)
            self._pending_mail.clear()
            self._pending_web.clear()
            backfill = self._pending_backfill and bool(mail or web)
            self._pending_backfill = True
            return LogLines(mail, web, tuple(self._log_status.items()), backfill)
