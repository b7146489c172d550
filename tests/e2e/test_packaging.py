"""`pipx install .` in a clean virtualenv gives a working `mbtop`, and the wheel carries the
catalog, the themes, the man page, the completion files and the logrotate rule."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (
    "mbtop/catalog/reference.toml",
    "mbtop/ui/themes/mbtop-dark.toml",
    "mbtop/share/man/mbtop.1",
    "mbtop/share/completion/mbtop.bash",
    "mbtop/share/completion/_mbtop",
    "mbtop/share/logrotate/mbtop",
    "mbtop/share/prometheus/web-config.yml",
)


def _run(argv: list[str], **kw: object) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return str(done.stdout)


def test_the_wheel_carries_the_data_files(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(REPO), str(clone)])
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(clone)])
    (wheel,) = (tmp_path / "dist").glob("mbtop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in SHIPPED if n not in names]
    assert not missing, f"not in {wheel.name}: {missing}"


def test_pipx_install_in_a_clean_venv_gives_a_working_mbtop(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(REPO), str(clone)])
    venv = tmp_path / "venv"
    _run(["/usr/bin/python3", "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "pipx"])
    env = {
        **os.environ,  # pip's settings (index, certificates) as the operator has them
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
    }
    _run([str(venv / "bin" / "pipx"), "install", str(clone)], env=env)
    mbtop = tmp_path / "bin" / "mbtop"
    assert _run([str(mbtop), "--version"], env=env).startswith("mbtop ")
    default = tmp_path / "config.toml"
    default.write_text(_run([str(mbtop), "config", "--print-default"], env=env))
    assert "OK" in _run([str(mbtop), "config", "--check", str(default)], env=env)
    table = _run([str(mbtop), "snapshot", "--no-health", "--no-firewall", "--sample", "0"], env=env)
    assert table.startswith("mbtop snapshot") and "25/tcp" in table
    python = tmp_path / "pipx" / "venvs" / "mbtop" / "bin" / "python"
    # -I: not the mbtop of the current directory (the checkout), the one pipx installed.
    code = "import mbtop, pathlib; print(pathlib.Path(mbtop.__file__).parent)"
    share = _run([str(python), "-I", "-c", code], env=env, cwd=tmp_path)
    assert str(tmp_path / "pipx") in share
    for name in SHIPPED:
        assert (Path(share.strip()).parent / name).is_file(), name
