"""A streaming convolution from the streaming blocks, in Amaranth's simulator: WindowGenerator (line buffers) ->
PipelineStream(the layer's own dense kernel, at reuse factor 1 and above) equals the Conv golden model on every
output of several images, under random input gaps and output stalls."""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from helpers.streams import drive_stream
from onnx import TensorProto, helper, numpy_helper

from nn2rtl.config import Config
from nn2rtl.frontend.onnx import import_onnx
from nn2rtl.ops import REGISTRY
from nn2rtl.passes import lower, quantize
from rtl_lib.streaming import PipelineStream
from rtl_lib.window import WindowGenerator

H, W, C, F = 5, 6, 2, 3


def conv_node(reuse, pads, strides, seed=0, filters=F):
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 0.5, (filters, C, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 0.5, filters).astype(np.float32), "b")
    oh = (H + pads[0] + pads[2] - 3) // strides[0] + 1
    ow = (W + pads[1] + pads[3] - 3) // strides[1] + 1
    g = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", kernel_shape=[3, 3],
                                            pads=list(pads), strides=list(strides))], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", C, H, W])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", filters, oh, ow])], [w, b])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    cfg = Config.from_dict({"Model": {"Precision": "fixed<8,3>", "ReuseFactor": reuse}})
    graph = quantize(lower(import_onnx(model)), cfg)
    (node,) = [n for n in graph.nodes if n.op == "Conv"]
    return node


def _pack(values, bits):
    return sum((int(v) & ((1 << bits) - 1)) << (k * bits) for k, v in enumerate(values))


@pytest.mark.parametrize("reuse", [1, 3])
@pytest.mark.parametrize("pads, strides", [((1, 1, 1, 1), (1, 1)), ((0, 1, 1, 0), (2, 1))])
def test_streaming_conv_equals_the_conv_golden_model(reuse, pads, strides):
    node = conv_node(reuse, pads, strides)
    tin, tout = node.types["input"], node.types["result"]
    op = REGISTRY["Conv"]
    kernel = op._kernel(node, 0, None)()
    gen = WindowGenerator(H, W, C * tin.width, (3, 3), strides, pads)
    pipe = PipelineStream(kernel)
    assert pipe.ii == reuse

    top = Module()
    top.submodules.gen, top.submodules.pipe = gen, pipe
    wiring.connect(top, gen.o, pipe.i)

    rng = np.random.default_rng(1)
    images = rng.integers(tin.min_raw, tin.max_raw + 1, size=(3, H * W * C))   # channels-last raw pixels
    want = op.golden(node, [images])[0]                                         # (images, out pixels * F)
    per_image = gen.out_h * gen.out_w
    got = _stream(top, gen, pipe, images, tin, tout, F, per_image, rng)
    assert got.shape == (3 * per_image, F)
    assert np.array_equal(got.reshape(3, -1), want)


def pool_node(op, attrs):
    g = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="pool", **attrs)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", C, H, W])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    graph = quantize(lower(import_onnx(model)), Config.from_dict({"Model": {"Precision": "fixed<8,3>"}}))
    (node,) = [n for n in graph.nodes if n.op == "Pool"]
    return node


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [2, 3], "strides": [1, 3]}),
])
def test_streaming_pooling_equals_the_pool_golden_model(op, attrs):
    """Pooling from the same pieces: the window generator (padding with the type's minimum for max pooling) and the
    parallel architecture's pooling tree for one window of every channel. (Average pooling whose divisor changes
    at the border, padding not counted, needs the output position: not covered yet.)"""
    from rtl_lib.pool import Pool as PoolBlock
    node = pool_node(op, attrs)
    tin, tacc, tout = node.types["input"], node.types["accum"], node.types["result"]
    kh, kw = node.attrs["kernel"]
    k = kh * kw
    windows = np.array([[j * C + ch for j in range(k)] for ch in range(C)])
    mode = node.attrs["mode"]
    block = PoolBlock(k * C, tin, tacc, tout, windows, mode, divisors=[k] * C if mode == "avg" else None,
                      levels_per_stage=node.attrs.get("levels_per_stage", 2))
    pad = _pack([tin.min_raw] * C, tin.width) if mode == "max" else 0
    gen = WindowGenerator(H, W, C * tin.width, (kh, kw), node.attrs["strides"], node.attrs["pads"], pad_pixel=pad)
    _pool_equals_golden(node, gen, block, seed=2)


