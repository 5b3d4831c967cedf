"""Graph -> Graph rewrites, one pass per module. Each pass returns a new graph and leaves its argument untouched.

:func:`lower` runs the float clean-up passes (:mod:`.noops`, :mod:`.permutes`, :mod:`.move_scales`,
:mod:`.thresholds`, :mod:`.scale_shift`); :func:`quantize` (:mod:`.assign_types`) applies a
:class:`~nn2rtl.config.Config`, then :mod:`.fuse_quantize` and the checks of :mod:`.limits`.
"""

from .assign_types import input_codes, quantize
from .fuse_quantize import fuse_quantize
from .limits import MAX_PARALLEL_BITS, check_limits, check_parallel_width
from .move_scales import move_scales
from .noops import NOOPS, drop_noops
from .permutes import ELEMENTWISE, sink_permutes
from .scale_shift import fuse_scale_shift
from .thresholds import fuse_thresholds

__all__ = ["drop_noops", "sink_permutes", "move_scales", "fuse_thresholds", "fuse_scale_shift", "fuse_quantize",
           "lower", "quantize", "check_limits", "check_parallel_width", "input_codes", "NOOPS", "ELEMENTWISE",
           "MAX_PARALLEL_BITS"]


def lower(graph):
    """All float clean-up passes, in order."""
    return fuse_scale_shift(fuse_thresholds(move_scales(sink_permutes(drop_noops(graph)))))
