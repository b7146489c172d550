"""Declared dependencies against imports (pure code: pyproject.toml and mbtop/'s source, read as text).

Every name in ``[project] dependencies`` is imported by mbtop/ (an install carries nothing unused),
and every third-party module mbtop/ imports is declared (nothing works only by accident).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _declared() -> set[str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}


def _imported() -> set[str]:
    """Top-level modules imported anywhere in mbtop/, other than the standard library and mbtop."""
    found: set[str] = set()
    for path in (REPO / "mbtop").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("mbtop", "__future__")}


def _distribution(module: str) -> str:
    dists = importlib.metadata.packages_distributions().get(module)
    if not dists:
        pytest.fail(f"mbtop/ imports {module!r}, which no installed distribution provides")
    return dists[0].lower().replace("_", "-")


def test_every_declared_dependency_is_imported_and_every_import_declared() -> None:
    imported = {_distribution(m) for m in _imported()}
    declared = _declared()
    assert declared - imported == set(), "declared in pyproject.toml but never imported by mbtop/"
    assert imported - declared == set(), "imported by mbtop/ but not declared in pyproject.toml"


def test_the_library_is_used_where_the_card_names_it() -> None:
    """psutil for process details, pyroute2 for the host's addresses (not a stray import)."""
    src = {p.relative_to(REPO).as_posix(): p.read_text() for p in (REPO / "mbtop").rglob("*.py")}
    assert "psutil.Process(" in src["mbtop/probes/owners.py"]
    assert "psutil.Process(" in src["mbtop/actions/safety.py"]
    assert "from pyroute2 import IPRoute" in src["mbtop/actions/protect.py"]
