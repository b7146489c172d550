"""The agent's socket protocol: how a viewer (``sudo mbtop``) reads the frames of ``mbtop agent``.

A stream of messages over a Unix socket, each a 4-byte big-endian length and that many bytes of
UTF-8 JSON: an object whose ``"t"`` names it. Version ``PROTOCOL``:

1. viewer → agent ``{"t": "hello", "protocol": 1, "version": "0.1.0"}``
2. agent → viewer ``{"t": "hello", "protocol": 1, "version": …, "pid": …, "interval": …, "format": …}``,
   or ``{"t": "refused", "why": …, "protocol": …, "version": …}`` and the agent hangs up (another
   protocol, a peer that is not root). A viewer refuses an agent hello of another protocol too.
3. agent → viewer, in this order: ``logs`` (the recent log events, ``"past": true``), the newest
   ``frame``, the engine's ``history`` (trimmed frames of the last hour, in chunks, oldest first:
   ``{"t": "history", "n": count, "frames": [...]}``, keys in that order, so a viewer can keep
   the chunk unparsed until it is asked for),
   then every ``frame`` and ``logs`` batch as the engine publishes it. ``dropped`` tells a viewer
   that fell behind how many frames and log batches it missed; ``bye`` that the agent stops.
4. viewer → agent, any time: ``{"t": "sample_now"}`` (the `r` key), ``{"t": "flood_visible", "on": b}``.

Frames are ``mbtop.engine.codec`` JSON (``compact``: every tab is faithful); a frame of another
``format`` is refused by the codec. Messages above ``MAX_MESSAGE`` are refused, not read.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from mbtop import __version__

PROTOCOL = 1
DEFAULT_SOCKET = "/run/mbtop/agent.sock"
MAX_MESSAGE = 64 << 20  # bytes: a compact frame at 50k connections is a few MB
HELLO_TIMEOUT = 3.0  # seconds for the hello each way
_LEN = struct.Struct(">I")


class WireError(Exception):
    """The other end broke the protocol, or went away; the message says which."""


class Refused(WireError):
    """The agent (or the viewer) refused the other: another protocol version, a peer not root."""


def pack(message: dict[str, Any]) -> bytes:
    """One message, framed: the bytes to send."""
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    if len(body) > MAX_MESSAGE:
        raise WireError(f"message of {len(body)} bytes is above the limit of {MAX_MESSAGE}")
    return _LEN.pack(len(body)) + body


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise WireError("the other end closed the connection")
        buf += chunk
    return bytes(buf)


def receive_bytes(sock: socket.socket) -> bytes:
    """The next message's body, not parsed (a viewer keeps the history so, compressed, until asked)."""
    (n,) = _LEN.unpack(_read_exactly(sock, _LEN.size))
    if n > MAX_MESSAGE:
        raise WireError(f"message of {n} bytes announced, above the limit of {MAX_MESSAGE}")
    return _read_exactly(sock, n)


HISTORY_HEAD = b'{"t":"history","n":'  # how the agent begins a history message: its count, then its frames


def history_body(frames: list[bytes]) -> bytes:
    """A history message of frames already encoded (each frame's JSON)."""
    return HISTORY_HEAD + str(len(frames)).encode() + b',"frames":[' + b",".join(frames) + b"]}"


def history_count(body: bytes) -> int:
    """How many frames a history message holds, without parsing its frames."""
    head = body[len(HISTORY_HEAD) : len(HISTORY_HEAD) + 12]
    digits = head.split(b",", 1)[0]
    if not digits.isdigit():
        raise WireError("a history message without its count")
    return int(digits)


def parse(body: bytes) -> dict[str, Any]:
    """A message's body parsed; a malformed one is a ``WireError``."""
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise WireError('not a message (an object with a type "t")')
    return message


def receive(sock: socket.socket) -> dict[str, Any]:
    """The next message (blocking, within the socket's timeout); a malformed one is a ``WireError``."""
    return parse(receive_bytes(sock))


def hello(protocol: int = PROTOCOL, version: str = __version__, **more: Any) -> dict[str, Any]:
    return {"t": "hello", "protocol": protocol, "version": version, **more}


def mismatch(theirs: dict[str, Any], who: str) -> str | None:
    """Why a hello of another protocol is refused (naming both versions), or None when it fits."""
    protocol, version = theirs.get("protocol"), theirs.get("version")
    if theirs.get("t") == "hello" and protocol == PROTOCOL:
        return None
    return (
        f"{who} speaks protocol {protocol!r} (mbtop {version!r}); this mbtop {__version__} speaks protocol {PROTOCOL}"
    )
