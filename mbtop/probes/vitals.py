"""The gateway's vitals: free space and inodes where mail, logs and the database live; memory, swap,
load; whether the clock is synchronised; the expiry of the certificates Postfix and nginx are
configured with; errors in Mailborder's own logs. Each read is bounded; a failure is a reason."""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import os
import re
import stat
import subprocess
from dataclasses import dataclass
from typing import Any

from mbtop import syscmd
from mbtop.probes.queue import SHORT_TIMEOUT, postconf, queue_directory, which
from mbtop.probes.services import has_systemd

MAX_CERT = 1 << 20
MAX_NGINX = 4 << 20
LOG_TAIL = 256 << 10
MAX_LOGS = 50
POSTFIX_CERT_PARAMS = (
    "smtpd_tls_cert_file",
    "smtpd_tls_eccert_file",
    "smtpd_tls_dcert_file",
    "smtpd_tls_chain_files",
    "smtp_tls_cert_file",
    "smtp_tls_chain_files",
)
MAILBORDER_LOGS = "/var/log/mailborder"


@dataclass(frozen=True, slots=True)
class Filesystem:
    mount: str
    roles: tuple[str, ...]  # spool, log, mariadb, root
    paths: tuple[str, ...]
    total_bytes: int
    free_bytes: int  # available to unprivileged users, as df shows it
    free_ratio: float  # 1 - df's Use%
    total_inodes: int | None  # None: the filesystem has no inode limit (btrfs, some tmpfs)
    free_inodes: int | None
    free_inodes_ratio: float | None


@dataclass(frozen=True, slots=True)
class Certificate:
    path: str
    used_by: tuple[str, ...]  # "postfix smtpd_tls_cert_file", "nginx", …
    not_after: float | None  # the earliest expiry of the certificates in the file
    subject: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LogErrors:
    path: str
    errors: int  # error lines in the last LOG_TAIL bytes
    last: str | None


@dataclass(frozen=True, slots=True)
class Vitals:
    taken_at: float
    filesystems: tuple[Filesystem, ...]
    memory: tuple[tuple[str, float], ...]  # total, available, used_ratio, swap_total, swap_used, swap_used_ratio
    load: tuple[float, ...]
    cpus: int
    clock_synchronized: bool | None
    clock_source: str  # what was read, and what it said
    certificates: tuple[Certificate, ...]
    mailborder_logs: tuple[LogErrors, ...] | None  # None: /var/log/mailborder does not exist
    notes: tuple[str, ...] = ()


def _run(argv: list[str], limit: int = 1 << 20) -> tuple[int, str]:
    try:
        done = syscmd.run(argv, timeout=SHORT_TIMEOUT)
    except FileNotFoundError:
        return 127, ""
    except (OSError, subprocess.TimeoutExpired):
        return 124, ""
    return done.returncode, (done.stdout[:limit] + b"\n" + done.stderr[:4096]).decode("utf-8", "replace")


# --- filesystems ----------------------------------------------------------------------------------


def mariadb_datadir() -> str:
    code, out = _run(["my_print_defaults", "--mysqld"])
    if code == 0:
        for line in out.splitlines():
            if line.startswith("--datadir="):
                return line.split("=", 1)[1].strip() or "/var/lib/mysql"
    return "/var/lib/mysql"


