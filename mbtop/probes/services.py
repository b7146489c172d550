"""The catalog's services: running, stopped or failed, main pid, since when.

With systemd as PID 1 the answer comes from ``systemctl show`` (one call for
every unit).  Without it (containers, sysvinit, these lab machines) it comes
from the process table — the service's processes by name, the main one being
the oldest whose parent is not one of them — and, for a service with no
process, from its init script's LSB status (1 or 2: "dead but pid/lock file
exists" = failed), asked at most every ``INIT_STATUS_EVERY`` seconds.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mbtop import syscmd
from mbtop.catalog import Catalog, ServiceSpec
from mbtop.probes.owners import boot_time

State = Literal["running", "stopped", "failed", "unknown"]
INIT_STATUS_EVERY = 30.0
TIMEOUT = 5.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ServiceState:
    name: str
    state: State
    pid: int | None
    since: float | None  # epoch seconds the main process started (or the unit became active)
    manager: Literal["systemd", "init", "processes"]
    detail: str = ""  # systemd's sub-state, the init script's answer, why unknown
    processes: int = 0
    result: str = ""  # systemd's Result of a failed unit: exit-code, signal, timeout, start-limit-hit …
    log: tuple[str, ...] = ()  # a failed unit's last journal lines (mbtop.probes.systemd)


def has_systemd() -> bool:
    return os.path.isdir("/run/systemd/system")


@dataclass(frozen=True, slots=True)
class _Proc:
    pid: int
    ppid: int
    name: str
    ticks: int


def process_table(proc: Path = Path("/proc")) -> list[_Proc]:
    out: list[_Proc] = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            raw = (proc / entry / "stat").read_bytes()
            lparen, rparen = raw.index(b"("), raw.rindex(b")")
            rest = raw[rparen + 2 :].split()
            if rest[0] == b"Z":  # a zombie is an exited process (PID 1 here reaps them late)
                continue
            out.append(
                _Proc(int(entry), int(rest[1]), raw[lparen + 1 : rparen].decode("utf-8", "replace"), int(rest[19]))
            )
        except (OSError, ValueError, IndexError):
            continue
    return out


def _from_processes(svc: ServiceSpec, table: list[_Proc], boot: float) -> ServiceState | None:
    mine = [p for p in table if p.name in svc.processes]
    if not mine:
        return None
    pids = {p.pid for p in mine}
    roots = [p for p in mine if p.ppid not in pids] or mine
    main = min(roots, key=lambda p: (p.ticks, p.pid))
    since = boot + main.ticks / _CLK_TCK if boot else None
    return ServiceState(svc.name, "running", main.pid, since, "processes", main.name, len(mine))


def _systemd(catalog: Catalog) -> dict[str, ServiceState]:
    from mbtop.probes import systemd  # it builds on this module's ServiceState

    return systemd.read(catalog)


class ServiceProbe:
    """Keeps the init-script answers between samples (they are subprocesses)."""

    def __init__(self, catalog: Catalog, proc: Path = Path("/proc"), init_dir: Path = Path("/etc/init.d")) -> None:
        self.catalog = catalog
        self._proc = proc
        self._init_dir = init_dir
        self._init_cache: dict[str, tuple[float, State, str]] = {}
        self._boot = boot_time(proc)

    def read(self) -> tuple[ServiceState, ...]:
        if has_systemd():
            states = _systemd(self.catalog)
            return self._main_pids(tuple(states[svc.name] for svc in self.catalog.services))
        table = process_table(self._proc)
        out: list[ServiceState] = []
        for svc in self.catalog.services:
            running = _from_processes(svc, table, self._boot)
            if running is not None:
                self._init_cache.pop(svc.name, None)
                out.append(running)
                continue
            state, detail = self._init_status(svc)
            out.append(ServiceState(svc.name, state, None, None, "init", detail))
        return tuple(out)

    def _main_pids(self, states: tuple[ServiceState, ...]) -> tuple[ServiceState, ...]:
        """Running units systemd knows no main pid of (postfix.service, a oneshot wrapper; postfix@-
        with GuessMainPID=no): their main process and count from the process table, read once."""
        if all(st.state != "running" or st.pid is not None for st in states):
            return states
        table = process_table(self._proc)
        out: list[ServiceState] = []
        for st in states:
            svc = self.catalog.service(st.name)
            found = _from_processes(svc, table, self._boot) if svc and st.state == "running" and not st.pid else None
            out.append(st if found is None else dataclasses.replace(st, pid=found.pid, processes=found.processes))
        return tuple(out)

    def _init_status(self, svc: ServiceSpec) -> tuple[State, str]:
        script = self._init_dir / svc.init
        if not script.exists():
            return "stopped", "no process running (no init script)"
        cached = self._init_cache.get(svc.name)
        now = time.monotonic()
        if cached is not None and now - cached[0] < INIT_STATUS_EVERY:
            return cached[1], cached[2]
        try:
            done = syscmd.run([str(script), "status"], timeout=TIMEOUT)
            code = done.returncode
            text = (done.stdout or done.stderr).decode("utf-8", "replace").strip().splitlines()
            said = text[-1][:120] if text else f"status {code}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            code, said = 4, f"{script} status: {exc}"
        # LSB: 0 running, 1 dead + pid file, 2 dead + lock file, 3 not running, 4 unknown.
        state: State = "running" if code == 0 else "failed" if code in (1, 2) else "stopped" if code == 3 else "unknown"
        self._init_cache[svc.name] = (now, state, said)
        return state, said


def by_name(states: tuple[ServiceState, ...]) -> Mapping[str, ServiceState]:
    return {s.name: s for s in states}
