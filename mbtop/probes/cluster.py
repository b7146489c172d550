"""Cluster peers: does every gateway named in ``[cluster] peers`` accept on the cluster port?

A TCP connect to each peer, all at once, each bounded by the timeout (name resolution included:
a peer whose name does not resolve in time is unreachable, not a hung check nor a hung exit). Nothing here
raises: refused, filtered (the timeout), unresolvable are results. The port comes from the
catalog (mb-cluster's), never from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Sequence
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


def _settle(fut: asyncio.Future[list[str]], result: list[str] | None, exc: BaseException | None) -> None:
    if not fut.done():  # given up on (the timeout) while the resolver worked
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result or [])


async def _resolve(peer: str, port: int) -> list[str]:
    """The peer's addresses, looked up in a daemon thread of its own: a name server that never
    answers holds that thread, never the check (bounded by its timeout) nor the process's exit
    (the executor asyncio would use is joined at exit, and by ``asyncio.run``)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[list[str]] = loop.create_future()

    def work() -> None:
        result, error = None, None
        try:
            infos = socket.getaddrinfo(peer, port, type=socket.SOCK_STREAM)
            result = list(dict.fromkeys(str(info[4][0]) for info in infos))
        except (OSError, UnicodeError, ValueError) as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, fut, result, error)

    threading.Thread(target=work, name="mbtop-peer-resolve", daemon=True).start()
    return await fut


async def _connect(peer: str, port: int) -> None:
    """Connect to each of the peer's addresses in turn until one accepts; the last refusal otherwise."""
    error: OSError | None = None
    for address in await _resolve(peer, port):
        try:
            _reader, writer = await asyncio.open_connection(address, port)  # a numeric address: no lookup
        except OSError as exc:
            error = exc
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise error or OSError(f"{peer}: no address")


async def check_peer(peer: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> PeerCheck:
    """One TCP connect to ``peer``:``port``, closed at once (nothing is sent)."""
    at, start = time.time(), time.monotonic()
    try:
        await asyncio.wait_for(_connect(peer, port), timeout)
    except TimeoutError:
        return PeerCheck(peer, False, f"no answer within {timeout:g} s", None, at)
    except (OSError, UnicodeError, ValueError) as exc:
        return PeerCheck(peer, False, _why(exc), None, at)
    return PeerCheck(peer, True, None, round((time.monotonic() - start) * 1000, 2), at)


async def _check_all(peers: Sequence[str], port: int, timeout: float) -> tuple[PeerCheck, ...]:
    return tuple(await asyncio.gather(*(check_peer(p, port, timeout) for p in peers)))


def probe(peers: Sequence[str], port: int, timeout: float = DEFAULT_TIMEOUT) -> ClusterState:
    """Every peer at once, from synchronous code (a worker thread); returns in about ``timeout``."""
    if not peers:
        return ClusterState(port, ())
    return ClusterState(port, asyncio.run(_check_all(peers, port, timeout)))
