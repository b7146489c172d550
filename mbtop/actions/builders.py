"""Plans for the four actions, made from the catalog and the latest sample. Nothing runs here.

Only catalog objects are acted on: a documented service, socket path or
port.  An address to block is parsed and printed back by ``ipaddress``, so
what reaches the firewall command is never the operator's (or a log's) text.
"""

from __future__ import annotations

import grp
import ipaddress
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mbtop.actions.plan import Plan, Step
from mbtop.actions.safety import Refused, check_directories, ssh_client_addresses, trusted_ids
from mbtop.catalog import Catalog, ServiceSpec, SocketSpec
from mbtop.model.types import Snapshot
from mbtop.probes.sample import Sample
from mbtop.probes.services import has_systemd

GRACE = 5.0  # seconds between SIGTERM and SIGKILL
PORT_WAIT = 20.0  # seconds a restarted service has to listen again
NFT_TABLE = ("inet", "mbtop")
COMMENT = "mbtop-block"


class UsageError(ValueError):
    """The target is not something mbtop knows (exit 2)."""


@dataclass(frozen=True, slots=True)
class Context:
    catalog: Catalog
    sample: Sample | None
    snapshot: Snapshot | None
    read_only: bool = False
    root: bool = True
    init_dir: Path = Path("/etc/init.d")


def _gate(ctx: Context) -> str | None:
    if ctx.read_only:
        return "read-only mode (--read-only or read_only in the config): actions are disabled"
    if not ctx.root:
        return "needs root: run mbtop with sudo"
    return None


def service_control(ctx: Context, svc: ServiceSpec, verb: str) -> tuple[str, ...] | None:
    """``systemctl VERB unit`` under systemd, else ``service INIT VERB`` when the init script exists."""
    if has_systemd():
        return ("systemctl", verb, svc.unit)
    if (ctx.init_dir / svc.init).exists():
        return ("service", svc.init, verb) if shutil.which("service") else (str(ctx.init_dir / svc.init), verb)
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
    refused = _gate(ctx)
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
    refused = _gate(ctx)
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
    refused = _gate(ctx)
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
            steps.append(Step("exec", f"start {svc.name}", argv=argv))
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
    verify = f"port {port} is held by {spec.service}" if start else f"port {port} is free"
    return Plan("free-port", str(port), summary, tuple(steps), refused, verify=verify)


def parse_address(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(f"{text!r} is not an IP address or network") from None
    return net


def _protected(net: ipaddress.IPv4Network | ipaddress.IPv6Network, ctx: Context) -> str | None:
    if net.prefixlen == 0:
        return "that is every address"
    first = net.network_address
    if first.is_loopback or first.is_unspecified or first.is_multicast:
        return f"{net} is a loopback, unspecified or multicast address"
    for ssh in ssh_client_addresses():
        try:
            if ipaddress.ip_address(ssh) in net:
                return f"{net} contains {ssh}, the address your SSH session comes from"
        except ValueError:
            continue
    fw = ctx.snapshot.firewall if ctx.snapshot is not None else None
    if fw is not None:
        from mbtop.probes.firewall.read import host_info

        host, _ = host_info()
        for addrs in host.addresses.values():
            for a in addrs:
                if a in net:
                    return f"{net} contains {a}, an address of this host"
    return None


def _backend(ctx: Context) -> str:
    fw = ctx.snapshot.firewall if ctx.snapshot is not None else None
    backend = fw.backend if fw is not None else "unknown"
    if backend in ("ufw", "iptables", "nftables"):
        return backend
    return "nftables" if shutil.which("nft") else "iptables"


def _nft_chain_rules() -> str:
    try:
        done = subprocess.run(
            ["nft", "-j", "list", "chain", *NFT_TABLE, "input"], capture_output=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else ""


def _iptables_has(cmd: str, addr: str) -> bool:
    try:
        done = subprocess.run(
            [cmd, "-C", "INPUT", "-s", addr, "-m", "comment", "--comment", COMMENT, "-j", "DROP"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def block(ctx: Context, text: str, unblock: bool = False) -> Plan:
    net = parse_address(text)
    addr = str(net.network_address) if net.num_addresses == 1 else str(net)
    action = "unblock" if unblock else "block"
    backend = _backend(ctx)
    refused = _gate(ctx) or (None if unblock else _protected(net, ctx))
    v6 = net.version == 6
    steps: list[Step] = []
    if backend == "ufw":
        verb = ("ufw", "delete", "deny", "from", addr) if unblock else ("ufw", "prepend", "deny", "from", addr)
        steps.append(Step("exec", f"ufw {'delete ' if unblock else 'prepend '}deny from {addr}", argv=verb))
    elif backend == "nftables":
        family, table = NFT_TABLE
        set_name = "blocked6" if v6 else "blocked4"
        if unblock:
            steps.append(
                Step(
                    "exec",
                    "remove from mbtop's set",
                    argv=("nft", "delete", "element", family, table, set_name, f"{{ {addr} }}"),
                )
            )
        else:
            steps += [
                Step("exec", "mbtop's own table", argv=("nft", "add", "table", family, table)),
                Step(
                    "exec",
                    "IPv4 block set",
                    argv=("nft", "add", "set", family, table, "blocked4", "{ type ipv4_addr; flags interval; }"),
                ),
                Step(
                    "exec",
                    "IPv6 block set",
                    argv=("nft", "add", "set", family, table, "blocked6", "{ type ipv6_addr; flags interval; }"),
                ),
                Step(
                    "exec",
                    "input chain before other filters",
                    argv=(
                        "nft",
                        "add",
                        "chain",
                        family,
                        table,
                        "input",
                        "{ type filter hook input priority -10; policy accept; }",
                    ),
                ),
            ]
            existing = _nft_chain_rules()
            for fam_kw, sname in (("ip", "blocked4"), ("ip6", "blocked6")):
                if f'"@{sname}"' not in existing and f"@{sname}" not in existing:
                    steps.append(
                        Step(
                            "exec",
                            f"drop {fam_kw} sources in @{sname}",
                            argv=("nft", "add", "rule", family, table, "input", fam_kw, "saddr", f"@{sname}", "drop"),
                        )
                    )
            steps.append(
                Step(
                    "exec",
                    f"add {addr} to @{set_name}",
                    argv=("nft", "add", "element", family, table, set_name, f"{{ {addr} }}"),
                )
            )
    else:
        cmd = "ip6tables" if v6 else "iptables"
        present = _iptables_has(cmd, addr)
        if unblock and present:
            steps.append(
                Step(
                    "exec",
                    f"delete the DROP rule for {addr}",
                    argv=(cmd, "-D", "INPUT", "-s", addr, "-m", "comment", "--comment", COMMENT, "-j", "DROP"),
                )
            )
        elif not unblock and not present:
            steps.append(
                Step(
                    "exec",
                    f"insert a DROP rule for {addr} first in INPUT",
                    argv=(cmd, "-I", "INPUT", "1", "-s", addr, "-m", "comment", "--comment", COMMENT, "-j", "DROP"),
                )
            )
        elif not refused:
            return Plan(action, addr, f"{addr} is {'not ' if unblock else 'already '}blocked by mbtop ({backend})")
    summary = f"{action} {addr} with {backend}"
    verify = f"new connections from {addr} are {'let in again' if unblock else 'dropped'} (firewall re-read)"
    notes = () if backend != "iptables" else ("iptables rules are lost at reboot unless saved (iptables-save)",)
    return Plan(action, addr, summary, tuple(steps), refused, notes, verify)
