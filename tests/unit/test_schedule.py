"""Periodic (a slow probe on its own thread) and HealthWatch (answers tied to their listener).

The samples are the ones recorded from the real stack; the protocol check is a stand-in that
counts its calls and answers what the test says (the real checks are in tests/integration and
tests/e2e/test_health_listener.py)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence

from mbtop.catalog import load_reference
from mbtop.probes.health import Health, Target
from mbtop.probes.healthwatch import CHECKING, HealthWatch, listeners
from mbtop.probes.schedule import Periodic
from mbtop.probes.types import InetSocket
from tests.ui.appkit import SAMPLES


def _until(pred, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_periodic_answers_without_waiting_and_runs_again_when_woken() -> None:
    gate = threading.Event()
    calls: list[float] = []

    def probe() -> int:
        calls.append(time.monotonic())
        gate.wait(5)
        return len(calls)

    job = Periodic("t", probe, 3600.0).start()
    try:
        start = time.monotonic()
        assert job.latest() is None and time.monotonic() - start < 0.1  # the probe is blocked: no wait
        gate.set()
        _until(lambda: job.latest() == 1)
        job.wake()
        _until(lambda: job.latest() == 2)  # not an hour later
        assert job.fresh(5.0) == 3
    finally:
        job.stop()


def test_a_raising_probe_keeps_its_schedule() -> None:
    n = {"calls": 0}

    def probe() -> int:
        n["calls"] += 1
        if n["calls"] == 1:
            raise OSError("boom")
        return n["calls"]

    job = Periodic("t", probe, 0.05).start()
    try:
        _until(lambda: job.latest() == 2)
    finally:
        job.stop()


class Checker:
    def __init__(self, detail: str) -> None:
        self.detail = detail
        self.rounds = 0

    def __call__(self, targets: Sequence[Target], timeout: float) -> Mapping[str, Health]:
        self.rounds += 1
        return {t.key: Health(True, self.detail, 1.0, t.protocol) for t in targets}


def _with_new_redis_listener(sample):  # type: ignore[no-untyped-def]
    """The same sample, with 6379's listening socket replaced by another one (another inode)."""
    socks = []
    for s in sample.tcp.sockets:
        if s.local_port == 6379 and s.state == "LISTEN":
            s = InetSocket(*[*s[:6], s.inode + 1_000_000, *s[7:]])
        socks.append(s)
    return dataclasses.replace(sample, tcp=dataclasses.replace(sample.tcp, sockets=tuple(socks)))


def test_a_changed_listener_drops_its_answer_at_once_and_is_checked_again() -> None:
    catalog = load_reference()
    sample = SAMPLES[0]
    check = Checker("PONG")
    watch = HealthWatch(catalog, every=3600.0, timeout=1.0, check=check)
    try:
        assert watch.observe(sample) == {}  # the first round starts now
        _until(lambda: check.rounds == 1 and "port:6379" in watch.observe(sample))
        assert watch.observe(sample)["port:6379"].detail == "PONG"
        check.detail = "no answer"
        moved = _with_new_redis_listener(sample)
        assert listeners(catalog, moved)["port:6379"] != listeners(catalog, sample)["port:6379"]
        seen = watch.observe(moved)
        assert seen["port:6379"].ok is None and seen["port:6379"].detail == CHECKING
        assert seen["port:25"].detail == "PONG"  # the others keep their answers
        _until(lambda: check.rounds == 2)  # at once, not in an hour
        _until(lambda: watch.observe(moved)["port:6379"].detail == "no answer")
    finally:
        watch.stop()


def test_postfix_children_coming_and_going_are_not_a_new_listener() -> None:
    catalog = load_reference()
    sample = SAMPLES[0]
    port25 = next(s.inode for s in sample.tcp.sockets if s.local_port == 25 and s.state == "LISTEN")
    procs = sample.owners[port25]
    master = next(p for p in procs if p.ppid not in {q.pid for q in procs})
    child = dataclasses.replace(master, pid=master.pid + 4242, ppid=master.pid, name="smtpd")
    owners = dict(sample.owners)
    owners[port25] = (*procs, child)
    more = dataclasses.replace(sample, owners=owners)
    assert listeners(catalog, more)["port:25"] == listeners(catalog, sample)["port:25"]
