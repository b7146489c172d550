"""``mbtop restart | fix-perms | free-port | block | unblock``: plan, show, confirm, run, audit.

Exit codes: 0 done (or nothing to do), 1 refused or failed, 2 usage (unknown target).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mbtop.actions import builders, verify
from mbtop.actions.plan import Plan
from mbtop.actions.run import execute, refuse
from mbtop.config import Config
from mbtop.text import clean

EXIT_DONE, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    common.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    # SUPPRESS: `mbtop --read-only restart x` must not be undone by this parser's default.
    common.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS, help="refuse every action")
    both = [*parents, common]
    p = sub.add_parser("restart", parents=both, help="restart a documented service (systemd or its init script)")
    p.add_argument("service")
    p = sub.add_parser("fix-perms", parents=both, help="set documented sockets to their owner, group and mode")
    p.add_argument("paths", nargs="*", metavar="PATH", help="socket paths (default: every wrong one)")
    p = sub.add_parser("free-port", parents=both, help="stop the process squatting a documented port")
    p.add_argument("port", type=int)
    p.add_argument("--start", action="store_true", help="then restart the documented service so that it takes the port")
    p.add_argument("--grace", type=float, default=builders.GRACE, help="seconds between SIGTERM and SIGKILL")
    for name, what in (("block", "drop new connections from"), ("unblock", "lift mbtop's block of")):
        p = sub.add_parser(name, parents=both, help=f"{what} an address or network, with the firewall in force")
        p.add_argument("address")
        if name == "block":
            p.add_argument("--force", action="store_true", help="allow a network broader than /8 (IPv4) or /32 (IPv6)")


def _context(cfg: Config, args: argparse.Namespace) -> builders.Context:
    import os

    from mbtop.model.build import build
    from mbtop.probes.sample import Sampler

    firewall_every = None if args.no_firewall else 3600.0
    sample = Sampler(cfg.catalog, use_netlink=not args.no_netlink, firewall_every=firewall_every).sample()
    return builders.Context(
        cfg.catalog,
        sample,
        build(cfg.catalog, sample),
        read_only=bool(getattr(args, "read_only", False) or cfg.read_only),
        root=os.geteuid() == 0,
        force=bool(getattr(args, "force", False)),
    )


def plans(cfg: Config, args: argparse.Namespace, ctx: builders.Context) -> list[Plan]:
    if args.command == "restart":
        return [builders.restart(ctx, args.service)]
    if args.command == "free-port":
        return [builders.free_port(ctx, args.port, start=args.start, grace=max(0.0, args.grace))]
    if args.command in ("block", "unblock"):
        return [builders.block(ctx, args.address, unblock=args.command == "unblock")]
    paths = list(args.paths)
    if not paths and ctx.snapshot is not None:
        codes = {"socket-owner", "socket-mode"}
        paths = [s.spec.path for s in ctx.snapshot.sockets if any(f.code in codes for f in s.findings)]
    return [builders.fix_perms(ctx, path) for path in paths]


def _confirm(plan: Plan) -> bool | None:
    """True/False from a person at a terminal; None when there is nobody to ask."""
    if not sys.stdin.isatty():
        return None
    try:
        answer = input("Run it? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def run(cfg: Config, args: argparse.Namespace) -> int:
    log = cfg.audit_log
    try:
        ctx = _context(cfg, args)
        todo = plans(cfg, args, ctx)
    except builders.UsageError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    if not todo:
        print("every documented socket already has its documented owner, group and mode")
        return EXIT_DONE
    code = EXIT_DONE
    for plan in todo:
        print("\n".join(clean(line) for line in plan.preview().splitlines()))
        if args.dry_run:
            code = max(code, EXIT_FAILED if plan.refused else EXIT_DONE)
            continue
        if not plan.steps and not plan.refused:
            continue  # nothing to do
        if not plan.refused and not args.yes:
            answer = _confirm(plan)
            if answer is None:
                result = refuse(plan, "not confirmed: use --yes when no one is at a terminal", log)
                print(clean(result.message), file=sys.stderr)
                code = EXIT_FAILED
                continue
            if not answer:
                print("cancelled: nothing was changed")
                code = EXIT_FAILED
                continue
        result = execute(plan, log, on_step=lambda said: print(f"  - {clean(said)}"))
        stream = sys.stdout if result.ok else sys.stderr
        print(clean(result.message), file=stream)
        for extra in result.details[len(plan.steps) :]:
            print(f"note: {clean(extra)}", file=sys.stderr)
        if result.ok and plan.steps:
            # Look again, from scratch: is the target now as the action meant it to be?
            fresh = _context(cfg, args).snapshot
            seen, good = verify.lines(plan, cfg.catalog, fresh) if fresh is not None else (["not verified"], None)
            for line in seen:
                print(f"now: {line}")
            if good is None:
                print("mbtop: the action ran; its effect is not verified (see above)", file=sys.stderr)
            elif not good:
                print("mbtop: the action ran, but the target does not look fixed (see above)", file=sys.stderr)
                code = EXIT_FAILED
        if not result.ok:
            code = EXIT_FAILED
    return code
