"""A documented Unix socket's status: its file, its listener, its mode and owner, and the findings."""

from __future__ import annotations

from collections.abc import Mapping

from mbtop.catalog import Catalog, SocketSpec
from mbtop.model.listeners import describe_holder, listeners_of, start_hint
from mbtop.model.types import SEVERITY_RANK, Finding, Severity, SocketStatus, worst
from mbtop.probes.types import ProcessInfo, SocketFile, UnixSocket


def _missing_bits(actual: int, expected: int) -> int:
    return expected & ~actual


def socket_status(
    spec: SocketSpec,
    file: SocketFile,
    unix: tuple[UnixSocket, ...],
    owners: Mapping[int, tuple[ProcessInfo, ...]],
    catalog: Catalog,
    alternative_ok: bool,
    probe_error: str | None,
    names: frozenset[str],
) -> SocketStatus:
    path = spec.path
    # The listener bound to *this* file: by file inode when the kernel tells it (netlink),
    # by name otherwise.  A stale file left by a dead daemon has no listener.
    if file.kind == "socket" and any(u.vfs_inode is not None for u in unix):
        mine = [u for u in unix if u.vfs_inode == file.inode]
    else:
        mine = [u for u in unix if u.path in names] if file.kind == "socket" else []
    listen = [u for u in mine if u.listening]
    clients = sum(1 for u in mine if u.connected)
    pending = sum(u.pending for u in listen)
    backlogs = [u.backlog for u in listen if u.backlog]
    allowed = catalog.processes_for(spec.service)
    listeners = listeners_of(((path, 0, u.inode, u.pending, u.backlog) for u in listen), owners, allowed)
    findings: list[Finding] = []
    label = f"{path} ({spec.name})"

    def add(sev: Severity, code: str, message: str, fix: str, action: str | None = None) -> None:
        findings.append(Finding(sev, code, message, fix, path=path, action=action))

    if not file.exists:
        if file.error and "permission denied" in file.error.lower():
            return SocketStatus(spec, file, False, (), 0, 0, None, (), "unknown", f"unknown — {file.error}")
        if spec.required:
            extra = f"; its TCP alternative (port {spec.alternative}) is listening" if alternative_ok else ""
            where = f" ({file.error})" if file.error else ""
            add(
                "warning" if alternative_ok else "critical",
                "socket-missing",
                f"socket {label} does not exist{where}{extra}",
                start_hint(spec.service, catalog),
                f"restart {spec.service}",
            )
    elif file.kind != "socket":
        what = {
            "symlink": f"a symlink to {file.link_target!r}",
            "file": "a regular file",
            "directory": "a directory",
        }.get(file.kind or "", "not a socket")
        add(
            "critical",
            "not-a-socket",
            f"{label} is {what}, not a socket",
            f"remove {path} (it is not the daemon's socket), then restart {spec.service}",
        )
    else:
        if file.owner != spec.owner or file.group != spec.group:
            actual = f"{file.owner or file.uid}:{file.group or file.gid}"
            add(
                "critical",
                "socket-owner",
                f"socket {label} is owned by {actual}, expected {spec.owner}:{spec.group}",
                f"chown {spec.owner}:{spec.group} {path} (and fix the daemon's socket settings)",
                f"fix-perms {path}",
            )
        if file.mode is not None and file.mode != spec.mode:
            missing = _missing_bits(file.mode, spec.mode)
            sev: Severity = "critical" if missing else "warning"
            why = "clients may be refused" if missing else "more permissive than documented"
            add(
                sev,
                "socket-mode",
                f"socket {label} has mode {file.mode:04o}, expected {spec.mode:04o} ({why})",
                f"chmod {spec.mode:04o} {path} (and fix the daemon's socket settings)",
                f"fix-perms {path}",
            )
        if not listen and not probe_error:
            add(
                "critical",
                "socket-not-accepting",
                f"socket {label} exists but nothing accepts connections on it",
                f"the file is stale or the daemon is stuck: restart {spec.service}",
                f"restart {spec.service}",
            )
        foreign = [lst for lst in listeners if lst.expected is False]
        if foreign and allowed:
            add(
                "critical",
                "unexpected-owner",
                f"socket {label} is served by {describe_holder(foreign)}, not {spec.service}",
                f"stop that process, then {start_hint(spec.service, catalog)}",
            )
        if backlogs and pending >= max(backlogs):
            add(
                "warning",
                "accept-queue-full",
                f"socket {label}: accept queue full ({pending}/{max(backlogs)})",
                f"{spec.service} is not accepting fast enough",
            )

    status: Severity = worst([f.severity for f in findings])
    if probe_error and file.kind == "socket" and not findings:
        status, reason = "unknown", f"unknown — {probe_error}"
    elif findings:
        reason = max(findings, key=lambda f: SEVERITY_RANK[f.severity]).message
    elif not file.exists:
        reason = "not in use (optional)"
    else:
        names_seen = sorted({lst.process for lst in listeners if lst.process})
        reason = f"accepting ({'/'.join(names_seen) or 'owner unknown'}), {clients} client(s)"
    return SocketStatus(
        spec=spec,
        file=file,
        accepting=bool(listen),
        listeners=listeners,
        clients=clients,
        pending=pending,
        backlog=max(backlogs) if backlogs else None,
        findings=tuple(findings),
        status=status,
        reason=reason,
    )
