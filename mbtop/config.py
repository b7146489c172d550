"""The operator's config file: where it is, whether it is safe to trust, what it changes."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mbtop.catalog import Catalog, CatalogError, apply_overrides, load_reference
from mbtop.model.flood import Thresholds
from mbtop.model.queue import QueueThresholds
from mbtop.model.vitals import VitalsThresholds

DEFAULT_PATH = Path("/etc/mbtop/config.toml")
MAX_BYTES = 1 << 20  # a config or theme file larger than this is refused, never cut
KNOWN_KEYS = frozenset(
    {
        "read_only",
        "interval",
        "theme",
        "services",
        "ports",
        "sockets",
        "logs",
        "flood",
        "health_timeout",
        "health_every",
        "audit_log",
        "low_bandwidth",
        "queue",
        "vitals",
        "agent",
        "web",
        "cluster",
    }
)


class ConfigError(Exception):
    """The config file cannot be used; the message says why, for a person."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """``[agent]``: the headless monitor and its flight recorder."""

    record: Path | None = Path("/var/lib/mbtop/mbtop.db")  # None: record = false
    max_size: int = 256 << 20  # bytes, database and WAL together
    keep: float = 7 * 86400.0  # seconds
    interval: float = 1.0
    listen: tuple[str, int] | None = None  # /metrics' address; None: no metrics (mbtop.export)
    listen_remote: bool = False  # a non-loopback listen address was asked for
    web_config: Path | None = None  # TLS and basic auth for /metrics (mbtop.export.webconfig)


def _agent(raw: Any, where: str) -> AgentConfig:
    from mbtop.engine.store import parse_duration, parse_size

    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [agent] must be a table")
    unknown = sorted(set(raw) - {"record", "max_size", "keep", "interval", "listen", "listen_remote", "web_config"})
    if unknown:
        raise ConfigError(f"{where}: [agent]: unknown setting(s): {', '.join(unknown)}")
    default = AgentConfig()
    record = raw.get("record", str(default.record))
    if record is False:
        path = None
    elif isinstance(record, str) and record.startswith("/") and "\x00" not in record:
        path = Path(record)
    else:
        raise ConfigError(f"{where}: [agent] record must be an absolute path or false")
    try:
        size = parse_size(raw.get("max_size", default.max_size))
        keep = parse_duration(raw.get("keep", default.keep))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: [agent] {exc}") from None
    if isinstance(raw.get("max_size"), bool) or isinstance(raw.get("keep"), bool) or size < 1 << 20 or keep <= 0:
        raise ConfigError(f"{where}: [agent] max_size must be a size of at least 1M (e.g. 256M), keep a duration")
    interval = raw.get("interval", default.interval)
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not 0.2 <= interval <= 3600:
        raise ConfigError(f"{where}: [agent] interval must be a number of seconds from 0.2 to 3600")
    listen, remote, web = _listen(raw, where)
    return AgentConfig(
        record=path,
        max_size=size,
        keep=keep,
        interval=float(interval),
        listen=listen,
        listen_remote=remote,
        web_config=web,
    )


def check_listen(listen: tuple[str, int] | None, remote: bool, source: str) -> None:
    """A non-loopback address for /metrics only when asked for (``listen_remote``)."""
    from mbtop.export.listen import is_loopback

    if listen is not None and not remote and not is_loopback(listen[0]):
        raise ConfigError(
            f"{source}: {listen[0]} is not a loopback address: /metrics is served to the network only when "
            "asked (listen_remote = true, or --listen-remote), best with TLS and basic auth (web_config)"
        )


def _listen(raw: dict[str, Any], where: str) -> tuple[tuple[str, int] | None, bool, Path | None]:
    from mbtop.export.listen import ListenError, parse_listen

    value, remote, web = raw.get("listen", False), raw.get("listen_remote", False), raw.get("web_config")
    if not isinstance(remote, bool):
        raise ConfigError(f"{where}: [agent] listen_remote must be true or false")
    if value is False:
        listen = None
    elif isinstance(value, str):
        try:
            listen = parse_listen(value)
        except ListenError as exc:
            raise ConfigError(f"{where}: [agent] listen: {exc}") from None
    else:
        raise ConfigError(f'{where}: [agent] listen must be an address and port ("127.0.0.1:10125") or false')
    if web is not None and (not isinstance(web, str) or not web.startswith("/") or "\x00" in web):
        raise ConfigError(f"{where}: [agent] web_config must be an absolute path")
    check_listen(listen, remote, f"{where}: [agent] listen")
    return listen, remote, None if web is None else Path(web)


@dataclass(frozen=True, slots=True)
class WebConfig:
    """``[web]``: `mbtop web`, the live screen served to a browser."""

    listen: str = "127.0.0.1:8765"  # ADDR:PORT; anything but loopback needs cert and key (TLS)
    cert: Path | None = None  # PEM certificate (chain) for TLS
    key: Path | None = None  # its PEM private key
    max_sessions: int = 4  # browser sessions (one mbtop process each) at once


def _web(raw: Any, where: str) -> WebConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [web] must be a table")
    unknown = sorted(set(raw) - {"listen", "cert", "key", "max_sessions"})
    if unknown:
        raise ConfigError(f"{where}: [web]: unknown setting(s): {', '.join(unknown)}")
    default = WebConfig()
    listen = raw.get("listen", default.listen)
    if not isinstance(listen, str) or not listen or any(c.isspace() or ord(c) < 32 for c in listen):
        raise ConfigError(f"{where}: [web] listen must be ADDR:PORT, e.g. 127.0.0.1:8765")
    paths: dict[str, Path | None] = {}
    for name in ("cert", "key"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value.startswith("/") or "\x00" in value):
            raise ConfigError(f"{where}: [web] {name} must be an absolute path")
        paths[name] = Path(value) if value else None
    if (paths["cert"] is None) != (paths["key"] is None):
        raise ConfigError(f"{where}: [web] cert and key go together: give both or neither")
    sessions = raw.get("max_sessions", default.max_sessions)
    if not isinstance(sessions, int) or isinstance(sessions, bool) or not 1 <= sessions <= 64:
        raise ConfigError(f"{where}: [web] max_sessions must be a whole number from 1 to 64")
    return WebConfig(listen=listen, cert=paths["cert"], key=paths["key"], max_sessions=sessions)


@dataclass(frozen=True, slots=True)
class Config:
    catalog: Catalog
    source: str | None  # the file it came from, None when only the reference is used
    read_only: bool = False
    interval: float = 1.0
    theme: str | None = None
    flood: Thresholds = field(default_factory=Thresholds)
    health_timeout: float = 3.0  # seconds a daemon has to answer its protocol
    health_every: float = 15.0  # seconds between protocol checks in the live screen
    audit_log: Path = Path("/var/log/mbtop/actions.log")
    low_bandwidth: bool = False
    queue: QueueThresholds = field(default_factory=QueueThresholds)
    vitals: VitalsThresholds = field(default_factory=VitalsThresholds)
    agent: AgentConfig = field(default_factory=lambda: AgentConfig())
    web: WebConfig = field(default_factory=lambda: WebConfig())
    cluster: ClusterConfig = field(default_factory=lambda: ClusterConfig())


def check_trusted(path: Path, st: os.stat_result, euid: int) -> None:
    """Refuse, when running as root, a file that someone other than root could have written."""
    if euid != 0:
        return
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path}: not a regular file")
    if st.st_uid != 0:
        raise ConfigError(f"{path}: owned by uid {st.st_uid}, not root; refusing to use it while running as root")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"{path}: writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"refusing to use it while running as root (fix: chmod go-w {path})"
        )


def read_trusted(path: Path, *, euid: int | None = None, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a file mbtop trusts to change what it does (the config, a theme).

    Opened without following a link at its name; as root, refused unless it is a regular file
    owned by root and writable by nobody else; refused, never cut, when over ``limit`` bytes.
    Raises ConfigError (and FileNotFoundError when it does not exist).
    """
    euid = os.geteuid() if euid is None else euid
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        check_trusted(path, st, euid)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path}: not a regular file")
        if st.st_size > limit:
            raise ConfigError(f"{path}: {st.st_size:,} bytes, more than the {limit:,} bytes mbtop reads; refusing it")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(raw) > limit:  # grew since fstat
        raise ConfigError(f"{path}: more than the {limit:,} bytes mbtop reads; refusing it")
    return raw


