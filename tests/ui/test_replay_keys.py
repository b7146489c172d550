"""The replay screen and the live screen's history, driven by keys (Pilot), on a recording made by
the real engine and the real Store from samples recorded on the lab stack (tests/support/recording.py).
Nothing is faked: the app's source is the real ``RecordingSource`` on that file."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent

from mbtop.engine.playback import RecordingSource
from mbtop.ui.app import MbtopApp
from mbtop.ui.screens.goto import GotoScreen
from mbtop.ui.screens.main import MainScreen
from mbtop.ui.widgets.header import StatusHeader
from mbtop.ui.widgets.timebar import TimeBar
from tests.support import recording
from tests.ui.appkit import fixed_tz, make_app, samples

START = recording.START
COUNT = 150


@pytest.fixture(scope="module")
def rec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recording.write(tmp_path_factory.mktemp("rec") / "r" / "mbtop.db", recording.frames(COUNT))


def replay_app(path: Path, playing: bool = False) -> MbtopApp:
    fixed_tz()
    from mbtop.catalog import load_reference

    return MbtopApp(load_reference(), RecordingSource(path, playing=playing), theme="mbtop-dark", ascii_only=False)


async def until(pilot: Pilot[int], ok: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if ok():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never: {what}")


def shown(app: MbtopApp) -> float:
    return app.frame.time - START if app.frame is not None else -1.0


def main(app: MbtopApp) -> MainScreen:
    screen = app.screen_stack[1]
    assert isinstance(screen, MainScreen)
    return screen


def bar(app: MbtopApp) -> str:
    return str(main(app).query_one("#timebar", TimeBar).render())


def header(app: MbtopApp) -> str:
    return str(main(app).query_one("#header", StatusHeader).render())


async def test_replay_keys_step_jump_go_to_and_speed(rec_path: Path) -> None:
    app = replay_app(rec_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: shown(app) == 0.0, "the first frame")
        assert app.read_only and app.mode == "replay"
        assert "replay 00:10:00" in header(app)
        text = bar(app)
        assert "2026-11-28 00:10:00" in text and "●" in text and len(text) <= 78, text
        await pilot.press("right", "right", "right")
        await until(pilot, lambda: shown(app) == 3.0, "three frames on")
        await pilot.press("left")
        await until(pilot, lambda: shown(app) == 2.0, "one frame back")
        await pilot.press("shift+right")
        await until(pilot, lambda: shown(app) == 62.0, "one minute on")
        await pilot.press("shift+left")
        await until(pilot, lambda: shown(app) == 2.0, "one minute back")
        # the Logs tab shows the recorded events up to the shown frame, not after it
        await pilot.press("4")
        await until(pilot, lambda: [e.client_ip for e in app.mail_window.events][-1:] == ["10.0.0.2"], "logs")
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GotoScreen), "the go-to prompt")
        await pilot.press(*"00:12:05", "enter")
        await until(pilot, lambda: shown(app) == 125.0, "go to 00:12:05")
        ips = [e.client_ip for e in app.mail_window.events]
        assert ips[-1] == recording.client(125) and recording.client(126) not in ips
        assert recording.client(4) not in ips and recording.client(5) in ips  # after a jump: the 120 s before it
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GotoScreen), "the go-to prompt")
        await pilot.press(*"-30s", "enter")
        await until(pilot, lambda: shown(app) == COUNT - 1 - 30, "30 s before the end")
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GotoScreen), "the go-to prompt")
        await pilot.press(*"soon", "enter")
        await until(pilot, lambda: any("not a time: 'soon'" in n.message for n in app._notifications), "bad input")
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GotoScreen), "the go-to prompt")
        await pilot.press(*"2026-11-27 03:10", "enter")
        await until(pilot, lambda: any("outside the recording" in n.message for n in app._notifications), "outside")
        assert shown(app) == COUNT - 1 - 30  # where it was
        await pilot.press("plus")
        await until(pilot, lambda: "10×" in bar(app), "10x")
        await pilot.press("plus")
        await until(pilot, lambda: "60×" in bar(app), "60x")
        await pilot.press("minus", "minus", "minus")
        await until(pilot, lambda: "1×" in bar(app), "back to 1x")


async def test_space_plays_and_pauses_on_the_recorded_clock(rec_path: Path) -> None:
    app = replay_app(rec_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: shown(app) == 0.0, "the first frame")
        await pilot.pause(0.6)
        assert shown(app) == 0.0  # paused: it stands
        await pilot.press("plus", "plus", "space")  # 60x
        await until(pilot, lambda: "▶ 60×" in bar(app), "playing at 60x")
        await until(pilot, lambda: shown(app) >= 30.0, "60 s of recording a second", timeout=3)
        await pilot.press("space")
        await until(pilot, lambda: "paused 60×" in bar(app), "paused")
        await pilot.pause(0.3)
        stood = shown(app)
        await pilot.pause(0.6)
        assert shown(app) == stood


@pytest.mark.parametrize("key", ["R", "K", "F"])
async def test_actions_are_refused_in_replay_with_the_reason(rec_path: Path, key: str) -> None:
    app = replay_app(rec_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: shown(app) == 0.0, "the first frame")
        if key == "F":
            await pilot.press("2")
        else:
            await pilot.press("down", "down", "down", "down")  # port 465: squatted in the samples
        await pilot.press(key)
        await until(pilot, lambda: any("actions are disabled" in n.message for n in app._notifications), "reason")
        assert not app.workers  # no plan was made


async def test_every_tab_draws_from_the_recording(rec_path: Path) -> None:
    app = replay_app(rec_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: shown(app) == 0.0, "the first frame")
        tabs = main(app).query_one("#tabs", TabbedContent)
        names = ["overview", "sockets", "findings", "logs", "flood", "firewall", "services", "queue"]
        for key, tab in zip("12345678", names, strict=True):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab
            table = main(app).current_table()
            if tab in ("overview", "sockets", "findings", "firewall", "services"):
                assert table is not None and table.row_count > 0, tab  # drawn from the recorded frame
        await pilot.press("1", "enter")  # a port's details, from the recording
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "PortDetail"
        await pilot.press("right")  # the player's keys work there too
        await until(pilot, lambda: shown(app) == 1.0, "a frame on from the details")


async def test_the_filter_box_takes_spaces_and_arrows_as_text(rec_path: Path) -> None:
    app = replay_app(rec_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: shown(app) == 0.0, "the first frame")
        await pilot.press("slash", "a", "space", "b", "left")
        box = main(app).query_one("#filter", Input)
        assert box.value == "a b" and box.cursor_position == 2
        assert shown(app) == 0.0 and not app.frames.cursor.playing  # type: ignore[attr-defined]


async def test_history_keys_scroll_the_live_screen_through_the_recording_and_back(tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await samples(pilot, 1)
        live = app.frame
        assert live is not None and app.mode is None
        # the agent's recording: the 150 s up to the live frame
        start = live.time - 149
        app.history_path = recording.write(tmp_path / "r" / "mbtop.db", recording.frames(150, start=start))
        assert "history" not in header(app) and not main(app).query_one("#timebar", TimeBar).display
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: app.mode == "history" and app.frame is not live, "history")
        await until(pilot, lambda: "history" in header(app), "the header says history")
        assert app.frame is not None and app.frame.time == live.time - 60  # a minute before the live frame
        assert [e.client_ip for e in app.mail_window.events][-1] == recording.client(89)  # the past's logs
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: app.frame is not None and app.frame.time == start + 29, "another minute back")
        await pilot.press("right")
        await until(pilot, lambda: app.frame is not None and app.frame.time == start + 30, "a frame on")
        await pilot.press("R")
        await until(pilot, lambda: any("] back to now" in n.message for n in app._notifications), "refused")
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: app.mode is None, "back to now")
        await until(pilot, lambda: "history" not in header(app), "the header says now")
        assert app.frame is live and app.view is not None and app.view.timeline is None
        assert recording.client(89) not in [e.client_ip for e in app.mail_window.events]  # the live logs again


async def test_history_without_a_recording_says_why_and_stays_live(tmp_path: Path) -> None:
    app = make_app()
    app.history_path = tmp_path / "none.db"
    async with app.run_test(size=(80, 24)) as pilot:
        await samples(pilot, 1)
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: any("history:" in n.message for n in app._notifications), "the reason")
        assert app.mode is None
