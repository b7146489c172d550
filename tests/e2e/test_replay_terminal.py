"""`mbtop replay` in a real terminal (tmux) on a real recording: a real `mbtop agent --record` ran
on the lab stack while a squatter took Redis's port 6379 and left. Stepping frame by frame with the
arrow keys finds the squatter in the frames inside its window and in none outside (on the lab
stack: run under the stack lock)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.integration.test_agent_recording import agent
from tests.support import stack as st
from tests.support.tmux import Tmux, mbtop_bin

SQUATTED = re.compile(r"6379 Redis .*squatter")
SHOWN = re.compile(r"replay (\d\d:\d\d:\d\d)")


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def test_replay_keys_step_through_a_real_recording_and_find_the_squatter_only_in_its_window(tmp_path: Path) -> None:
    st.require_stack()
    st.wait_healthy()
    path = tmp_path / "rec" / "mbtop.db"
    with agent(path, "--interval", "0.5"):
        time.sleep(2)
        with st.squatter_on(6379, "redis-server"):
            st.wait_until(lambda: not st.port_free(6379), 30, what="the squatter")
            began = time.time()  # it listens (since at most the wait's poll)
            time.sleep(3)
            ended = time.time()  # it stops listening after this
        time.sleep(4)  # squatter_on restored the stack: redis is back (and frames past ended + 2.5 s)
    start = began - 3.0  # before it: the agent recorded 2 s and more before squatter_on
    with Tmux([mbtop_bin(), "replay", str(path), "--paused", "--at", _clock(start)], 120, 30) as t:
        screen = t.wait_for(SHOWN, timeout=30)
        t.wait_for(re.compile(r"\d+ Redis"), timeout=10)
        seen: list[tuple[str, bool]] = []
        last = ""
        for _ in range(40):
            screen = t.screen()
            m = SHOWN.search(screen)
            assert m is not None, screen
            redis = next(line for line in screen.splitlines() if "6379 Redis" in line)
            seen.append((m.group(1), bool(SQUATTED.search(redis))))
            if m.group(1) > _clock(ended + 2.5):
                break
            last = screen
            t.send("Right")
            t.wait_for(lambda s, before=last: s != before, timeout=10)  # the next frame is drawn
        assert "paused 1×" in t.screen()  # the time bar
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)
    inside = [(clock, found) for clock, found in seen if _clock(began + 1) <= clock <= _clock(ended - 1)]
    outside = [(clock, found) for clock, found in seen if clock < _clock(began - 1) or clock > _clock(ended + 1)]
    assert inside and all(found for _c, found in inside), seen
    assert outside and not any(found for _c, found in outside), seen
    assert any(c < _clock(began - 1) for c, _f in outside) and any(c > _clock(ended + 1) for c, _f in outside), seen


def test_g_goes_to_a_time_and_space_plays_a_real_recording(tmp_path: Path) -> None:
    st.require_stack()
    path = tmp_path / "rec" / "mbtop.db"
    with agent(path, "--interval", "0.5"):
        time.sleep(4)
    with Tmux([mbtop_bin(), "replay", str(path), "--paused"], 80, 24) as t:
        screen = t.wait_for(SHOWN, timeout=30)
        first = SHOWN.search(screen).group(1)  # type: ignore[union-attr]
        t.send("g")
        t.wait_for("Go to:", timeout=10)
        t.send("--", "-1s", "Enter")  # (-- : a key starting with "-" is not a flag of send-keys)
        screen = t.wait_for(lambda s: (m := SHOWN.search(s)) is not None and m.group(1) > first, timeout=10)
        t.send("g")
        t.wait_for("Go to:", timeout=10)
        t.send("nonsense", "Enter")
        t.wait_for("not a time: 'nonsense'", timeout=10)
        t.send("Left", "Left", "Left", "Left", "Left", "Left", "Left", "Left", "Left", "Left")
        t.wait_for(lambda s: (m := SHOWN.search(s)) is not None and m.group(1) == first, timeout=10)
        t.send("+", "+", "Space")
        t.wait_for("60×", timeout=10)
        t.wait_for(lambda s: (m := SHOWN.search(s)) is not None and m.group(1) > first, timeout=10)
        lines = t.screen(joined=True).splitlines()
        assert all(len(line) <= 80 for line in lines)
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)


def test_history_keys_scroll_the_live_screen_through_the_agents_recording_and_back(tmp_path: Path) -> None:
    st.require_stack()
    path = tmp_path / "rec" / "mbtop.db"
    with agent(path, "--interval", "0.5"):
        time.sleep(3)
    conf = tmp_path / "config.toml"
    conf.write_text(f'[agent]\nrecord = "{path}"\n')
    conf.chmod(0o600)
    history = re.compile(r"history (\d\d:\d\d:\d\d)")
    with Tmux([mbtop_bin(), "--config", str(conf), "--interval", "1"], 100, 30) as t:
        t.wait_for(re.compile(r"\d\d:\d\d:\d\d /1s"), timeout=30)  # live: the clock and the interval
        t.send("[")
        screen = t.wait_for(history, timeout=10)
        first = history.search(screen).group(1)  # type: ignore[union-attr]
        assert "/1s" not in screen and "history [ ]" in screen  # the header and the time bar
        t.send("Right", "Right", "Right")
        t.wait_for(lambda s: (m := history.search(s)) is not None and m.group(1) > first, timeout=10)
        t.send("]")  # the recording ends seconds ago: one minute on is now
        screen = t.wait_for(re.compile(r"\d\d:\d\d:\d\d /1s"), timeout=10)
        assert not history.search(screen)
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)


def test_the_old_replay_flag_opens_an_agents_recording_too(tmp_path: Path) -> None:
    """``mbtop --replay FILE`` on a recording of the agent (made by the real engine and Store from
    samples of the lab stack; no stack needed): the replay screen, not an error."""
    from tests.support import recording

    path = recording.write(tmp_path / "r" / "mbtop.db", recording.frames(5))
    with Tmux([mbtop_bin(), "--replay", str(path)], 80, 24) as t:
        t.wait_for(SHOWN, timeout=30)
        t.wait_for("2026-11-28", timeout=10)  # the time bar
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)
