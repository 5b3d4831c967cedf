"""Size limits checked before anything is built."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError

#: The widest tensor the parallel architecture carries: it moves a whole tensor in one bus per clock, and Amaranth
#: (like many tools) limits one value to 65535 bits, e.g. a 16x16x16 feature map at 16 bits.
MAX_PARALLEL_BITS = (1 << 16) - 1


def check_parallel_width(graph):
    """Refuse a tensor wider than :data:`MAX_PARALLEL_BITS` (elements times bits): beyond it the design belongs to
    the streaming architecture."""
    for src, name in [(None, t) for t in graph.inputs] + [(n, t) for n in graph.nodes for t in n.outputs]:
        t = graph.tensors[name]
        bits = t.size * t.type.width
        if bits > MAX_PARALLEL_BITS:
            where = f"layer {src.label}: its output" if src is not None else f"input '{name}'"
            raise ModelError(
                f"{where} has {t.size} elements of {t.type.width} bits ({bits} bits); io_parallel moves a whole "
                f"tensor at once and is limited to {MAX_PARALLEL_BITS} bits per tensor (e.g. 16x16x16 at 16 "
                f"bits). Use a smaller input or fewer channels, narrower types (Precision), or the streaming "
                f"architecture (io_stream) for feature maps this size")


def check_limits(graph, config, stream=False):
    """Refuse, before anything is built, layers beyond the configured limits (``Model.MaxLayerProducts``,
    ``Model.MaxTensorSize``): a model that size is almost always a mistake (a missing pooling layer, a wrong
    export), and building it would take hours and fail to fit. In the streaming architecture (``stream``) a feature
    map passes one pixel at a time: the limits apply to one pixel's channels and one output pixel's products."""
    for n in graph.nodes:
        for t in n.outputs:
            shape = graph.tensors[t].shape
            size = graph.tensors[t].size
            if stream and len(shape) >= 2:
                size = shape[0]
            if size > config.max_tensor_size:
                hint = (", or stream it (IOType: io_stream, one pixel at a time)"
                        if len(shape) >= 2 and not stream else "")
                raise ModelError(f"layer {n.label}: its output has {size} elements, more than the limit of "
                                 f"{config.max_tensor_size}; raise Model.MaxTensorSize if this is intended{hint}")
        w = n.params.get("weight")
        if w is not None:
            pixels = int(np.prod(n.attrs["out_shape"][:-1], dtype=np.int64)) if n.op == "Conv" and not stream else 1
            products = int(np.prod(np.shape(w), dtype=np.int64)) * pixels
            if products > config.max_layer_products:
                raise ModelError(f"layer {n.label}: {products} multiplications per inference, more than the limit "
                                 f"of {config.max_layer_products}; raise Model.MaxLayerProducts if this is intended")
