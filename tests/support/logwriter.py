"""A writer process for rotation tests: appends numbered lines at a steady pace; SIGHUP reopens the path.

python logwriter.py PATH COUNT RATE
"""

from __future__ import annotations

import signal
import sys
import time

path, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
reopen = False


def on_hup(_sig: int, _frame: object) -> None:
    global reopen
    reopen = True


signal.signal(signal.SIGHUP, on_hup)
fh = open(path, "a", buffering=1)  # noqa: SIM115
print("ready", flush=True)
start = time.monotonic()
for i in range(1, count + 1):
    if reopen:
        fh.close()
        fh = open(path, "a", buffering=1)  # noqa: SIM115
        reopen = False
    fh.write(f"line {i:07d} " + "x" * (i % 50) + "\n")
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
fh.close()
