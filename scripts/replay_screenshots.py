#!/usr/bin/env python3
"""Screenshots of `mbtop replay` with its time bar, on a real recording of the real lab stack.

    sudo .venv/bin/python scripts/replay_screenshots.py [--out screenshots]

Needs the stack (`sudo scripts/stack up`). Runs a real `mbtop agent --record` for about 30 s while
real trouble comes and goes (a foreign process on port 465 from the 10th second to the 20th, and 60
held SMTP connections from 20 loopback addresses), then opens the replay screen on that recording,
paused inside the trouble at 10x, and writes SVG and PNG at 80x24 and 160x48.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cairosvg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mbtop.config import load  # noqa: E402
from mbtop.engine.playback import RecordingSource  # noqa: E402
from mbtop.ui.app import MbtopApp  # noqa: E402
from tests.support.netns import Holder  # noqa: E402

SIZES = [(80, 24), (160, 48)]


def record(path: Path) -> tuple[float, float]:
    """About 30 s of a real agent; returns when the squatter on 465 began and ended."""
    flood = {f"127.66.0.{i}": n for i, n in enumerate([12, 9, 7, 5, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2], 1)}
    spec = {"name": "flood", "connect": [[s, "127.0.0.1", 25, n] for s, n in flood.items()]}
    agent = subprocess.Popen(
        [sys.executable, "-m", "mbtop", "agent", "--record", str(path), "--interval", "0.5"],
        cwd=REPO,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Holder([], spec):
            time.sleep(10)
            with Holder([], {"name": "nc", "listen": [["0.0.0.0", 465]]}):
                began = time.time()
                time.sleep(10)
            ended = time.time()
            time.sleep(10)
    finally:
        agent.terminate()
        agent.wait(30)
    return began, ended


async def shoot(path: Path, at: float, size: tuple[int, int], out: Path, theme: str) -> Path:
    cfg = load(None)
    source = RecordingSource(path, playing=False, speed=10.0)
    source.goto(at)
    app = MbtopApp(cfg.catalog, source, theme=theme)
    async with app.run_test(size=size) as pilot:
        for _ in range(100):
            if app.frame is not None and app.frame.time >= at - 1:
                break
            await pilot.pause(0.1)
        for key in ("right", "right"):  # two frames on, as an operator stepping would
            await pilot.press(key)
            await pilot.pause(0.3)
        await pilot.pause(0.5)
        svg = out / f"replay-{size[0]}x{size[1]}.svg"
        app.save_screenshot(str(svg))
    cairosvg.svg2png(url=str(svg), write_to=str(svg.with_suffix(".png")))
    return svg


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO / "screenshots")
    ap.add_argument("--theme", default="mbtop-dark")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (sudo): the screenshots show the real stack", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rec" / "mbtop.db"
        began, ended = record(path)
        for size in SIZES:
            svg = asyncio.run(shoot(path, (began + ended) / 2, size, args.out, args.theme))
            print(svg.relative_to(REPO), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
