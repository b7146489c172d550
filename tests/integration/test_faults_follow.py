"""Fault: a followed log replaced by a symbolic link by the owner of its directory. A real
follower on a log in a directory owned by ``nobody``, a rotation done as ``nobody`` that leaves a
link to a root-only secret at the log's name: nothing of the secret is read or shown, and the
follower's status says why. Also ``mbtop logs FILE`` on such a path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbtop.logs.follow import Follower
from tests.support.netns import REPO

SECRET = "root:$y$j9T$TOP-SECRET-HASH:19000:0:99999:7:::"


def as_nobody(*cmd: str) -> None:
    subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd], check=True, timeout=10)


@pytest.fixture
def dirs() -> Iterator[tuple[Path, Path]]:
    """(a directory owned by nobody, a root-only secret file beside it)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a directory owned by another user and a root-only secret")
    top = Path(tempfile.mkdtemp(prefix="mbtop-faults-", dir="/run"))
    os.chmod(top, 0o711)
    logs = top / "nginx"
    logs.mkdir(mode=0o755)
    os.chown(logs, 65534, 65534)
    secret = top / "shadow"
    secret.write_text(SECRET + "\n")
    os.chmod(secret, 0o600)
    try:
        yield logs, secret
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_symlink_put_by_the_directory_owner_is_not_followed(dirs: tuple[Path, Path]) -> None:
    logs, secret = dirs
    log = logs / "access.log"
    as_nobody("sh", "-c", f"echo 'GET /one' > {log}")
    f = Follower(str(log), backfill=10)
    try:
        assert [x.text for x in f.poll()] == ["GET /one"] and f.status == "following"
        as_nobody("sh", "-c", f"echo 'GET /two' >> {log}")
        # The directory's owner rotates the log away and leaves a link to the secret in its place.
        as_nobody("sh", "-c", f"mv {log} {log}.1 && ln -s {secret} {log}")
        seen: list[str] = []
        for _ in range(5):
            seen += [x.text for x in f.poll()]
        assert seen == ["GET /two"]  # the rotated file is drained, the link's target never read
        assert f.status.startswith("refused:") and "symbolic link" in f.status, f.status
        assert f"{logs} is owned by uid 65534" in f.status, f.status
        assert f.error == f.status
        # A fresh follower (mbtop started after the swap) refuses it too.
        g = Follower(str(log), backfill=10)
        assert g.poll() == [] and "symbolic link" in g.status
        g.close()
    finally:
        f.close()
    out = subprocess.run(
        [sys.executable, "-m", "mbtop", "logs", str(log), "--json"],
        capture_output=True, text=True, timeout=60, cwd=REPO, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode != 0 and "symbolic link" in out.stderr, out.stdout + out.stderr
    assert "TOP-SECRET" not in out.stdout + out.stderr


def test_a_group_writable_directory_is_not_trusted_either(dirs: tuple[Path, Path]) -> None:
    logs, secret = dirs
    os.chown(logs, 0, 65534)
    os.chmod(logs, 0o775)  # root's, but its group can swap the log
    (logs / "mail.log").symlink_to(secret)
    f = Follower(str(logs / "mail.log"), backfill=10)
    assert f.poll() == [] and "writable by group or others (mode 0775)" in f.status, f.status
    f.close()


def test_a_symlink_in_a_directory_only_root_can_write_is_still_followed(dirs: tuple[Path, Path]) -> None:
    """The protection is narrow: root's own links (e.g. a log moved to another disk) still work."""
    logs, _secret = dirs
    os.chown(logs, 0, 0)
    real = logs.parent / "real.log"
    real.write_text("postfix/smtpd[1]: connect from x[192.0.2.1]\n")
    (logs / "mail.log").symlink_to(real)
    f = Follower(str(logs / "mail.log"), backfill=10)
    assert [x.text for x in f.poll()] == ["postfix/smtpd[1]: connect from x[192.0.2.1]"]
    assert f.status == "following"
    f.close()
