#!/usr/bin/env python3
"""Record the fleet model's fixtures from the real programs: tests/fixtures/fleet/.

    .venv/bin/python scripts/record-fleet-fixtures.py

- ``STATE.prom``: the text format as ``prometheus_client`` writes it for the three gateways of
  tests/support/fleetlab.py (healthy, port 25 down, SMTP flood);
- ``fleet-query.json``, ``targets.json``, ``detail-port-down.json``: the answers of the real
  Prometheus server (Debian's ``/usr/bin/prometheus``, run on loopback with a temporary config)
  after scraping those three, plus a refusing, a hanging and an HTML-speaking target, to the
  queries ``mbtop fleet --prometheus`` sends.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mbtop.fleet.prometheus import DETAIL_METRICS, fleet_query  # noqa: E402
from tests.support import fleetlab, promserver  # noqa: E402

OUT = REPO / "tests" / "fixtures" / "fleet"
PORT = 9955
HOSTS = {
    "healthy": "127.0.10.1",
    "port-down": "127.0.10.2",
    "flood": "127.0.10.3",
    "refused": "127.0.10.4",
    "hanging": "127.0.10.5",
    "html": "127.0.10.6",
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for state in fleetlab.STATES:
        (OUT / f"{state}.prom").write_bytes(fleetlab.exposition(state))
    with ExitStack() as stack:
        for state in fleetlab.STATES:
            stack.enter_context(fleetlab.agent(state, now=now, host=HOSTS[state], port=PORT))
        stack.enter_context(fleetlab.refusing(HOSTS["refused"], PORT))
        stack.enter_context(fleetlab.hanging(HOSTS["hanging"], PORT))
        stack.enter_context(fleetlab.endpoint(fleetlab.HTML, "text/html", HOSTS["html"], PORT))
        targets = [f"{h}:{PORT}" for h in HOSTS.values()]
        prom = stack.enter_context(promserver.prometheus(targets))
        prom.wait_scraped(targets)
        answers = {
            "fleet-query.json": prom.api("/api/v1/query", query=fleet_query("mbtop")),
            "targets.json": prom.api("/api/v1/targets", state="active"),
            "detail-port-down.json": prom.api(
                "/api/v1/query",
                query=f'{{__name__=~"{DETAIL_METRICS}", job="mbtop", instance="{HOSTS["port-down"]}:{PORT}"}}',
            ),
        }
    for name, doc in answers.items():
        (OUT / name).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(OUT.relative_to(REPO) / name)
    (OUT / "README").write_text(
        "Recorded by scripts/record-fleet-fixtures.py at "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now))} UTC (Unix {now:.0f}); "
        f"Prometheus query: {urllib.parse.quote(fleet_query('mbtop'))[:60]}…\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
