"""The headless core never loads a UI module (also enforced by import-linter in CI)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
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


def test_core_loads_no_ui_module() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
