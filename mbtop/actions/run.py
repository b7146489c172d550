"""Run a confirmed plan, step by step, and audit it: one line per action tried."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from mbtop import syscmd
from mbtop.actions import audit
from mbtop.actions.plan import Plan, Result, Step
from mbtop.actions.safety import Refused, fix_socket, signal_process, wait_exit
from mbtop.probes import sockdiag

EXEC_TIMEOUT = 120.0


def _listeners(port: int) -> set[int]:
    """Inodes of the sockets listening on ``port`` now."""
    try:
        return {s.inode for s in sockdiag.tcp_sockets((port,)) if s.state == "LISTEN"}
    except OSError:
        return set()


def _wait_port(step: Step) -> tuple[bool, str]:
    deadline = time.monotonic() + step.seconds
    while True:
        inodes = _listeners(step.port)
        listening = bool(inodes - set(step.avoid))
        if listening == step.listen:
            again = " again (new sockets)" if step.avoid and listening else ""
            return True, f"port {step.port} {'listens' + again if listening else 'is free'}"
        if time.monotonic() >= deadline:
            state = "still held" if listening else "not listening"
            return False, f"port {step.port} {state} after {step.seconds:g} s"
        time.sleep(0.2)


def _exec(step: Step) -> tuple[bool, str]:
    try:
        feed = "".join(f"{line}\n" for line in step.stdin).encode() if step.stdin else None
        done = syscmd.run(step.argv, timeout=EXEC_TIMEOUT, input=feed)
    except FileNotFoundError:
        return False, f"{step.argv[0]}: not installed"
    except subprocess.TimeoutExpired:
        return False, f"{step.argv[0]} did not finish in {EXEC_TIMEOUT:g} s"
    out = (done.stdout + done.stderr).decode("utf-8", "replace").strip().splitlines()
    tail = out[-1][:200] if out else ""
    if done.returncode != 0:
        return False, f"{step.argv_text()}: exit status {done.returncode}" + (f": {tail}" if tail else "")
    return True, f"{step.argv_text()}: ok" + (f" ({tail})" if tail else "")


def run_step(step: Step) -> tuple[bool, str]:
    try:
        if step.kind == "exec":
            return _exec(step)
        if step.kind == "fix-socket":
            return True, fix_socket(step.path, step.uid, step.gid, step.mode, step.owner, step.group, step.inode)
        if step.kind == "signal":
            said = signal_process(step.pid, step.start_ticks, step.signal)
            name = "SIGKILL" if step.signal == 9 else "SIGTERM" if step.signal == 15 else str(step.signal)
            return True, f"pid {step.pid}: {name} {said}" if said == "sent" else f"pid {step.pid}: already gone"
        if step.kind == "wait-exit":
            gone = wait_exit(step.pid, step.start_ticks, step.seconds)
            return True, f"pid {step.pid} {'exited' if gone else f'still running after {step.seconds:g} s'}"
        if step.kind == "wait-port":
            return _wait_port(step)
    except Refused as exc:
        return False, f"refused: {exc}"
    except OSError as exc:
        return False, f"{step.text}: {exc.strerror or exc}"
    raise AssertionError(f"unknown step {step.kind}")


def execute(
    plan: Plan,
    log: Path = audit.DEFAULT_LOG,
    on_step: Callable[[str], None] | None = None,
) -> Result:
    """Run ``plan`` (already confirmed); audited when it starts and when it ends, whatever happens."""
    if plan.refused:
        result = Result(False, f"refused: {plan.refused}")
        problem = audit.write(plan, "refused", plan.refused, log)
        if problem:
            result.details.append(problem)
        return result
    action_id = audit.new_id()
    details: list[str] = []
    # The start line is written before anything runs: a killed mbtop still leaves it.
    start_problem = audit.write(plan, "started", plan.preview()[:2000], log, action_id)
    if start_problem:
        # An action that cannot be audited does not run (a full disk, a log made unsafe): refused
        # before its first step, with the reason; the syslog copy of the start line is all there is.
        why = f"the audit log's start line could not be written — {start_problem}"
        return Result(False, f"refused: {why}", [start_problem])
    ok = True
    for step in plan.steps:
        if step.kind == "signal" and step.optional and _exited_before(details, step.pid):
            continue  # SIGKILL only when SIGTERM was not enough
        good, said = run_step(step)
        details.append(said)
        if on_step is not None:
            on_step(said)
        if not good and not step.optional:
            ok = False
            break
    message = f"{plan.summary}: " + ("done" if ok else f"failed — {details[-1] if details else 'no steps'}")
    if not plan.steps:
        message = plan.summary
    result = Result(ok, message, details)
    problem = audit.write(plan, result.outcome, "; ".join(details)[:2000], log, action_id)
    if problem:
        result.details.append(problem)
    return result


def _exited_before(details: list[str], pid: int) -> bool:
    return f"pid {pid} exited" in details or f"pid {pid}: already gone" in details


def refuse(plan: Plan, why: str, log: Path = audit.DEFAULT_LOG) -> Result:
    """An action the operator asked for but that cannot run (not confirmed non-interactively, ...)."""
    problem = audit.write(plan, "refused", why, log)
    result = Result(False, f"refused: {why}")
    if problem:
        result.details.append(problem)
    return result
