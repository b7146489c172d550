"""Theme files (TOML, in themes/) turned into Textual themes; btop .theme files imported."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.theme import Theme

from mbtop.config import ConfigError, read_trusted
from mbtop.text import clean

if TYPE_CHECKING:
    from textual.app import App

BUNDLED = Path(__file__).with_name("themes")
SYSTEM = Path("/etc/mbtop/themes")
FIELDS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
    "boost",
)
DEFAULT = "mbtop-dark"


class ThemeError(ValueError):
    pass


def _read(path: Path, trusted: bool) -> str:
    """A theme's text; one from outside the package gets the config's checks (root's, not writable
    by others, at most 1 MiB, no link followed at its name)."""
    try:
        raw = path.read_bytes() if trusted else read_trusted(path)
    except ConfigError as exc:
        raise ThemeError(str(exc)) from None
    except OSError as exc:
        raise ThemeError(f"{path}: {exc.strerror or exc}") from None
    return raw.decode("utf-8", "replace")


def from_toml(path: Path, trusted: bool = False) -> Theme:
    text = _read(path, trusted)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: {exc}") from None
    if not isinstance(data.get("name"), str) or not isinstance(data.get("primary"), str):
        raise ThemeError(f"{path}: a theme needs at least 'name' and 'primary'")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeError(f"{path}: [variables] must be a table")
    kwargs = {k: data[k] for k in FIELDS if isinstance(data.get(k), str)}
    return Theme(
        name=data["name"],
        dark=bool(data.get("dark", True)),
        ansi=bool(data.get("ansi", False)),
        variables={str(k): str(v) for k, v in variables.items()},
        **kwargs,
    )


_BTOP_LINE = re.compile(r'^\s*theme\[(\w+)\]\s*=\s*"([^"]*)"')


def _btop_colour(value: str) -> str | None:
    value = value.strip()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value
    if re.fullmatch(r"#[0-9a-fA-F]{2}", value):  # btop's grey shorthand
        return "#" + value[1:] * 3
    parts = value.split()
    if len(parts) == 3 and all(p.isdigit() and int(p) < 256 for p in parts):
        return "#" + "".join(f"{int(p):02x}" for p in parts)
    return None


def from_btop(path: Path, trusted: bool = False) -> Theme:
    """A btop ``.theme`` file: main_bg/main_fg/hi_fg/title/selected_bg and its gradient ends."""
    colours: dict[str, str] = {}
    for line in _read(path, trusted).splitlines():
        m = _BTOP_LINE.match(line)
        if m and (c := _btop_colour(m.group(2))):
            colours[m.group(1)] = c
    if "main_fg" not in colours:
        raise ThemeError(f"{path}: not a btop theme (no theme[main_fg])")
    bg = colours.get("main_bg", "#000000")
    dark = sum(int(bg[i : i + 2], 16) for i in (1, 3, 5)) < 384
    return Theme(
        name=f"btop-{path.stem}",
        dark=dark,
        primary=colours.get("hi_fg", colours["main_fg"]),
        secondary=colours.get("title", colours["main_fg"]),
        accent=colours.get("proc_misc", colours.get("hi_fg", colours["main_fg"])),
        foreground=colours["main_fg"],
        background=bg,
        surface=bg,
        panel=colours.get("selected_bg", colours.get("meter_bg", bg)),
        success=colours.get("cpu_start", colours.get("free_start", "#5fd75f")),
        warning=colours.get("cpu_mid", colours.get("used_mid", "#ffd75f")),
        error=colours.get("cpu_end", colours.get("used_end", "#ff5f5f")),
    )


def load_file(path: Path, trusted: bool = False) -> Theme:
    """A theme file; ``trusted`` only for the themes shipped in the package itself."""
    return from_btop(path, trusted) if path.suffix == ".theme" else from_toml(path, trusted)


def discover() -> tuple[list[Theme], list[str]]:
    """Every bundled and system theme; problems are returned as messages, never raised."""
    themes: list[Theme] = []
    problems: list[str] = []
    for folder in (BUNDLED, SYSTEM):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix not in (".toml", ".theme"):
                continue
            try:
                themes.append(load_file(path, trusted=folder == BUNDLED))
            except ThemeError as exc:
                problems.append(str(exc))
    return themes, problems


def install_themes(app: App[Any], requested: str | None) -> tuple[str, list[str], list[str]]:
    """Register every bundled and system theme (and ``requested`` when it names a theme file) on
    ``app``; returns the theme to use, the names registered and the problems, cleaned for the screen
    (file names, parser errors). The live screen and the fleet share it."""
    themes, problems = discover()
    names: list[str] = []
    for th in themes:
        app.register_theme(th)
        names.append(th.name)
    wanted = requested
    if wanted and Path(wanted).is_file():
        try:
            th = load_file(Path(wanted))
            app.register_theme(th)
            names.append(th.name)
            wanted = th.name
        except ThemeError as exc:
            problems.append(str(exc))
            wanted = None
    if not wanted:
        wanted = "mbtop-16" if os.environ.get("TERM") == "linux" and "mbtop-16" in names else DEFAULT
    if wanted not in app.available_themes:
        problems.append(f"unknown theme {wanted!r}; using {DEFAULT}")
        wanted = DEFAULT
    return wanted, names, [clean(p) for p in problems]
