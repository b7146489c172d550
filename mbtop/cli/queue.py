"""``mbtop queue``: the mail queue alone (``--json``, ``--shape`` as qshape prints it), and the queue
actions (flush, requeue, hold, release, delete): plan, preview, confirm, run, audit.

Exit codes: 0 done, 1 refused or failed, 2 usage, 3 the queue cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from mbtop.config import Config
from mbtop.text import clean

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    from mbtop.actions.queue import ACTIONS

    p = sub.add_parser(
        "queue",
        parents=parents,
        help="the mail queue (counts, ages, domains, senders, deferred reasons) and queue actions",
        description="Without ACTION: show the queue. ACTION acts on queue ids, or on every message of "
        "--sender, --domain, --reason or --queue (flush: the whole queue, or --site).",
    )
    p.add_argument("action", nargs="?", choices=("show", *ACTIONS), default="show", metavar="ACTION")
    p.add_argument("ids", nargs="*", metavar="QUEUE_ID")
    p.add_argument("--json", action="store_true", help="the queue as JSON (the snapshot's `queue`)")
    p.add_argument(
        "--shape",
        nargs="*",
        metavar="QUEUE",
        default=None,
        help="the age table per domain, as `qshape` prints it (default: the deferred queue)",
    )
    p.add_argument("--sender", help="every message from this sender (MAILER-DAEMON: the null sender)")
    p.add_argument("--domain", help="every message with a recipient in this domain")
    p.add_argument("--reason", help="every deferred message with this reason, as `mbtop queue` shows it")
    p.add_argument("--queue", dest="in_queue", metavar="NAME", help="every message of this queue")
    p.add_argument("--site", help="flush: only the mail for this domain (postqueue -s)")
    p.add_argument(
        "--postfix-config",
        metavar="DIR",
        help="another Postfix instance's configuration directory (postqueue -c DIR; default /etc/postfix)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS, help="refuse every action")


def run(cfg: Config, args: argparse.Namespace) -> int:
    if args.postfix_config is not None and not os.path.isabs(args.postfix_config):
        print("mbtop: --postfix-config must be an absolute path", file=sys.stderr)
        return EXIT_USAGE
    if args.action != "show":
        return _act(cfg, args)
    from mbtop.model import queue as queuemodel

    if args.shape is not None:
        queues = args.shape or ["deferred"]
        unknown = [q for q in queues if q not in queuemodel.QUEUES]
        if unknown:
            print(f"mbtop: unknown queue {unknown[0]!r} (one of {', '.join(queuemodel.QUEUES)})", file=sys.stderr)
            return EXIT_USAGE
        state = queuemodel.read(args.postfix_config, shape_limit=None)
        if not state.available:
            print(f"mbtop: {clean(state.reason or 'the queue cannot be read')}", file=sys.stderr)
            return EXIT_UNKNOWN
        table = queuemodel.shape_text(state.shape(queues))
        sys.stdout.write("".join(clean(line) + "\n" for line in table.splitlines()))
        return EXIT_DONE
    state = queuemodel.read(args.postfix_config)
    if args.json:
        from mbtop.model.gateway_json import queue as queue_json
        from mbtop.model.serialize import finding

        doc = queue_json(state)
        doc["findings"] = [finding(f) for f in queuemodel.findings(state, cfg.queue)]
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(text(state, cfg))
    return EXIT_DONE if state.available else EXIT_UNKNOWN


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"


def text(state: Any, cfg: Config) -> str:
    from mbtop.model import queue as queuemodel

    if not state.available:
        return f"queue: unknown — {clean(state.reason or '')}"
    ages = dict(state.oldest_seconds)
    sizes = dict(state.bytes)
    lines = [f"mail queue: {state.total} message(s) (threshold {cfg.queue.messages}), read in {state.seconds:.2f} s"]
    lines.append(f"  {'QUEUE':<10} {'MESSAGES':>9} {'BYTES':>12} {'OLDEST':>8}")
    for q, n in state.counts:
        lines.append(f"  {q:<10} {n:>9} {sizes.get(q, 0):>12} {_age(ages.get(q)):>8}")
    for title, rows in (
        ("top recipient domains", state.top_domains),
        ("top senders", state.top_senders),
        ("deferred reasons", state.deferred_reasons),
    ):
        if rows:
            lines.append(f"{title}:")
            lines += [f"  {n:>7}  {clean(name)}" for name, n in rows[:10]]
    for f in queuemodel.findings(state, cfg.queue):
        lines.append(f"{f.severity.upper()}: {clean(f.message)} — fix: {clean(f.fix)}")
    if state.reason:
        lines.append(f"note: {clean(state.reason)}")
    return "\n".join(lines)


def _confirm() -> bool | None:
    if not sys.stdin.isatty():
        return None
    try:
        return input("Run it? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _act(cfg: Config, args: argparse.Namespace) -> int:
    from mbtop.actions import queue as qactions
    from mbtop.actions.run import execute, refuse
    from mbtop.model import queue as queuemodel

    try:
        sel = qactions.selection(args.ids, args.sender, args.domain, args.reason, args.in_queue)
        if args.site is not None and args.action != "flush":
            raise qactions.QueueUsage("--site is for flush")
        plan = qactions.plan(
            args.action,
            sel,
            site=args.site,
            read_only=bool(getattr(args, "read_only", False) or cfg.read_only),
            root=os.geteuid() == 0,
            config_dir=args.postfix_config,
        )
    except qactions.QueueUsage as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    log = cfg.audit_log
    print("\n".join(clean(line) for line in plan.preview().splitlines()))
    if args.dry_run:
        return EXIT_FAILED if plan.refused else EXIT_DONE
    if not plan.refused and not args.yes:
        answer = _confirm()
        if answer is None:
            print(
                clean(refuse(plan, "not confirmed: use --yes when no one is at a terminal", log).message),
                file=sys.stderr,
            )
            return EXIT_FAILED
        if not answer:
            print("cancelled: nothing was changed")
            return EXIT_FAILED
    result = execute(plan, log, on_step=lambda said: print(f"  - {clean(said)}"))
    print(clean(result.message), file=sys.stdout if result.ok else sys.stderr)
    for extra in result.details[len(plan.steps) :]:
        print(f"note: {clean(extra)}", file=sys.stderr)
    if result.ok and plan.steps:
        for line in qactions.verify_lines(plan, queuemodel.read(args.postfix_config)):
            print(f"now: {clean(line)}")
    return EXIT_DONE if result.ok else EXIT_FAILED