def _pool_equals_golden(node, gen, block, seed):
    """``gen -> PipelineStream(block)`` on 3 random images equals the Pool golden model of ``node``."""
    tin, tout = node.types["input"], node.types["result"]
    pipe = PipelineStream(block)
    top = Module()
    top.submodules.gen, top.submodules.pipe = gen, pipe
    wiring.connect(top, gen.o, pipe.i)
    rng = np.random.default_rng(seed)
    images = rng.integers(tin.min_raw, tin.max_raw + 1, size=(3, H * W * C))
    want = REGISTRY["Pool"].golden(node, [images])[0]
    got = _stream(top, gen, pipe, images, tin, tout, C, gen.out_h * gen.out_w, rng)
    assert np.array_equal(got.reshape(3, -1), want)


def _stream(top, gen, pipe, images, tin, tout, n_out, per_image, rng):
    """Stream ``images`` (channels-last raw pixels) through ``top`` with random gaps and stalls; the output beats
    unpacked to ``n_out`` raw values of ``tout``."""
    words = [_pack(img[p * C:(p + 1) * C], tin.width) for img in images for p in range(H * W)]
    beats = drive_stream(top, gen.i, pipe.o, words, len(images) * per_image, rng)
    got = np.array([[(word >> (j * tout.width)) & ((1 << tout.width) - 1) for j in range(n_out)] for word in beats],
                   dtype=np.int64)
    return np.where(got >= 1 << (tout.width - 1), got - (1 << tout.width), got) if tout.signed else got


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 1]},
    {"kernel_shape": [5, 5], "pads": [2, 2, 2, 2]},
])
def test_streaming_average_pooling_with_uncounted_padding(attrs):
    """Average pooling that does not count the padding divides border windows by fewer elements: a counter of
    windows selects the divisor (PositionalAvgPool), equal to the Pool golden model under stalls."""
    from nn2rtl.ops.pool import pool_windows
    from rtl_lib.pool import PositionalAvgPool, pool_latency
    node = pool_node("AveragePool", attrs)
    tin, tacc, tout = node.types["input"], node.types["accum"], node.types["result"]
    kh, kw = node.attrs["kernel"]
    _, div = pool_windows(node.attrs)
    divisors = div[::C]
    assert len(set(divisors)) > 1  # the border really differs
    block = PositionalAvgPool(kh * kw, C, tin, tacc, tout, divisors)
    assert block.latency == pool_latency(kh * kw, 2)
    gen = WindowGenerator(H, W, C * tin.width, (kh, kw), node.attrs["strides"], node.attrs["pads"])
    _pool_equals_golden(node, gen, block, seed=3)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_collector_gathers_every_image_in_order_under_stalls(n):
    from rtl_lib.streaming import Collector
    dut = Collector(n, 6)
    rng = np.random.default_rng(n)
    beats = rng.integers(0, 64, size=(5, n))
    words = [int(v) for row in beats for v in row]
    out = drive_stream(dut, dut.i, dut.o, words, len(beats), rng, p_out=0.3)
    got = [[(word >> (6 * j)) & 63 for j in range(n)] for word in out]
    assert np.array_equal(np.array(got), beats)


def _residual(depth, reuse=1, seed=0):
    """x -> Fork -> (WindowGenerator 3x3 pad 1 -> the conv kernel) and (SyncFIFO of ``depth``) -> Join -> a + b:
    a residual block in the streaming architecture (C channels in, C out)."""
    from amaranth.lib.fifo import SyncFIFO

    from rtl_lib.streaming import Fork, Join
    node = conv_node(reuse, (1, 1, 1, 1), (1, 1), seed=seed, filters=C)
    tin = node.types["input"]
    kernel = REGISTRY["Conv"]._kernel(node, 0, None)()
    top = Module()
    fork = top.submodules.fork = Fork(C * tin.width)
    gen = top.submodules.gen = WindowGenerator(H, W, C * tin.width, (3, 3), (1, 1), (1, 1, 1, 1))
    pipe = top.submodules.pipe = PipelineStream(kernel)
    fifo = top.submodules.fifo = SyncFIFO(width=C * tin.width, depth=depth)
    join = top.submodules.join = Join(len(pipe.o.payload), C * tin.width)
    wiring.connect(top, fork.a, gen.i)
    wiring.connect(top, gen.o, pipe.i)
    wiring.connect(top, fork.b, fifo.w_stream)
    wiring.connect(top, pipe.o, join.a)
    wiring.connect(top, fifo.r_stream, join.b)
    return top, fork, join, node, pipe


def _residual_want(node, images):
    tin, tout = node.types["input"], node.types["result"]
    conv = REGISTRY["Conv"].golden(node, [images])[0]
    assert tin.frac == tout.frac
    return conv + images  # exact sum of two values on the same grid


