"""Actions as plans: what will run, exactly, before anything runs.

A ``Plan`` is a list of ``Step``s.  A step either executes an argv (a list:
never a shell string, never text collected from the system pasted into a
command) or is one of a few operations mbtop does itself because doing them
safely needs more than a command (change a socket's owner through a file
descriptor opened without following links; signal a process through a pidfd
after checking it is still the same process).  A plan that must not run says
why in ``refused``; it is still shown, and still audited when tried.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Literal

StepKind = Literal["exec", "fix-socket", "signal", "wait-exit", "wait-port"]


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    text: str  # what a person reads in the preview
    argv: tuple[str, ...] = ()  # exec
    path: str = ""  # fix-socket
    uid: int = -1
    gid: int = -1
    mode: int = 0
    inode: int = 0  # fix-socket: the socket file's inode when planned (0: not known)
    owner: str = ""  # fix-socket: the documented owner and group, by name
    group: str = ""
    pid: int = 0  # signal / wait-exit
    start_ticks: int = 0  # the process's start time when planned: guards against pid reuse
    signal: int = 0
    seconds: float = 0.0  # wait-exit / wait-port: how long at most
    port: int = 0  # wait-port
    listen: bool = False  # wait-port: wait until it listens (True) or until it is free (False)
    avoid: tuple[int, ...] = ()  # wait-port: listening sockets (inodes) that do not count: the old ones
    optional: bool = False  # a failure here does not stop the plan (e.g. SIGKILL after a clean exit)
    stdin: tuple[str, ...] = ()  # exec: lines written to the command's standard input (postsuper's queue ids)

    def argv_text(self) -> str:
        text = shlex.join(self.argv) if self.argv else self.text
        return f"{text} < ({len(self.stdin)} line(s) on stdin)" if self.stdin else text


@dataclass(frozen=True, slots=True)
class Plan:
    action: str  # restart, fix-perms, free-port, block, unblock
    target: str  # the service, path, port or address, as the operator named it
    summary: str  # one line: what this does
    steps: tuple[Step, ...] = ()
    refused: str | None = None  # why it must not run
    notes: tuple[str, ...] = ()  # e.g. the persistent fix: a chmod is lost at the next restart
    verify: str = ""  # what is re-checked afterwards

    def preview(self) -> str:
        lines = [self.summary]
        if self.refused:
            lines.append(f"REFUSED: {self.refused}")
        for i, step in enumerate(self.steps, 1):
            lines.append(f"  {i}. {step.argv_text()}")
        if self.verify:
            lines.append(f"then: {self.verify}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def argvs(self) -> list[list[str]]:
        """What the audit log records: each step as an argv (mbtop's own steps as a readable one)."""
        return [
            [*s.argv, "<stdin>", *s.stdin] if s.stdin else list(s.argv) if s.argv else [f"({s.kind})", s.text]
            for s in self.steps
        ]


@dataclass(slots=True)
class Result:
    ok: bool
    message: str  # one line for the operator
    details: list[str] = field(default_factory=list)  # each step's outcome

    @property
    def outcome(self) -> str:
        return "done" if self.ok else "failed"
