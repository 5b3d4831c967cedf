"""io_stream designs in Verilator (the AXI4-Stream harness): every output bit against the golden model, tlast on the
last beat of every image, no stalled beat changed under random tvalid gaps and tready stalls, and every beat of the
back-to-back images in the cycle the schedule states (so the stated latency and II are measured ones).

The networks the issue names: a Conv1D on a trace, a 2-D CNN with pooling, a residual block (two branches of
different latency meeting in an Add, with a reuse factor too), a U-Net-like block (MaxPool, Upsample, Concat), an
MLP (one vector per beat and a few elements per beat), the bundled jet CNN, and a 256x256x3 image through three
3x3 convolutions. Their io_parallel designs are simulated in test_cnn_rtl.py and test_rtl.py against the same
golden model, which both architectures share (checked here too)."""

import warnings

import numpy as np
import pytest
from helpers import cnn_models, models

import nn2rtl

pytestmark = pytest.mark.rtl

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _check(design, r, images):
    assert r.ok, r.failures()
    assert r.images == r.results == images and r.timed_images == min(3, images)
    assert r.schedule_differences == 0
    assert r.latency_first[0] == design.latency == design.stream.latency_first
    assert r.latency_last[0] == design.stream.latency_last
    assert all(d == design.ii for d in r.ii[-1:])
    assert r.stall_cycles > 0  # the random phase really stalled the output


@pytest.mark.parametrize("name, reuse", [("conv1d", 1), ("conv2d", 1), ("residual", 1), ("residual", 3),
                                         ("unet", 1), ("padded", 2)])
def test_stream_cnn_bit_exact_and_on_schedule(name, reuse, tmp_path):
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cnn_models.export(name, path, dynamo=False)
    cfg = {"Model": {"IOType": "io_stream", "ReuseFactor": reuse, "Precision": {"accum": "auto"}}}
    design = nn2rtl.convert(str(path), config=cfg, top=f"st_{name}_r{reuse}")
    r = design.simulate(vectors=30, seed=reuse, work_dir=tmp_path)
    _check(design, r, r.images)
    parallel = nn2rtl.convert(str(path), config={"Model": {"ReuseFactor": reuse, "Precision": {"accum": "auto"}}})
    raw = nn2rtl.design.make_vectors(design.input.type, design.input.size, 30, seed=reuse)
    assert np.array_equal(parallel.predict_raw(raw), design.predict_raw(raw))


@pytest.mark.parametrize("epb", [None, 3])
def test_stream_mlp(epb, tmp_path):
    path = models.save(models.torch_mlp([10, 16, 8, 5]), tmp_path / "mlp.onnx")
    model = {"IOType": "io_stream", "ReuseFactor": 2}
    if epb:
        model["ElementsPerBeat"] = epb
    design = nn2rtl.convert(str(path), config={"Model": model}, top=f"st_mlp_{epb or 'all'}")
    r = design.simulate(vectors=200, seed=1, work_dir=tmp_path)
    _check(design, r, r.images)
    if epb:
        assert design.stream.in_beats == 4 and design.stream.out_beats == 2


def test_stream_bundled_jet_cnn_on_its_inputs(tmp_path):
    design = nn2rtl.convert(str(ROOT / "examples" / "jet_cnn.onnx"), top="st_jet_cnn",
                            config={"Model": {"IOType": "io_stream", "ReuseFactor": 4,
                                              "Precision": {"accum": "auto"}}})
    x = np.load(ROOT / "examples" / "jet_cnn_inputs.npy")[:40]
    r = design.simulate(inputs=x, work_dir=tmp_path)
    _check(design, r, 40)


def test_a_256x256x3_image_streams_through_three_convolutions(tmp_path):
    """The scale the issue asks for: a full 256x256x3 image, three 3x3 convolutions, an image out."""
    path = models.conv_stack(tmp_path / "seg.onnx")
    design = nn2rtl.convert(str(path), top="st_seg256",
                            config={"Model": {"IOType": "io_stream", "Precision": "fixed<12,5>"}})
    assert design.stream.ii == 258 * 258
    x = np.random.default_rng(0).normal(0, 1, (2, 3 * 256 * 256))
    r = design.simulate(inputs=x, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.results == 2 and r.latency_last[0] == design.stream.latency_last


@pytest.mark.parametrize("name, reuse", [("residual", 2), ("conv1d", 1)])
def test_stream_under_cocotb_with_cocotbext_axi(name, reuse, tmp_path):
    """The same checks driven by cocotbext-axi's AXI4-Stream source and sink with random pauses on both sides."""
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cnn_models.export(name, path, dynamo=False)
    cfg = {"Model": {"IOType": "io_stream", "ReuseFactor": reuse, "Precision": {"accum": "auto"}}}
    design = nn2rtl.convert(str(path), config=cfg, top=f"axi_{name}")
    r = design.simulate(vectors=12, seed=4, work_dir=tmp_path, engine="cocotb")
    assert r.engine == "cocotb + cocotbext-axi"
    _check(design, r, r.images)


@pytest.mark.parametrize("name", ["cnn_w4a4", "cnn_w3a3_avg_ts"])
def test_stream_real_brevitas_cnn_exports(name, tmp_path):
    """Brevitas QuantConv2d networks as the exporters write them (QONNX through dynamo and through TorchScript):
    their convolutions, scale-shifts and pooling per pixel, bit-exact and on schedule in io_stream."""
    from helpers import real_exports
    design = nn2rtl.convert(str(real_exports.export(name, str(tmp_path))), io_type="io_stream", top=f"st_{name}")
    per_pixel = {design.graph.node(s.node).op for s in design.stream.plan.stages if s.kind == "pipe"
                 and design.stream.plan.streams[s.outputs[0]].pixels}
    assert {"Conv", "Pool", "Relu"} <= per_pixel
    r = design.simulate(vectors=30, seed=2, work_dir=tmp_path)
    _check(design, r, r.images)
