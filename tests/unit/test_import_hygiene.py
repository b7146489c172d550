"""The headless core never loads a UI module (also enforced by import-linter in CI).

Each core package is imported whole — every module in it — in a fresh interpreter, which then
lists what got loaded: no textual, no rich, nothing of mbtop.ui.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = (
    "mbtop.catalog",
    "mbtop.config",
    "mbtop.probes",
    "mbtop.model",
    "mbtop.logs",
    "mbtop.text",
    "mbtop.actions",
    "mbtop.fleet",
)

IMPORT_ALL = """
import importlib, pkgutil, sys
root = importlib.import_module(sys.argv[1])
loaded = [root.__name__]
for info in pkgutil.walk_packages(getattr(root, "__path__", []), root.__name__ + "."):
    importlib.import_module(info.name)
    loaded.append(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich") or m.startswith("mbtop.ui"))
print(len(loaded), ",".join(bad))
"""

WORKS = """
import sys
from mbtop.catalog import load_reference
from mbtop.model.build import build
from mbtop.model.serialize import snapshot
from mbtop.probes.sample import Sampler
from mbtop.cli.report import check_text
cat = load_reference()
snapshot(build(cat, Sampler(cat).sample()))
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') or m.startswith('mbtop.ui'))
print(','.join(bad))
"""


@pytest.mark.parametrize("package", CORE)
def test_every_module_of_a_core_package_loads_no_ui_module(package: str) -> None:
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL, package], capture_output=True, text=True, check=True)
    count, _, bad = out.stdout.strip().partition(" ")
    assert int(count) >= 1
    assert bad == "", f"{package} loads {bad}"


def test_packages_are_imported_whole() -> None:
    """The walk above really reaches the submodules (a package imported alone proves little)."""
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL, "mbtop.probes"], capture_output=True, text=True, check=True)
    assert int(out.stdout.split()[0]) >= 15  # sample, sockdiag, owners, health, firewall.* ...


def test_a_whole_snapshot_loads_no_ui_module() -> None:
    out = subprocess.run([sys.executable, "-c", WORKS], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
