"""The reference's ports, sockets and services as immutable data.

No other module knows a port number or a socket path: they all come from here,
either from the shipped ``reference.toml`` or from the operator's config.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Literal, cast

Bind = Literal["public", "loopback", "cluster"]
FirewallExpect = Literal["allow", "optional", "deny", "restricted"]

BINDS: frozenset[str] = frozenset({"public", "loopback", "cluster"})
FIREWALLS: frozenset[str] = frozenset({"allow", "optional", "deny", "restricted"})
HEALTH_PROTOCOLS: frozenset[str] = frozenset(
    {
        "smtp",
        "smtps",
        "http-redirect",
        "https",
        "redis",
        "clamd",
        "mysql",
        "milter",
        "rspamd-controller",
        "fastcgi",
        "accept",
    }
)


class CatalogError(ValueError):
    """The catalog or a config file that changes it is malformed."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    unit: str
    init: str
    processes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PortSpec:
    port: int
    proto: str
    service: str
    name: str
    purpose: str
    bind: Bind
    required: bool
    cluster_only: bool
    firewall: FirewallExpect
    alternative: str | None  # id of a SocketSpec that can stand in for this port
    health: str = "accept"  # the protocol check (mbtop.probes.health.PROTOCOLS)


@dataclass(frozen=True, slots=True)
class SocketSpec:
    id: str
    path: str
    service: str
    name: str
    purpose: str
    owner: str
    group: str
    mode: int
    required: bool
    alternative: int | None  # a port that can stand in for this socket
    health: str = "accept"
    persist: str = ""  # where the owner/mode is set for good (a chmod is lost at the next restart)

    @property
    def mode_text(self) -> str:
        return f"{self.mode:04o}"


@dataclass(frozen=True, slots=True)
class LogSpec:
    mail: str
    web_access: str
    web_error: str


DEFAULT_LOGS = LogSpec(
    "/var/log/mail.log", "/var/log/nginx/mailborder-access.log", "/var/log/nginx/mailborder-error.log"
)


@dataclass(frozen=True, slots=True)
class Catalog:
    services: tuple[ServiceSpec, ...]
    ports: tuple[PortSpec, ...]
    sockets: tuple[SocketSpec, ...]
    logs: LogSpec = DEFAULT_LOGS

    def service(self, name: str) -> ServiceSpec | None:
        for svc in self.services:
            if svc.name == name:
                return svc
        return None

    def port(self, number: int) -> PortSpec | None:
        for spec in self.ports:
            if spec.port == number:
                return spec
        return None

    def socket(self, ident: str) -> SocketSpec | None:
        for spec in self.sockets:
            if spec.id == ident:
                return spec
        return None

    def processes_for(self, service: str) -> tuple[str, ...]:
        svc = self.service(service)
        return svc.processes if svc else ()

    @property
    def tcp_ports(self) -> tuple[int, ...]:
        return tuple(sorted({p.port for p in self.ports if p.proto == "tcp"}))


