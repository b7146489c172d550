"""What `scripts/install` puts on a machine carries its data: the catalog and the themes."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

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
    themes = {Path(n).name for n in names if n.startswith("mbtop/ui/themes/")}
    assert themes == {p.name for p in (REPO / "themes").glob("*.toml")}
