"""Convolution (1-D and 2-D, any stride, padding, dilation and group count) in the internal channels-last layout.

Each output pixel is a dense product over its window, hls4ml's ``io_parallel`` convolution: every product cast to
the accumulator, summed with the bias, cast to the result type, exactly as :mod:`nn2rtl.ops.dense`. Attributes
(set by the front end): ``in_shape`` (spatial dimensions then channels), ``kernel``, ``strides``, ``dilations``,
``pads`` (ONNX order: all begins, then all ends), ``group``. Parameters: ``weight`` of shape
``(groups, window * channels_per_group, filters_per_group)`` (window positions row-major, then channels), ``bias``
of shape ``(filters,)``.
"""

import numpy as np

from rtl_lib.conv import WindowedDense
from rtl_lib.da import DenseDA
from rtl_lib.dense import DenseParallel, dense_latency, dense_registers, needs_multiplier
from rtl_lib.mac import DenseResource, mac_latency, mac_plan, resource_registers

from . import Cost, Op, register
from .dense import (
    _dsp,
    _levels_per_stage,
    _reuse,
    adder_graph_details,
    choose_dsp,
    choose_reuse,
    da_cost,
    da_input_floor,
    da_plan_of,
    dense_golden,
    free_running,
    hls_multipliers,
    hls_weights,
    implementation,
    never_negative,
    quantize_weights,
    require_wrap_accum,
)
from .windows import window_index

__all__ = ["Conv", "conv_windows"]


def conv_windows(attrs):
    """``(pixels, groups, window * channels_per_group)`` input element indices (channels-last) of every conv
    window, -1 for padding."""
    *spatial, c = attrs["in_shape"]
    g = attrs["group"]
    cg = c // g
    pix, _ = window_index(spatial, attrs["kernel"], attrs["strides"], attrs["pads"], attrs["dilations"],
                          attrs["out_shape"][:-1])
    ch = np.arange(g)[:, None] * cg + np.arange(cg)[None, :]                       # (groups, cg)
    idx = pix[:, None, :, None] * c + ch[None, :, None, :]                          # (P, G, K, cg)
    idx = np.where(pix[:, None, :, None] < 0, -1, idx)
    return idx.reshape(pix.shape[0], g, -1)


