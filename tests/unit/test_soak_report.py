"""The soak's budgets (scripts/soak_report.py) on synthetic figures: pure code, so fakes are the point.

A healthy run passes; each kind of degradation the soak exists to catch (an fd or thread leak, RSS
growth, a marker line lost or counted twice, missing frames, a dead screen, an exception) breaks
exactly its own budget.  tests/integration/test_soak.py runs the real soak.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "soak_report", Path(__file__).resolve().parents[2] / "scripts" / "soak_report.py"
)
assert _SPEC is not None and _SPEC.loader is not None
report = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(report)


def healthy() -> dict[str, Any]:
    samples = []
    for i in range(30):
        t = i * 10.0
        jitter = (i % 3) - 1  # sockets of a health check open at the moment of some samples
        samples.append(
            {
                "t": t,
                "agent": {"rss_kb": 50_000 + 20 * i, "fds": 15 + max(0, jitter), "threads": 11},
                "screen": {"rss_kb": 70_000 + (i % 4) * 300, "fds": 15, "threads": 12},
                "clock": f"07:{i:02d}:00",
            }
        )
    return {
        "config": {"warmup": 60.0, "minutes": 5, "sample_every": 10.0, "started": "s", "ended": "e"},
        "samples": samples,
        "markers": {"sent": 100, "recorded": {str(i): 1 for i in range(1, 101)}, "on_disk": 90},
        "frames": {"expected": 300, "recorded": 299, "max_gap": 1.2},
        "screen": {"samples": 30, "alive": 30, "clock_moved": 29},
        "exceptions": {"agent": [], "screen": []},
        "churn": {"rotations": 10},
    }


def broken(raw: dict[str, Any]) -> list[str]:
    return [b["name"] for b in report.evaluate(raw)["budgets"] if not b["ok"]]


def test_a_healthy_run_holds_every_budget_and_the_table_says_so() -> None:
    raw = healthy()
    verdict = report.evaluate(raw)
    assert verdict["ok"], broken(raw)
    agent = verdict["processes"]["agent"]
    # After the 60 s warm-up: samples 6..29.
    assert agent["rss_kb"]["start"] == 50_120 and agent["rss_kb"]["end"] == 50_580
    assert agent["fds"]["floor_rise"] == 0
    text = report.table(raw, verdict)
    assert "soak: every budget held" in text and "FAIL" not in text


def _grow(raw: dict[str, Any], proc: str, key: str, per_sample: float) -> None:
    for i, s in enumerate(raw["samples"]):
        s[proc][key] = s[proc][key] + int(per_sample * i)


@pytest.mark.parametrize(
    ("mutate", "budget"),
    [
        (lambda r: _grow(r, "agent", "fds", 0.5), "agent: descriptors flat"),  # one fd leaked every 20 s
        (lambda r: _grow(r, "screen", "threads", 0.25), "screen: threads flat"),
        (lambda r: _grow(r, "screen", "rss_kb", 400), "screen: RSS growth ≤ 10 %"),  # 70 MB → 81 MB
        (lambda r: r["markers"]["recorded"].update({"7": 2}), "log lines: none counted twice"),
        (lambda r: r["markers"]["recorded"].pop("100"), "log lines: none lost"),
        (lambda r: r["markers"]["recorded"].update({"101": 1}), "log lines: none counted twice"),
        (lambda r: r["frames"].update(recorded=200), "agent: frames ≥ 90% of expected"),
        (lambda r: r["screen"].update(alive=12), "screen: alive at every sample"),
        (lambda r: r["screen"].update(clock_moved=3), "screen: clock moved ≥ 90%"),
        (lambda r: r["exceptions"]["agent"].append("Traceback (most recent call last):"), "agent: no exception"),
    ],
)
def test_each_degradation_breaks_its_own_budget(mutate: Any, budget: str) -> None:
    raw = copy.deepcopy(healthy())
    mutate(raw)
    verdict = report.evaluate(raw)
    assert not verdict["ok"]
    assert broken(raw) == [budget]
    assert f"FAIL {budget}" in report.table(raw, verdict)


def test_a_process_that_died_before_warm_up_ended_is_a_broken_budget() -> None:
    raw = healthy()
    for s in raw["samples"]:
        if s["t"] >= 50:
            s["agent"] = None
    assert broken(raw) == ["agent: sampled after warm-up"]


def test_a_spike_at_one_sample_is_not_a_leak() -> None:
    raw = healthy()
    raw["samples"][-1]["agent"]["fds"] = 40  # a burst's sockets, open at the last sample only
    raw["samples"][15]["agent"]["threads"] = 20
    assert report.evaluate(raw)["ok"], broken(raw)
