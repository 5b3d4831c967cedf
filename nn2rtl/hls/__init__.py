"""The HLS C++ back end: the typed graph as a Vitis-HLS-ready C++ project over nn2rtl's own layer templates
(:mod:`nn2rtl.hls.project`), and a g++ build of it called through ctypes (:mod:`nn2rtl.hls.toolchain`), bit-exact
with the golden model."""

from .project import TB_VECTORS, HlsProject, Layer
from .toolchain import HlsModel, find_ap_types, run_testbench

__all__ = ["HlsProject", "Layer", "HlsModel", "find_ap_types", "run_testbench", "TB_VECTORS"]
