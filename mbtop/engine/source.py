"""Where a face reads frames from: the one interface between the screen and whatever makes frames.

``FrameSource`` is deliberately small. A face calls ``start(on_frame, on_logs)`` once and
``stop()`` once; the callbacks may come from any thread (a Textual face hands them over with
``post_message``). ``live`` says whether the frames are the machine now: only then may a face run
actions, whose verification is ``recheck``. Everything else is a hint a source may ignore.

- ``LiveSource(engine)``: an in-process ``Engine`` (``sudo mbtop`` with no agent).
- ``SampleReplaySource``: the JSON sample recordings of ``mbtop record`` / ``mbtop --replay FILE``
  (``mbtop.probes.record``), played through an engine so they give the frames the machine would.

- ``AttachSource`` (``mbtop.engine.attach``): the frames of ``mbtop agent`` over its socket, chosen
  by ``screen_source`` when an agent answers; the machine is then sampled once, by the agent.

A recorded source (the recorder's SQLite files) implements the same protocol; the screen does not
change for them. A source may also say where its frames come from (``via``, for the header) and
why it is not what was asked for (``note``: an agent that refused, shown once).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from mbtop.catalog import Catalog
from mbtop.config import Config
from mbtop.engine.engine import Engine
from mbtop.engine.feeds import LogBatch
from mbtop.engine.frame import Frame
from mbtop.engine.history import HISTORY_SECONDS
from mbtop.model.flood import Thresholds
from mbtop.model.types import Snapshot
from mbtop.probes.record import Replay, load
from mbtop.probes.sample import CONNECTIONS_BUDGET, Sample, Sampler

FrameCallback = Callable[[Frame], None]
LogCallback = Callable[[LogBatch], None]


class FrameSource(Protocol):
    """What the screen needs from a source of frames."""

    @property
    def live(self) -> bool:
        """The frames are this machine now: actions may run (and ``recheck`` answers)."""
        ...

    def start(self, on_frame: FrameCallback, on_logs: LogCallback) -> None:
        """Begin delivering: every frame to ``on_frame``; log batches as they come to ``on_logs``
        (a source without them delivers the frames' ``logs`` only). Called once."""
        ...

    def stop(self) -> None:
        """Stop delivering and release what the source holds (threads, files, sockets)."""
        ...

    def sample_now(self) -> None:
        """The next frame now (the `r` key); a recording may step instead, or ignore it."""
        ...

    def recheck(self, firewall: bool = False) -> Snapshot | None:
        """Blocking: the machine as it is now, after an action (None: not a live source)."""
        ...

    def set_flood_visible(self, visible: bool) -> None:
        """A hint: the Flood tab is shown (fail2ban is asked more often)."""
        ...

    def history(self) -> Sequence[Frame]:
        """Frames from before ``start`` (oldest first, trimmed) for a face that attaches late."""
        ...


class LiveSource:
    """Frames from an in-process engine. The engine is started by ``start`` and stopped by ``stop``."""

    via = ""  # the header's word on where frames come from: an engine of this process says nothing
    note = ""  # why this is not the agent's frames (it refused), for the screen to say once

    def __init__(self, engine: Engine, live: bool = True) -> None:
        self.engine = engine
        self._live = live and engine.sampler is not None
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def live(self) -> bool:
        return self._live

    def start(self, on_frame: FrameCallback, on_logs: LogCallback) -> None:
        self._unsubscribe = [self.engine.subscribe(on_frame), self.engine.subscribe_logs(on_logs)]
        self.engine.start()

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self.engine.stop()

    def sample_now(self) -> None:
        self.engine.sample_now()

    def recheck(self, firewall: bool = False) -> Snapshot | None:
        return self.engine.recheck(firewall) if self._live else None

    def set_flood_visible(self, visible: bool) -> None:
        self.engine.set_flood_visible(visible)

    def history(self) -> Sequence[Frame]:
        return self.engine.history()

    def refresh_gateway(self) -> None:
        """Read the queue and vitals now (blocking; after a queue action)."""
        if self._live:
            self.engine.refresh_gateway()


class SampleReplaySource(LiveSource):
    """Today's JSON sample recordings, played in a loop through an engine: no protocol checks, no
    queue or vitals, never live. Logs are followed only when ``follow_logs`` (tests point the
    catalog's logs at files of their own)."""

    def __init__(
        self,
        catalog: Catalog,
        samples: Sequence[Sample] | Replay,
        interval: float = 1.0,
        follow_logs: bool = False,
        thresholds: Thresholds | None = None,
    ) -> None:
        replay = samples if isinstance(samples, Replay) else Replay(list(samples))
        engine = Engine(catalog, replay, interval=interval, follow_logs=follow_logs, thresholds=thresholds)
        super().__init__(engine, live=False)

    @classmethod
    def from_file(
        cls, catalog: Catalog, path: Path, interval: float = 1.0, follow_logs: bool = False
    ) -> SampleReplaySource:
        return cls(catalog, load(path), interval=interval, follow_logs=follow_logs)


def screen_source(cfg: Config, args: argparse.Namespace, interval: float) -> FrameSource:
    """What ``sudo mbtop`` reads: a recording given with ``--replay FILE``; else the agent's frames
    when one answers on its socket (``--no-attach``: never); else an engine on this machine."""
    replay = getattr(args, "replay", None)
    if replay:
        return SampleReplaySource(cfg.catalog, load(Path(replay)), interval, follow_logs=True, thresholds=cfg.flood)
    netlink = not getattr(args, "no_netlink", False)
    firewall = not getattr(args, "no_firewall", False)
    health = not getattr(args, "no_health", False)

    def own() -> LiveSource:
        # Nobody attaches to a screen's own engine: it keeps no past for viewers.
        opts = {"netlink": netlink, "firewall": firewall, "health": health}
        return LiveSource(live_engine(cfg, interval=interval, history_seconds=0.0, **opts))

    note = ""
    if not getattr(args, "no_attach", False):
        from mbtop.engine import attach, wire

        path = Path(getattr(args, "agent_socket", None) or wire.DEFAULT_SOCKET)
        try:
            return attach.AttachSource(path, functools.partial(recheck_once, cfg, netlink, firewall), own)
        except attach.NoAgent:
            pass  # no agent runs: the screen samples the machine itself, as it always did
        except wire.Refused as exc:
            note = f"not attached to the agent ({exc}): running an engine of this process"
    source = own()
    source.note = note
    return source


def recheck_once(cfg: Config, netlink: bool, firewall: bool, read_firewall: bool) -> Snapshot:
    """The machine now, whole, read by this process (an attached screen verifies its actions so)."""
    sampler = Sampler(cfg.catalog, use_netlink=netlink, firewall_every=30.0 if firewall else None)
    try:
        return Engine(cfg.catalog, sampler.sample, follow_logs=False).recheck(read_firewall and firewall)
    finally:
        sampler.close()


def live_engine(
    cfg: Config,
    *,
    interval: float,
    netlink: bool = True,
    firewall: bool = True,
    health: bool = True,
    history_seconds: float = HISTORY_SECONDS,
) -> Engine:
    """The engine on this machine, as the screen and the agent run it: the sampler on its connection
    budget with its slow probes in the background, protocol checks, the logs, the queue and vitals.
    ``history_seconds``: the past kept for viewers' hellos (0 in a screen: nobody attaches to it)."""
    sampler = Sampler(
        cfg.catalog,
        use_netlink=netlink,
        firewall_every=30.0 if firewall else None,
        connections_budget=CONNECTIONS_BUDGET,
        background=True,
    )
    return Engine(
        cfg.catalog,
        sampler.sample,
        interval=interval,
        thresholds=cfg.flood,
        health_every=cfg.health_every if health else None,
        health_timeout=cfg.health_timeout,
        gateway=True,
        queue_thresholds=cfg.queue,
        vitals_thresholds=cfg.vitals,
        peers=cfg.cluster.peers,
        peer_timeout=cfg.cluster.timeout,
        peer_every=cfg.cluster.every,
        history_seconds=history_seconds,
    )
