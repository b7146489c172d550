"""Probes that run programs (init-script status, fail2ban-client, iptables-save/nft) never hold up
a sample: here they really hang (init scripts that block in `sleep`, a fail2ban probe waiting for a
process that never ends) while the sampler and the live screen keep their cadence."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbtop.catalog import Catalog, load_reference
from mbtop.probes.fail2ban import Fail2ban
from mbtop.probes.sample import Sample, Sampler
from mbtop.probes.schedule import Periodic
from mbtop.probes.services import TIMEOUT as HANG
from mbtop.probes.services import ServiceProbe
from mbtop.ui.app import MbtopApp


@pytest.fixture
def hung(tmp_path: Path) -> Iterator[tuple[Catalog, ServiceProbe, Path]]:
    """A catalog whose services have no process, so each one's init script is asked for its status;
    every script blocks (a real process in `sleep`, killed only by the probe's own timeout)."""
    base = load_reference()
    catalog = dataclasses.replace(
        base, services=tuple(dataclasses.replace(s, processes=("mbtop-no-such-process",)) for s in base.services)
    )
    init = tmp_path / "init.d"
    init.mkdir()
    pids = tmp_path / "pids"
    for svc in catalog.services:
        script = init / svc.init
        script.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 600\n")
        script.chmod(0o755)
    yield catalog, ServiceProbe(catalog, init_dir=init), pids
    for line in pids.read_text().split() if pids.exists() else []:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(line), signal.SIGKILL)


def _wait_hung(pids: Path) -> None:
    end = time.monotonic() + 10
    while not (pids.exists() and pids.read_text().strip()):
        assert time.monotonic() < end, "the init script never ran"
        time.sleep(0.05)


def test_a_hung_init_script_never_delays_a_sample(hung: tuple[Catalog, ServiceProbe, Path]) -> None:
    catalog, probe, pids = hung
    sampler = Sampler(catalog, background=True, service_probe=probe, firewall_every=30.0)
    try:
        _wait_hung(pids)
        took = []
        for _ in range(15):
            start = time.monotonic()
            box: list[Sample] = []
            worker = threading.Thread(target=lambda out=box: out.append(sampler.sample()), daemon=True)
            worker.start()
            worker.join(HANG)  # fail now rather than after every init script's timeout
            assert box, f"a sample waited {HANG} s, as long as one hung init script"
            sample = box[0]
            took.append(time.monotonic() - start)
            time.sleep(0.1)
        assert sampler._svc_job is not None and sampler._svc_job.busy_for > 1.0  # still hung, really
        assert sample.services == ()  # no answer yet: nothing made up, nothing waited for
        print(f"\nsample while an init script hangs: max {max(took) * 1000:.0f} ms")
        # A sample that waited for the probe would last at least one script's timeout (HANG); what a
        # sample costs otherwise depends on the machine (sock_diag walks every namespace's sockets).
        assert max(took) < HANG / 2, took
    finally:
        sampler.close()


async def test_the_live_screen_keeps_its_cadence_while_probes_hang(
    hung: tuple[Catalog, ServiceProbe, Path], tmp_path: Path
) -> None:
    catalog, probe, pids = hung
    sampler = Sampler(catalog, background=True, service_probe=probe, firewall_every=30.0)
    app = MbtopApp(catalog, sampler.sample, interval=0.25, follow_logs=False)
    stopped = subprocess.Popen(["sleep", "600"])  # fail2ban-client waiting on a server that never answers
    os.kill(stopped.pid, signal.SIGSTOP)

    def fail2ban_hangs() -> Fail2ban:
        stopped.wait()
        return Fail2ban(False, (), "never")

    app.fail2ban_job = Periodic("fail2ban", fail2ban_hangs, 10.0)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            _wait_hung(pids)
            for _ in range(100):
                if app.samples_taken:
                    break
                await pilot.pause(0.05)
            first, start = app.samples_taken, time.monotonic()
            await pilot.pause(3.0)
            taken = app.samples_taken - first
            elapsed = time.monotonic() - start
            assert app.fail2ban_job.busy_for > 2.0 and sampler._svc_job is not None and sampler._svc_job.busy_for > 1
            print(f"\n{taken} samples in {elapsed:.1f} s at a 0.25 s interval while both probes hang")
            # A hung probe inline makes each sample last at least HANG (5 s): at most one in 3 s.
            # Off the sampling path, each sample and its 0.25 s wait: several (11 on a quiet machine).
            assert taken >= 4, taken
            await pilot.press("q")
    finally:
        stopped.kill()
        stopped.wait()
