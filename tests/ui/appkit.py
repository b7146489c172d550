"""An app fed with samples recorded from the real stack (tests/fixtures), for Pilot and snapshot tests."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from textual.pilot import Pilot

from mbtop.catalog import LogSpec, load_reference
from mbtop.model.flood import Thresholds
from mbtop.probes.record import Replay, load
from mbtop.ui.app import MbtopApp

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stack-trouble.json"
SAMPLES = load(FIXTURE)


def fixed_tz() -> None:
    """The header shows local time: make it the same on every machine."""
    os.environ["TZ"] = "UTC"
    time.tzset()


def make_app(
    theme: str = "mbtop-dark", interval: float = 3600.0, logs: Path | None = None, thresholds: Thresholds | None = None
) -> MbtopApp:
    """Refresh only on demand ('r'), so the screen is a known sample. Logs are followed only when
    ``logs`` names a directory (mail.log, access.log, error.log in it), never the machine's own."""
    fixed_tz()
    catalog = load_reference()
    if logs is not None:
        spec = LogSpec(str(logs / "mail.log"), str(logs / "access.log"), str(logs / "error.log"))
        catalog = dataclasses.replace(catalog, logs=spec)
    return MbtopApp(
        catalog,
        Replay(list(SAMPLES)),
        interval=interval,
        theme=theme,
        ascii_only=False,
        follow_logs=logs is not None,
        thresholds=thresholds,
    )


async def samples(pilot: Pilot[int], count: int) -> None:
    """Wait until ``count`` samples have been shown, asking for each one with 'r'."""
    app = pilot.app
    assert isinstance(app, MbtopApp)
    for _ in range(200):
        if app.samples_taken >= count:
            break
        if not app.workers and app.samples_taken < count:
            await pilot.press("r")
        await pilot.pause(0.02)
    assert app.samples_taken >= count, f"only {app.samples_taken} samples"
    await pilot.pause()
