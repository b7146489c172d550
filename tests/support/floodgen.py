"""A bounded SMTP connection flood on loopback: RATE connections/s for SECONDS, at most LIMIT open at once.

    python floodgen.py RATE SECONDS [LIMIT] [PORT]

Each connection comes from one of 250 loopback source addresses (127.90.0.x), is closed as
soon as it is established, and an attempt that would exceed LIMIT open connections is
skipped (counted). Everything stops SECONDS + 2 s after the start. Prints one JSON line:
attempted, connected, failed, skipped. Only 127.0.0.1 is ever a target.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time


async def one(i: int, port: int, stats: dict[str, int], open_now: list[int]) -> None:
    open_now[0] += 1
    src = f"127.90.0.{1 + i % 250}"
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0), family=socket.AF_INET), 1
        )
    except (OSError, TimeoutError):
        stats["failed"] += 1
        return
    finally:
        open_now[0] -= 1
    stats["connected"] += 1
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def main(rate: float, seconds: float, limit: int, port: int) -> dict[str, int]:
    stats = {"attempted": 0, "connected": 0, "failed": 0, "skipped": 0}
    open_now = [0]
    tasks = []
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        stats["attempted"] += 1
        if open_now[0] >= limit:
            stats["skipped"] += 1
            continue
        tasks.append(asyncio.create_task(one(i, port, stats, open_now)))
    left = max(0.1, start + seconds + 2 - time.monotonic())
    _done, pending = await asyncio.wait(tasks, timeout=left) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    return stats


if __name__ == "__main__":
    rate, seconds = float(sys.argv[1]), float(sys.argv[2])
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    port = int(sys.argv[4]) if len(sys.argv) > 4 else 25
    print(json.dumps(asyncio.run(main(rate, seconds, limit, port))), flush=True)
