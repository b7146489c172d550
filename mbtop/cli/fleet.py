"""``mbtop fleet``: every gateway on one screen, from Prometheus or from the agents' /metrics."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mbtop.config import Config
from mbtop.text import clean

EXIT_USAGE = 2
DEFAULT_INTERVAL = 5.0
DEFAULT_TIMEOUT = 3.0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("seconds from 0.1 to 3600")
    return value


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "fleet",
        parents=parents,
        help="every gateway on one screen: from Prometheus, or from the agents' /metrics",
        description="A live screen with one row per gateway (worst status, findings, ports down, sockets wrong, "
        "flood, certificate, cluster peers, age of the data); enter shows one gateway's findings and ports. "
        "Read-only.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--prometheus",
        metavar="URL",
        help="Prometheus' base URL (http://host:9090): PromQL over its HTTP API, any fleet size; "
        "the instance label is the gateway",
    )
    src.add_argument(
        "--targets",
        metavar="HOST:PORT,...",
        help="scrape these agents' /metrics directly (small fleets, no Prometheus); a full http(s) URL also works",
    )
    p.add_argument("--job", default="mbtop", help="with --prometheus: the scrape job of the agents (default mbtop)")
    p.add_argument(
        "--interval",
        dest="fleet_interval",
        type=_positive,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"seconds between refreshes (default {DEFAULT_INTERVAL:g})",
    )
    p.add_argument(
        "--timeout",
        dest="fleet_timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"seconds a target (or Prometheus) has to answer (default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument("--theme", dest="fleet_theme", metavar="NAME", help="colour theme name or file")


def run(cfg: Config, args: argparse.Namespace) -> int:
    if args.prometheus is not None:
        url = args.prometheus.strip()
        if not url.startswith(("http://", "https://")):
            print(f"mbtop fleet: --prometheus wants an http(s) URL, not {clean(url)!r}", file=sys.stderr)
            return EXIT_USAGE
        from mbtop.fleet.prometheus import PrometheusSource

        source: Any = PrometheusSource(url, args.fleet_timeout, job=args.job)
        hint = f"Prometheus has no target in job {args.job!r} (see --job)"
    else:
        targets = [t.strip() for t in args.targets.split(",") if t.strip()]
        if not targets:
            print("mbtop fleet: --targets wants host:port[,host:port...]", file=sys.stderr)
            return EXIT_USAGE
        from mbtop.fleet.scrape import TargetsSource

        source = TargetsSource(targets, args.fleet_timeout)
        hint = "no target given"
    import importlib

    try:
        app = importlib.import_module("mbtop.ui.fleetapp")
    except ImportError as exc:
        print(f"mbtop fleet: the screen cannot start: {exc}", file=sys.stderr)
        return 1
    return int(app.run(source, args.fleet_interval, args.fleet_theme or cfg.theme, hint))
