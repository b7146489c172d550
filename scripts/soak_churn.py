"""What churns the lab during the soak (scripts/soak): markers, rotations, floods, listeners, forks,
and, under the stack lock and briefly, firewall rules, a squatter on a documented port, a restart.

Everything here is loopback-only and undone by ``Churn.stop`` and ``remove_rules``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.support.netns import Holder

REPO = Path(__file__).resolve().parents[1]
MAIL_LOG = Path("/var/log/mail.log")
LOCK_PATH = "/tmp/mbtop-stack.lock"
RULE_TAG = "mbtop-soak"
FW_SOURCE = "127.77.0.0/16"  # a loopback range nothing else uses: the rules never touch real traffic
FW_RULES = (("10050", "ACCEPT"), ("25", "DROP"))  # documented ports (reference: mb-cluster, SMTP)
SQUAT_PORT = 465  # documented (SMTPS), unused on the lab stack: a squatter takes it for a moment
ROTATIONS = ("postfix-logrotate", "create", "copytruncate", "create-delaycompress", "delete-recreate")
FORKER = """
import os, random, time
while True:
    pid = os.fork()
    if pid == 0:
        time.sleep(random.random())
        os._exit(0)
    time.sleep(0.1)
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
"""


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)


def listening(port: int) -> bool:
    return "LISTEN" in run("ss", "-Htln", f"sport = :{port}").stdout


class StackLock:
    """The shared stack lock (/tmp/mbtop-stack.lock), taken only for the steps that need the stack
    alone; ``held``: the caller holds it already (a test run under ``flock``)."""

    def __init__(self, held: bool) -> None:
        self.held = held

    @contextlib.contextmanager
    def holding(self, timeout: float) -> Iterator[bool]:
        """Yields whether the lock is ours (False after ``timeout`` s of others holding it)."""
        if self.held:
            yield True
            return
        with open(LOCK_PATH, "a") as fh:  # close-on-exec: no daemon started here inherits it
            end = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > end:
                        yield False
                        return
                    time.sleep(0.5)
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def rule_args(port: str, target: str, tag: str) -> list[str]:
    return ["INPUT", "-i", "lo", "-s", FW_SOURCE, "-p", "tcp", "-m", "tcp", "--dport", port,
            "-m", "comment", "--comment", tag, "-j", target]  # fmt: skip


def remove_rules() -> int:
    """Delete every INPUT rule a soak added (this run's or a killed run's): the count removed."""
    removed = 0
    for line in run("iptables", "-w", "5", "-S", "INPUT").stdout.splitlines():
        if RULE_TAG in line and line.startswith("-A INPUT"):
            argv = shlex.split(line)
            argv[0] = "-D"
            removed += run("iptables", "-w", "5", *argv).returncode == 0
    return removed


class Markers(threading.Thread):
    """Numbered lines into mail.log through Postfix's own path (postlog → postlogd), ~5 a second.
    ``lock`` is held while a line is written and while the log rotates."""

    def __init__(self, tag: str, stop: threading.Event, period: float = 0.2) -> None:
        super().__init__(name="soak-markers", daemon=True)
        self.tag, self.stop, self.period = tag, stop, period
        self.lock = threading.Lock()
        self.sent = 0
        self.failures = 0

    def text(self, n: int) -> str:
        return f"{self.tag} {n:06d}"

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                n = self.sent + 1
                out = run("postlog", "-t", "postfix/soak", "-p", "info", self.text(n), timeout=20)
                self.sent = n  # counted even if postlog complained: a line it did write must be found
                self.failures += out.returncode != 0
            self.stop.wait(self.period)

    def on_disk(self, n: int, timeout: float = 10.0) -> bool:
        """Is marker ``n`` in mail.log yet? (postlogd writes asynchronously.)"""
        needle = self.text(n).encode()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with MAIL_LOG.open("rb") as fh:
                    fh.seek(max(0, fh.seek(0, 2) - (4 << 20)))
                    if needle in fh.read():
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False


class Churn:
    def __init__(
        self,
        tag: str,
        lock: StackLock,
        rotate_every: float,
        locked_every: float,
        state: Path,
        say: Callable[[str], None],
    ) -> None:
        self.tag, self.lock, self.state, self.say = tag, lock, state, say
        self.rotate_every, self.locked_every = rotate_every, locked_every
        self.halt = threading.Event()
        self.markers = Markers(tag, self.halt)
        self.threads = [
            self.markers,
            threading.Thread(target=self._every(rotate_every, self._rotation), name="soak-rotate", daemon=True),
            threading.Thread(target=self._every(5, self._traffic), name="soak-traffic", daemon=True),
            threading.Thread(target=self._every(locked_every, self._locked), name="soak-locked", daemon=True),
        ]
        self._counts: dict[str, int] = {}
        self._procs: list[subprocess.Popen[str]] = []
        self._holders: list[Holder] = []
        self._mu = threading.Lock()
        self.errors: list[str] = []
        self._rotated = 0
        self._ticks = 0
        self._listener: Holder | None = None
        self._locked_steps = 0
        self._rules_on = False

    def _count(self, what: str) -> None:
        with self._mu:
            self._counts[what] = self._counts.get(what, 0) + 1

    def counts(self) -> dict[str, int]:
        with self._mu:
            return dict(self._counts, errors=len(self.errors))

    def _every(self, seconds: float, step: Callable[[], None]) -> Callable[[], None]:
        """A thread's loop: ``step`` every ``seconds`` until stopped; a step that fails is counted and
        said, and the next one runs (a port taken by someone else must not end the churn)."""

        def loop() -> None:
            while not self.halt.wait(seconds):
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - reported in the summary, not fatal
                    self.errors.append(f"{step.__name__}: {exc!r}"[:300])
                    self.say(f"churn {step.__name__} failed: {exc!r}"[:300])

        return loop

    def start(self) -> None:
        forker = subprocess.Popen([sys.executable, "-c", FORKER], start_new_session=True, text=True)
        self._procs.append(forker)
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.halt.set()
        for t in self.threads:
            if t.is_alive():
                t.join(120)
        for p in self._procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    if p.args[1:2] == ["-c"]:  # the forker (its own session): its children too
                        os.killpg(p.pid, signal.SIGKILL)
                    else:
                        p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
        for h in self._holders:
            h.close()
        self._holders.clear()
        if self._rules_on:
            remove_rules()

    def _rotation(self) -> None:
        style = ROTATIONS[self._rotated % len(ROTATIONS)]
        self._rotated += 1
        with self.markers.lock:  # no marker in flight: copytruncate's own race loses none
            if self.markers.sent and not self.markers.on_disk(self.markers.sent):
                self.say(f"marker {self.markers.sent} not on disk after 10 s before rotating")
            self.rotate(style)
        self._count("rotations")
        self._count(f"rotation {style}")

    def rotate(self, style: str) -> None:
        if style == "postfix-logrotate":
            out = run("postfix", "logrotate", timeout=300)
        elif style == "delete-recreate":
            MAIL_LOG.unlink(missing_ok=True)
            out = run("postfix", "reload")
        else:
            options = {"create": "create", "copytruncate": "copytruncate",
                       "create-delaycompress": "create\n    compress\n    delaycompress"}[style]  # fmt: skip
            post = "" if style == "copytruncate" else "\n    postrotate\n        postfix reload\n    endscript"
            conf = self.state / "rotate.conf"
            conf.write_text(f"{MAIL_LOG} {{\n    rotate 4\n    missingok\n    {options}{post}\n}}\n")
            out = run("logrotate", "-f", "-s", str(self.state / "rotate.state"), str(conf), timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"rotation {style}: {out.stderr.strip()[-300:]}")

    def _traffic(self) -> None:
        """Every 5 s: a listener on a free port appears or goes; every 20 s an SMTP burst."""
        self._ticks += 1
        if self._ticks % 4 == 1:
            flood = str(REPO / "tests" / "support" / "floodgen.py")
            self._procs = [p for p in self._procs if p.poll() is None or flood not in p.args]
            argv = [sys.executable, flood, "60", "3", "40"]  # 180 connections from 127.90.0.x, ≤ 40 open
            self._procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, text=True))
            self._count("smtp bursts")
        if self._listener is not None:
            self._holders.remove(self._listener)
            self._listener.close()
            self._listener = None
            return
        port = random.randrange(40000, 41000)  # noqa: S311 - a port number, not a secret
        try:
            self._listener = Holder([], {"name": "soak-listener", "listen": [["127.0.0.1", port]]})
        except RuntimeError:  # the port was taken after all (a client's, or TIME_WAIT): next time
            self._count("listener ports busy")
            return
        self._holders.append(self._listener)
        self._count("listeners")

    def _locked(self) -> None:
        """Under the stack lock, a few seconds at a time: rules on/off, a squatter on 465, a restart."""
        with self.lock.holding(20) as ours:
            if not ours:
                self._count("locked steps skipped (lock busy)")
                return
            self._locked_steps += 1
            if self._rules_on:
                remove_rules()
            else:
                for port, target in FW_RULES:
                    out = run("iptables", "-w", "5", "-I", *rule_args(port, target, f"{RULE_TAG} {self.tag}"))
                    if out.returncode != 0:
                        raise RuntimeError(f"iptables: {out.stderr.strip()}")
            self._rules_on = not self._rules_on
            self._count("firewall changes")
            if not listening(SQUAT_PORT):
                with Holder([], {"name": "squatter", "listen": [["127.0.0.1", SQUAT_PORT]]}):
                    self._count("squatters on 465")
                    time.sleep(3)
            if self._locked_steps % 2 == 0:
                self.restart_redis()

    def restart_redis(self) -> None:
        run("service", "redis-server", "restart", timeout=60)
        end = time.monotonic() + 20
        while not listening(6379):
            if time.monotonic() > end:
                raise RuntimeError("redis did not come back within 20 s of its restart")
            time.sleep(0.2)
        self._count("daemon restarts")


def _main() -> None:  # a quick look at one rotation style by hand: python scripts/soak_churn.py STYLE
    import tempfile

    churn = Churn("mbtop-soak-manual", StackLock(held=False), 30, 30, Path(tempfile.mkdtemp()), print)
    churn.rotate(sys.argv[1])
    print(json.dumps(sorted(str(p) for p in MAIL_LOG.parent.glob("mail.log*"))))


if __name__ == "__main__":
    _main()
