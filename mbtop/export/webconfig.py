"""The web-config file of ``/metrics``: TLS and basic auth, in Prometheus exporter-toolkit's format.

    tls_server_config:
      cert_file: /etc/mbtop/metrics.crt     # relative paths: from the file's directory
      key_file: /etc/mbtop/metrics.key
      min_version: TLS12                    # optional: TLS12 (default) or TLS13
    basic_auth_users:
      prometheus: $2b$12$...                # bcrypt hashes (htpasswd -nBC 12 "" | tr -d ':')

Trusted like mbtop's config (``mbtop.config.read_trusted``): as root, a regular file owned by root
and writable by nobody else, never through a symlink. A key mbtop does not implement is refused
with its name, never ignored: a security setting that silently does nothing is worse than none.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from mbtop.config import ConfigError, read_trusted

TLS_KEYS = frozenset({"cert_file", "key_file", "min_version"})
VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# A hash bcrypt checks when the user is unknown: an unknown name costs as long as a wrong password.
_DUMMY = bcrypt.hashpw(b"mbtop", bcrypt.gensalt(4))
CACHE = 64  # successful (user, password digest) pairs remembered: bcrypt is slow on purpose


@dataclass(frozen=True, slots=True)
class WebConfig:
    path: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    min_version: str = "TLS12"
    users: dict[str, bytes] = field(default_factory=dict)  # name -> bcrypt hash

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server's TLS context (the certificate and key loaded now), or None without TLS."""
        if self.cert_file is None or self.key_file is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = VERSIONS[self.min_version]
        try:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{self.path}: cannot load the certificate or key: {exc}") from None
        return ctx


def _where(path: Path, key: str) -> str:
    return f"{path}: {key}"


def parse(text: str, path: Path) -> WebConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return WebConfig(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping (tls_server_config, basic_auth_users)")
    unknown = sorted(str(k) for k in set(data) - {"tls_server_config", "basic_auth_users"})
    if unknown:
        raise ConfigError(f"{path}: not supported by mbtop: {', '.join(unknown)}")
    tls: dict[str, Any] = data.get("tls_server_config") or {}
    users_raw: dict[str, Any] = data.get("basic_auth_users") or {}
    if not isinstance(tls, dict) or not isinstance(users_raw, dict):
        raise ConfigError(f"{path}: tls_server_config and basic_auth_users must be mappings")
    unknown = sorted(str(k) for k in set(tls) - TLS_KEYS)
    if unknown:
        raise ConfigError(f"{_where(path, 'tls_server_config')}: not supported by mbtop: {', '.join(unknown)}")
    cert, key = tls.get("cert_file"), tls.get("key_file")
    if (cert is None) != (key is None) or any(x is not None and not isinstance(x, str) for x in (cert, key)):
        raise ConfigError(f"{_where(path, 'tls_server_config')}: cert_file and key_file must both be given, as paths")
    version = tls.get("min_version", "TLS12")
    if version not in VERSIONS:
        raise ConfigError(f"{_where(path, 'tls_server_config')}: min_version must be TLS12 or TLS13")
    users: dict[str, bytes] = {}
    for name, hashed in users_raw.items():
        if not isinstance(name, str) or not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"{_where(path, 'basic_auth_users')}: each user needs a bcrypt hash ($2b$...)")
        if ":" in name:
            raise ConfigError(f"{_where(path, 'basic_auth_users')}: a user name cannot hold ':'")
        users[name] = hashed.encode()
    base = path.parent
    return WebConfig(
        path,
        (base / cert) if cert else None,
        (base / key) if key else None,
        version,
        users,
    )


def load(path: Path, *, euid: int | None = None) -> WebConfig:
    """Read and check the web-config file (and load its certificate, to fail now rather than later)."""
    try:
        raw = read_trusted(path, euid=euid)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8") from None
    cfg = parse(text, path)
    cfg.ssl_context()
    return cfg


class BasicAuth:
    """Checks ``Authorization: Basic`` against the web-config's users; remembers recent successes."""

    def __init__(self, users: dict[str, bytes]) -> None:
        self.users = users
        self._ok: dict[bytes, None] = {}
        self._lock = threading.Lock()

    @property
    def required(self) -> bool:
        return bool(self.users)

    def check(self, user: str, password: str) -> bool:
        hashed = self.users.get(user)
        digest = hashlib.sha256(b"%s\x00%s\x00%s" % (user.encode(), password.encode(), hashed or b"")).digest()
        with self._lock:
            if digest in self._ok:
                return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed or _DUMMY) and hashed is not None
        except ValueError:  # a malformed hash in the file
            ok = False
        if ok:
            with self._lock:
                if len(self._ok) >= CACHE:
                    self._ok.pop(next(iter(self._ok)))
                self._ok[digest] = None
        return ok
