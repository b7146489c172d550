"""``queue`` and ``vitals`` in ``snapshot --json`` (and ``mbtop queue --json``). Keys only ever added."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mbtop.model.queue import QueueState
from mbtop.model.vitals import days_left
from mbtop.probes.vitals import Vitals


def iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def queue(state: QueueState | None) -> dict[str, Any]:
    if state is None:
        state = QueueState(available=False, reason="not read")
    return {
        "available": state.available,
        "reason": state.reason,
        "read_seconds": round(state.seconds, 3),
        "counts": dict(state.counts),
        "bytes": dict(state.bytes),
        "oldest_seconds": {q: (round(a) if a is not None else None) for q, a in state.oldest_seconds},
        "top_domains": [{"domain": d, "count": n} for d, n in state.top_domains],
        "top_senders": [{"sender": s, "count": n} for s, n in state.top_senders],
        "deferred_reasons": [{"reason": r, "count": n} for r, n in state.deferred_reasons],
    }


def vitals(v: Vitals | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "filesystems": [
            {
                "mount": fs.mount,
                "path_roles": dict(zip(fs.roles, fs.paths, strict=True)),
                "total_bytes": fs.total_bytes,
                "free_bytes": fs.free_bytes,
                "free_ratio": fs.free_ratio,
                "total_inodes": fs.total_inodes,
                "free_inodes_ratio": fs.free_inodes_ratio,
            }
            for fs in v.filesystems
        ],
        "memory": dict(v.memory),
        "load": list(v.load),
        "cpus": v.cpus,
        "clock_synchronized": v.clock_synchronized,
        "clock_source": v.clock_source,
        "certificates": [
            {
                "path": c.path,
                "used_by": list(c.used_by),
                "subject": c.subject,
                "not_after": iso(c.not_after),
                "days_left": days_left(c, v.taken_at),
                "error": c.error,
            }
            for c in v.certificates
        ],
        "mailborder_logs": None
        if v.mailborder_logs is None
        else [{"path": e.path, "errors": e.errors, "last": e.last} for e in v.mailborder_logs],
        "notes": list(v.notes),
    }
