"""What the UI shows, as one immutable value replaced on every sample."""

from __future__ import annotations

from dataclasses import dataclass

from mbtop.engine.types import Fail2ban, Sample
from mbtop.model.flood import FloodState
from mbtop.model.history import Rates
from mbtop.model.types import Snapshot


@dataclass(frozen=True, slots=True)
class Timeline:
    """Where a recorded screen stands: `mbtop replay`, or the live screen scrolled back ([ and ])."""

    mode: str  # "replay" or "history"
    at: float  # the shown frame's time
    start: float  # the recording's first and last frame
    end: float
    playing: bool
    speed: float


@dataclass(frozen=True, slots=True)
class View:
    sample: Sample
    snapshot: Snapshot
    rates: Rates
    paused: bool = False
    error: str | None = None  # the last sampling error, shown in the header until a sample succeeds
    flood: FloodState | None = None
    fail2ban: Fail2ban | None = None
    via: str = ""  # where the frames come from, when not this process's engine ("via agent")
    timeline: Timeline | None = None  # None: the machine now
