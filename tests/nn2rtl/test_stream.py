"""The streaming architecture (io_stream) without Verilator: the plan of each kind of network, the schedule model
(FIFO depths, deadlock, timing), the top level in Amaranth's simulator under random gaps and stalls, the
configuration, reports and errors."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from amaranth.sim import Simulator
from helpers import cnn_models, models
from onnx import TensorProto, helper, numpy_helper

import nn2rtl
from nn2rtl.errors import ModelError, UnsupportedOpError
from nn2rtl.stream.schedule import simulate_plan, size_fifos, stream_timing

STREAM = {"Model": {"IOType": "io_stream", "Precision": {"accum": "auto"}}}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnn")
    out = {}
    for name in ("conv1d", "conv2d", "residual", "unet", "padded"):
        out[name] = d / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cnn_models.export(name, out[name], dynamo=False)
    return out


def stream_design(path, **model):
    cfg = {"Model": {**STREAM["Model"], **model}}
    return nn2rtl.convert(str(path), config=cfg)


def kinds(design):
    return [s.kind for s in design.stream.plan.stages]


def test_a_cnn_streams_pixels_through_line_buffers(exported):
    d = stream_design(exported["conv2d"])
    k = kinds(d)
    assert k[0] == "source" and k[-1] == "sink"
    assert k.count("window") == 4           # two convolutions and two poolings
    assert "fifo" not in k                  # a chain: no branch waits for another
    assert k.count("collect") == 1          # the last feature map becomes the Dense's vector
    st = d.report()["stream"]
    assert st["input_beats"] == 64 and st["input"]["elements_per_beat"] == 1
    assert st["memory_bits"]["line_buffers"] > 0
    assert d.latency == st["latency_first_beat"] and d.ii == st["ii_per_image"]


def test_a_residual_block_gets_a_fifo_per_branch_sized_by_the_schedule(exported):
    d = stream_design(exported["residual"])
    plan = d.stream.plan
    assert kinds(d).count("fork") == 1 and kinds(d).count("fifo") == 2 and kinds(d).count("join") == 1
    depths = d.stream.depths
    assert depths == size_fifos(plan)
    report = d.report()["stream"]["fifos"]
    assert {f["name"]: f["depth"] for f in report} == depths
    assert all("largest occupancy" in f["reason"] for f in report)
    skip = max(depths, key=depths.get)
    assert any("Add" in f["feeds"] for f in report if f["name"] == skip)  # the skip path meets the Add
    # one place fewer on the skip FIFO and the input is held up: the image takes longer
    base = stream_timing(plan, depths)
    fewer = simulate_plan(plan, 3, {**depths, skip: depths[skip] - 1})
    assert not fewer.deadlock
    assert fewer.in_at != simulate_plan(plan, 3, depths).in_at
    assert max(base["ii"]) == d.ii
    # with a single place the two branches wait for each other forever
    assert simulate_plan(plan, 2, {**depths, skip: 1}).deadlock


@pytest.mark.parametrize("name", ["residual", "unet"])
def test_the_chosen_depths_never_deadlock_under_random_gaps_and_stalls(exported, name):
    d = stream_design(exported[name])
    for seed in range(5):
        rng = np.random.default_rng(seed)
        offer = rng.random(200000) < 0.6
        accept = rng.random(200000) < 0.4
        t = simulate_plan(d.stream.plan, 4, d.stream.depths, offer=offer.__getitem__, accept=accept.__getitem__)
        assert not t.deadlock and len(t.out_at) == 4 * d.stream.out_beats


def test_unet_block_streams_maxpool_upsample_and_concat(exported):
    d = stream_design(exported["unet"])
    nodes = {s.node: s.kind for s in d.stream.plan.stages if s.kind in ("pipe", "upsample")}
    ops = {d.graph.node(n).op for n in nodes}
    assert {"Conv", "Pool", "Permute", "Concat"} <= ops
    # the upsampling is a pixel stream with one row of memory, not a collected vector
    (up,) = [s for s in d.stream.plan.stages if s.kind == "upsample"]
    assert (up.args["sy"], up.args["sx"]) == (2, 2) and up.args["memory_bits"] == 3 * 3 * 16
    assert "collect" not in [s.kind for s in d.stream.plan.stages][:-3]


def test_ceil_mode_pooling_walks_extra_padding(exported):
    """``ceil_mode``: the last window reaches beyond the padded input; the window generator walks those positions
    as padding (the divisor does not count them). The values are checked in Amaranth and Verilator below."""
    d = stream_design(exported["padded"])
    pools = [s for s in d.stream.plan.stages if s.kind == "window" and d.graph.node(s.node).op == "Pool"]
    ceil = [s for s in pools if d.graph.node(s.node).attrs["mode"] == "avg"]
    assert ceil and all(s.args["pads"][3] > d.graph.node(s.node).attrs["pads"][1] for s in ceil)
    assert any("divisors" in s.args for s in d.stream.plan.stages if s.kind == "pipe")
    # the explicit Pad streams as zero pixels inserted around the trace
    (pad,) = [s for s in d.stream.plan.stages if s.kind == "pad"]
    assert pad.args["pads"] == (0, 1, 0, 2)


def _drive(design, raw, rng, p_in=0.7, p_out=0.6):
    """Stream ``raw`` rows through the top level in Amaranth's simulator; the output rows in the model's order."""
    st = design.stream
    top = st.top()
    p = st.plan
    rows = st.to_stream(raw, "in")
    tin, tout = p.in_type, p.out_type
    words = []
    for r in rows:
        for b in range(len(r) // p.in_elements):
            words.append(sum((int(v) & ((1 << tin.width) - 1)) << (k * tin.width)
                             for k, v in enumerate(r[b * p.in_elements:(b + 1) * p.in_elements])))
    n_out = len(raw) * st.out_beats
    got, lasts = [], []

    async def bench(ctx):
        k = 0
        for _ in range(100000):
            offer = k < len(words) and rng.random() < p_in
            ctx.set(top.s_axis_tvalid, offer)
            ctx.set(top.s_axis_tdata, words[k] if offer else 0)
            ready = bool(rng.random() < p_out)
            ctx.set(top.m_axis_tready, ready)
            took = offer and ctx.get(top.s_axis_tready)
            if ctx.get(top.m_axis_tvalid) and ready:
                got.append(ctx.get(top.m_axis_tdata))
                lasts.append(ctx.get(top.m_axis_tlast))
            await ctx.tick()
            k += int(took)
            if len(got) == n_out:
                return
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    vals = np.array([[(w >> (j * tout.width)) & ((1 << tout.width) - 1) for j in range(p.out_elements)]
                     for w in got], dtype=np.int64).reshape(len(raw), -1)
    if tout.signed:
        vals = np.where(vals >> (tout.width - 1), vals - (1 << tout.width), vals)
    out = np.zeros((len(raw), len(p.out_map)), dtype=np.int64)
    out[:, p.out_map] = vals[:, :len(p.out_map)]
    assert lasts == ([0] * (st.out_beats - 1) + [1]) * len(raw)
    return out


@pytest.mark.parametrize("name", ["residual", "unet", "padded"])
def test_stream_top_equals_the_golden_model_under_stalls_in_amaranth(exported, name):
    d = stream_design(exported[name])
    rng = np.random.default_rng(3)
    raw = nn2rtl.design.make_vectors(d.input.type, d.input.size, 4, seed=1)[-4:]
    assert np.array_equal(_drive(d, raw, rng), d.predict_raw(raw))


def test_an_image_output_streams_pixels_in_channels_last_order(tmp_path):
    """A segmentation-style network: the output is a feature map, streamed pixel by pixel; the model's final layout
    change is the stream order itself (absorbed), and the harness's map puts the elements back."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.5, (3, 2, 3, 3)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1],
                                            kernel_shape=[3, 3])], "seg",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 5, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 5, 4])], [w])
    path = tmp_path / "seg.onnx"
    models.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    d = stream_design(path)
    assert d.stream.in_beats == d.stream.out_beats == 20
    assert d.stream.plan.out_elements == 3
    assert not np.array_equal(d.stream.plan.out_map, np.arange(60))
    raw = nn2rtl.design.make_vectors(d.input.type, d.input.size, 3, seed=2)[-3:]
    assert np.array_equal(_drive(d, raw, np.random.default_rng(1)), d.predict_raw(raw))


