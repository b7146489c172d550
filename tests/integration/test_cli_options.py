"""Common options work on either side of the subcommand, or are refused with a message: a config given
before `snapshot`, `check` or an action is the config used (read-only, a disabled port, an untrusted
file all take effect). Runs mbtop as root in a private network namespace."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mbtop.cli import parse
from tests.support.netns import Netns

Where = Callable[[str, list[str], Path], list[str]]


def before(cmd: str, rest: list[str], cfg: Path) -> list[str]:
    return ["--config", str(cfg), cmd, *rest]


def after(cmd: str, rest: list[str], cfg: Path) -> list[str]:
    return [cmd, *rest, "--config", str(cfg)]


SIDES = pytest.mark.parametrize("where", [before, after], ids=["before", "after"])
QUIET = ["--sample", "0", "--no-health", "--no-firewall"]


@pytest.fixture
def conf_dir() -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mbtop-cfg-", dir="/run"))
    os.chmod(path, 0o700)
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_every_common_option_parses_on_either_side() -> None:
    for argv in (["--config", "/x", "snapshot"], ["snapshot", "--config", "/x"]):
        assert parse(argv).config == Path("/x"), argv
    for opt, attr in (("--no-health", "no_health"), ("--no-firewall", "no_firewall"), ("--no-netlink", "no_netlink")):
        assert getattr(parse([opt, "check"]), attr) and getattr(parse(["check", opt]), attr), opt
    assert parse(["--sample", "0", "snapshot"]).sample == 0 == parse(["snapshot", "--sample", "0"]).sample
    assert parse(["snapshot"]).sample == 1.0 and parse(["snapshot"]).config is None
    assert parse(["--read-only", "restart", "x"]).read_only and parse(["restart", "x", "--read-only"]).read_only


@pytest.mark.parametrize("opt", [["--theme", "x"], ["--interval", "2"], ["--low-bandwidth"], ["--replay", "f"]])
def test_live_screen_options_with_a_command_are_refused(opt: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse([*opt, "snapshot"])
    assert exc.value.code == 2
    assert "option of the live screen" in capsys.readouterr().err


@SIDES
def test_a_disabled_port_in_the_config_is_gone_from_snapshot_and_check(ns: Netns, conf_dir: Path, where: Where) -> None:
    cfg = write(conf_dir / "c.toml", "[ports.25]\ndisabled = true\n")
    snap = ns.mbtop(*where("snapshot", ["--json", *QUIET], cfg))
    assert snap.returncode == 0, snap.stderr
    ports = {p["port"] for p in json.loads(snap.stdout)["ports"]}
    assert 25 not in ports and 587 in ports
    check = ns.mbtop(*where("check", ["--json", *QUIET], cfg))
    doc = json.loads(check.stdout)
    findings = doc["findings"]
    assert findings and all(f["port"] != 25 for f in findings)  # nothing listens here: 587 etc. are findings
    assert set(doc) == {"status", "exit_code", "summary", "findings", "notes"}  # check --json: exact keys
    assert all(set(f) == {"severity", "code", "message", "fix", "action", "port", "path"} for f in findings)


@SIDES
def test_read_only_in_the_config_refuses_an_action(ns: Netns, conf_dir: Path, where: Where) -> None:
    cfg = write(conf_dir / "ro.toml", f'read_only = true\naudit_log = "{conf_dir}/a.log"\n')
    out = ns.mbtop(*where("block", ["203.0.113.9", "--dry-run", "--no-firewall"], cfg))
    assert out.returncode == 1 and "REFUSED: read-only" in out.stdout, out.stdout + out.stderr


@SIDES
@pytest.mark.parametrize(
    "cmd", [["snapshot", "--json", *QUIET], ["check", *QUIET], ["block", "203.0.113.9", "--dry-run"]]
)
def test_an_untrusted_config_is_refused(ns: Netns, conf_dir: Path, where: Where, cmd: list[str]) -> None:
    cfg = write(conf_dir / "shared.toml", "read_only = false\n", 0o664)  # group-writable
    out = ns.mbtop(*where(cmd[0], cmd[1:], cfg))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "writable by group or others" in out.stderr and not out.stdout
