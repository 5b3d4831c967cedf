"""Window geometry shared by convolution and pooling (and by the streaming line buffers): output sizes and, per
output position, the input positions of its window, in ONNX's definitions of pads, strides, dilations and
``ceil_mode``."""

import numpy as np

__all__ = ["out_spatial", "window_index"]


def out_spatial(in_spatial, kernel, strides, pads, dilations, ceil_mode=False):
    """Output size per spatial axis (ONNX's formula; ``ceil_mode`` for pooling)."""
    r = len(in_spatial)
    out = []
    for a in range(r):
        span = dilations[a] * (kernel[a] - 1) + 1
        room = in_spatial[a] + pads[a] + pads[a + r] - span
        n = (-(-room // strides[a]) if ceil_mode else room // strides[a]) + 1
        if ceil_mode and (n - 1) * strides[a] >= in_spatial[a] + pads[a]:
            n -= 1  # ONNX/PyTorch: the last window must start inside the input or the begin padding
        out.append(n)
    return tuple(out)


def window_index(in_spatial, kernel, strides, pads, dilations, out_spatial_shape):
    """``(positions, kind)``: for every output pixel (row-major) and kernel position (row-major), the flat input
    pixel it reads, and ``kind`` 0 inside the input, 1 in the padding, 2 beyond it (a ``ceil_mode`` window)."""
    r = len(in_spatial)
    grids = np.meshgrid(*[np.arange(n) for n in out_spatial_shape], indexing="ij")
    kgrids = np.meshgrid(*[np.arange(k) for k in kernel], indexing="ij")
    n_out = int(np.prod(out_spatial_shape, dtype=np.int64))
    n_k = int(np.prod(kernel, dtype=np.int64))
    flat = np.zeros((n_out, n_k), dtype=np.int64)
    kind = np.zeros((n_out, n_k), dtype=np.int64)
    for a in range(r):
        coord = (grids[a].reshape(-1, 1) * strides[a] - pads[a] + kgrids[a].reshape(1, -1) * dilations[a])
        outside = (coord < 0) | (coord >= in_spatial[a])
        beyond = coord >= in_spatial[a] + pads[a + r]
        kind = np.maximum(kind, np.where(beyond, 2, np.where(outside, 1, 0)))
        flat = flat * in_spatial[a] + np.clip(coord, 0, in_spatial[a] - 1)
    flat[kind > 0] = -1
    return flat, kind
