"""nn2rtl: neural networks from ONNX to bit-exact, pipelined Verilog through Amaranth HDL.

>>> import nn2rtl                                          # doctest: +SKIP
>>> design = nn2rtl.convert("model.onnx", precision="fixed<16,6>")
>>> y = design.predict(x)          # golden model, bit-exact with the RTL
>>> design.write("out")            # out/rtl/<top>.v, out/design.json
>>> design.simulate().bit_exact    # Verilator + cocotb
"""

__version__ = "0.1.0"

from .errors import ConfigError, ModelError, Nn2rtlError, PrecisionError, SimulationError, UnsupportedOpError  # noqa: E402
from .fixed import FixedType, Overflow, Rounding  # noqa: E402

__all__ = ["convert", "Design", "FixedType", "Rounding", "Overflow", "Nn2rtlError", "ModelError",
           "UnsupportedOpError", "ConfigError", "PrecisionError", "SimulationError", "__version__"]


def __getattr__(name):
    # ``convert`` and ``Design`` are imported when first used: the package's own modules (nn2rtl.fixed, which
    # rtl_lib uses) then load without the whole compiler, and ``import rtl_lib.<component>`` works on its own
    if name in ("convert", "Design"):
        from . import design
        return getattr(design, name)
    raise AttributeError(f"module 'nn2rtl' has no attribute {name!r}")
