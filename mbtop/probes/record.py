"""Samples to and from JSON: record a live system once, replay it in tests and screenshots."""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import asdict
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mbtop.probes.firewall import FamilyVerdict, FirewallState, PortFirewall
from mbtop.probes.firewall.engine import Rate
from mbtop.probes.health import Health
from mbtop.probes.sample import Sample
from mbtop.probes.services import ServiceState
from mbtop.probes.types import InetSocket, InetTable, ParentDir, ProcessInfo, SocketFile, UnixSocket, UnixTable

FORMAT = 1


def to_dict(s: Sample) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "taken_at": s.taken_at,
        "monotonic": s.monotonic,
        "host": s.host,
        "root": s.root,
        "uptime": s.uptime,
        "tcp": {"source": s.tcp.source, "error": s.tcp.error, "sockets": [list(x) for x in s.tcp.sockets]},
        "unix": {"source": s.unix.source, "error": s.unix.error, "sockets": [list(x) for x in s.unix.sockets]},
        "files": {k: asdict(v) for k, v in s.files.items()},
        "aliases": {k: sorted(v) for k, v in s.aliases.items()},
        "owners": {str(k): [asdict(p) for p in v] for k, v in s.owners.items()},
        "owners_denied": s.owners_denied,
        "notes": list(s.notes),
        "netstat": dict(s.netstat),
        "firewall": asdict(s.firewall) if s.firewall is not None else None,
        "health": {k: asdict(v) for k, v in s.health.items()},
        "services": [asdict(x) for x in s.services],
    }


def _file(d: dict[str, Any]) -> SocketFile:
    d = dict(d)
    d["parents"] = tuple(ParentDir(**p) for p in d.get("parents", ()))
    return SocketFile(**d)


def _proc(d: dict[str, Any]) -> ProcessInfo:
    d = dict(d)
    d["cmdline"] = tuple(d["cmdline"])
    return ProcessInfo(**d)


def _firewall(d: dict[str, Any] | None) -> FirewallState | None:
    if d is None:
        return None

    def port(p: dict[str, Any]) -> PortFirewall:
        fams = tuple(
            FamilyVerdict(
                **{
                    **f,
                    "rate": Rate(**f["rate"]) if f.get("rate") else None,
                    "sources": tuple(f["sources"]),
                    "notes": tuple(f.get("notes", ())),
                    "excepted": tuple(f.get("excepted", ())),
                }
            )
            for f in p.get("families", ())
        )
        return PortFirewall(
            **{
                **p,
                "sources": tuple(p["sources"]),
                "families": fams,
                "excepted": tuple(p.get("excepted", ())),
                "rate": Rate(**p["rate"]) if p.get("rate") else None,
            }
        )

    return FirewallState(
        **{
            **d,
            "ports": {int(k): port(v) for k, v in d["ports"].items()},
            "policies": tuple(d["policies"]),
            "notes": tuple(d.get("notes", ())),
            "interfaces": tuple(d.get("interfaces", ())),
        }
    )


def from_dict(d: dict[str, Any]) -> Sample:
    if d.get("format") != FORMAT:
        raise ValueError(f"unsupported sample format {d.get('format')!r}")
    return Sample(
        taken_at=d["taken_at"],
        monotonic=d["monotonic"],
        host=d["host"],
        root=d["root"],
        uptime=d.get("uptime"),
        tcp=InetTable(
            tuple(InetSocket(*x) for x in d["tcp"]["sockets"]),
            d["tcp"]["source"],
            d["tcp"]["error"],
            d["tcp"].get("why_proc"),
        ),
        unix=UnixTable(
            tuple(UnixSocket(*x) for x in d["unix"]["sockets"]),
            d["unix"]["source"],
            d["unix"]["error"],
            d["unix"].get("why_proc"),
        ),
        files=MappingProxyType({k: _file(v) for k, v in d["files"].items()}),
        aliases=MappingProxyType({k: frozenset(v) for k, v in d["aliases"].items()}),
        owners=MappingProxyType({int(k): tuple(_proc(p) for p in v) for k, v in d["owners"].items()}),
        owners_denied=d["owners_denied"],
        notes=tuple(d["notes"]),
        netstat=MappingProxyType(dict(d.get("netstat", {}))),
        firewall=_firewall(d.get("firewall")),
        health=MappingProxyType({k: Health(**v) for k, v in d.get("health", {}).items()}),
        services=tuple(ServiceState(**x) for x in d.get("services", ())),
    )


class RecordError(OSError):
    """The recording cannot be written where asked; the message says why, for a person."""


def check_target(path: Path, *, force: bool = False) -> os.stat_result | None:
    """RecordError when a recording must not be written at ``path``; what is there now, if anything."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise RecordError(f"{path} is a symlink: mbtop never writes through one")
    if not force:
        raise RecordError(f"{path} exists: give --force to replace it")
    if not stat.S_ISREG(st.st_mode):
        raise RecordError(f"{path} is not a regular file: not replacing it")
    return st


def save(samples: list[Sample], path: Path, *, force: bool = False) -> None:
    """Write a recording readable by its owner only (0600: command lines, users, remote addresses).

    A symlink at ``path`` is never followed (refused); an existing file is refused unless ``force``,
    and then replaced by rename (a new inode: a hard link to another file is not written through).
    """
    data = json.dumps([to_dict(s) for s in samples]).encode()
    st = check_target(path, force=force)
    target = path
    if st is not None:
        target = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
    except BaseException:
        os.close(fd)
        os.unlink(target)
        raise
    os.close(fd)
    if target != path:
        try:
            os.rename(target, path)
        except OSError:
            os.unlink(target)
            raise


def load(path: Path) -> list[Sample]:
    data = json.loads(path.read_text())
    return [from_dict(d) for d in data]


class Replay:
    """A source that plays recorded samples in a loop (tests, screenshots, post-mortems)."""

    def __init__(self, samples: list[Sample]) -> None:
        if not samples:
            raise ValueError("no samples to replay")
        self._samples = samples
        self._i = 0

    @classmethod
    def from_file(cls, path: Path) -> Replay:
        return cls(load(path))

    def __call__(self) -> Sample:
        s = self._samples[self._i % len(self._samples)]
        self._i += 1
        return s
