"""Every rtl_lib component imports on its own, in a fresh interpreter (they know nothing of the compiler; an import
cycle through ``nn2rtl/__init__`` once broke ``import rtl_lib.da`` unless nn2rtl was imported first)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_each_component_imports_first():
    modules = sorted(f"rtl_lib.{p.stem}" for p in (ROOT / "rtl_lib").glob("*.py") if p.stem != "__init__")
    assert "rtl_lib.da" in modules and len(modules) > 10
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n    " \
           "assert 'nn2rtl.design' not in sys.modules, m\n"
    for m in modules + ["boards.top", "boards.host"]:
        r = subprocess.run([sys.executable, "-c", code, m], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, f"import {m}: {r.stderr.strip().splitlines()[-1:]}"
