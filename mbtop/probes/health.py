"""Protocol health: does each daemon answer its own protocol, not just accept a connection?

Every check runs concurrently on one asyncio loop, each bounded by a timeout,
and returns a ``Health`` (ok, a short detail such as the banner, the server
version or the certificate's days left, and the latency).  Nothing here
raises: a refused connection, a timeout, garbage or a TLS failure is a
result.  Text that came from the daemon (banners, versions) is returned as
data; the UI cleans it before showing it.

Protocols are named by the catalog (``health = "smtp"``); this module knows
no port numbers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from mbtop.probes.own import OWN, OwnConnections

DEFAULT_TIMEOUT = 3.0
READ_LIMIT = 16384
EHLO_NAME = b"mbtop.invalid"
USER_AGENT = b"mbtop-health"  # the HTTP checks' User-Agent: nginx logs it, mbtop.logs.own recognises it
# What Postfix's disconnect line says of an SMTP check's session (the commands `smtp` and `smtps`
# below send): EHLO, QUIT; EHLO, STARTTLS, EHLO, QUIT where the server offers STARTTLS; QUIT (smtps).
SMTP_SESSION_COMMANDS = ("ehlo=1 quit=1 commands=2", "ehlo=2 starttls=1 quit=1 commands=4", "quit=1 commands=1")
# The SMTP checks opened in the last seconds, by client address and port: the live log view pairs
# each with the "connect from" line it causes (mbtop.logs.own.OwnSessions).
OWN_SMTP = OwnConnections(ttl=30.0, cap=256)
_CLAIMS = itertools.count(1)  # OWN_SMTP keys: (address, -n), one per check (the client port is not known yet)


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool | None  # None: not checked
    detail: str
    latency_ms: float | None = None
    protocol: str = ""
    cert_days: int | None = None  # TLS certificate days left, when one was seen


@dataclass(frozen=True, slots=True)
class Target:
    key: str  # "port:25", "socket:redis"
    protocol: str  # smtp, smtps, http-redirect, https, redis, clamd, mysql, milter, rspamd-controller,
    #                fastcgi, accept
    host: str | None = None  # TCP: the address to connect to
    port: int | None = None
    path: str | None = None  # UNIX socket path


class ProtocolError(Exception):
    """The daemon answered, but not with its protocol."""


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _tls_context() -> ssl.SSLContext:
    # Health, not trust: the lab's and many gateways' certificates are self-signed.  The
    # certificate's dates are read from its bytes below.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# --- a minimal DER walk for the certificate's notAfter -------------------------


def _tlv(buf: bytes, off: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the DER element at ``off``."""
    tag = buf[off]
    length = buf[off + 1]
    off += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4:
            raise ValueError("bad DER length")
        length = int.from_bytes(buf[off : off + n], "big")
        off += n
    end = off + length
    if end > len(buf):
        raise ValueError("truncated DER")
    return tag, off, end


def not_after(der: bytes) -> dt.datetime:
    """The certificate's notAfter, from its DER bytes (no verification involved)."""
    _, cert, _ = _tlv(der, 0)
    tag, tbs, tbs_end = _tlv(der, cert)
    if tag != 0x30:
        raise ValueError("not a certificate")
    off = tbs
    fields: list[tuple[int, int, int]] = []
    while off < tbs_end and len(fields) < 6:
        t, s, e = _tlv(der, off)
        fields.append((t, s, e))
        off = e
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    _, vs, _ve = fields[3]  # serial, signature, issuer, validity
    _, _s1, e1 = _tlv(der, vs)  # notBefore
    tag, s2, e2 = _tlv(der, e1)  # notAfter
    text = der[s2:e2].decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def cert_days(writer: asyncio.StreamWriter) -> int | None:
    obj = writer.get_extra_info("ssl_object")
    if not isinstance(obj, ssl.SSLObject):
        return None
    der = obj.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        end = not_after(der)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    return (end - dt.datetime.now(dt.UTC)).days


# --- protocol dialogues ---------------------------------------------------------


