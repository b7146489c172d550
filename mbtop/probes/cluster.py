"""Cluster peers: does every gateway named in ``[cluster] peers`` accept on the cluster port?

A TCP connect to each peer, all at once, each bounded by the timeout (name resolution included:
a peer whose name does not resolve in time is unreachable, not a hung check). Nothing here
raises: refused, filtered (the timeout), unresolvable are results. The port comes from the
catalog (mb-cluster's), never from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

DEFAULT_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class PeerCheck:
    peer: str  # as the config names it (a host name or an address)
    up: bool
    error: str | None  # why not, for a person ("connection refused", "no answer within 3 s")
    latency_ms: float | None  # the connect's duration, when it was accepted
    checked_at: float  # epoch seconds the check started


@dataclass(frozen=True, slots=True)
class ClusterState:
    port: int
    peers: tuple[PeerCheck, ...]  # in the config's order


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the name: {exc.strerror or exc}"
    if isinstance(exc, OSError) and exc.errno:
        # asyncio words its own strerror ("Connect call failed (…)"): the errno says it plainly.
        text = os.strerror(exc.errno)
        return text[:1].lower() + text[1:]
    return f"{type(exc).__name__}: {exc}"


async def check_peer(peer: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> PeerCheck:
    """One TCP connect to ``peer``:``port``, closed at once (nothing is sent)."""
    at, start = time.time(), time.monotonic()
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(peer, port), timeout)
    except TimeoutError:
        return PeerCheck(peer, False, f"no answer within {timeout:g} s", None, at)
    except (OSError, UnicodeError, ValueError) as exc:
        return PeerCheck(peer, False, _why(exc), None, at)
    latency = (time.monotonic() - start) * 1000
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return PeerCheck(peer, True, None, round(latency, 2), at)


async def _check_all(peers: Sequence[str], port: int, timeout: float) -> tuple[PeerCheck, ...]:
    return tuple(await asyncio.gather(*(check_peer(p, port, timeout) for p in peers)))


def probe(peers: Sequence[str], port: int, timeout: float = DEFAULT_TIMEOUT) -> ClusterState:
    """Every peer at once, from synchronous code (a worker thread); returns in about ``timeout``."""
    if not peers:
        return ClusterState(port, ())
    # Not asyncio.run: it waits at the end for the resolver's threads, and a name server that never
    # answers would hold this past the timeout. A loop's close() leaves them to finish on their own.
    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=min(len(peers), 8), thread_name_prefix="mbtop-peer"))
    try:
        return ClusterState(port, loop.run_until_complete(_check_all(peers, port, timeout)))
    finally:
        loop.close()
