"""Files that change what mbtop does, read as root: an oversized config is refused (never cut), and
themes from /etc/mbtop/themes get the config's checks (root's, not group/other-writable, size cap).
Real files with real owners; the themes folder is pointed at a private copy of /etc/mbtop/themes."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbtop import config
from mbtop.config import ConfigError, load
from mbtop.ui import theming
from tests.conftest import require_root_netns

THEME = 'name = "{name}"\nprimary = "#5fafff"\n'


@pytest.fixture
def etc() -> Iterator[Path]:
    """A directory like /etc/mbtop: root's, 0755."""
    require_root_netns()  # these checks apply as root
    path = Path(tempfile.mkdtemp(prefix="mbtop-etc-", dir="/run"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_an_oversized_config_is_refused_not_cut(etc: Path) -> None:
    cfg = etc / "config.toml"
    # valid TOML up to the cut, and a setting after it: cutting would silently drop read_only
    cfg.write_text("# padding\n" * ((config.MAX_BYTES // 10) + 1) + "read_only = true\n")
    os.chmod(cfg, 0o600)
    with pytest.raises(ConfigError, match="more than the 1,048,576 bytes"):
        load(cfg)
    cfg.write_text("# small\nread_only = true\n")
    assert load(cfg).read_only


def test_system_themes_get_the_configs_trust_checks(etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    themes = etc / "themes"
    themes.mkdir()
    monkeypatch.setattr(theming, "SYSTEM", themes)
    files = {
        "good": 0o644,
        "groupw": 0o664,
        "otherw": 0o646,
        "nobodys": 0o644,
        "huge": 0o644,
    }
    for name, mode in files.items():
        path = themes / f"{name}.toml"
        text = THEME.format(name=f"t-{name}")
        path.write_text(text + ("# pad\n" * 200_000 if name == "huge" else ""))
        os.chmod(path, mode)
    os.chown(themes / "nobodys.toml", 65534, 65534)
    (themes / "link.toml").symlink_to(themes / "good.toml")
    loaded, problems = theming.discover()
    names = {t.name for t in loaded}
    assert "t-good" in names and "mbtop-dark" in names  # bundled themes are part of the program
    assert not names & {"t-groupw", "t-otherw", "t-nobodys", "t-huge"}
    text = "\n".join(problems)
    assert "groupw.toml: writable by group or others" in text
    assert "otherw.toml: writable by group or others" in text
    assert "nobodys.toml: owned by uid 65534" in text
    assert "huge.toml:" in text and "more than the" in text
    assert "link.toml: cannot open" in text  # not followed
    with pytest.raises(theming.ThemeError, match="writable by group"):
        theming.load_file(themes / "groupw.toml")  # --theme FILE: the same checks
