"""The usual culprits of "port already in use" (exim4 on 25, apache2 on 80, a Zabbix agent on
10050 …), from the data in ``mbtop/catalog/culprits.toml``: who it is, why it is there, the fix;
and a second instance of the documented program itself (a second MySQL or Redis), which only
systemd's view of the unit tells apart.

Pure apart from reading that shipped file once.  Only the holder's process name is matched, and
only against the names the file lists, so nothing a process says about itself reaches the text
beyond a name the table already knows.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from mbtop.catalog import Catalog, CatalogError, PortSpec
from mbtop.model.types import Finding, PortStatus
from mbtop.probes.services import ServiceState


@dataclass(frozen=True, slots=True)
class Culprit:
    processes: tuple[str, ...]
    ports: tuple[int, ...]  # empty: any documented port
    what: str
    why: str
    command: str
    also: str = ""
    keep_away: str = ""


@dataclass(frozen=True, slots=True)
class Explained:
    """A culprit met on a port: every text filled in for that port, service and process."""

    process: str
    what: str
    why: str
    fix: str  # the command, then what else to do
    command: str
    keep_away: str


def _strings(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CatalogError(f"{where}: '{key}' must be a list of names")
    return tuple(value)


def parse(text: str) -> tuple[Culprit, ...]:
    """The culprit table from TOML text; CatalogError when malformed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"culprits: {exc}") from None
    out: list[Culprit] = []
    for i, entry in enumerate(data.get("culprits", [])):
        where = f"culprits[{i}]"
        if not isinstance(entry, dict):
            raise CatalogError(f"{where}: must be a table")
        ports = entry.get("ports", [])
        if not isinstance(ports, list) or not all(isinstance(p, int) and 0 < p < 65536 for p in ports):
            raise CatalogError(f"{where}: 'ports' must be a list of port numbers")
        texts: dict[str, str] = {}
        for key in ("what", "why", "command", "also", "keep_away"):
            value = entry.get(key, "")
            if not isinstance(value, str) or (key in ("what", "why", "command") and not value):
                raise CatalogError(f"{where}: '{key}' must be a non-empty string")
            texts[key] = value
        processes = _strings(entry, "processes", where)
        if not processes:
            raise CatalogError(f"{where}: 'processes' must name at least one process")
        out.append(Culprit(processes, tuple(ports), **texts))
    return tuple(out)


@functools.cache
def table() -> tuple[Culprit, ...]:
    """The shipped table (read once)."""
    return parse(resources.files("mbtop.catalog").joinpath("culprits.toml").read_text(encoding="utf-8"))


def find(port: int, processes: Iterable[str | None], culprits: tuple[Culprit, ...]) -> tuple[Culprit, str] | None:
    """The first listed culprit among the holders' process names, and the name that matched."""
    names = [p for p in processes if p]
    for c in culprits:
        if c.ports and port not in c.ports:
            continue
        for name in names:
            if name in c.processes:
                return c, name
    return None


def explain(
    spec: PortSpec,
    processes: Iterable[str | None],
    catalog: Catalog,
    culprits: tuple[Culprit, ...] | None = None,
) -> Explained | None:
    """What holds ``spec``'s port, when it is a known culprit; None for any other program."""
    hit = find(spec.port, processes, table() if culprits is None else culprits)
    if hit is None:
        return None
    c, name = hit
    svc = catalog.service(spec.service)
    values = {
        "service": spec.service,
        "unit": (svc.unit.removesuffix(".service") if svc else spec.service),
        "port": str(spec.port),
        "process": name,
    }

    def fill(text: str) -> str:
        try:
            return text.format_map(values)
        except (KeyError, ValueError, IndexError):
            return text  # a brace the table did not mean as a field: shown as written

    command = fill(c.command)
    also = fill(c.also)
    return Explained(
        process=name,
        what=fill(c.what),
        why=fill(c.why),
        fix=command + (f"; {also}" if also else ""),
        command=command,
        keep_away=fill(c.keep_away),
    )


def second_instances(catalog: Catalog, services: Iterable[ServiceState], ports: Iterable[PortStatus]) -> list[Finding]:
    """A documented port held by the documented program while systemd says its unit is not running:
    a second instance (a second MySQL or Redis started by hand or by another unit) took the port,
    and the documented unit could not bind it.  Only under systemd, which knows the unit's state."""
    # Failed, or inactive and dead: not a unit that is deactivating while its old process still listens.
    down = {
        s.name: s
        for s in services
        if s.manager == "systemd" and (s.state == "failed" or (s.state == "stopped" and s.detail == "dead"))
    }
    out: list[Finding] = []
    for p in ports:
        st = down.get(p.spec.service)
        svc = catalog.service(p.spec.service)
        mine = [lst for lst in p.listeners if lst.expected and lst.pid is not None]
        if st is None or svc is None or not mine:
            continue
        main = next((lst for lst in mine if lst.main), mine[0])
        how = f"failed ({st.result})" if st.state == "failed" and st.result else st.state
        unit = svc.unit.removesuffix(".service")
        out.append(
            Finding(
                "critical",
                "second-instance",
                f"port {p.spec.port} ({p.spec.name}) is held by {main.process} (pid {main.pid}), a second instance: "
                f"{svc.unit} is {how}, so another {main.process} has the port.",
                f"systemctl status {main.pid} names the unit that started it: systemctl disable --now THAT-UNIT "
                f"&& systemctl restart {unit} (started by hand: stop pid {main.pid})",
                port=p.spec.port,
            )
        )
    return out
