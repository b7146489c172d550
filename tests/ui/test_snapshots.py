"""SVG snapshots of each screen at 80x24 and 160x48, in two themes, from recorded real samples.

Regenerate after an intended change: `.venv/bin/python -m pytest tests/ui/test_snapshots.py --snapshot-update`,
then look at the SVGs (tests/ui/__snapshots__) before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from tests.ui.appkit import make_app, samples

SCREENS = {
    "overview": [],
    "port-detail": ["enter"],
    "sockets": ["2"],
    "findings": ["3"],
}


@pytest.mark.parametrize("theme", ["mbtop-dark", "mbtop-light"])
@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, screen: str, size: tuple[int, int], theme: str) -> None:  # type: ignore[no-untyped-def]
    async def before(pilot: Pilot[int]) -> None:
        await samples(pilot, 3)
        for key in SCREENS[screen]:
            await pilot.press(key)
            await pilot.pause(0.1)
        await pilot.pause(0.2)

    assert snap_compare(make_app(theme=theme), terminal_size=size, run_before=before)
