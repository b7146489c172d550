"""GET over HTTP with a deadline and a size cap, errors turned into a reachability and a reason.

The standard library's urllib, without proxies (a monitor talks to its targets directly, whatever
the caller's environment says). Every failure is a ``Unreachable`` with words for the screen:
refused or unknown host ("down"), no answer in time ("slow"), or an answer that is not what was
asked for ("garbage": not HTTP, an HTTP error, too big).
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from typing import Literal

MAX_BODY = 16 << 20  # bytes: bigger is not an agent's scrape nor a fleet query's answer
CHUNK = 64 << 10

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Kind = Literal["down", "slow", "garbage"]


class Unreachable(Exception):
    def __init__(self, reach: Kind, reason: str) -> None:
        super().__init__(reason)
        self.reach: Kind = reach
        self.reason = reason


def get(url: str, timeout: float, accept: str, max_body: int = MAX_BODY) -> tuple[str, str]:
    """The body (as text) and Content-Type of ``url``; ``Unreachable`` on any failure.

    ``timeout`` bounds the whole exchange: a server that trickles its answer is "slow" too.
    """
    deadline = time.monotonic() + timeout
    req = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "mbtop-fleet"})  # noqa: S310
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            ctype = str(resp.headers.get("Content-Type", ""))
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise Unreachable("slow", f"answer not complete in {timeout:g} s")
                chunk = resp.read1(CHUNK) if hasattr(resp, "read1") else resp.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_body:
                    raise Unreachable("garbage", f"answer larger than {max_body >> 20} MiB")
                chunks.append(chunk)
            charset = resp.headers.get_content_charset() or "utf-8"
    except urllib.error.HTTPError as exc:
        raise Unreachable("garbage", f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _classify(exc.reason, timeout) from None
    except (http.client.HTTPException, ValueError) as exc:
        # An SMTP banner, an SSH greeting, a closed connection: the other end does not speak HTTP.
        raise Unreachable("garbage", f"not HTTP ({type(exc).__name__})") from None
    except OSError as exc:
        raise _classify(exc, timeout) from None
    try:
        text = b"".join(chunks).decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        text = b"".join(chunks).decode("utf-8", errors="replace")
    return text, ctype


def _classify(reason: object, timeout: float) -> Unreachable:
    if isinstance(reason, TimeoutError | socket.timeout):
        return Unreachable("slow", f"no answer in {timeout:g} s")
    if isinstance(reason, ConnectionRefusedError):
        return Unreachable("down", "connection refused")
    if isinstance(reason, socket.gaierror):
        return Unreachable("down", "unknown host")
    if isinstance(reason, ConnectionResetError | BrokenPipeError):
        return Unreachable("garbage", "connection reset (not HTTP?)")
    if isinstance(reason, OSError):
        return Unreachable("down", reason.strerror or type(reason).__name__)
    return Unreachable("down", str(reason))
