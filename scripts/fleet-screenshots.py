#!/usr/bin/env python3
"""Screenshots of `mbtop fleet` (80x24 and 160x48): the fleet and one gateway's details.

    .venv/bin/python scripts/fleet-screenshots.py [--out screenshots]

The real Prometheus server (Debian's /usr/bin/prometheus, on loopback with a temporary config)
scrapes five gateways: three exporters serving the agent's metric names with prometheus_client
(tests/support/fleetlab.py: healthy, port 25 down, an SMTP flood), a port that refuses and one that
answers HTML; the instance labels are set to gateway names. The app asks Prometheus as
`mbtop fleet --prometheus` does. Writes SVG (Textual's own export) and PNG (cairosvg).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import cairosvg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mbtop.fleet.prometheus import PrometheusSource  # noqa: E402
from mbtop.ui.fleetapp import FleetApp  # noqa: E402
from tests.support import fleetlab, promserver  # noqa: E402

SIZES = [(80, 24), (160, 48)]
PORT = 10125
GATEWAYS = {  # instance label: (loopback address, what answers there)
    "gw1.example": ("127.0.11.1", "healthy"),
    "gw2.example": ("127.0.11.2", "port-down"),
    "gw3.example": ("127.0.11.3", "flood"),
    "gw4.example": ("127.0.11.4", "refused"),
    "gw5.example": ("127.0.11.5", "html"),
}


async def shoot(url: str, size: tuple[int, int], out: Path, theme: str) -> list[Path]:
    app = FleetApp(PrometheusSource(url, timeout=2), interval=2, theme=theme)
    shots: list[Path] = []
    async with app.run_test(size=size) as pilot:
        while app.fetches < 1:
            await pilot.pause(0.1)
        await pilot.pause(0.3)
        svg = out / f"fleet-{size[0]}x{size[1]}.svg"
        app.save_screenshot(str(svg))
        shots.append(svg)
        await pilot.press("down", "enter")
        for _ in range(50):
            await pilot.pause(0.1)
            if "gw2.example" in app.details:
                break
        await pilot.pause(0.3)
        svg = out / f"fleet-gateway-{size[0]}x{size[1]}.svg"
        app.save_screenshot(str(svg))
        shots.append(svg)
    return shots


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO / "screenshots")
    ap.add_argument("--theme", default="mbtop-dark")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    now = time.time()
    with ExitStack() as stack:
        names: dict[str, str] = {}
        for name, (host, what) in GATEWAYS.items():
            names[f"{host}:{PORT}"] = name
            if what in fleetlab.STATES:
                stack.enter_context(fleetlab.agent(what, now=now, host=host, port=PORT))
            elif what == "refused":
                stack.enter_context(fleetlab.refusing(host, PORT))
            else:
                stack.enter_context(fleetlab.endpoint(fleetlab.HTML, "text/html", host, PORT))
        prom = stack.enter_context(promserver.prometheus(list(names), names=names))
        prom.wait_scraped(list(names.values()))
        for size in SIZES:
            for svg in asyncio.run(shoot(prom.url, size, args.out, args.theme)):
                cairosvg.svg2png(url=str(svg), write_to=str(svg.with_suffix(".png")))
                print(svg.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
