"""A short real soak (scripts/soak, 30 s) on the lab stack: run under the stack lock (it restarts redis,
squats 465 and changes iptables rules; ``--no-lock`` says the caller holds the lock).

The agent and the live screen (tmux) run while mail.log goes through every rotation style, SMTP
bursts, listeners, forks, firewall rules and a restart come and go; the report must have its
figures, every budget must hold, and the machine must be left as it was.  That the budgets can
break is shown on this run's own figures with one marker counted twice and an fd leak written into
its samples (and on synthetic figures in tests/unit/test_soak_report.py).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support import stack as st
from tests.support.netns import REPO

_SPEC = importlib.util.spec_from_file_location("soak_report", REPO / "scripts" / "soak_report.py")
assert _SPEC is not None and _SPEC.loader is not None
report = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(report)

ROTATIONS = {"postfix-logrotate", "create", "copytruncate", "create-delaycompress", "delete-recreate"}


def test_a_short_soak_keeps_every_budget_and_leaves_the_machine_as_it_was(tmp_path: Path) -> None:
    st.require_stack()
    out = tmp_path / "soak"
    short = ["--minutes", "0.5", "--warmup", "10", "--sample-every", "2"]
    short += ["--rotate-every", "4.5", "--locked-every", "8"]
    argv = [sys.executable, str(REPO / "scripts" / "soak"), *short, "--no-lock", "--out", str(out)]
    started = time.monotonic()
    run = subprocess.run(argv, capture_output=True, text=True, timeout=150, cwd=REPO)
    took = time.monotonic() - started
    assert run.returncode == 0, f"soak exited {run.returncode}:\n{run.stdout}\n{run.stderr[-3000:]}"
    assert took < 75, f"the short soak took {took:.0f} s"

    raw: dict[str, Any] = json.loads((out / "soak.json").read_text())
    assert (out / "summary.txt").read_text().strip().endswith("soak: every budget held")
    assert len(raw["samples"]) >= 12
    assert all(s["agent"] and s["screen"] for s in raw["samples"][1:])
    verdict = raw["verdict"]
    assert verdict["ok"] and len(verdict["budgets"]) == 13
    for proc in ("agent", "screen"):
        figs = verdict["processes"][proc]
        assert {"start", "middle", "end", "growth_pct"} <= set(figs["rss_kb"])
        assert figs["fds"]["start"] > 3 and figs["threads"]["start"] >= 1
    markers = verdict["markers"]
    assert markers["sent"] >= 75, markers  # ~5 a second
    assert markers["recorded_unique"] == markers["sent"] and markers["duplicated"] == 0
    assert raw["frames"]["expected"] >= 25 and raw["frames"]["recorded"] >= 0.9 * raw["frames"]["expected"]
    churn = raw["churn"]
    assert {f"rotation {r}" for r in ROTATIONS} <= set(churn), churn  # every style at least once
    for what in ("firewall changes", "daemon restarts", "squatters on 465", "smtp bursts", "listeners"):
        assert churn.get(what, 0) >= 1, (what, churn)
    assert churn["errors"] == 0, run.stderr[-2000:]

    # Left as it was: no rule, no squatter, no tmux of the soak, the stack healthy.
    assert "mbtop-soak" not in subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True).stdout
    assert st.port_free(465)
    assert st.stack("status", check=False).returncode == 0
    assert "mbtop-soak" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout

    # The same run's figures with a marker counted twice, then with a descriptor leaked every sample.
    twice = copy.deepcopy(raw)
    twice["markers"]["recorded"]["1"] = 2
    assert [b["name"] for b in report.evaluate(twice)["budgets"] if not b["ok"]] == ["log lines: none counted twice"]
    leak = copy.deepcopy(raw)
    for i, s in enumerate(leak["samples"]):
        s["agent"]["fds"] += i
    assert [b["name"] for b in report.evaluate(leak)["budgets"] if not b["ok"]] == ["agent: descriptors flat"]
