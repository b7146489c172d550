"""Who holds a port or a socket: one Listener per (address, process), and how to say it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mbtop.catalog import Catalog
from mbtop.model.types import Listener
from mbtop.probes.types import ProcessInfo


def start_hint(service: str, catalog: Catalog) -> str:
    svc = catalog.service(service)
    if svc is None:
        return f"start {service}"
    return f"start {service} (systemctl start {svc.unit}, or service {svc.init} start)"


def listeners_of(
    sockets: Iterable[tuple[str, int, int, int, int | None]],
    owners: Mapping[int, tuple[ProcessInfo, ...]],
    allowed: tuple[str, ...],
) -> tuple[Listener, ...]:
    """One Listener per (address, process); ``sockets`` are (address, port, inode, queue, backlog)."""
    out: list[Listener] = []
    seen: set[tuple[str, int, int | None]] = set()
    for address, port, inode, queue, backlog in sockets:
        procs = owners.get(inode, ())
        pids = {p.pid for p in procs}
        if not procs:
            if (address, port, None) not in seen:
                seen.add((address, port, None))
                out.append(Listener(address, port, inode, None, None, None, (), None, None, False, queue, backlog))
            continue
        for p in procs:
            if (address, port, p.pid) in seen:
                continue
            seen.add((address, port, p.pid))
            out.append(
                Listener(
                    address=address,
                    port=port,
                    inode=inode,
                    pid=p.pid,
                    process=p.name,
                    user=p.user,
                    cmdline=p.cmdline,
                    started=p.started,
                    expected=(p.name in allowed) if allowed else None,
                    main=p.ppid not in pids,
                    accept_queue=queue,
                    backlog=backlog,
                )
            )
    return tuple(out)


def describe_holder(listeners: Iterable[Listener]) -> str:
    """ "python3 (pid 812, user nobody)": the main process of a foreign group, once per pid."""
    parts: list[str] = []
    for lst in listeners:
        if lst.pid is None:
            continue
        text = f"{lst.process} (pid {lst.pid}" + (f", user {lst.user})" if lst.user else ")")
        if text not in parts:
            parts.append(text)
    return ", ".join(parts[:3]) + (f" and {len(parts) - 3} more" if len(parts) > 3 else "")
