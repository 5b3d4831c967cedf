"""Simulation models of the vendor primitives a design may instantiate (Verilator only; synthesis maps the
primitives themselves)."""

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: primitive name -> its model
MODELS = {"MULT18X18D": HERE / "MULT18X18D.v"}


def primitive_models(verilog):
    """The model files of the primitives instantiated in ``verilog`` (text)."""
    return [path for name, path in sorted(MODELS.items()) if re.search(rf"^\s*{name}\b", verilog, re.M)]