def mount_of(path: str) -> str:
    p = os.path.realpath(path)
    while not os.path.ismount(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def filesystems(roles: dict[str, str]) -> tuple[tuple[Filesystem, ...], list[str]]:
    """One entry per filesystem holding one of ``roles`` ({role: path}); missing paths noted."""
    by_mount: dict[str, tuple[list[str], list[str]]] = {}
    notes: list[str] = []
    for role, path in roles.items():
        if not os.path.exists(path):
            notes.append(f"{role}: {path} does not exist")
            continue
        mount = mount_of(path)
        roles_, paths = by_mount.setdefault(mount, ([], []))
        roles_.append(role)
        paths.append(path)
    out: list[Filesystem] = []
    for mount, (names, paths) in by_mount.items():
        try:
            vfs = os.statvfs(paths[0])
        except OSError as exc:
            notes.append(f"{mount}: {exc.strerror or exc}")
            continue
        # As df and psutil.disk_usage count: free is what users may still write; Use% = used / (used + free).
        total = vfs.f_blocks * vfs.f_frsize
        free = vfs.f_bavail * vfs.f_frsize
        used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
        files = vfs.f_files or None
        favail = vfs.f_favail if files else None
        out.append(
            Filesystem(
                mount=mount,
                roles=tuple(names),
                paths=tuple(paths),
                total_bytes=total,
                free_bytes=free,
                free_ratio=round(1 - used / (used + free), 4) if used + free else 0.0,
                total_inodes=files,
                free_inodes=favail,
                free_inodes_ratio=round(favail / files, 4) if files and favail is not None else None,
            )
        )
    return tuple(out), notes


# --- clock ----------------------------------------------------------------------------------------


class _Timex(ctypes.Structure):
    # struct timex (linux/timex.h) up to status; the rest is padding the kernel may write.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("rest", ctypes.c_byte * 256),
    )


STA_UNSYNC = 0x0040
TIME_STATES = {0: "TIME_OK", 1: "TIME_INS", 2: "TIME_DEL", 3: "TIME_OOP", 4: "TIME_WAIT", 5: "TIME_ERROR"}


def clock() -> tuple[bool | None, str]:
    """Synchronised? From ``timedatectl show`` under systemd, else the kernel's own ``adjtimex`` state."""
    if has_systemd():
        code, out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "-p", "NTP"])
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        if code == 0 and "NTPSynchronized" in values:
            synced = values["NTPSynchronized"].strip() == "yes"
            return synced, f"timedatectl: NTPSynchronized={values['NTPSynchronized'].strip()}"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        tx = _Timex()  # modes = 0: read only
        state = int(libc.adjtimex(ctypes.byref(tx)))
    except (OSError, AttributeError) as exc:
        return None, f"adjtimex: {exc}"
    if state < 0:
        return None, f"adjtimex: {os.strerror(ctypes.get_errno())}"
    unsync = bool(tx.status & STA_UNSYNC)
    name = TIME_STATES.get(state, str(state))
    said = "STA_UNSYNC set: no time daemon has synchronised the kernel clock" if unsync else "synchronised"
    return (not unsync and state != 5), f"adjtimex: {name}, {said}"


# --- certificates --------------------------------------------------------------------------------

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_NGINX_CERT = re.compile(r"^\s*ssl_certificate\s+(\"[^\"]*\"|'[^']*'|[^\s;]+)\s*;", re.MULTILINE)


def postfix_certificates() -> list[tuple[str, str]]:
    """(path, "postfix PARAM") for every certificate file main.cf and master.cf name."""
    out: list[tuple[str, str]] = []
    for name, value in postconf(*POSTFIX_CERT_PARAMS).items():
        out += [(p, f"postfix {name}") for p in re.split(r"[\s,]+", value) if p.startswith("/")]
    code, text = _run(["postconf", "-P"])
    if code == 0:
        for line in text.splitlines():
            key, sep, value = line.partition(" = ")
            param = key.rsplit("/", 1)[-1]
            if sep and param in POSTFIX_CERT_PARAMS:
                service = key.rsplit("/", 1)[0]
                out += [(p, f"postfix {service} {param}") for p in re.split(r"[\s,]+", value) if p.startswith("/")]
    return out


def nginx_certificates() -> tuple[list[tuple[str, str]], str | None]:
    """(path, "nginx") for every ``ssl_certificate`` in the configuration ``nginx -T`` prints."""
    if which("nginx") is None:
        return [], None
    code, text = _run(["nginx", "-T", "-q"], MAX_NGINX)
    if code != 0:
        last = text.strip().splitlines()[-1:] or [""]
        return [], f"nginx -T: exit status {code}: {last[0][:200]}"
    out: list[tuple[str, str]] = []
    for m in _NGINX_CERT.finditer(text):
        value = m.group(1).strip("\"'")
        if "$" in value or value.startswith("data:"):
            continue  # chosen per request: not a file mbtop can name
        path = value if value.startswith("/") else os.path.join("/etc/nginx", value)
        out.append((path, "nginx"))
    return out, None


