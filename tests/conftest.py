import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture(autouse=True)
def _rtl_needs_verilator(request):
    """Tests marked ``rtl`` fail (never skip) when Verilator is missing, so CI cannot go green without them."""
    if request.node.get_closest_marker("rtl") and shutil.which("verilator") is None:
        pytest.fail("Verilator is not installed: run 'make setup' (apt-get install verilator)")


@pytest.fixture(scope="session")
def example_model():
    return ROOT / "examples" / "jet_mlp.onnx"