async def _line(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    if not line:
        raise ProtocolError("closed the connection")
    return line[:READ_LIMIT]


async def _smtp_reply(reader: asyncio.StreamReader) -> tuple[int, list[str]]:
    """One (possibly multi-line) SMTP reply: code and text lines."""
    lines: list[str] = []
    while True:
        raw = await _line(reader)
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if len(text) < 3 or not text[:3].isdigit():
            raise ProtocolError(f"not SMTP: {text[:60]!r}")
        lines.append(text[4:])
        if len(text) == 3 or text[3] != "-":
            return int(text[:3]), lines
        if len(lines) > 100:
            raise ProtocolError("endless reply")


async def smtp(conn: Conn, target: Target) -> tuple[str, int | None]:
    reader, writer = conn
    code, lines = await _smtp_reply(reader)
    if code != 220:
        raise ProtocolError(f"greets with {code} {lines[0] if lines else ''}".strip())
    banner = lines[0] if lines else ""
    writer.write(b"EHLO " + EHLO_NAME + b"\r\n")
    code, caps = await _smtp_reply(reader)
    if code != 250:
        raise ProtocolError(f"EHLO answered {code}")
    days = None
    if any(c.upper().startswith("STARTTLS") for c in caps[1:]):
        writer.write(b"STARTTLS\r\n")
        code, _ = await _smtp_reply(reader)
        if code == 220:
            await writer.start_tls(_tls_context())
            days = cert_days(writer)
            writer.write(b"EHLO " + EHLO_NAME + b"\r\n")
            await _smtp_reply(reader)
    writer.write(b"QUIT\r\n")
    detail = banner + (" · STARTTLS" if days is not None else "")
    return detail, days


async def smtps(conn: Conn, target: Target) -> tuple[str, int | None]:
    reader, writer = conn
    days = cert_days(writer)
    code, lines = await _smtp_reply(reader)
    if code != 220:
        raise ProtocolError(f"greets with {code}")
    writer.write(b"QUIT\r\n")
    return (lines[0] if lines else "") + " · TLS", days


async def _http_status(conn: Conn, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = conn
    writer.write(request)
    status = (await _line(reader)).decode("latin-1").split()
    if len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].isdigit():
        raise ProtocolError("not HTTP")
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
        if len(headers) > 100:
            break
    body = await reader.read(256)
    return int(status[1]), headers, body


def _host(target: Target) -> bytes:
    host = target.host or "localhost"
    return (f"[{host}]" if ":" in host else host).encode()


async def http_redirect(conn: Conn, target: Target) -> tuple[str, int | None]:
    req = (
        b"GET / HTTP/1.1\r\nHost: "
        + _host(target)
        + b"\r\nUser-Agent: "
        + USER_AGENT
        + b"\r\nConnection: close\r\n\r\n"
    )
    code, headers, _ = await _http_status(conn, req)
    location = headers.get("location", "")
    if code in (301, 302, 303, 307, 308) and location.lower().startswith("https://"):
        return f"{code} → {location[:80]}", None
    raise ProtocolError(f"answers {code}, not a redirect to https" + (f" ({location[:60]})" if location else ""))


async def https(conn: Conn, target: Target) -> tuple[str, int | None]:
    days = cert_days(conn[1])
    req = (
        b"HEAD / HTTP/1.1\r\nHost: "
        + _host(target)
        + b"\r\nUser-Agent: "
        + USER_AGENT
        + b"\r\nConnection: close\r\n\r\n"
    )
    code, _, _ = await _http_status(conn, req)
    return f"TLS · HTTP {code}", days


async def redis(conn: Conn, target: Target) -> tuple[str, int | None]:
    reader, writer = conn
    writer.write(b"PING\r\n")
    line = (await _line(reader)).decode("utf-8", "replace").strip()
    if line == "+PONG":
        return "PONG", None
    if line.startswith("-NOAUTH"):
        return "answers (password required)", None
    raise ProtocolError(f"PING answered {line[:60]!r}")


async def clamd(conn: Conn, target: Target) -> tuple[str, int | None]:
    reader, writer = conn
    writer.write(b"zPING\0")
    reply = await reader.readuntil(b"\0")
    if reply.rstrip(b"\0") != b"PONG":
        raise ProtocolError(f"PING answered {reply[:40]!r}")
    return "PONG", None  # clamd closes the connection after a command outside a session


async def mysql(conn: Conn, target: Target) -> tuple[str, int | None]:
    reader, _writer = conn
    head = await reader.readexactly(4)
    length = int.from_bytes(head[:3], "little")
    if not 1 <= length <= 65536:
        raise ProtocolError("not a MySQL handshake")
    payload = await reader.readexactly(length)
    if payload[0] == 0xFF:  # an error packet: it answered, and refuses this client
        return f"answers, refuses this host: {payload[9:].decode('utf-8', 'replace')[:80]}", None
    if payload[0] != 10:
        raise ProtocolError(f"handshake protocol {payload[0]}")
    version = payload[1 : payload.index(b"\0", 1)].decode("utf-8", "replace")
    return version, None


async def milter(conn: Conn, target: Target) -> tuple[str, int | None]:
    reader, writer = conn
    body = b"O" + struct.pack(">III", 6, 0x1FF, 0x1FFFFF)  # SMFIC_OPTNEG: version 6, all actions/steps
    writer.write(struct.pack(">I", len(body)) + body)
    length = int.from_bytes(await reader.readexactly(4), "big")
    if not 1 <= length <= 65536:
        raise ProtocolError("not a milter reply")
    reply = await reader.readexactly(length)
    if reply[:1] != b"O":
        raise ProtocolError(f"OPTNEG answered {reply[:1]!r}")
    version = struct.unpack(">I", reply[1:5])[0] if len(reply) >= 5 else 0
    return f"milter option negotiation (version {version})", None


async def rspamd_controller(conn: Conn, target: Target) -> tuple[str, int | None]:
    req = b"GET /ping HTTP/1.0\r\nHost: " + _host(target) + b"\r\nUser-Agent: " + USER_AGENT + b"\r\n\r\n"
    code, _, body = await _http_status(conn, req)
    if code == 200 and body.strip().lower().startswith(b"pong"):
        return "pong", None
    raise ProtocolError(f"/ping answered {code}")


def _fcgi(kind: int, body: bytes) -> bytes:
    pad = (-len(body)) % 8
    return struct.pack(">BBHHBB", 1, kind, 1, len(body), pad, 0) + body + b"\0" * pad


def _fcgi_pair(name: bytes, value: bytes) -> bytes:
    return bytes([len(name), len(value)]) + name + value


async def fastcgi(conn: Conn, target: Target) -> tuple[str, int | None]:
    """A request for a script that does not exist: any FastCGI answer proves the pool serves."""
    reader, writer = conn
    params = b"".join(
        _fcgi_pair(n, v)
        for n, v in (
            (b"REQUEST_METHOD", b"GET"),
            (b"SCRIPT_FILENAME", b"/nonexistent/mbtop-health-check.php"),
            (b"SCRIPT_NAME", b"/mbtop-health-check.php"),
            (b"SERVER_PROTOCOL", b"HTTP/1.0"),
        )
    )
    begin = struct.pack(">HB5x", 1, 0)  # role RESPONDER, close after
    writer.write(_fcgi(1, begin) + _fcgi(4, params) + _fcgi(4, b"") + _fcgi(5, b""))
    status = ""
    for _ in range(64):
        head = await reader.readexactly(8)
        version, kind, _rid, length, pad, _ = struct.unpack(">BBHHBB", head)
        if version != 1:
            raise ProtocolError("not FastCGI")
        content = await reader.readexactly(length + pad)
        if kind == 6 and not status:  # STDOUT: "Status: 404 Not Found\r\n..."
            first = content[:length].split(b"\r\n", 1)[0].decode("latin-1")
            status = first.removeprefix("Status: ") if first.startswith("Status:") else "200"
        if kind == 3:  # END_REQUEST
            return f"FastCGI answers ({status or 'no output'})", None
    raise ProtocolError("no END_REQUEST")


async def accept(conn: Conn, target: Target) -> tuple[str, int | None]:
    return "accepts connections", None


Dialogue = Callable[[Conn, Target], Awaitable[tuple[str, int | None]]]
PROTOCOLS: dict[str, tuple[Dialogue, bool]] = {  # name -> (dialogue, TLS from the start)
    "smtp": (smtp, False),
    "smtps": (smtps, True),
    "http-redirect": (http_redirect, False),
    "https": (https, True),
    "redis": (redis, False),
    "clamd": (clamd, False),
    "mysql": (mysql, False),
    "milter": (milter, False),
    "rspamd-controller": (rspamd_controller, False),
    "fastcgi": (fastcgi, False),
    "accept": (accept, False),
}


def _canonical(host: str) -> str:
    """An address as the mail log writes it (the parser's canonical form); a name as it is."""
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return host


async def _open(target: Target) -> Conn:
    if target.path is not None:
        return await asyncio.open_unix_connection(target.path, limit=READ_LIMIT)
    if target.protocol in ("smtp", "smtps") and target.host:
        # Claimed before connecting: smtpd may log "connect from" before open_connection returns.
        # The checks connect to an address of this host, which is then also the source address.
        OWN_SMTP.add(_canonical(target.host), -next(_CLAIMS))
    conn = await asyncio.open_connection(target.host, target.port, limit=READ_LIMIT)
    local = conn[1].get_extra_info("sockname")
    if isinstance(local, tuple) and len(local) >= 2:
        OWN.add(str(local[0]), int(local[1]))  # before any dialogue: a hung one still counts as ours
    return conn


async def check(target: Target, timeout: float = DEFAULT_TIMEOUT) -> Health:
    entry = PROTOCOLS.get(target.protocol)
    if entry is None:
        return Health(None, f"no check for protocol {target.protocol!r}", None, target.protocol)
    dialogue, tls = entry
    start = time.monotonic()
    writer: asyncio.StreamWriter | None = None

    async def run() -> tuple[str, int | None]:
        nonlocal writer
        conn = await _open(target)
        writer = conn[1]
        if tls:
            await writer.start_tls(_tls_context(), server_hostname="")
        result = await dialogue(conn, target)
        await writer.drain()
        return result

    try:
        detail, days = await asyncio.wait_for(run(), timeout)
        ok = True
    except TimeoutError:
        detail, days, ok = f"no answer in {timeout:g} s", None, False
    except ConnectionRefusedError:
        detail, days, ok = "connection refused", None, False
    except FileNotFoundError:
        detail, days, ok = "socket file missing", None, False
    except PermissionError:
        detail, days, ok = "permission denied", None, False
    except ProtocolError as exc:
        detail, days, ok = str(exc), None, False
    except asyncio.IncompleteReadError:
        detail, days, ok = "closed the connection", None, False
    except ssl.SSLError as exc:
        detail, days, ok = f"TLS failed: {exc.reason or exc}", None, False
    except Exception as exc:  # noqa: BLE001 - whatever a daemon sends back, the check reports it, never raises
        detail, days, ok = f"{type(exc).__name__}: {exc}"[:120], None, False
    finally:
        if writer is not None:
            writer.close()
    latency = (time.monotonic() - start) * 1000.0
    return Health(ok, detail, round(latency, 1) if ok else None, target.protocol, days)


async def check_all_async(targets: Sequence[Target], timeout: float = DEFAULT_TIMEOUT) -> dict[str, Health]:
    results = await asyncio.gather(*(check(t, timeout) for t in targets))
    return {t.key: r for t, r in zip(targets, results, strict=True)}


def check_all(targets: Sequence[Target], timeout: float = DEFAULT_TIMEOUT) -> dict[str, Health]:
    """Every check at once, from synchronous code (a worker thread); returns in about ``timeout``."""
    if not targets:
        return {}
    return asyncio.run(check_all_async(targets, timeout))


def connect_address(listen_address: str | None) -> str:
    """Where to reach a listener: its own address, or loopback for a wildcard bind."""
    if not listen_address or listen_address == "0.0.0.0":  # noqa: S104 - a wildcard bind is reached on loopback
        return "127.0.0.1"
    if listen_address == "::":
        return "::1"
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in listen_address else socket.AF_INET, listen_address)
    except OSError:
        return "127.0.0.1"
    return listen_address
