#!/usr/bin/env python3
"""Record the UI test fixtures from the real lab stack, with real trouble added.

    sudo .venv/bin/python scripts/record-fixtures.py

Writes tests/fixtures/stack-trouble.json: four samples one second apart while
60 SMTP connections from 20 loopback addresses are held (10 of them opened
between samples), a foreign process with a hostile name and command line holds
port 465, and mb-rpcd.sock is chmod 0666.  Everything is restored afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mbtop.config import load  # noqa: E402
from mbtop.probes.health import check_all  # noqa: E402
from mbtop.probes.record import save  # noqa: E402
from mbtop.probes.sample import Sample, Sampler, health_targets  # noqa: E402
from tests.support.netns import Holder  # noqa: E402

HOSTILE_NAME = "[bold red]x[/]"
HOSTILE_ARG = "\x1b]0;pwned\x07[link=http://evil]click[/link]\x1b[2J"


def main() -> int:
    cfg = load(None)
    sampler = Sampler(cfg.catalog)
    rpcd = "/var/run/mailborder/mb-rpcd.sock"
    old = os.stat(rpcd).st_mode & 0o7777
    counts = [12, 9, 7, 5, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]
    flood = {"name": "flood", "connect": [[f"127.66.0.{i}", "127.0.0.1", 25, n] for i, n in enumerate(counts, 1)]}
    more = {"name": "flood", "connect": [[f"127.66.1.{i}", "127.0.0.1", 25, 1] for i in range(1, 11)]}
    squat = {"name": HOSTILE_NAME, "listen": [["0.0.0.0", 465]]}
    os.chmod(rpcd, 0o666)
    samples = []

    def take() -> Sample:
        # The live screen merges its protocol checks into each sample the same way.
        s = sampler.sample()
        return dataclasses.replace(s, health=check_all(health_targets(cfg.catalog, s)))

    try:
        with Holder([], flood), Holder([], squat, extra=[HOSTILE_ARG]):
            samples.append(take())
            time.sleep(1)
            samples.append(take())
            with Holder([], more):
                time.sleep(1)
                samples.append(take())
                time.sleep(1)
                samples.append(take())
    finally:
        os.chmod(rpcd, old)
    out = REPO / "tests" / "fixtures" / "stack-trouble.json"
    save(samples, out, force=True)
    print(f"wrote {out.relative_to(REPO)}: {len(samples)} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