@register
class Conv(Op):
    name = "Conv"
    auto_result = True

    def quantize(self, node, graph, lc):
        in_type = graph.tensors[node.inputs[0]].type
        w = node.params["weight"]
        quantize_weights(node, graph, lc, in_type, w.shape[1])
        reuse = choose_reuse(node, lc, int(w.shape[1] * w.shape[2]))
        node.attrs["implementation"] = implementation(lc, reuse)
        if node.attrs["implementation"] == "distributed-arithmetic" and never_negative(graph, node.inputs[0]):
            node.attrs["input_never_negative"] = True  # zero padding is not negative either
        choose_dsp(node, lc, in_type)

    def _run(self, node, x, fn):
        idx = conv_windows(node.attrs)
        p, g, k = idx.shape
        rows = x.shape[0]
        xz = np.concatenate([x, np.zeros((rows, 1), dtype=x.dtype)], axis=1)  # index -1: the zero column
        win = xz[:, idx]                                                        # (rows, P, G, K)
        w = node.params["weight"]
        bias = node.params.get("bias")
        fg = w.shape[2]
        outs = []
        for gi in range(g):
            b = None if bias is None else np.asarray(bias)[gi * fg:(gi + 1) * fg]
            y = fn(win[:, :, gi, :].reshape(rows * p, k), np.asarray(w)[gi], b)
            outs.append(np.asarray(y).reshape(rows, p, fg))
        return np.concatenate(outs, axis=2).reshape(rows, -1)

    def reference(self, node, inputs):
        def dense(x, w, b):
            return x @ w + (0 if b is None else b)
        return [self._run(node, np.asarray(inputs[0], dtype=np.float64), dense)]

    def golden(self, node, inputs):
        return [self._run(node, inputs[0], lambda x, w, b: dense_golden(x, w, b, node.types))]

    @staticmethod
    def _group(node, gi):
        """Group ``gi``'s weights (window x filters) and bias (or None)."""
        w = np.asarray(node.params["weight"])
        fg = w.shape[2]
        bias = node.params.get("bias")
        return w[gi], None if bias is None else np.asarray(bias)[gi * fg:(gi + 1) * fg]

    def _parallel_latency(self, node):
        """At reuse factor 1 the groups' kernels are aligned to the slowest one."""
        tacc, tout = node.types["accum"], node.types["result"]
        groups = range(np.asarray(node.params["weight"]).shape[0])
        if node.attrs.get("implementation") == "distributed-arithmetic":
            return max(da_cost(*self._group(node, gi), node.types, _levels_per_stage(node),
                               in_lo=da_input_floor(node))[0] for gi in groups)
        return max(dense_latency(*self._group(node, gi), _levels_per_stage(node), tacc, tout) for gi in groups)

    def _kernel(self, node, gi, library, free=False):
        w, b = self._group(node, gi)
        args = dict(in_type=node.types["input"], weights=w, weight_type=node.types["weight"], bias=b,
                    bias_type=node.types.get("bias"), accum_type=node.types["accum"],
                    out_type=node.types["result"], levels_per_stage=_levels_per_stage(node), library=library)
        reuse = _reuse(node)
        if node.attrs.get("implementation") == "distributed-arithmetic":
            latency = self._parallel_latency(node)
            return lambda: DenseDA(latency=latency, in_lo=da_input_floor(node), free_running=free, **args)
        if reuse == 1:
            latency = self._parallel_latency(node)
            return lambda: DenseParallel(latency=latency, **args)
        latency = self._resource_latency(node)
        return lambda: DenseResource(reuse=reuse, latency=latency, dsp=_dsp(node), **args)

    def _resource_plans(self, node):
        """The multiply-accumulate plan of each group's kernel (zero weights skipped)."""
        w = np.asarray(node.params["weight"])
        return [mac_plan(w.shape[1], w.shape[2], _reuse(node), w[gi], _dsp(node)) for gi in range(w.shape[0])]

    def _resource_latency(self, node):
        """At reuse factor > 1 too the groups' kernels are aligned to the slowest one."""
        return max(mac_latency(plan, _levels_per_stage(node), node.types["accum"], node.types["result"])
                   for plan in self._resource_plans(node))

    def block(self, node, graph, library=None):
        require_wrap_accum(node)
        idx = conv_windows(node.attrs)
        n_in = int(np.prod(node.attrs["in_shape"], dtype=np.int64))
        kernels = [self._kernel(node, gi, library, free_running(graph)) for gi in range(idx.shape[1])]
        return WindowedDense(n_in, node.types["input"].width, idx, kernels, key=node.name, library=library)

    def hls(self, node, graph, layer):
        idx = conv_windows(node.attrs)
        p, g, k = idx.shape
        fg = np.asarray(node.params["weight"]).shape[2]
        layer.config(n_in=int(np.prod(node.attrs["in_shape"], dtype=np.int64)),
                     n_out=graph.tensors[node.outputs[0]].size, pixels=p, groups=g, window=k, filters_per_group=fg,
                     reuse_factor=_reuse(node), multiplier_limit=hls_multipliers(self, node, graph))
        windows = layer.index("windows", idx, comment="input element of every (pixel, group, window position); "
                                                       "-1: padding")
        layer.call("nn2rtl::conv", windows, *hls_weights(node, layer, (g * fg,)))

    def details(self, node, graph):
        if node.attrs.get("implementation") != "distributed-arithmetic":
            return {"dsp": _dsp(node)} if node.attrs.get("dsp") else {}
        groups = range(np.asarray(node.params["weight"]).shape[0])
        lps = _levels_per_stage(node)
        plans = [da_plan_of(*self._group(node, gi), node.types, lps, da_input_floor(node)) for gi in groups]
        # one kernel per output pixel (windows reaching the zero padding still have every adder)
        return adder_graph_details(plans, [self._group(node, gi)[0] for gi in groups],
                                   instances=conv_windows(node.attrs).shape[0])

    def cost(self, node, graph):
        """The kernel's schedule (:func:`dense_latency` or :func:`mac_latency`), once per pixel and group.

        Multipliers at reuse factor 1 count only the products that need one: a zero weight costs nothing, a
        +-2^k weight is a shift, and a window position in the zero padding multiplies a constant zero, which
        synthesis removes."""
        w = np.asarray(node.params["weight"])
        g, k, fg = w.shape
        idx = conv_windows(node.attrs)
        p = idx.shape[0]
        lps, reuse = _levels_per_stage(node), _reuse(node)
        tacc, tout = node.types["accum"], node.types["result"]
        products = p * g * k * fg
        if node.attrs.get("implementation") == "distributed-arithmetic":
            latency = self._parallel_latency(node)
            per_group = [da_cost(*self._group(node, gi), node.types, lps, latency, da_input_floor(node))
                         for gi in range(g)]
            return Cost(latency=latency, ii=1, multipliers=0, products=products,
                        registers=p * sum(c[1] for c in per_group), adders=p * sum(c[2] for c in per_group),
                        adder_bits=p * sum(c[3] for c in per_group))
        if reuse == 1:
            needs = needs_multiplier(w).sum(axis=2)                           # (G, K): multiplied weights per row
            live = (idx >= 0)                                                 # (P, G, K)
            multipliers = int((live * needs[None, :, :]).sum())
            latency = self._parallel_latency(node)
            registers = p * sum(dense_registers(*self._group(node, gi), lps, tacc, tout, latency) for gi in range(g))
            return Cost(latency=latency, ii=1, multipliers=multipliers, products=products, registers=registers)
        plans = self._resource_plans(node)
        latency = self._resource_latency(node)
        ti, tw = node.types["input"], node.types["weight"]
        registers = sum(resource_registers(plan, ti, tw, tacc, tout, lps)
                        + fg * tout.width * (latency - mac_latency(plan, lps, tacc, tout)) for plan in plans)
        multipliers = sum(plan.multipliers for plan in plans)
        return Cost(latency=latency, ii=reuse, multipliers=p * multipliers, products=products,
                    registers=p * registers, rom_bits=p * multipliers * reuse * tw.width)
