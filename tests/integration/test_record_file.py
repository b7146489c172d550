"""`mbtop record FILE`: created 0600 whatever the umask, a symlink at FILE never followed, an existing
file refused unless --force (and then replaced, not written through a hard link)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mbtop.probes.record import RecordError, load, save
from tests.support.netns import REPO
from tests.unit.fakes import sample


def record(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "mbtop", "record", str(path), "--count", "1", "--no-firewall", *extra]
    # umask 022: what a root shell has; the recording must not be world-readable anyway
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, cwd=REPO, preexec_fn=lambda: os.umask(0o022)
    )


def test_a_new_recording_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    done = record(out)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert len(load(out)) == 1


def test_a_symlink_at_the_path_is_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    link = tmp_path / "rec.json"
    link.symlink_to(victim)
    for extra in ((), ("--force",)):
        done = record(link, *extra)
        assert done.returncode == 1 and "symlink" in done.stderr, done.stderr
        assert victim.read_text() == "keep me\n" and link.is_symlink()
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "would-be-created")
    assert record(dangling).returncode == 1 and not (tmp_path / "would-be-created").exists()


def test_an_existing_file_needs_force_and_is_replaced_not_written_through(tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    out.write_text("old\n")
    other = tmp_path / "hardlinked"
    os.link(out, other)  # someone else's file, same inode
    done = record(out)
    assert done.returncode == 1 and "--force" in done.stderr
    assert out.read_text() == "old\n"
    done = record(out, "--force")
    assert done.returncode == 0, done.stderr
    assert other.read_text() == "old\n"  # the other name still holds the old content
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600 and len(load(out)) == 1


def test_save_refuses_the_same_way(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.write_text("x")
    with pytest.raises(RecordError, match="exists"):
        save([sample()], target)
    link = tmp_path / "l"
    link.symlink_to(target)
    with pytest.raises(RecordError, match="symlink"):
        save([sample()], link, force=True)
    save([sample()], target, force=True)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