def read_certificate(path: str, used_by: tuple[str, ...]) -> Certificate:
    try:
        from cryptography import x509
    except ImportError:
        return Certificate(path, used_by, None, None, "cannot read certificates: cryptography is not installed")

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return Certificate(path, used_by, None, None, "not a regular file")
            data = os.read(fd, MAX_CERT)
        finally:
            os.close(fd)
    except OSError as exc:
        return Certificate(path, used_by, None, None, exc.strerror or str(exc))
    certs = []
    for block in _PEM.findall(data):
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            continue
    if not certs and not _PEM.search(data):
        with contextlib.suppress(ValueError):
            certs.append(x509.load_der_x509_certificate(data))
    if not certs:
        return Certificate(path, used_by, None, None, "no certificate in the file")
    first = min(certs, key=_not_after)
    try:
        names = first.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        subject = str(names[0].value) if names else first.subject.rfc4514_string()
    except ValueError:
        subject = "?"
    return Certificate(path, used_by, _not_after(first), subject[:200])


def _not_after(cert: Any) -> float:
    """The expiry as a timestamp (``not_valid_after_utc`` from cryptography 42; naive UTC before)."""
    when = getattr(cert, "not_valid_after_utc", None)
    if when is None:
        when = cert.not_valid_after.replace(tzinfo=dt.UTC)
    return float(when.timestamp())


def certificates() -> tuple[tuple[Certificate, ...], list[str]]:
    named: dict[str, list[str]] = {}
    notes: list[str] = []
    found = postfix_certificates()
    ngx, problem = nginx_certificates()
    if problem:
        notes.append(problem)
    for path, who in [*found, *ngx]:
        users = named.setdefault(path, [])
        if who not in users:
            users.append(who)
    return tuple(read_certificate(p, tuple(u)) for p, u in named.items()), notes


# --- Mailborder's logs ---------------------------------------------------------------------------

_ERROR = re.compile(rb"\b(?:error|err|critical|crit|fatal|panic|emerg|alert)\b", re.IGNORECASE)


def mailborder_logs(directory: str = MAILBORDER_LOGS) -> tuple[LogErrors, ...] | None:
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return None
    except OSError:
        return ()
    out: list[LogErrors] = []
    for name in names[:MAX_LOGS]:
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or name.endswith((".gz", ".xz", ".bz2", ".zst")):
                continue
            os.lseek(fd, max(0, st.st_size - LOG_TAIL), os.SEEK_SET)
            data = os.read(fd, LOG_TAIL)
        except OSError:
            continue
        finally:
            os.close(fd)
        lines = [ln for ln in data.splitlines() if _ERROR.search(ln)]
        last = lines[-1].decode("utf-8", "replace")[:500] if lines else None
        out.append(LogErrors(path, len(lines), last))
    return tuple(out)


def probe(now: float | None = None) -> Vitals:
    """Read every vital once (a second or so at most; call it off the UI thread)."""
    taken = now if now is not None else dt.datetime.now(dt.UTC).timestamp()
    roles = {"spool": queue_directory(), "log": "/var/log", "mariadb": mariadb_datadir(), "root": "/"}
    fss, notes = filesystems(roles)
    memory: tuple[tuple[str, float], ...] = ()
    cpus = os.cpu_count() or 1
    try:
        import psutil

        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        memory = (
            ("total", float(vm.total)),
            ("available", float(vm.available)),
            ("used_ratio", round(vm.percent / 100, 4)),
            ("swap_total", float(sw.total)),
            ("swap_used", float(sw.used)),
            ("swap_used_ratio", round(sw.percent / 100, 4)),
        )
        cpus = psutil.cpu_count() or cpus
    except ImportError:
        notes.append("memory: psutil is not installed")
    synced, source = clock()
    certs, cert_notes = certificates()
    return Vitals(
        taken_at=taken,
        filesystems=fss,
        memory=memory,
        load=tuple(round(x, 2) for x in os.getloadavg()),
        cpus=cpus,
        clock_synchronized=synced,
        clock_source=source,
        certificates=certs,
        mailborder_logs=mailborder_logs(),
        notes=tuple(notes + cert_notes),
    )
