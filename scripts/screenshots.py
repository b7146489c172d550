#!/usr/bin/env python3
"""Screenshots of every screen, from the real app sampling the real lab stack.

    sudo .venv/bin/python scripts/screenshots.py [--out screenshots]

Needs the stack (`sudo scripts/stack up`).  For the duration of the run it adds
real trouble, then removes it: a foreign process on port 465, mb-rpcd.sock
chmod 0666, and 60 held SMTP connections from 20 loopback addresses.  Writes
SVG (Textual's own export) and PNG (cairosvg) for each screen at 80x24 and
160x48.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import cairosvg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mbtop.config import load  # noqa: E402
from mbtop.model.gateway import GatewayReader  # noqa: E402
from mbtop.probes.sample import Sampler  # noqa: E402
from mbtop.ui.app import MbtopApp  # noqa: E402
from tests.support import mailqueue  # noqa: E402
from tests.support.netns import Holder  # noqa: E402

SHOTS = [
    ("overview", []),
    ("port-detail", ["down", "down", "down", "down", "enter"]),  # 465: the foreign process
    ("smtp-detail", ["enter"]),
    ("sockets", ["2"]),
    ("findings", ["3"]),
    ("logs", ["4"]),
    ("flood", ["5"]),
    ("firewall", ["6"]),
    ("services", ["7"]),
    ("action-preview", ["down", "down", "down", "down", "K"]),  # free port 465: the plan, not run
    ("help", ["question_mark"]),
    # A real queue in a private Postfix instance (tests/support/mailqueue.py): mail to domains routed
    # to a closed port, deferred by Postfix itself; the stack's own Postfix and files are not touched.
    ("queue", ["8"]),
    ("queue-messages", ["8", "down", "enter"]),  # the deferred messages of the first domain
]
# Real deferred mail for the queue shots: {domain: [sender per message]}; two of them then held.
QUEUE_MAIL = {
    "mx-down.example": ["newsletter@shop.example"] * 9 + ["billing@shop.example"] * 3,
    "greylist.example": ["alice@mailborder.test", "bob@mailborder.test"] * 3,
    "old-partner.example": ["compromised@mailborder.test"] * 4,
    "typo.example": ["bob@mailborder.test"] * 2,
}
SIZES = [(80, 24), (160, 48)]


async def shoot(
    name: str, keys: list[str], size: tuple[int, int], out: Path, theme: str, postfix: str | None = None
) -> Path:
    cfg = load(None)
    app = MbtopApp(cfg.catalog, Sampler(cfg.catalog).sample, interval=0.5, theme=theme, gateway=True)
    app.gateway = GatewayReader(config_dir=postfix)
    async with app.run_test(size=size) as pilot:
        for _ in range(100):  # the queue and the vitals are read in their own worker after the first sample
            if app.gateway_state is not None and app.gateway_state.vitals is not None:
                break
            await pilot.pause(0.1)
        # Three samples: rates and sparklines need history.
        for _ in range(30):
            await pilot.pause(0.1)
            if app.tracker and app.view and app.view.rates.history.get(25) and len(app.view.rates.history[25]) >= 3:
                break
        for key in keys:
            await pilot.press(key)
            await pilot.pause(1.0 if key in ("K", "R", "F") else 0.3)  # an action plan is made in a worker
        svg = out / f"{name}-{size[0]}x{size[1]}.svg"
        app.save_screenshot(str(svg))
    cairosvg.svg2png(url=str(svg), write_to=str(svg.with_suffix(".png")))
    return svg


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO / "screenshots")
    ap.add_argument("--theme", default="mbtop-dark")
    ap.add_argument("--only", help="comma-separated shot names (default: all)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (sudo): the screenshots show the real stack", file=sys.stderr)
        return 2
    args.out = args.out.resolve()  # a relative --out is printed relative to the repo below
    args.out.mkdir(parents=True, exist_ok=True)
    rpcd = "/var/run/mailborder/mb-rpcd.sock"
    old_mode = os.stat(rpcd).st_mode & 0o7777
    flood = {f"127.66.0.{i}": n for i, n in enumerate([12, 9, 7, 5, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2], 1)}
    spec = {"name": "flood", "connect": [[s, "127.0.0.1", 25, n] for s, n in flood.items()]}
    squat = {"name": "nc", "listen": [["0.0.0.0", 465]]}
    if any(not n.startswith("queue") for n, _ in SHOTS if not args.only or n in args.only.split(",")):
        os.chmod(rpcd, 0o666)
    try:
        shots = [(n, k) for n, k in SHOTS if not args.only or n in args.only.split(",")]
        queue = any(n.startswith("queue") for n, _ in shots)
        trouble = any(not n.startswith("queue") for n, _ in shots)
        with (
            Holder([], spec) if trouble else nullcontext(),
            Holder([], squat) if trouble else nullcontext(),
            mailqueue.private_instance({"transport_maps": mailqueue.routes(list(QUEUE_MAIL))})
            if queue
            else nullcontext() as pf,
            mailqueue.deferred_mail(QUEUE_MAIL, pf) if pf else nullcontext() as mail,
        ):
            if pf and mail:
                held = [m["queue_id"] for m in mail if m["sender"] == "compromised@mailborder.test"][:2]
                subprocess.run(pf.argv("postsuper", "-h", "-"), input="\n".join(held) + "\n", text=True, check=True)
            for name, keys in shots:
                for size in SIZES:
                    postfix = pf.config_dir if pf and name.startswith("queue") else None
                    svg = asyncio.run(shoot(name, keys, size, args.out, args.theme, postfix))
                    print(svg.relative_to(REPO))
    finally:
        os.chmod(rpcd, old_mode)
        subprocess.run([str(REPO / "scripts" / "stack"), "status"], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