@pytest.mark.parametrize("epb, beats_in, beats_out", [(None, 1, 1), (4, 3, 2), (3, 4, 2), (1, 10, 5)])
def test_mlp_elements_per_beat(tmp_path, epb, beats_in, beats_out):
    """An MLP's vectors: one beat each, or ElementsPerBeat elements per beat (the last beat zero-padded)."""
    path = models.save(models.torch_mlp([10, 8, 5]), tmp_path / "mlp.onnx")
    model = {"ElementsPerBeat": epb} if epb else {}
    d = stream_design(path, **model)
    assert (d.stream.in_beats, d.stream.out_beats) == (beats_in, beats_out)
    raw = nn2rtl.design.make_vectors(d.input.type, d.input.size, 3, seed=0)[-3:]
    assert np.array_equal(_drive(d, raw, np.random.default_rng(epb or 0)), d.predict_raw(raw))


def test_elements_per_beat_needs_a_stream(tmp_path):
    path = models.save(models.torch_mlp([4, 2]), tmp_path / "mlp.onnx")
    with pytest.raises(nn2rtl.ConfigError, match="ElementsPerBeat.*io_stream"):
        nn2rtl.convert(str(path), config={"Model": {"ElementsPerBeat": 2}})


def test_both_architectures_compute_the_same_bits(exported):
    par = nn2rtl.convert(str(exported["residual"]), config={"Model": {"Precision": {"accum": "auto"}}})
    st = stream_design(exported["residual"])
    x = np.random.default_rng(0).normal(0, 1, (50, par.input.size))
    assert np.array_equal(par.predict(x), st.predict(x))
    assert par.io_type == "io_parallel" and st.io_type == "io_stream"


