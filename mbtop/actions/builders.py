"""Plans for the four actions, made from the catalog and the latest sample. Nothing runs here.

Only catalog objects are acted on: a documented service, socket path or
port.  ``block`` / ``unblock`` are in ``mbtop.actions.block`` (re-exported here).
"""

from __future__ import annotations

import grp
import pwd
import signal

from mbtop import syscmd
from mbtop.actions.block import block, parse_address
from mbtop.actions.context import Context, UsageError, gate
from mbtop.actions.plan import Plan, Step
from mbtop.actions.safety import Refused, check_directories, trusted_ids
from mbtop.catalog import ServiceSpec, SocketSpec
from mbtop.model import culprits
from mbtop.probes.services import has_systemd

GRACE = 5.0  # seconds between SIGTERM and SIGKILL
PORT_WAIT = 20.0  # seconds a restarted service has to listen again


def service_control(ctx: Context, svc: ServiceSpec, verb: str) -> tuple[str, ...] | None:
    """``systemctl VERB unit`` under systemd, else ``service INIT VERB`` when the init script exists."""
    if has_systemd():
        return ("systemctl", verb, svc.unit)
    if (ctx.init_dir / svc.init).exists():
        return ("service", svc.init, verb) if syscmd.which("service") else (str(ctx.init_dir / svc.init), verb)
    return None


def _listen_pids(ctx: Context, port: int) -> dict[int, int]:
    """pid -> start ticks of the processes listening on ``port`` in the latest sample."""
    out: dict[int, int] = {}
    if ctx.sample is None:
        return out
    for s in ctx.sample.tcp.sockets:
        if s.local_port == port and s.state == "LISTEN":
            for p in ctx.sample.owners.get(s.inode, ()):
                out[p.pid] = p.start_ticks or 0
    return out


def _listen_inodes(ctx: Context) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    if ctx.sample is not None:
        for s in ctx.sample.tcp.sockets:
            if s.state == "LISTEN":
                out.setdefault(s.local_port, []).append(s.inode)
    return out


def restart(ctx: Context, name: str) -> Plan:
    svc = ctx.catalog.service(name)
    if svc is None:
        raise UsageError(f"unknown service {name!r} (known: {', '.join(s.name for s in ctx.catalog.services)})")
    ports = [p for p in ctx.catalog.ports if p.service == svc.name]
    listening = {p.port for p in ports if _listen_pids(ctx, p.port)}
    wait_for = [p.port for p in ports if p.port in listening or p.required]
    argv = service_control(ctx, svc, "restart")
    refused = gate(ctx)
    if argv is None and refused is None:
        refused = f"no systemd and no init script {ctx.init_dir / svc.init}: mbtop cannot restart {svc.name}"
    steps = [Step("exec", f"restart {svc.name}", argv=argv or ())]
    old = _listen_inodes(ctx)
    steps += [
        Step(
            "wait-port",
            f"wait up to {PORT_WAIT:.0f} s for port {p} to listen again",
            port=p,
            seconds=PORT_WAIT,
            listen=True,
            avoid=tuple(old.get(p, ())),
        )
        for p in wait_for
    ]
    return Plan(
        "restart",
        svc.name,
        f"restart {svc.name}" + (f" (ports {', '.join(map(str, wait_for))})" if wait_for else ""),
        tuple(steps),
        refused,
        verify="its ports listen again, held by new processes",
    )


def _socket_spec(ctx: Context, path: str) -> SocketSpec | None:
    for spec in ctx.catalog.sockets:
        if path == spec.path:
            return spec
        if ctx.sample is not None and path in ctx.sample.aliases.get(spec.path, frozenset()):
            return spec
    return None


def fix_perms(ctx: Context, path: str) -> Plan:
    spec = _socket_spec(ctx, path)
    if spec is None:
        known = ", ".join(s.path for s in ctx.catalog.sockets)
        return Plan(
            "fix-perms",
            path,
            f"fix the permissions of {path}",
            refused=f"{path} is not a documented socket (only these are: {known})",
        )
    try:
        uid = pwd.getpwnam(spec.owner).pw_uid
        gid = grp.getgrnam(spec.group).gr_gid
    except KeyError as exc:
        return Plan("fix-perms", spec.path, f"fix {spec.path}", refused=f"{exc.args[0]}: no such user or group")
    summary = f"set {spec.path} to {spec.owner}:{spec.group} {spec.mode_text}"
    notes = (
        (f"a chmod is lost when {spec.service} restarts; set it for good in {spec.persist}",) if spec.persist else ()
    )
    refused = gate(ctx)
    file = ctx.sample.files.get(spec.path) if ctx.sample is not None else None
    inode = 0
    if file is not None:
        if file.kind == "symlink":
            refused = refused or f"{spec.path} is a symlink (to {file.link_target}): mbtop never follows it"
        elif file.kind not in ("socket", None) and file.exists:
            refused = refused or f"{spec.path} is a {file.kind}, not a socket: not changing it"
        elif not file.exists:
            refused = refused or f"{spec.path} does not exist: restart {spec.service} to create it"
        elif file.uid == uid and file.gid == gid and file.mode == spec.mode:
            return Plan(
                "fix-perms",
                spec.path,
                f"{spec.path} is already {spec.owner}:{spec.group} {spec.mode_text}",
                notes=notes,
            )
        inode = file.inode or 0
    if refused is None:
        try:
            check_directories(spec.path, *trusted_ids(spec.owner, spec.group))
        except Refused as exc:
            refused = str(exc)
    step = Step(
        "fix-socket",
        f"chown {spec.owner}:{spec.group} and chmod {spec.mode_text} {spec.path} "
        "(on the socket opened without following links)",
        path=spec.path,
        uid=uid,
        gid=gid,
        mode=spec.mode,
        inode=inode,
        owner=spec.owner,
        group=spec.group,
    )
    return Plan("fix-perms", spec.path, summary, (step,), refused, notes, "the socket's owner, group and mode")


