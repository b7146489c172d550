"""The soak's verdict (scripts/soak): budgets over its raw figures, and the human summary table.

Pure functions of the raw JSON document the soak writes, so the budgets can be checked on synthetic
figures (tests/unit/test_soak_report.py) and re-checked on a real run's own figures.
"""

from __future__ import annotations

import statistics
from typing import Any

RSS_GROWTH_MAX = 10.0  # % after warm-up
FD_TOLERANCE = 4  # descriptors the floor may move (health-check sockets, log files mid-rotation)
THREAD_TOLERANCE = 2
FRAMES_MIN = 0.9  # recorded / expected
SCREEN_CLOCK_MIN = 0.9  # samples where the screen's clock had moved on
PROCS = ("agent", "screen")


def _series(samples: list[dict[str, Any]], proc: str, key: str, warmup: float) -> list[float]:
    return [s[proc][key] for s in samples if s["t"] >= warmup and s.get(proc) and s[proc].get(key) is not None]


def _thirds(values: list[float]) -> tuple[list[float], list[float]]:
    n = max(min(3, len(values)), len(values) // 3)  # at least three samples where there are
    return values[:n], values[-n:]


def process_figures(raw: dict[str, Any], proc: str) -> dict[str, Any]:
    """Start (after warm-up), middle, end of RSS/fds/threads, and the growth that the budgets judge."""
    samples, warmup = raw["samples"], raw["config"]["warmup"]
    out: dict[str, Any] = {}
    for key in ("rss_kb", "fds", "threads"):
        vals = _series(samples, proc, key, warmup)
        if not vals:
            out[key] = None
            continue
        first, last = _thirds(vals)
        fig: dict[str, Any] = {"start": vals[0], "middle": vals[len(vals) // 2], "end": vals[-1], "n": len(vals)}
        if key == "rss_kb":
            # Medians of the first and last three samples: one sample mid-burst is not a trend.
            base, end = statistics.median(vals[:3]), statistics.median(vals[-3:])
            fig["growth_pct"] = round(100.0 * (end - base) / base, 2) if base else None
        else:
            # A leak raises the floor; a socket open at the moment of one sample does not.
            fig["floor_rise"] = min(last) - min(first)
            fig["max"] = max(vals)
        out[key] = fig
    return out


def marker_figures(raw: dict[str, Any]) -> dict[str, Any]:
    m = raw["markers"]
    sent = int(m["sent"])
    counts = {int(k): int(v) for k, v in m["recorded"].items()}
    lost = [i for i in range(1, sent + 1) if counts.get(i, 0) == 0]
    dup = {i: c for i, c in counts.items() if c > 1}
    stray = sorted(i for i in counts if not 1 <= i <= sent)
    return {
        "sent": sent,
        "on_disk": m.get("on_disk"),
        "recorded_unique": sum(1 for i in counts if 1 <= i <= sent),
        "recorded_total": sum(counts.values()),
        "lost": len(lost),
        "lost_first": lost[:20],
        "duplicated": sum(c - 1 for c in dup.values()),
        "duplicated_first": sorted(dup)[:20],
        "stray": stray[:20],
    }


def evaluate(raw: dict[str, Any]) -> dict[str, Any]:
    """Every budget with its figure and verdict; ``ok`` only when all hold."""
    budgets: list[dict[str, Any]] = []

    def budget(name: str, ok: bool, detail: str) -> None:
        budgets.append({"name": name, "ok": bool(ok), "detail": detail})

    procs = {p: process_figures(raw, p) for p in PROCS}
    for p, figs in procs.items():
        rss, fds, thr = figs["rss_kb"], figs["fds"], figs["threads"]
        if rss is None or fds is None or thr is None:
            budget(f"{p}: sampled after warm-up", False, "no samples after warm-up (did it exit?)")
            continue
        g = rss["growth_pct"]
        budget(f"{p}: RSS growth ≤ {RSS_GROWTH_MAX:g} %", g is not None and g <= RSS_GROWTH_MAX, f"{g} %")
        budget(f"{p}: descriptors flat", fds["floor_rise"] <= FD_TOLERANCE, f"floor rose by {fds['floor_rise']}")
        budget(f"{p}: threads flat", thr["floor_rise"] <= THREAD_TOLERANCE, f"floor rose by {thr['floor_rise']}")
    mk = marker_figures(raw)
    budget("log lines: none lost", mk["sent"] > 0 and mk["lost"] == 0, f"{mk['lost']} of {mk['sent']} lost")
    budget("log lines: none counted twice", mk["duplicated"] == 0 and not mk["stray"], f"{mk['duplicated']} twice")
    fr = raw["frames"]
    ratio = fr["recorded"] / fr["expected"] if fr["expected"] else 0.0
    budget(
        f"agent: frames ≥ {FRAMES_MIN:.0%} of expected",
        ratio >= FRAMES_MIN,
        f"{fr['recorded']} of {fr['expected']}, longest gap {fr['max_gap']} s",
    )
    sc = raw["screen"]
    budget("screen: alive at every sample", sc["alive"] == sc["samples"] and sc["samples"] > 0, f"{sc['alive']}")
    moved = sc["clock_moved"] / max(1, sc["samples"] - 1)
    budget(f"screen: clock moved ≥ {SCREEN_CLOCK_MIN:.0%}", moved >= SCREEN_CLOCK_MIN, f"{sc['clock_moved']}")
    for p in PROCS:
        exc = raw["exceptions"][p]
        budget(f"{p}: no exception", not exc, f"{len(exc)}" + (f": {exc[0][:120]}" if exc else ""))
    return {
        "ok": all(b["ok"] for b in budgets),
        "budgets": budgets,
        "processes": procs,
        "markers": mk,
        "frames": dict(fr, ratio=round(ratio, 3)),
    }


def _kb(v: float | None) -> str:
    return "-" if v is None else f"{v / 1024:.1f}M"


def table(raw: dict[str, Any], verdict: dict[str, Any]) -> str:
    """The human summary: per process start/middle/end, then every budget."""
    c = raw["config"]
    screen = "on its own engine" if c.get("screen") == "own" else "attached to the agent"
    lines = [
        f"mbtop soak {c['started']} – {c['ended']} ({c['minutes']:g} min, warm-up {c['warmup']:g} s, "
        f"a sample every {c['sample_every']:g} s; the screen {screen})",
        "",
        f"{'process':8} {'figure':8} {'start':>9} {'middle':>9} {'end':>9}  growth",
    ]
    for p in PROCS:
        figs = verdict["processes"][p]
        for key, label in (("rss_kb", "RSS"), ("fds", "fds"), ("threads", "threads")):
            f = figs[key]
            if f is None:
                lines.append(f"{p:8} {label:8} {'-':>9} {'-':>9} {'-':>9}")
                continue
            if key == "rss_kb":
                cells = [_kb(f["start"]), _kb(f["middle"]), _kb(f["end"])]
                grow = f"{f['growth_pct']} %"
            else:
                cells = [str(f["start"]), str(f["middle"]), str(f["end"])]
                grow = f"floor {f['floor_rise']:+d}"
            lines.append(f"{p:8} {label:8} {cells[0]:>9} {cells[1]:>9} {cells[2]:>9}  {grow}")
    mk, fr = verdict["markers"], verdict["frames"]
    lines += [
        "",
        f"log lines: {mk['sent']} written, {mk['recorded_unique']} recorded ({mk['lost']} lost, "
        f"{mk['duplicated']} twice) across {raw['churn'].get('rotations', 0)} rotations; {mk['on_disk']} "
        "still on disk (delete-and-recreate and logrotate's `rotate 4` remove some)",
        f"frames: {fr['recorded']} recorded of {fr['expected']} expected, longest gap {fr['max_gap']} s",
        "churn: " + ", ".join(f"{k} {v}" for k, v in sorted(raw["churn"].items())),
        f"agent warnings (distinct): {len(raw.get('agent_warnings', []))}",
        "",
    ]
    lines += [f"{'ok  ' if b['ok'] else 'FAIL'} {b['name']}: {b['detail']}" for b in verdict["budgets"]]
    lines.append("")
    lines.append("soak: every budget held" if verdict["ok"] else "soak: a budget is broken")
    return "\n".join(lines)