def test_stream_verilog_is_deterministic_and_has_axi_ports(exported):
    a = stream_design(exported["residual"]).verilog
    b = stream_design(exported["residual"]).verilog
    assert a == b
    for port in ("s_axis_tdata", "s_axis_tvalid", "s_axis_tready", "s_axis_tlast", "m_axis_tdata",
                 "m_axis_tvalid", "m_axis_tready", "m_axis_tlast"):
        assert port in a


def test_large_images_are_accepted_in_stream_only(tmp_path):
    """256x256x3: far beyond io_parallel's bus, one pixel per beat in io_stream (the limits apply per pixel)."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1],
                                            kernel_shape=[3, 3]), helper.make_node("Relu", ["y"], ["z"])], "big",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 256, 256])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 4, 256, 256])], [w])
    path = tmp_path / "big.onnx"
    models.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(ModelError, match="io_stream"):
        nn2rtl.convert(str(path))
    d = stream_design(path)
    assert d.stream.in_beats == 256 * 256
    assert d.stream.ii == 258 * 258  # one step per position of the padded image
    assert d.report()["stream"]["memory_bits"]["line_buffers"] == 2 * 258 * 3 * 16


def test_dilated_convolution_is_refused_with_the_layer_named(tmp_path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (2, 1, 3, 3)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="dil", dilations=[2, 2],
                                            kernel_shape=[3, 3])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 4, 4])], [w])
    path = tmp_path / "dil.onnx"
    models.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(UnsupportedOpError, match="'dil'.*dilations.*io_parallel"):
        stream_design(path)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "nn2rtl", "convert", str(path), "-o", str(out), "--io-type",
                        "io_stream"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    assert not out.exists()


def test_cli_io_type_writes_the_stream_report(exported, tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "nn2rtl", "convert", str(exported["conv1d"]), "-o", str(out),
                        "--io-type", "io_stream"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = json.loads((out / "design.json").read_text())
    assert d["io_type"] == "io_stream" and d["input"]["port"] == "s_axis_tdata"
    s = d["stream"]
    assert s["ii_per_image"] == d["ii"] and s["latency_first_beat"] == d["latency"]
    assert s["images_per_second"] == pytest.approx(1e9 / (5.0 * s["ii_per_image"]))
    assert "io_stream:" in r.stdout and "cycles per image" in r.stdout
    loaded = nn2rtl.Design.load(out)
    assert loaded.io_type == "io_stream" and loaded.ii == d["ii"]