def load(path: Path | None = None, *, euid: int | None = None) -> Config:
    """Load the config. ``path=None`` means the default file, which may be absent."""
    explicit = path is not None
    target = path if path is not None else DEFAULT_PATH
    try:
        raw = read_trusted(target, euid=euid)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{target}: no such file") from None
        return Config(catalog=load_reference(), source=None)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{target}: not valid TOML: {exc}") from None
    return from_data(data, str(target))


def from_data(data: dict[str, Any], source: str | None) -> Config:
    unknown = sorted(set(data) - KNOWN_KEYS)
    where = source or "config"
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s): {', '.join(unknown)}")
    try:
        catalog = apply_overrides(load_reference(), data)
    except CatalogError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    read_only = data.get("read_only", False)
    interval = data.get("interval", 1.0)
    theme = data.get("theme")
    if not isinstance(read_only, bool):
        raise ConfigError(f"{where}: read_only must be true or false")
    low_bandwidth = data.get("low_bandwidth", False)
    if not isinstance(low_bandwidth, bool):
        raise ConfigError(f"{where}: low_bandwidth must be true or false")
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not 0.2 <= interval <= 3600:
        raise ConfigError(f"{where}: interval must be a number of seconds from 0.2 to 3600")
    if theme is not None and not isinstance(theme, str):
        raise ConfigError(f"{where}: theme must be a name")
    timing: dict[str, float] = {}
    for key, default, low, high in (("health_timeout", 3.0, 0.2, 60.0), ("health_every", 15.0, 1.0, 3600.0)):
        value = data.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{where}: {key} must be a number of seconds from {low:g} to {high:g}")
        timing[key] = float(value)
    return Config(
        catalog=catalog,
        source=source,
        read_only=read_only,
        interval=float(interval),
        theme=theme,
        flood=_flood(data.get("flood", {}), where),
        health_timeout=timing["health_timeout"],
        health_every=timing["health_every"],
        audit_log=_audit_log(data.get("audit_log"), where),
        low_bandwidth=low_bandwidth,
        queue=_gateway(data.get("queue", {}), where)[0],
        vitals=_gateway(data.get("vitals", {}), where, vitals=True)[1],
        agent=_agent(data.get("agent", {}), where),
        web=_web(data.get("web", {}), where),
        cluster=_cluster(data.get("cluster", {}), where),
    )


