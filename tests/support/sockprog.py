"""A real process that holds sockets exactly as a test asks, then waits.

Run (usually inside a network namespace) as:
    python sockprog.py '{"name": "redis-server", "listen": [["127.0.0.1", 6379]], ...}'
It prints one JSON line {"pid": ..., "tally": {...}} when every socket is in
place, and holds them until its stdin closes.  Standard library only, so it
also runs as an unprivileged user on the system python.

Spec keys (all optional):
  name        process name (prctl PR_SET_NAME), as ss/ps show it
  listen      [[address, port, backlog?], ...]   TCP listeners
  connect     [[source, dest, port, count], ...] client connections, accepted by us when we listen
  no_accept   true: leave connections in the accept queue
  timewait    [[dest, port, count], ...]         connections closed by the server first (TIME_WAIT)
  unix        [[path, "listen"|"bind", mode?], ...]
  unix_clients [[path, count], ...]
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sys
import time


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get("name"):
        libc = ctypes.CDLL(None)
        libc.prctl(15, ctypes.c_char_p(spec["name"].encode()[:15]), 0, 0, 0)
    keep: list[socket.socket] = []
    listeners: dict[tuple[str, int], socket.socket] = {}
    for entry in spec.get("listen", []):
        addr, port = entry[0], entry[1]
        backlog = entry[2] if len(entry) > 2 else 128
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(backlog)
        listeners[(addr, port)] = s
        keep.append(s)
    tally: dict[str, int] = {}
    for src, dest, port, count in spec.get("connect", []):
        fam = socket.AF_INET6 if ":" in dest else socket.AF_INET
        for _ in range(count):
            c = socket.socket(fam, socket.SOCK_STREAM)
            c.bind((src, 0))
            c.connect((dest, port))
            keep.append(c)
            tally[src] = tally.get(src, 0) + 1
    if not spec.get("no_accept"):
        for s in listeners.values():
            s.setblocking(False)
            while True:
                try:
                    conn, _ = s.accept()
                except BlockingIOError:
                    break
                keep.append(conn)
    for dest, port, count in spec.get("timewait", []):
        lst = listeners[(dest, port)]
        lst.setblocking(True)
        for _ in range(count):
            c = socket.create_connection((dest, port))
            conn, _ = lst.accept()
            conn.close()  # the server closes first: its side ends in TIME_WAIT
            time.sleep(0.01)
            c.close()
    unix_listeners: dict[str, socket.socket] = {}
    for entry in spec.get("unix", []):
        path, how = entry[0], entry[1]
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.bind(path)
        if len(entry) > 2:
            os.chmod(path, int(entry[2], 8))
        if how == "listen":
            u.listen(16)
            unix_listeners[path] = u
        keep.append(u)
    for path, count in spec.get("unix_clients", []):
        for _ in range(count):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            keep.append(c)
            if path in unix_listeners:
                conn, _ = unix_listeners[path].accept()
                keep.append(conn)
    time.sleep(0.05)
    print(json.dumps({"pid": os.getpid(), "tally": tally}), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
