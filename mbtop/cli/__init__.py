"""Command line: ``mbtop`` (the live screen) and the headless commands."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mbtop import __version__
from mbtop.config import Config, ConfigError, load
from mbtop.model.flood import FloodState
from mbtop.model.types import Snapshot, worst
from mbtop.text import clean

EXIT_USAGE = 2


# Options of the live screen alone.
LIVE_ONLY = ("interval", "theme", "low_bandwidth", "replay", "tab", "no_attach", "agent_socket")
# The live screen's tabs, in their order (keys 1–8); `--tab` and `mbtop web`'s ?tab= name one.
TABS = ("overview", "sockets", "findings", "logs", "flood", "firewall", "services", "queue")


def _common(*, top: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name.

    The copy given to the subcommands has no defaults (SUPPRESS): argparse copies a
    subcommand's namespace over the main one, so a default there would silently undo
    ``mbtop --config FILE snapshot``.
    """
    keep: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    flag: dict[str, Any] = {"action": "store_true", **keep}
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, metavar="PATH", help="config file (default /etc/mbtop/config.toml)", **keep
    )
    common.add_argument("--no-netlink", help="read /proc/net instead of netlink sock_diag", **flag)
    common.add_argument("--no-firewall", help="do not read the firewall rules", **flag)
    common.add_argument("--no-health", help="do not check that daemons answer their protocol", **flag)
    common.add_argument(
        "--sample",
        type=float,
        metavar="SECONDS",
        help="watch this long to measure connection rates for the flood view (0: no rates)",
        **({"default": 1.0} if top else keep),
    )
    return common


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mbtop",
        description="Live monitor of a Mailborder gateway's documented ports and sockets.",
        parents=[_common(top=True)],
    )
    common = _common(top=False)
    p.add_argument("--version", action="version", version=f"mbtop {__version__}")
    p.add_argument("--interval", type=float, default=None, help="refresh interval in seconds (default 1)")
    p.add_argument("--theme", default=None, help="colour theme name or file")
    p.add_argument("--read-only", action="store_true", help="disable every action")
    p.add_argument(
        "--low-bandwidth",
        action="store_true",
        help="for slow links: redraw at most every 5 s (at once on a new alert), 16 colours, no animations",
    )
    p.add_argument(
        "--replay",
        metavar="FILE",
        help="show recorded samples (from `mbtop record`, or an agent's recording) instead of this system",
    )
    p.add_argument("--tab", choices=TABS, default=None, help="the tab to open with (default overview)")
    p.add_argument("--no-attach", action="store_true", help="run an engine of this process even when an agent runs")
    p.add_argument(
        "--agent-socket", metavar="PATH", help="the agent's socket to attach to (default /run/mbtop/agent.sock)"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    snap = sub.add_parser("snapshot", parents=[common], help="print every documented port and socket once")
    snap.add_argument("--json", action="store_true", help="one JSON document (schema in README)")
    snap.add_argument(
        "--replay", dest="replay_path", type=Path, metavar="PATH", help="from a recording (`mbtop agent --record`)"
    )
    snap.add_argument("--at", metavar="TIME", help="with --replay: the time (03:10, 2026-11-27 03:10:05, -15m)")

    rec = sub.add_parser("record", parents=[common], help="record live samples to a file for --replay")
    rec.add_argument("file", type=Path)
    rec.add_argument("--count", type=int, default=5, help="samples to take (default 5)")
    rec.add_argument("--every", type=float, default=1.0, help="seconds between samples (default 1)")
    rec.add_argument("--force", action="store_true", help="replace FILE if it exists")

    from mbtop.cli import logs

    logs.add_parser(sub, [common])

    from mbtop.cli import agent

    agent.add_parser(sub, [common])

    from mbtop.cli import replay

    replay.add_parser(sub, [common])

    from mbtop.cli import fleet

    fleet.add_parser(sub, [common])

    chk = sub.add_parser(
        "check", parents=[common], help="monitoring-plugin check: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"
    )
    chk.add_argument("--json", action="store_true", help="the result as JSON")

    from mbtop.cli import actions

    actions.add_parsers(sub, [common])

    fw = sub.add_parser(
        "firewall", parents=[common], help="what the firewall does with a new connection to each documented port"
    )
    fw.add_argument("--json", action="store_true", help="the verdicts as JSON")

    from mbtop.cli import queue as queue_cli

    queue_cli.add_parser(sub, [common])

    from mbtop.cli import web

    web.add_parser(sub, [common])

    from mbtop.cli import config, examples

    config.add_parser(sub, [common])
    examples.attach(p, sub)
    return p


def _config(args: argparse.Namespace) -> Config:
    return load(args.config)


def _snapshot(cfg: Config, args: argparse.Namespace) -> tuple[Snapshot, FloodState]:
    """A snapshot, and the flood state over ``--sample`` seconds (two samples and the mail log between)."""
    import dataclasses
    import time

    from mbtop.logs.follow import Follower
    from mbtop.logs.own import live_sessions
    from mbtop.logs.postfix import PostfixParser
    from mbtop.model import flood
    from mbtop.model.build import build
    from mbtop.probes.health import Health, check_all
    from mbtop.probes.sample import Sampler, health_targets

    sampler = Sampler(cfg.catalog, use_netlink=not args.no_netlink, firewall_every=None if args.no_firewall else 3600)
    tracker = flood.FloodTracker(flood.mail_ports((p.port, p.service) for p in cfg.catalog.ports), cfg.flood)
    first = sampler.sample()
    rate, where = flood.firewall_rate(first.firewall, tracker.ports)
    tracker.thresholds = flood.from_firewall(cfg.flood, rate, where)
    state = tracker.update(first.tcp.sockets, first.monotonic, kernel=first.netstat)
    sample = first
    # Protocol checks run beside the sampling window (each bounded by its timeout).
    checker: concurrent.futures.Future[Mapping[str, Health]] | None = None
    pool = concurrent.futures.ThreadPoolExecutor(1)
    gateway = _gateway_reads()
    peers = _peer_checks(cfg)
    if not args.no_health:
        checker = pool.submit(check_all, health_targets(cfg.catalog, first), cfg.health_timeout)
    if args.sample > 0:
        log = Follower(cfg.catalog.logs.mail, backfill=0)
        log.poll()
        time.sleep(args.sample)
        parser = PostfixParser(time.localtime().tm_year)
        connects: dict[str, int] = {}
        # The protocol checks above speak SMTP from this host: their sessions are mbtop's own, not traffic.
        for ev in live_sessions().mark(parser.parse(line.text, line.line_no) for line in log.poll()):
            if ev.own:
                continue
            if ev.client_ip and (
                ev.kind == "connect" or (ev.kind == "postscreen" and ev.fields.get("action") == "CONNECT")
            ):
                connects[ev.client_ip] = connects.get(ev.client_ip, 0) + 1
            tracker.log_event(ev.client_ip, ev.kind, ev.fields.get("action"), time.monotonic())
        log.close()
        sample = sampler.sample()
    if checker is not None:
        sample = dataclasses.replace(sample, health=checker.result())
    pool.shutdown()
    snap = build(cfg.catalog, sample)
    watched = [p for p in snap.ports if p.spec.port in tracker.ports]
    backlogs = [p.backlog for p in watched if p.backlog]
    if args.sample > 0:
        state = tracker.update(
            sample.tcp.sockets,
            sample.monotonic,
            log_connects=connects,
            kernel=sample.netstat,
            queue=sum(p.accept_queue for p in watched),
            backlog=max(backlogs) if backlogs else None,
        )
    extra = flood.finding(state)
    if extra is not None:
        snap = dataclasses.replace(snap, findings=(*snap.findings, extra), status=worst([snap.status, extra.severity]))
    from mbtop.model.vitals import extend

    snap = extend(snap, gateway[0].result(), gateway[1].result(), cfg.queue, cfg.vitals)
    if peers is not None:
        from mbtop.model import cluster

        snap = cluster.extend(snap, peers.result())
    return snap, state


def _peer_checks(cfg: Config) -> concurrent.futures.Future[Any] | None:
    """The cluster's peers, checked beside the sample (each bounded by ``[cluster] timeout``)."""
    from mbtop.model.cluster import cluster_port
    from mbtop.probes import cluster

    port = cluster_port(cfg.catalog)
    if not cfg.cluster.peers or port is None:
        return None
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(cluster.probe, cfg.cluster.peers, port, cfg.cluster.timeout)
    pool.shutdown(wait=False)
    return future


def _gateway_reads() -> tuple[concurrent.futures.Future[Any], concurrent.futures.Future[Any]]:
    """The mail queue and the vitals, read beside the sample (each bounded in time)."""
    from mbtop.model.gateway import read_queue, read_vitals

    pool = concurrent.futures.ThreadPoolExecutor(2)
    reads = (pool.submit(read_queue), pool.submit(read_vitals))
    pool.shutdown(wait=False)
    return reads


def cmd_snapshot(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli.report import snapshot_table
    from mbtop.model.serialize import fail2ban as fail2ban_json
    from mbtop.model.serialize import flood as flood_json
    from mbtop.model.serialize import snapshot as to_json
    from mbtop.probes import fail2ban

    if args.replay_path is not None:
        from mbtop.cli import replay

        return replay.snapshot(args)
    snap, flood_state = _snapshot(cfg, args)
    if args.json:
        doc = to_json(snap)
        doc["flood"] = flood_json(flood_state)
        # fail2ban-client is itself a Python program (~0.2 s): asked only when watching (--sample > 0).
        doc["flood"]["fail2ban"] = fail2ban_json(fail2ban.probe()) if args.sample > 0 else None
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        width = shutil.get_terminal_size((200, 24)).columns if sys.stdout.isatty() else None
        print(snapshot_table(snap, width))
    return 0


def cmd_check(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli.report import check_text
    from mbtop.model.serialize import finding

    snap, _flood = _snapshot(cfg, args)
    text, code = check_text(snap)
    if args.json:
        doc = {
            "status": snap.status,
            "exit_code": code,
            "summary": text.splitlines()[0],
            "findings": [finding(f, where=True) for f in snap.findings],
            "notes": list(snap.notes),
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(text)
    return code


def cmd_firewall(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli.report import firewall_table
    from mbtop.model.serialize import firewall, port_firewall
    from mbtop.probes.firewall.read import read

    state = read(cfg.catalog.tcp_ports)
    if args.json:
        doc = firewall(state) or {}
        doc["ports"] = [{"port": p, **port_firewall(pf)} for p, pf in sorted(state.ports.items())]
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(firewall_table(cfg.catalog, state))
    return 3 if state.backend == "unknown" else 0


def cmd_action(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli import actions

    return actions.run(cfg, args)


def cmd_record(cfg: Config, args: argparse.Namespace) -> int:
    import time

    from mbtop.probes.record import RecordError, check_target, save
    from mbtop.probes.sample import Sampler

    try:
        check_target(args.file, force=args.force)  # said before sampling for --count × --every seconds
    except OSError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return 1

    sampler = Sampler(cfg.catalog, use_netlink=not args.no_netlink, firewall_every=None if args.no_firewall else 10.0)
    samples = []
    for i in range(max(1, args.count)):
        if i:
            time.sleep(max(0.0, args.every))
        samples.append(sampler.sample())
    try:
        save(samples, args.file, force=args.force)
    except OSError as exc:
        why = str(exc) if isinstance(exc, RecordError) else f"{args.file}: {exc.strerror or exc}"
        print(f"mbtop: {why}", file=sys.stderr)
        return 1
    print(f"recorded {len(samples)} samples to {args.file}", file=sys.stderr)
    return 0


def cmd_logs(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli import logs

    return logs.run(args)


def cmd_agent(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli import agent

    return agent.run(cfg, args)


def cmd_replay(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli import replay

    return replay.screen(cfg, args)


def cmd_web(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli import web

    return web.run(cfg, args)


def cmd_fleet(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli import fleet

    return fleet.run(cfg, args)


def cmd_queue(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.cli import queue as queue_cli

    return queue_cli.run(cfg, args)


def cmd_tui(cfg: Config, args: argparse.Namespace) -> int:
    import importlib

    try:
        app = importlib.import_module("mbtop.ui.app")
    except ImportError as exc:
        # Never a snapshot in its place: an operator must see that the screen is broken, and why.
        print(
            f"mbtop: the live screen cannot start: {exc} — reinstall (sudo scripts/install); "
            "`mbtop snapshot` and `mbtop check` still work",
            file=sys.stderr,
        )
        return 1
    return int(app.run(cfg, args))


TIME_OPTIONS = ("--at", "--from", "--to")


def _relative_times(argv: list[str]) -> list[str]:
    """``--at -15m`` as ``--at=-15m``: argparse would take a value starting with "-" for an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in TIME_OPTIONS and i + 1 < len(argv) and argv[i + 1][:1] == "-" and argv[i + 1][1:2].isdigit():
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; an option that would be ignored where it was given is refused (exit 2)."""
    parser = _parser()
    args = parser.parse_args(_relative_times(sys.argv[1:] if argv is None else argv))
    if args.command:
        given = [name for name in LIVE_ONLY if getattr(args, name) not in (None, False)]
        if given:
            opt = "--" + given[0].replace("_", "-")
            parser.error(f"{opt} is an option of the live screen (mbtop without a command), not of `{args.command}`")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.command == "config":
        from mbtop.cli import config

        return config.run(args)
    try:
        cfg = _config(args)
    except ConfigError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    handlers = {
        "snapshot": cmd_snapshot,
        "check": cmd_check,
        "record": cmd_record,
        "logs": cmd_logs,
        "firewall": cmd_firewall,
        "restart": cmd_action,
        "fix-perms": cmd_action,
        "free-port": cmd_action,
        "block": cmd_action,
        "unblock": cmd_action,
        "queue": cmd_queue,
        "agent": cmd_agent,
        "replay": cmd_replay,
        "web": cmd_web,
        "fleet": cmd_fleet,
    }
    handler = handlers.get(args.command or "", cmd_tui)
    try:
        return handler(cfg, args)
    except BrokenPipeError:
        # `mbtop snapshot | head`: the reader went away; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
