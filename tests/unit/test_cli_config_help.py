"""`mbtop config` and the examples that end every help (pure CLI code; files in tmp_path)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mbtop import cli
from mbtop.cli import examples
from mbtop.config import Config, load
from mbtop.model.flood import Thresholds

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_printed_default_is_accepted_and_means_the_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["config", "--print-default"]) == 0
    path = tmp_path / "config.toml"
    path.write_text(capsys.readouterr().out)
    path.chmod(0o644)
    assert cli.main(["config", "--check", str(path)]) == 0
    assert "OK" in capsys.readouterr().out
    got, default = load(path, euid=os.geteuid()), Config(catalog=load(None).catalog, source=None)
    for name in ("read_only", "interval", "theme", "health_timeout", "health_every", "audit_log", "low_bandwidth"):
        assert getattr(got, name) == getattr(default, name), name
    assert (got.flood.total_per_minute, got.flood.concurrent) == (
        Thresholds().total_per_minute,
        Thresholds().concurrent,
    )
    assert got.catalog == default.catalog


@pytest.mark.parametrize(
    ("text", "mode", "says"),
    [
        ("interval = 0.01\n", 0o644, "interval must be"),
        ("no_such = 1\n", 0o644, "unknown setting"),
        ("read_only = true\n", 0o666, "writable by group or others"),
    ],
)
def test_check_refuses_as_start_up_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, mode: int, says: str
) -> None:
    if mode & 0o022 and os.geteuid() != 0:
        pytest.skip("the trust rules apply when running as root")
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    assert cli.main(["config", "--check", str(path)]) == 2
    checked = capsys.readouterr().err
    assert says in checked
    assert cli.main(["--config", str(path), "snapshot"]) == 2  # start-up: the same refusal, word for word
    assert capsys.readouterr().err == checked
    assert cli.main(["--config", str(path), "config", "--check"]) == 2


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return capsys.readouterr().out


def test_every_help_ends_with_examples_from_the_readmes_common_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    readme = README.read_text()
    tasks = readme.split("## Common tasks", 1)[1].split("\n## ", 1)[0]
    for title, lines in examples.ALL:
        assert title.rstrip(":?").split(" (")[0] in tasks.lower()
        for line in lines:
            assert line.split("  #")[0].rstrip() in tasks, line
    commands = [*examples.BY_COMMAND]
    top = _help([], capsys)
    assert top.rstrip().endswith(examples.text(examples.ALL).splitlines()[-1])
    for name in ("port already in use", "socket permission denied", "is this a flood?"):
        assert name in top
    for command in commands:
        out = _help([command], capsys)
        assert re.search(r"\nexamples \(README, Common tasks\):\n", out), command
        assert out.rstrip().endswith(examples.text(examples.BY_COMMAND[command]).splitlines()[-1]), command
