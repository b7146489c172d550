"""Frames: what the engine publishes once a sample, and what every face reads.

A frame is immutable and complete for one moment: the sample as taken, the snapshot built from
it (findings included: flood, queue and vitals ones too), the connection rates, the flood watch,
fail2ban, the queue and vitals, and the log events that arrived since the frame before. The live
screen, the agent's recorder and viewers, and a replay all read these and nothing else.

This module is the contract between the engine (``mbtop.engine.engine``) and its faces; the
codec (``to_json``/``from_json``, the recorder's compact form) lives in ``mbtop.engine.codec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mbtop.logs.events import MailEvent, WebEvent
from mbtop.model.flood import FloodState
from mbtop.model.gateway import GatewayState
from mbtop.model.history import Rates
from mbtop.model.types import Snapshot
from mbtop.probes.fail2ban import Fail2ban
from mbtop.probes.sample import Sample

FORMAT = 1  # of a frame's JSON form (recordings, the agent's socket): raised on any incompatible change


@dataclass(frozen=True, slots=True)
class LogLines:
    """Log events that arrived since the previous frame, parsed; ``own`` ones are mbtop's own checks."""

    mail: tuple[MailEvent, ...] = ()
    web: tuple[WebEvent, ...] = ()  # access and error lines (error lines' line_no offset by ERROR_LOG_OFFSET)
    status: tuple[tuple[str, str], ...] = ()  # (log path, the follower's status text), every followed log
    backfill: bool = False  # these events were read from the log's past at start, not as they came


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int  # 1, 2, … within one engine's life (a recording may hold several lives)
    sample: Sample
    snapshot: Snapshot
    rates: Rates
    flood: FloodState | None = None
    fail2ban: Fail2ban | None = None
    gateway: GatewayState | None = None
    logs: LogLines = field(default_factory=LogLines)
    error: str | None = None  # why the last sample failed (this frame then repeats the last good one)

    @property
    def time(self) -> float:
        """Epoch seconds the sample was taken."""
        return self.sample.taken_at


ERROR_LOG_OFFSET = 1_000_000_000  # nginx error-log lines share the web window: their line numbers are offset
