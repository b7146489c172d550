"""Every command mbtop runs: resolved from a fixed system PATH, run with a minimal environment.

mbtop runs as root, often under ``sudo -E`` or in a root shell that kept a
user's PATH.  A command found through the caller's PATH could be a binary
anyone planted in ``~/bin``; so names are looked up in ``SYSTEM_PATH`` only,
the command gets ``ENV`` and nothing else of the caller's environment, and
its stdin is /dev/null.  Probes, log followers and actions all run commands
through here (no copies of the rule elsewhere).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
ENV = {"LC_ALL": "C", "PATH": SYSTEM_PATH, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}


def which(name: str) -> str | None:
    """The absolute path of ``name`` in the system PATH (an absolute name is taken as it is), or None."""
    if name.startswith("/"):
        return name if os.access(name, os.X_OK) and os.path.isfile(name) else None
    if "/" in name:
        return None  # a relative path would depend on the caller's working directory
    return shutil.which(name, path=SYSTEM_PATH)


def resolve(argv: Sequence[str]) -> list[str]:
    """``argv`` with its program made absolute; FileNotFoundError when the system does not have it."""
    exe = which(argv[0]) if argv else None
    if exe is None:
        raise FileNotFoundError(f"{argv[0] if argv else '(empty command)'}: not installed")
    return [exe, *argv[1:]]


def run(
    argv: Sequence[str], *, timeout: float, text: bool = False, input: bytes | None = None
) -> subprocess.CompletedProcess[Any]:
    """Run to completion, output captured; ``input`` is written to its stdin (else stdin is /dev/null).
    Raises FileNotFoundError, OSError or TimeoutExpired."""
    if input is not None:  # postsuper's queue ids: data on stdin, never on the command line
        return subprocess.run(resolve(argv), capture_output=True, timeout=timeout, env=ENV, check=False, input=input)
    return subprocess.run(
        resolve(argv),
        capture_output=True,
        timeout=timeout,
        env=ENV,
        check=False,
        stdin=subprocess.DEVNULL,
        text=text,
        errors="replace" if text else None,
    )


def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start without waiting (stdout/stderr as the caller asks)."""
    return subprocess.Popen(resolve(argv), env=ENV, stdin=subprocess.DEVNULL, **kwargs)


async def start(argv: Sequence[str], **kwargs: Any) -> asyncio.subprocess.Process:
    """Start from asyncio (a follower reading a command's output)."""
    return await asyncio.create_subprocess_exec(*resolve(argv), env=ENV, stdin=asyncio.subprocess.DEVNULL, **kwargs)
