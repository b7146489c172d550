"""Actions from the live screen: plan (worker) → preview and confirm (modal) → run (worker) → audit
→ verify and report. They run in the viewer's process whatever the frames come from; the check
afterwards is the source's ``recheck`` (a fresh, whole read of the machine).

A mixin of ``MbtopApp``.
"""

from __future__ import annotations

import os

from textual import work
from textual.notifications import SeverityLevel

from mbtop.actions import builders, verify
from mbtop.actions import queue as queue_actions
from mbtop.actions.plan import Plan, Result
from mbtop.actions.run import execute
from mbtop.model import queue as queuemodel
from mbtop.ui.feed import FeedApp
from mbtop.ui.screens.confirm import ConfirmScreen

ACTIONS = {
    "restart": "Restart the service",
    "fix-perms": "Fix the socket's owner, group and mode",
    "free-port": "Stop the process squatting the port",
    "block": "Block the address with the firewall",
    "unblock": "Lift mbtop's block of the address",
}


class ActingApp(FeedApp):
    last_action: tuple[Plan, Result, list[str], bool | None] | None

    def target_service(self, key: str) -> str | None:
        """The catalog service behind a row key (port:25, socket:redis, service:nginx)."""
        kind, _, rest = key.partition(":")
        if kind == "port" and rest.isdigit():
            spec = self.catalog.port(int(rest))
            return spec.service if spec else None
        if kind == "socket":
            sock = self.catalog.socket(rest)
            return sock.service if sock else None
        if kind == "service":
            return rest
        return None

    def propose(self, kind: str, target: str) -> None:
        """Make the plan for an action on ``target`` and show it for confirmation."""
        if self.view is None:
            return
        self.plan_worker(kind, target)

    @work(thread=True, group="action", exclusive=True, exit_on_error=False)
    def plan_worker(self, kind: str, target: str) -> None:
        view = self.view
        if view is None:
            return
        ctx = builders.Context(
            self.catalog, view.sample, view.snapshot, read_only=self.read_only, root=os.geteuid() == 0
        )
        try:
            if kind == "restart":
                plan = builders.restart(ctx, target)
            elif kind == "fix-perms":
                plan = builders.fix_perms(ctx, target)
            elif kind == "free-port":
                plan = builders.free_port(ctx, int(target), start=True)
            elif kind.startswith("queue-"):
                config_dir = self.gateway.config_dir if self.gateway else None
                plan = queue_actions.plan_for(kind, target, self.read_only, os.geteuid() == 0, config_dir)
            else:
                plan = builders.block(ctx, target, unblock=kind == "unblock")
        except (builders.UsageError, ValueError) as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.call_from_thread(self.confirm_plan, plan)

    def confirm_plan(self, plan: Plan) -> None:
        def answered(run: bool | None) -> None:
            if run:
                self.notify(f"running: {plan.summary}", timeout=4, markup=False)
                self.run_worker_for(plan)

        self.push_screen(ConfirmScreen(plan, self.read_only), answered)

    @work(thread=True, group="action", exit_on_error=False)
    def run_worker_for(self, plan: Plan) -> None:
        result = execute(plan, self.audit_log)
        seen: list[str] = []
        good: bool | None = True
        if result.ok and plan.steps and plan.action.startswith("queue-"):
            seen = queue_actions.verify_lines(plan, queuemodel.read(self.gateway.config_dir if self.gateway else None))
            refresh = getattr(self.frames, "refresh_gateway", None)
            if callable(refresh):
                refresh()
        elif result.ok and plan.steps:
            # The re-check sees everything as it is now (the rules too, after a block).
            fresh = self.frames.recheck(plan.action in ("block", "unblock"))
            if fresh is not None:
                seen, good = verify.lines(plan, self.catalog, fresh)
        self.call_from_thread(self.report_action, plan, result, seen, good)

    def report_action(self, plan: Plan, result: Result, seen: list[str], good: bool | None) -> None:
        text = "\n".join([result.message, *[f"now: {line}" for line in seen], *result.details[len(plan.steps) :]])
        severity: SeverityLevel = "error"
        if result.ok:
            severity = "information" if good else "warning" if good is None else "error"  # None: not verified
        self.notify(text, title="mbtop action", severity=severity, timeout=15, markup=False)
        self.last_action = (plan, result, seen, good)
        self.action_refresh()
