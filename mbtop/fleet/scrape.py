"""``mbtop fleet --targets``: scrape each agent's /metrics directly (small fleets, no Prometheus).

The text is read with ``prometheus_client``'s own parser. Each target is fetched in its own thread
with a deadline, so one slow agent costs its row a timeout and never holds the others.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence

from prometheus_client.parser import text_string_to_metric_families

from mbtop.fleet.http import Unreachable, get
from mbtop.fleet.model import MAX_SERIES, Details, Fleet, Gateway, Series, detail, is_agent, series, summarize

ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"
MAX_THREADS = 16


def url_of(target: str) -> str:
    """``host:port`` → ``http://host:port/metrics``; a full http(s) URL is taken as it is."""
    if "://" in target:
        return target
    return f"http://{target}/metrics"


def parse(text: str) -> tuple[Series, ...]:
    """Every sample of a Prometheus text exposition; ``ValueError`` when it is not one."""
    out: list[Series] = []
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out.append(series(s.name, dict(s.labels), float(s.value)))
                if len(out) > MAX_SERIES:
                    raise ValueError(f"more than {MAX_SERIES} series")
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        # The parser's own words name the first line it could not read: shown cleaned, never markup.
        raise ValueError(str(exc)[:120] or type(exc).__name__) from None
    return tuple(out)


def scrape(target: str, timeout: float, clock: Callable[[], float] = time.time) -> Gateway:
    """One agent's row: its numbers and details, or why there are none."""
    try:
        text, ctype = get(url_of(target), timeout, ACCEPT)
        fetched = clock()
        if ctype.split(";")[0].strip().lower() in ("text/html", "application/json"):
            raise Unreachable("garbage", f"not Prometheus text ({ctype.split(';')[0].strip()})")
        try:
            samples = parse(text)
        except ValueError as exc:
            raise Unreachable("garbage", f"not Prometheus text: {exc}") from None
        if not is_agent(samples):
            what = "empty answer" if not samples else "no mbtop metrics (another exporter?)"
            raise Unreachable("garbage", what)
    except Unreachable as exc:
        return Gateway(target, exc.reach, exc.reason, None, None, clock())
    return Gateway(target, "up", "", summarize(samples, fetched), detail(samples), fetched)


class TargetsSource:
    """Fetches every target at each call; the last answers are kept for the details view."""

    def __init__(self, targets: Sequence[str], timeout: float) -> None:
        self.targets = tuple(dict.fromkeys(t.strip() for t in targets if t.strip()))
        self.timeout = timeout
        self.last: dict[str, Gateway] = {}
        self.label = f"{len(self.targets)} target{'s' if len(self.targets) != 1 else ''} scraped directly"

    def fetch(self) -> Fleet:
        workers = max(1, min(MAX_THREADS, len(self.targets)))
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="mbtop-scrape") as pool:
            rows = tuple(pool.map(lambda t: scrape(t, self.timeout), self.targets))
        self.last = {g.name: g for g in rows}
        return Fleet(self.label, rows, None, time.time())

    def details(self, name: str) -> Details | None:
        gw = self.last.get(name)
        return gw.details if gw is not None else None
