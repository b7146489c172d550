"""A real terminal for e2e tests: the program runs in tmux; tests type keys and read the screen.

Waiting is always on a condition of the captured screen, never a fixed sleep.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.support.require import require


def mbtop_bin() -> str:
    """The installed `mbtop` entry point of the interpreter running the tests."""
    candidate = Path(sys.executable).with_name("mbtop")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("mbtop")
    if not found:
        pytest.fail("mbtop is not installed (pip install -e .)")
    return found


class Tmux:
    def __init__(
        self,
        argv: Sequence[str],
        width: int = 80,
        height: int = 24,
        term: str = "xterm-256color",
        env: dict[str, str] | None = None,
    ) -> None:
        require(shutil.which("tmux") is not None, "tmux is not installed (scripts/stack install installs it)")
        self.socket = f"mbtop-e2e-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height
        envs = [f"TERM={term}", *(f"{k}={v}" for k, v in (env or {}).items())]
        # COLUMNS/LINES leak in from the test runner's environment and would pin the size at 80x24.
        command = "env -u COLUMNS -u LINES " + " ".join(shlex.quote(e) for e in envs) + " " + shlex.join(argv)
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), command)
        self._tmux("set-option", "-t", "main", "remain-on-exit", "on")
        self._tmux("set-option", "-g", "history-limit", "5000")

    def _tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def screen(self, colours: bool = False, history: bool = False, joined: bool = False) -> str:
        """The pane's text. tmux wraps what is written past the last column onto the next line, so a
        plain capture never has a line wider than the pane: ``joined`` undoes the wrapping (-J), and
        a line longer than the pane then shows that the program wrote past its width."""
        args = ["capture-pane", "-p", "-t", "main"]
        if colours:
            args.append("-e")
        if joined:
            args.append("-J")
        if history:
            args += ["-S", "-"]
        return self._tmux(*args)

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "main", *keys)

    def pane_title(self) -> str:
        return self._tmux("display-message", "-p", "-t", "main", "#{pane_title}").strip()

    def pipe_to(self, path: str) -> None:
        """Copy every byte the program writes to the terminal into ``path``."""
        self._tmux("pipe-pane", "-t", "main", "-o", f"cat >> {shlex.quote(path)}")

    def pipe_to_fifo(self, fifo: str) -> None:
        self._tmux("pipe-pane", "-t", "main", "-o", f"cat > {shlex.quote(fifo)}")

    def pane_pid(self) -> int:
        """The pid of the pane's first process (the shell tmux ran the command with, or the command)."""
        return int(self._tmux("display-message", "-p", "-t", "main", "#{pane_pid}").strip())

    def pane_dead(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "main", "#{pane_dead}").strip() == "1"

    def wait_for(
        self,
        cond: str | re.Pattern[str] | Callable[[str], bool],
        timeout: float = 15.0,
        history: bool = False,
        poll: float = 0.05,
        joined: bool = False,
    ) -> str:
        if isinstance(cond, str):
            text = cond
            pred: Callable[[str], bool] = lambda s: text in s
        elif isinstance(cond, re.Pattern):
            pattern = cond
            pred = lambda s: bool(pattern.search(s))
        else:
            pred = cond
        end = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < end:
            screen = self.screen(history=history, joined=joined)
            if pred(screen):
                return screen
            time.sleep(poll)
        raise AssertionError(f"screen never matched {cond!r}; last screen:\n{screen}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)

    def __enter__(self) -> Tmux:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
