"""What `scripts/install` puts on a machine carries its data (the catalog, the themes), and a broken
install or a live screen that cannot load fails loudly with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import require_root_netns
from tests.support.netns import REPO


def test_wheel_contains_catalog_and_themes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("mbtop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mbtop/catalog/reference.toml" in names
    for shipped in ("prometheus/mbtop-alerts.yml", "prometheus/prometheus-example.yml", "grafana/mbtop-dashboard.json"):
        assert f"mbtop/share/{shipped}" in names, shipped
    themes = {Path(n).name for n in names if n.startswith("mbtop/ui/themes/")}
    assert themes == {p.name for p in (REPO / "themes").glob("*.toml")}


def _copy_repo(dest: Path) -> Path:
    shutil.copytree(
        REPO,
        dest,
        ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "tests", "bench", "screenshots", "*.egg-info"),
    )
    return dest


def test_install_fails_loudly_when_pip_fails(tmp_path: Path) -> None:
    require_root_netns()  # scripts/install runs as root
    repo = _copy_repo(tmp_path / "src")
    (repo / "pyproject.toml").write_text("[project\nname = broken\n")  # pip cannot build this
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {**os.environ, "MBTOP_PREFIX": str(tmp_path / "prefix"), "MBTOP_BIN": str(bindir)}
    done = subprocess.run(
        ["bash", str(repo / "scripts" / "install")], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert "installed" not in done.stdout
    assert "pip install failed" in done.stderr and "NOT installed" in done.stderr
    assert not (bindir / "mbtop").exists()


def test_a_broken_live_screen_says_so_instead_of_printing_a_snapshot(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    shutil.copytree(REPO / "mbtop", pkg / "mbtop", ignore=shutil.ignore_patterns("__pycache__"))
    app = pkg / "mbtop" / "ui" / "app.py"
    # as if a dependency of the screen were missing from the install
    app.write_text(
        app.read_text().replace("\nimport argparse\n", "\nimport argparse\nimport textual_is_not_installed_here\n", 1)
    )
    done = subprocess.run(
        [sys.executable, "-m", "mbtop", "--no-health", "--no-firewall"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(pkg)},
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert not done.stdout  # no snapshot in place of the screen
    assert "the live screen cannot start" in done.stderr and "textual_is_not_installed_here" in done.stderr
