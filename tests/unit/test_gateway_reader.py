"""The live screen's queue/vitals scheduler: cadence, trend, and a failing probe (fakes stand in
for the two probes here: this is the scheduling, pure; the probes are tested for real elsewhere)."""

from __future__ import annotations

import pytest

from mbtop.model import gateway, queue


def test_reads_what_is_due_keeps_a_bounded_trend_and_survives_a_failing_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"queue": 0, "vitals": 0}

    def fake_queue(config_dir: str | None = None) -> queue.QueueState:
        calls["queue"] += 1
        if calls["queue"] == 3:
            raise OSError("showq went away")
        return queue.QueueState(available=True, counts=(("deferred", calls["queue"]),))

    def fake_vitals() -> None:
        calls["vitals"] += 1

    monkeypatch.setattr(queue, "read", fake_queue)
    monkeypatch.setattr(gateway.vitalsprobe, "probe", fake_vitals)
    r = gateway.GatewayReader(queue_every=10, vitals_every=60)
    assert r.read(now=0).trend == (1,)
    assert r.read(now=5).trend == (1,) and calls == {"queue": 1, "vitals": 1}
    assert r.read(now=5, force_queue=True).trend == (1, 2)
    failed = r.read(now=20)
    assert failed.queue is not None and not failed.queue.available and "showq went away" in (failed.queue.reason or "")
    assert failed.trend == (1, 2)  # an unread queue adds no point
    for t in range(30, 30 + 10 * (gateway.TREND + 5), 10):
        r.read(now=t)
    assert len(r.state.trend) == gateway.TREND and calls["vitals"] == 1 + (30 + 10 * (gateway.TREND + 4)) // 60