def _str(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{where}: '{key}' must be a non-empty string")
    return value


def _bool(table: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise CatalogError(f"{where}: '{key}' must be true or false")
    return value


def _port_number(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise CatalogError(f"{where}: port must be a number from 1 to 65535")
    return value


def parse_mode(value: Any, where: str) -> int:
    """Accept "0660", "660" or 0o660 (an int) and return the permission bits."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str) and value and all(c in "01234567" for c in value):
        mode = int(value, 8)
    else:
        raise CatalogError(f'{where}: mode must be an octal string like "0660"')
    if not 0 <= mode <= 0o7777:
        raise CatalogError(f"{where}: mode {value!r} is out of range")
    return mode


def _service(name: str, table: dict[str, Any]) -> ServiceSpec:
    where = f"service {name!r}"
    procs = table.get("processes", [])
    if not isinstance(procs, list) or not all(isinstance(p, str) and p for p in procs):
        raise CatalogError(f"{where}: 'processes' must be a list of names")
    return ServiceSpec(
        name=name,
        unit=_str(table, "unit", where, f"{name}.service"),
        init=_str(table, "init", where, name),
        processes=tuple(procs),
    )


def _port(table: dict[str, Any], base: PortSpec | None = None) -> PortSpec:
    number = _port_number(table.get("port", base.port if base else None), "port")
    where = f"port {number}"
    bind = table.get("bind", base.bind if base else "loopback")
    if bind not in BINDS:
        raise CatalogError(f"{where}: bind must be one of {sorted(BINDS)}")
    firewall = table.get("firewall", base.firewall if base else ("allow" if bind == "public" else "deny"))
    if firewall not in FIREWALLS:
        raise CatalogError(f"{where}: firewall must be one of {sorted(FIREWALLS)}")
    proto = table.get("proto", base.proto if base else "tcp")
    if proto != "tcp":
        raise CatalogError(f'{where}: only proto = "tcp" is supported')
    alternative = table.get("alternative", base.alternative if base else None)
    if alternative is not None and not isinstance(alternative, str):
        raise CatalogError(f"{where}: 'alternative' must be a socket id")
    service = _str(table, "service", where, base.service if base else None)
    return PortSpec(
        port=number,
        proto=proto,
        service=service,
        name=_str(table, "name", where, base.name if base else service),
        purpose=_str(table, "purpose", where, base.purpose if base else service),
        bind=cast(Bind, bind),
        required=_bool(table, "required", where, base.required if base else True),
        cluster_only=_bool(table, "cluster_only", where, base.cluster_only if base else False),
        firewall=cast(FirewallExpect, firewall),
        alternative=alternative,
        health=_str(table, "health", where, base.health if base else "accept"),
    )


def _socket(table: dict[str, Any], base: SocketSpec | None = None) -> SocketSpec:
    ident = _str(table, "id", "socket", base.id if base else None)
    where = f"socket {ident!r}"
    path = _str(table, "path", where, base.path if base else None)
    if not path.startswith("/"):
        raise CatalogError(f"{where}: path must be absolute")
    alternative = table.get("alternative", base.alternative if base else None)
    if alternative is not None:
        alternative = _port_number(alternative, where)
    service = _str(table, "service", where, base.service if base else None)
    return SocketSpec(
        id=ident,
        path=path,
        service=service,
        name=_str(table, "name", where, base.name if base else ident),
        purpose=_str(table, "purpose", where, base.purpose if base else service),
        owner=_str(table, "owner", where, base.owner if base else "root"),
        group=_str(table, "group", where, base.group if base else "root"),
        mode=parse_mode(table.get("mode", base.mode_text if base else "0660"), where),
        required=_bool(table, "required", where, base.required if base else True),
        alternative=alternative,
        health=_str(table, "health", where, base.health if base else "accept"),
        persist=_str(table, "persist", where, base.persist if base else ""),
    )


def _validate(cat: Catalog) -> Catalog:
    names = {s.name for s in cat.services}
    seen_ports: set[int] = set()
    for p in cat.ports:
        if p.port in seen_ports:
            raise CatalogError(f"port {p.port} is listed twice")
        seen_ports.add(p.port)
        if p.service not in names:
            raise CatalogError(f"port {p.port}: unknown service {p.service!r}")
        if p.health not in HEALTH_PROTOCOLS:
            raise CatalogError(f"port {p.port}: health must be one of {sorted(HEALTH_PROTOCOLS)}")
        if p.alternative is not None and cat.socket(p.alternative) is None:
            raise CatalogError(f"port {p.port}: alternative socket {p.alternative!r} is not in the catalog")
    seen_ids: set[str] = set()
    for s in cat.sockets:
        if s.id in seen_ids:
            raise CatalogError(f"socket {s.id!r} is listed twice")
        seen_ids.add(s.id)
        if s.service not in names:
            raise CatalogError(f"socket {s.id!r}: unknown service {s.service!r}")
        if s.health not in HEALTH_PROTOCOLS:
            raise CatalogError(f"socket {s.id!r}: health must be one of {sorted(HEALTH_PROTOCOLS)}")
    return cat


def from_dict(data: dict[str, Any]) -> Catalog:
    services = data.get("services", {})
    if not isinstance(services, dict):
        raise CatalogError("'services' must be a table")
    ports = data.get("ports", [])
    sockets = data.get("sockets", [])
    if not isinstance(ports, list) or not isinstance(sockets, list):
        raise CatalogError("'ports' and 'sockets' must be arrays of tables")
    return _validate(
        Catalog(
            services=tuple(_service(n, t) for n, t in services.items()),
            ports=tuple(_port(t) for t in ports),
            sockets=tuple(_socket(t) for t in sockets),
            logs=_logs(data.get("logs", {}), DEFAULT_LOGS),
        )
    )


def _logs(table: Any, base: LogSpec) -> LogSpec:
    if not isinstance(table, dict):
        raise CatalogError("[logs] must be a table")
    unknown = set(table) - {"mail", "web_access", "web_error"}
    if unknown:
        raise CatalogError(f"[logs]: unknown key(s) {', '.join(sorted(unknown))}")
    values = {}
    for key in ("mail", "web_access", "web_error"):
        value = table.get(key, getattr(base, key))
        if not isinstance(value, str) or not value.startswith("/"):
            raise CatalogError(f"[logs] {key} must be an absolute path")
        values[key] = value
    return LogSpec(**values)


def load_reference() -> Catalog:
    """The catalog shipped with mbtop: the reference document as data."""
    text = resources.files(__package__).joinpath("reference.toml").read_text(encoding="utf-8")
    return from_dict(tomllib.loads(text))


def apply_overrides(base: Catalog, data: dict[str, Any]) -> Catalog:
    """Merge a config file's ``[services.X]``, ``[ports.N]`` and ``[sockets.ID]`` tables.

    An existing entry is changed field by field; an unknown one is added (and then
    needs every field without a default); ``disabled = true`` removes it.
    """
    services = {s.name: s for s in base.services}
    for name, table in _tables(data, "services").items():
        old = services.get(name)
        merged = {"unit": old.unit, "init": old.init, "processes": list(old.processes)} if old else {}
        merged.update(table)
        services[name] = _service(name, merged)

    ports = {p.port: p for p in base.ports}
    for key, table in _tables(data, "ports").items():
        number = _port_number(key, f"[ports.{key}]")
        if table.get("disabled") is True:
            ports.pop(number, None)
            continue
        fields = {k: v for k, v in table.items() if k != "disabled"}
        fields["port"] = number
        ports[number] = _port(fields, ports.get(number))

    sockets = {s.id: s for s in base.sockets}
    for ident, table in _tables(data, "sockets").items():
        if table.get("disabled") is True:
            sockets.pop(ident, None)
            continue
        fields = {k: v for k, v in table.items() if k != "disabled"}
        fields["id"] = ident
        sockets[ident] = _socket(fields, sockets.get(ident))

    # A disabled socket or port is no longer an alternative to anything.
    ports = {
        n: p if p.alternative in sockets or p.alternative is None else replace(p, alternative=None)
        for n, p in ports.items()
    }
    sockets = {
        i: s if s.alternative in ports or s.alternative is None else replace(s, alternative=None)
        for i, s in sockets.items()
    }
    return _validate(
        replace(
            base,
            logs=_logs(data.get("logs", {}), base.logs),
            services=tuple(services.values()),
            ports=tuple(sorted(ports.values(), key=lambda p: _port_order(base, p.port))),
            sockets=tuple(sockets.values()),
        )
    )


def _port_order(base: Catalog, number: int) -> tuple[int, int]:
    """Keep the reference's order; added ports go last, by number."""
    for i, p in enumerate(base.ports):
        if p.port == number:
            return (i, 0)
    return (len(base.ports), number)


def _tables(data: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    section = data.get(key, {})
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise CatalogError(f"[{key}] must contain tables like [{key}.NAME]")
    return cast(dict[str, dict[str, Any]], section)
