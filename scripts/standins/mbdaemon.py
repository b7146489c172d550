#!/usr/bin/env python3
"""Stand-ins for the Mailborder daemons no package provides (test stack only).

    mbdaemon.py mb-filter  --tcp 127.0.0.1:10031 --proto smtp
    mbdaemon.py mb-milter  --tcp 127.0.0.1:10032 --proto milter
    mbdaemon.py mb-cluster --tcp 0.0.0.0:10050  --proto banner
    mbdaemon.py mb-rpcd    --unix /var/run/mailborder/mb-rpcd.sock --owner mailborder --group mailborder --mode 0660

The process name (comm) is set with prctl(PR_SET_NAME) so ss/ps show the
daemon's name.  After binding, privileges drop to --user.  Runs only with the
standard library, on the system python3.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import grp
import os
import pwd
import signal
import struct
import sys

PR_SET_NAME = 15


def set_name(name: str) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except OSError:
        pass


async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Just enough SMTP for a content filter: accept and discard the message."""
    writer.write(b"220 localhost ESMTP mb-filter\r\n")
    in_data = False
    while line := await reader.readline():
        if in_data:
            if line in (b".\r\n", b".\n"):
                in_data = False
                writer.write(b"250 2.0.0 Ok: queued by mb-filter\r\n")
            continue
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            writer.write(b"250-localhost\r\n250 8BITMIME\r\n")
        elif verb == b"DATA":
            in_data = True
            writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 2.0.0 Bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 2.0.0 Ok\r\n")
        await writer.drain()
    writer.close()


async def milter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Milter: answer option negotiation, then 'continue' to every message event."""
    try:
        while True:
            head = await reader.readexactly(4)
            (length,) = struct.unpack(">I", head)
            if not 0 < length <= 1 << 20:
                break
            body = await reader.readexactly(length)
            cmd = body[:1]
            if cmd == b"O":  # SMFIC_OPTNEG: echo version, no actions, no protocol steps skipped
                version = body[1:5] if len(body) >= 5 else struct.pack(">I", 6)
                reply = b"O" + version + struct.pack(">II", 0, 0)
            elif cmd in (b"D", b"Q"):  # macros need no reply; quit ends the session
                if cmd == b"Q":
                    break
                continue
            elif cmd == b"A":  # abort: no reply
                continue
            else:
                reply = b"c"  # SMFIR_CONTINUE
            writer.write(struct.pack(">I", len(reply)) + reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"MB-CLUSTER 1 ready\n")
    await writer.drain()
    while await reader.readline():
        writer.write(b"OK\n")
        await writer.drain()
    writer.close()


async def rpc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(b'{"ok": true}\n' if line.strip() else b"")
        await writer.drain()
    writer.close()


HANDLERS = {"smtp": smtp, "milter": milter, "banner": banner, "rpc": rpc}


def drop_privileges(user: str | None) -> None:
    if not user or os.geteuid() != 0:
        return
    pw = pwd.getpwnam(user)
    os.setgroups([g.gr_gid for g in grp.getgrall() if user in g.gr_mem] + [pw.pw_gid])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--tcp")
    ap.add_argument("--unix")
    ap.add_argument("--proto", default="rpc", choices=sorted(HANDLERS))
    ap.add_argument("--owner")
    ap.add_argument("--group")
    ap.add_argument("--mode", default="0660")
    ap.add_argument("--user", help="drop to this user after binding")
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    set_name(args.name)
    handler = HANDLERS[args.proto]
    if args.tcp:
        host, port = args.tcp.rsplit(":", 1)
        server = await asyncio.start_server(handler, host.strip("[]"), int(port), reuse_address=True)
    elif args.unix:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(args.unix)
        os.makedirs(os.path.dirname(args.unix), exist_ok=True)
        server = await asyncio.start_unix_server(handler, args.unix)
        uid = pwd.getpwnam(args.owner).pw_uid if args.owner else -1
        gid = grp.getgrnam(args.group).gr_gid if args.group else -1
        os.chown(args.unix, uid, gid)
        os.chmod(args.unix, int(args.mode, 8))
    else:
        print("need --tcp or --unix", file=sys.stderr)
        return 2
    if args.pidfile:
        with open(args.pidfile, "w") as fh:
            fh.write(f"{os.getpid()}\n")
    drop_privileges(args.user)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    if args.unix:
        with contextlib.suppress(OSError):
            os.unlink(args.unix)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except OSError as exc:
        print(f"{sys.argv[1] if len(sys.argv) > 1 else 'mbdaemon'}: {exc}", file=sys.stderr)
        sys.exit(1)
