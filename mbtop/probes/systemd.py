"""Services as systemd sees them, when PID 1 is systemd (every real gateway).

One ``systemctl show`` answers for every catalog unit: active, failed or
inactive, the main pid, since when, and for a failed unit systemd's
``Result`` (``exit-code``, ``signal``, ``timeout``, ``start-limit-hit`` …).  A
failed unit also gets the last lines its own processes wrote to the journal
(the daemon's complaint, not systemd's "Failed to start"): read once per
failure, not once per sample.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping

from mbtop import syscmd
from mbtop.catalog import Catalog
from mbtop.probes.services import TIMEOUT, ServiceState, State
from mbtop.text import clean

PROPS = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "Result",
    "MainPID",
    "ActiveEnterTimestampMonotonic",
    "StateChangeTimestampMonotonic",
)
JOURNAL_LINES = 5
JOURNAL_SCAN = 40  # entries read back to find the unit's own lines among systemd's
LINE_MAX = 300
# unit -> (the state change it was read for, the lines): one entry per catalog unit at most.
_journal_cache: dict[str, tuple[str, tuple[str, ...]]] = {}


def parse_show(text: str) -> list[dict[str, str]]:
    """``systemctl show`` output: blocks of KEY=VALUE separated by blank lines, one per unit asked."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if current:
                out.append(current)
                current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    return out


def _state(active: str) -> State:
    if active in ("active", "reloading", "activating"):
        return "running"
    if active == "failed":
        return "failed"
    if active in ("inactive", "deactivating"):
        return "stopped"
    return "unknown"


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def journal_tail(unit: str, lines: int = JOURNAL_LINES) -> tuple[str, ...]:
    """The last ``lines`` messages of ``unit`` in the journal, its own processes' first, cleaned."""
    try:
        done = syscmd.run(
            ["journalctl", "--no-pager", "-q", "-o", "json", "-n", str(JOURNAL_SCAN), "-u", unit], timeout=TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    own: list[str] = []
    every: list[str] = []
    for raw in done.stdout.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, list):  # binary-safe MESSAGE: a byte array
            message = bytes(b & 0xFF for b in message if isinstance(b, int)).decode("utf-8", "replace")
        if not isinstance(message, str) or not message.strip():
            continue
        text = clean(message.replace("\n", " ")).strip()[:LINE_MAX]
        every.append(text)
        if entry.get("_PID") != "1" and entry.get("SYSLOG_IDENTIFIER") != "systemd":
            own.append(text)
    return tuple((own or every)[-lines:])


def _failure_log(unit: str, changed: str) -> tuple[str, ...]:
    cached = _journal_cache.get(unit)
    if cached is not None and cached[0] == changed:
        return cached[1]
    lines = journal_tail(unit)
    _journal_cache[unit] = (changed, lines)
    return lines


def unit_state(name: str, block: Mapping[str, str], uptime_base: float) -> ServiceState:
    """One service from its unit's properties (``uptime_base`` = wall clock at monotonic 0)."""
    unit = block.get("Id", "")
    load = block.get("LoadState", "")
    if load and load != "loaded":  # not-found, masked, bad-setting, error
        state: State = "stopped" if load in ("not-found", "masked") else "unknown"
        return ServiceState(name, state, None, None, "systemd", load)
    state = _state(block.get("ActiveState", ""))
    sub = block.get("SubState", "")
    if sub == "auto-restart":  # Restart= crash loop: "activating", yet nothing runs between attempts
        state = "failed"
    pid = _int(block.get("MainPID")) or None
    mono = _int(block.get("ActiveEnterTimestampMonotonic"))
    since = uptime_base + mono / 1e6 if mono and state == "running" else None
    detail = sub
    result = ""
    log: tuple[str, ...] = ()
    if state == "failed":
        result = block.get("Result", "")
        result = result if result not in ("", "success") else sub or "failed"
        log = _failure_log(unit, block.get("StateChangeTimestampMonotonic", ""))
    return ServiceState(name, state, pid, since, "systemd", detail, result=result, log=log)


def read(catalog: Catalog) -> dict[str, ServiceState]:
    """Every catalog service by name, from one ``systemctl show``."""
    units = [s.unit for s in catalog.services]
    try:
        done = syscmd.run(["systemctl", "show", f"--property={','.join(PROPS)}", "--", *units], timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {
            s.name: ServiceState(s.name, "unknown", None, None, "systemd", f"systemctl: {exc}")
            for s in catalog.services
        }
    blocks = parse_show(done.stdout.decode("utf-8", "replace"))
    # One block per unit asked, in order (an alias such as mysql.service answers with its real Id).
    by_unit = dict(zip(units, blocks, strict=True)) if len(blocks) == len(units) else {b.get("Id"): b for b in blocks}
    said = done.stderr.decode("utf-8", "replace").strip().splitlines()
    why = clean(said[-1])[:120] if said else "systemctl: no answer"
    uptime_base = time.time() - time.monotonic()
    out: dict[str, ServiceState] = {}
    for svc in catalog.services:
        block = by_unit.get(svc.unit)
        out[svc.name] = (
            unit_state(svc.name, block, uptime_base)
            if block is not None
            else ServiceState(svc.name, "unknown", None, None, "systemd", why)
        )
    return out