def free_port(ctx: Context, port: int, start: bool = False, grace: float = GRACE) -> Plan:
    spec = ctx.catalog.port(port)
    if spec is None:
        raise UsageError(f"port {port} is not a documented port")
    svc = ctx.catalog.service(spec.service)
    refused = gate(ctx)
    snap_port = next((p for p in ctx.snapshot.ports if p.spec.port == port), None) if ctx.snapshot else None
    holders = _listen_pids(ctx, port)
    foreign = {}
    names: dict[int, str] = {}
    if snap_port is not None:
        for lst in snap_port.listeners:
            if lst.pid is not None and lst.expected is False:
                foreign[lst.pid] = holders.get(lst.pid, 0)
                names[lst.pid] = lst.process or "?"
    summary = f"free port {port} ({spec.name})"
    if not holders and snap_port is not None and not snap_port.listening:
        return Plan("free-port", str(port), summary, refused=f"nothing listens on port {port}")
    if not foreign:
        if snap_port is not None and snap_port.listeners and all(lst.pid is None for lst in snap_port.listeners):
            reason = f"the process holding port {port} is unknown (not root?)"
        else:
            reason = f"port {port} is held by {spec.service}, the documented service: use restart {spec.service}"
        return Plan("free-port", str(port), summary, refused=refused or reason)
    unknown = sorted(pid for pid, ticks in foreign.items() if ticks <= 0)
    if unknown:
        refused = refused or (
            f"the start time of pid {', '.join(map(str, unknown))} is unknown: mbtop cannot confirm the process it "
            "would signal is the one it saw (its pid may have been reused); look again"
        )
    notes: tuple[str, ...] = ()
    known = culprits.explain(spec, names.values(), ctx.catalog)
    if known is not None:  # exim4 on 25, apache2 on 80 …: say what is stopped, and that it comes back
        summary = f"{summary}: stop {known.what} ({known.process})"
        notes = (f"{known.why} Stopping it lasts until its next start; to keep it away: {known.keep_away}",)
        notes += (f"the fix: {known.fix}",)
    steps: list[Step] = []
    for pid, ticks in sorted(foreign.items()):
        who = f"{names[pid]} (pid {pid})"
        steps.append(Step("signal", f"send SIGTERM to {who}", pid=pid, start_ticks=ticks, signal=signal.SIGTERM))
    for pid, ticks in sorted(foreign.items()):
        steps.append(
            Step(
                "wait-exit", f"wait up to {grace:g} s for pid {pid} to exit", pid=pid, start_ticks=ticks, seconds=grace
            )
        )
        steps.append(
            Step(
                "signal",
                f"send SIGKILL to pid {pid} if it is still there",
                pid=pid,
                start_ticks=ticks,
                signal=signal.SIGKILL,
                optional=True,
            )
        )
    steps.append(Step("wait-port", f"wait for port {port} to be free", port=port, seconds=5.0))
    if start and svc is not None:
        argv = service_control(ctx, svc, "restart")
        if argv is not None:
            # restart, not start: a service still running elsewhere (redis on its socket) would ignore a start
            steps.append(Step("exec", f"restart {svc.name} so that it takes port {port}", argv=argv))
            summary += f", then restart {svc.name}"
            steps.append(
                Step(
                    "wait-port",
                    f"wait up to {PORT_WAIT:.0f} s for {svc.name} on port {port}",
                    port=port,
                    seconds=PORT_WAIT,
                    listen=True,
                )
            )
        else:
            refused = refused or f"no way to start {svc.name} here (no systemd, no init script)"
    verify = f"port {port} is held by {spec.service}" if start and svc is not None else f"port {port} is free"
    return Plan("free-port", str(port), summary, tuple(steps), refused, notes, verify=verify)


__all__ = ["Context", "UsageError", "block", "fix_perms", "free_port", "parse_address", "restart"]