def _split(beats, tin, tout):
    out = []
    for word in beats:
        a = [(word >> (j * tout.width)) & ((1 << tout.width) - 1) for j in range(C)]
        b = [(word >> (C * tout.width + j * tin.width)) & ((1 << tin.width) - 1) for j in range(C)]
        a = [v - (1 << tout.width) if v >> (tout.width - 1) else v for v in a]
        b = [v - (1 << tin.width) if v >> (tin.width - 1) else v for v in b]
        out.append([x + y for x, y in zip(a, b)])
    return np.array(out, dtype=np.int64)


@pytest.mark.parametrize("reuse", [1, 3])
def test_residual_fifo_depth_from_the_schedule(reuse):
    """The skip branch's FIFO sized by skip_fifo_depth from the window schedule and the kernel's latency: without
    stalls the input never waits (an image every window_steps cycles), under random stalls every output is exact;
    one place fewer than the structural minimum deadlocks."""
    from rtl_lib.streaming import skip_fifo_depth
    from rtl_lib.window import window_schedule, window_steps
    takes, emits = window_schedule(H, W, (3, 3), (1, 1), (1, 1, 1, 1))
    node = conv_node(reuse, (1, 1, 1, 1), (1, 1), filters=C)
    probe = REGISTRY["Conv"]._kernel(node, 0, None)()
    probe._MustUse__silence = True  # only its latency is wanted
    full, minimum = skip_fifo_depth(takes, emits, probe.latency)
    assert minimum == W + 1 and full >= minimum  # the window ending on input (1, 1), less the fork's place
    rng = np.random.default_rng(4)
    tin, tout = node.types["input"], node.types["result"]
    images = rng.integers(tin.min_raw, tin.max_raw + 1, size=(3, H * W * C))
    words = [_pack(img[p * C:(p + 1) * C], tin.width) for img in images for p in range(H * W)]
    want = _residual_want(node, images)
    # full rate: exact, and one image per window_steps cycles when nothing stalls (reuse 1)
    top, fork, join, node, pipe = _residual(full, reuse)
    cycles = []
    beats = drive_stream(top, fork.i, join.o, words, 3 * H * W, rng, p_in=1.0, p_out=1.0, cycles=cycles)
    assert np.array_equal(_split(beats, tin, tout).reshape(3, -1), want)
    if reuse == 1:
        firsts = cycles[::H * W]
        assert firsts[2] - firsts[1] == firsts[1] - firsts[0] == window_steps(H, W, (1, 1, 1, 1))
    # random stalls on both sides, at the structural minimum: exact, no deadlock
    top, fork, join, node, pipe = _residual(minimum, reuse)
    beats = drive_stream(top, fork.i, join.o, words, 3 * H * W, rng)
    assert np.array_equal(_split(beats, tin, tout).reshape(3, -1), want)
    # one place fewer: nothing comes out after the first outputs
    top, fork, join, node, pipe = _residual(minimum - 1, reuse)
    beats = drive_stream(top, fork.i, join.o, words, 3 * H * W, rng, p_in=1.0, p_out=1.0)
    assert len(beats) == 0
    assert window_steps(H, W, (1, 1, 1, 1)) == len(takes)


@pytest.mark.parametrize("depth", [1, 3, 4])
def test_result_fifo_keeps_order_and_passes_straight_through(depth):
    """``ResultFifo``: results arrive while fewer than ``depth`` wait (the caller's guarantee) and leave in order
    under random stalls; one that finds the FIFO empty and the consumer ready leaves in the cycle it arrives."""
    from amaranth.sim import Simulator

    from rtl_lib.streaming import ResultFifo

    dut = ResultFifo(12, depth)
    rng = np.random.default_rng(depth)
    sent, got, straight = [], [], []

    async def bench(ctx):
        waiting = 0
        for _ in range(3000):
            arrive = waiting < depth and rng.random() < 0.6
            ready = bool(rng.random() < 0.5)
            value = int(rng.integers(0, 1 << 12))
            ctx.set(dut.w_valid, arrive)
            ctx.set(dut.w_data, value if arrive else 0)
            ctx.set(dut.r_ready, ready)
            if arrive:
                sent.append(value)
            if arrive and waiting == 0 and ready:  # out in the cycle it arrives
                straight.append(ctx.get(dut.r_valid) and ctx.get(dut.r_data) == value)
            if ctx.get(dut.r_valid) and ready:
                got.append(ctx.get(dut.r_data))
            waiting += int(arrive) - int(bool(ctx.get(dut.r_valid)) and ready)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(sent) > 1000 and got == sent[:len(got)] and len(sent) - len(got) <= depth
    assert len(straight) > 50 and all(straight)
    with pytest.raises(ValueError, match="at least one place"):
        ResultFifo(8, 0)