def _gateway(table: Any, where: str, vitals: bool = False) -> tuple[QueueThresholds, VitalsThresholds]:
    """``[queue]`` (threshold, deferred_hours) or ``[vitals]`` (disk_free_percent, inode_free_percent, cert_days)."""
    name = "vitals" if vitals else "queue"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    keys = ("disk_free_percent", "inode_free_percent", "cert_days") if vitals else ("threshold", "deferred_hours")
    unknown = set(table) - set(keys)
    if unknown:
        raise ConfigError(f"{where}: [{name}]: unknown key(s) {', '.join(sorted(unknown))}")
    for key, value in table.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}: [{name}] {key} must be a number ≥ 0")
        if key.endswith("_percent") and value > 100:
            raise ConfigError(f"{where}: [{name}] {key} must be a percentage from 0 to 100")
    q, v = QueueThresholds(), VitalsThresholds()
    q = QueueThresholds(
        messages=int(table.get("threshold", q.messages)),
        deferred_hours=float(table.get("deferred_hours", q.deferred_hours)),
    )
    v = VitalsThresholds(
        disk_free=float(table.get("disk_free_percent", v.disk_free * 100)) / 100,
        inode_free=float(table.get("inode_free_percent", v.inode_free * 100)) / 100,
        cert_days=int(table.get("cert_days", v.cert_days)),
    )
    return q, v


def _audit_log(value: Any, where: str) -> Path:
    if value is None:
        return Path("/var/log/mbtop/actions.log")
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(f"{where}: audit_log must be an absolute path")
    return Path(value)


def _flood(table: Any, where: str) -> Thresholds:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [flood] must be a table")
    defaults = Thresholds()
    values: dict[str, Any] = {}
    for key in ("total_per_minute", "source_per_30s", "concurrent", "syn_recv", "queue_fill"):
        default = getattr(defaults, key)
        value = table.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}: [flood] {key} must be a number ≥ 0")
        values[key] = type(default)(value)
    unknown = set(table) - set(values)
    if unknown:
        raise ConfigError(f"{where}: [flood]: unknown key(s) {', '.join(sorted(unknown))}")
    return Thresholds(**values, explicit=frozenset(table))


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """``[cluster]``: the other gateways of this cluster, each checked to accept on mb-cluster's port."""

    peers: tuple[str, ...] = ()
    timeout: float = 3.0  # seconds a peer has to accept the connection
    every: float = 30.0  # seconds between checks


MAX_PEERS = 64
_PEER = re.compile(r"[A-Za-z0-9._:-]{1,253}")  # a host name or an address: nothing a log could misread


def _cluster(raw: Any, where: str) -> ClusterConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [cluster] must be a table")
    unknown = sorted(set(raw) - {"peers", "timeout", "every"})
    if unknown:
        raise ConfigError(f"{where}: [cluster]: unknown setting(s): {', '.join(unknown)}")
    peers = raw.get("peers", [])
    if not isinstance(peers, list) or len(peers) > MAX_PEERS:
        raise ConfigError(f"{where}: [cluster] peers must be a list of at most {MAX_PEERS} host names or addresses")
    for peer in peers:
        if not isinstance(peer, str) or not _PEER.fullmatch(peer) or peer.startswith(("-", ".")):
            raise ConfigError(f"{where}: [cluster] peers: {peer!r} is not a host name or an address")
    if len(set(peers)) != len(peers):
        raise ConfigError(f"{where}: [cluster] peers: a peer is named twice")
    timing: dict[str, float] = {}
    for key, default, low, high in (("timeout", 3.0, 0.2, 60.0), ("every", 30.0, 1.0, 3600.0)):
        value = raw.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{where}: [cluster] {key} must be a number of seconds from {low:g} to {high:g}")
        timing[key] = float(value)
    return ClusterConfig(tuple(peers), timing["timeout"], timing["every"])
