"""`mbtop fleet`'s command line: its sources, its own --interval, and what it refuses (exit 2)."""

from __future__ import annotations

import pytest

from mbtop.cli import parse


def test_targets_and_interval() -> None:
    args = parse(["fleet", "--targets", "gw1:10125,gw2:10125", "--interval", "2", "--timeout", "1.5"])
    assert (args.command, args.targets, args.fleet_interval, args.fleet_timeout) == (
        "fleet",
        "gw1:10125,gw2:10125",
        2.0,
        1.5,
    )
    assert parse(["fleet", "--prometheus", "http://prom:9090"]).job == "mbtop"


@pytest.mark.parametrize(
    "argv",
    [
        ["fleet"],  # no source
        ["fleet", "--targets", "a:1", "--prometheus", "http://p:9090"],  # two sources
        ["fleet", "--targets", "a:1", "--interval", "0"],
        ["fleet", "--targets", "a:1", "--timeout", "x"],
        ["--interval", "2", "fleet", "--targets", "a:1"],  # the live screen's option, before the command
    ],
)
def test_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--prometheus", "ftp://p"], "wants an http(s) URL"),
        (["--targets", " , "], "wants host:port"),
    ],
)
def test_bad_source_exits_2_with_the_reason(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before any screen starts (the screen is replaced by a failure: it must not be reached)."""
    import mbtop.ui.fleetapp

    def screen(*args: object) -> int:
        raise AssertionError("the screen was started")

    monkeypatch.setattr(mbtop.ui.fleetapp, "run", screen)
    from mbtop.catalog import load_reference
    from mbtop.cli import fleet
    from mbtop.config import Config

    assert fleet.run(Config(load_reference(), None), parse(["fleet", *argv])) == 2
    assert words in capsys.readouterr().err
