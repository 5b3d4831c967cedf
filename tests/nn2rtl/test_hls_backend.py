"""The HLS C++ back end: every op and every kind of model the suite converts, compiled with g++ (-Wall -Werror)
and run through ctypes, equals the golden model on every bit; the project's testbench, determinism, the CLI and
its errors.

These tests need g++ and the ap_types headers (make test's .venv-hls4ml, or ``pip install "nn2rtl[hls]"``); they
fail, not skip, without them."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from helpers import cnn_models, models, qmodels
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_registry import _typed_node

import nn2rtl
from nn2rtl.design import Design, make_vectors
from nn2rtl.errors import Nn2rtlError, ToolError
from nn2rtl.fixed import FixedType
from nn2rtl.graph import Graph, Node, Tensor
from nn2rtl.hls import HlsModel, HlsProject, find_ap_types, run_testbench
from nn2rtl.ops import REGISTRY

pytestmark = pytest.mark.hls


def _vectors(design, n=600, seed=0):
    return make_vectors(design.input.type, design.input.size, n, seed)


def assert_cpp_equals_golden(design, n=600, seed=0):
    raw = _vectors(design, n, seed)
    want = design.predict_raw(raw)
    got = design.predict_raw(raw, backend="hls")
    bad = np.argwhere(np.asarray(got != want))
    assert not bad.size, (f"{len(bad)} outputs differ; first at vector {bad[0][0]} output {bad[0][1]}: C++ "
                          f"{got[tuple(bad[0])]}, golden {want[tuple(bad[0])]}")
    return raw


# -- every op on its own ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_op_in_cpp_equals_the_golden_model(name):
    node, g = _typed_node(name)
    g.tensors["y"].type = node.types["result"]
    project = HlsProject(g, "op_" + name.lower())
    model = HlsModel(project.files, project.top, g)
    t = g.tensors["x"].type
    raw = make_vectors(t, g.tensors["x"].size, 3000, seed=1)
    from nn2rtl.golden import run_golden
    want = run_golden(g, {"x": raw})["y"]
    np.testing.assert_array_equal(model.predict_raw(raw), want)


# -- whole models -------------------------------------------------------------------------------------------------

ACTS = [("Relu", {}), ("LeakyRelu", {"alpha": 0.125}), ("Clip", {"min": 0.0, "max": 2.0}), ("Sigmoid", {}),
        ("Tanh", {}), ("ThresholdedRelu", {"alpha": 0.5}), ("HardSigmoid", {}), ("Elu", {"alpha": 0.5}),
        ("Softplus", {}), ("Softsign", {}), ("PRelu", {}), ("Selu", {})]


def _every_activation(table_mode, softmax):
    layers = []
    for act in ACTS:
        layers += [("fc", 5), act]
    layers += [("fc", 6), ("Softmax", {})]
    cfg = {"Model": {"Precision": "fixed<14,5>", "TableMode": table_mode},
           "LayerType": {"Softmax": {"implementation": softmax}}}
    return models.chain(4, layers, seed=3), cfg


CATALOGUE = {
    "every_activation_hls4ml_stable": lambda tmp: _every_activation("hls4ml", "stable"),
    "every_activation_centered_latency": lambda tmp: _every_activation("centered", "latency"),
    "every_activation_fitted_stable": lambda tmp: _every_activation("fitted", "stable"),
    "softmax_argmax": lambda tmp: _every_activation("hls4ml", "argmax"),
    "softmax_argmax_index": lambda tmp: _every_activation("hls4ml", "argmax_index"),
    # rounding and saturation on results, a saturating accumulator is refused by the RTL but not by this back end:
    # the types follow the RTL's rules here
    "modes_and_reuse": lambda tmp: (models.chain(5, [("fc", 7), ("Relu", {}), ("fc", 4), ("Tanh", {}), ("fc", 3)],
                                                 seed=5),
                                    {"Model": {"Precision": "fixed<12,4>", "ReuseFactor": 3},
                                     "LayerName": {"fc0": {"Precision": {"result": "fixed<9,3,RND_CONV,SAT_SYM>",
                                                                         "accum": "auto"}},
                                                   "fc2": {"Precision": {"result": "ufixed<7,2,RND_ZERO,SAT_ZERO>",
                                                                         "accum": "fixed<20,9>"}},
                                                   "tanh3": {"Precision": {"result": "fixed<10,1,RND_INF,SAT>"}}}}),
    "wide_auto_types": lambda tmp: (models.chain(6, [("fc", 4), ("fc", 3)], seed=6),
                                    {"Model": {"Precision": "fixed<40,20>"},
                                     "LayerType": {"Dense": {"Precision": {"accum": "auto"}}},
                                     "LayerName": {"fc1": {"Precision": {"result": "auto"}}}}),
    "qonnx_power_of_two": lambda tmp: (qmodels.qonnx_mlp([6, 5, 4], 4, seed=7, rounding="HALF_EVEN"), None),
    "qonnx_float_scales_bn": lambda tmp: (qmodels.qonnx_mlp([6, 5, 5, 3], 3, seed=8, float_scales=True, bn=True),
                                          None),
    "qdq": lambda tmp: (qmodels.qdq_mlp(seed=9, act_zero_point=3), None),
    "brevitas_style": lambda tmp: (qmodels.brevitas_style(), None),
}
CNNS = sorted(cnn_models.MODELS)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_models_in_cpp_equal_the_golden_model(name, tmp_path):
    model, cfg = CATALOGUE[name](tmp_path)
    path = models.save(model, tmp_path / f"{name}.onnx")
    design = nn2rtl.convert(path, config=cfg, backends=("hls",))
    assert_cpp_equals_golden(design)


@pytest.mark.parametrize("name", CNNS)
def test_convolutional_networks_in_cpp_equal_the_golden_model(name, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cnn_models.export(name, tmp_path / f"{name}.onnx")
    design = nn2rtl.convert(tmp_path / f"{name}.onnx", precision="fixed<12,5>", reuse=2, backends=("hls",))
    assert_cpp_equals_golden(design, n=300)


def test_bundled_examples_in_cpp_equal_the_golden_model(example_model):
    for path in (example_model, example_model.with_name("jet_cnn.onnx")):
        design = nn2rtl.convert(path, backends=("hls",))
        x = np.load(path.with_name(path.stem + "_inputs.npy"))
        np.testing.assert_array_equal(design.predict(x, backend="hls"), design.predict(x))
        assert_cpp_equals_golden(design, n=300)


@pytest.mark.parametrize("name, op", [("tfc_w2a2", "Threshold"), ("cnn_w4a4", "Conv"), ("small_norm_ts", "Threshold")])
def test_real_brevitas_exports_in_cpp_equal_the_golden_model(name, op, tmp_path_factory):
    """Files written by Brevitas' own exporters (quantisers with float scales that become thresholds, batch
    norms, convolutions with pooling) through the HLS back end."""
    from helpers import real_exports
    path = real_exports.model_path(tmp_path_factory.mktemp("zoo"), name)
    design = nn2rtl.convert(path, backends=("hls",))
    assert op in {n.op for n in design.graph.nodes}
    assert_cpp_equals_golden(design, n=200)


def test_io_stream_designs_get_the_same_cpp(tmp_path):
    path = tmp_path / "stack.onnx"
    models.conv_stack(path, channels=(2, 3, 2), size=6)
    design = nn2rtl.convert(path, io_type="io_stream", backends=("hls",))
    assert design.stream is not None
    assert_cpp_equals_golden(design, n=200)


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=st.deferred(lambda: __import__("helpers.random_models", fromlist=["cases"]).cases()))
def test_random_models_in_cpp_equal_the_golden_model(case, tmp_path_factory):
    """The RTL fuzzer's random models (random types, rounding and overflow modes, accumulators, reuse factors,
    table modes, softmax implementations, QONNX with thresholds): the C++ gives the golden model's bits."""
    work = tmp_path_factory.mktemp("fuzz")
    if case[0] == "qonnx":
        _, sizes, bits, rounding, narrow, reuse, seed, float_scales, bn = case
        path = models.save(qmodels.qonnx_mlp(sizes, bits, seed=seed, rounding=rounding, narrow=narrow,
                                             float_scales=float_scales, bn=bn), work / "m.onnx")
        cfg = {"Model": {"ReuseFactor": reuse}}
    else:
        n_in, layers, cfg, seed = case
        path = models.save(models.chain(n_in, layers, seed=seed), work / "m.onnx")
    try:
        design = nn2rtl.convert(path, config=cfg, top="fuzz", backends=("hls",))
    except Nn2rtlError:
        return  # refused with a clear error (tested elsewhere)
    assert_cpp_equals_golden(design, n=300, seed=seed)


# -- the project ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlp(example_model):
    return nn2rtl.convert(example_model, backends=("hls",))


def test_testbench_passes_on_the_golden_outputs_and_fails_on_a_flipped_bit(mlp, tmp_path):
    files = mlp.hls().files
    ok, out = run_testbench(files, mlp.top)
    assert ok, out
    assert "100 vectors, 0 outputs differ" in out
    data = tmp_path / "tb"
    data.mkdir()
    (data / "tb_input_raw.dat").write_text(files["tb_data/tb_input_raw.dat"])
    rows = [r.split() for r in files["tb_data/tb_output_raw.dat"].splitlines()]
    rows[7][2] = str(int(rows[7][2]) ^ 1)
    (data / "tb_output_raw.dat").write_text("".join(" ".join(r) + "\n" for r in rows))
    ok, out = run_testbench(files, mlp.top, data)
    assert not ok
    assert "vector 7 output 2" in out and "1 outputs differ" in out


def test_project_layout_types_pragmas_and_raw_weights(mlp):
    f = mlp.hls().files
    top = mlp.top
    for rel in (f"firmware/{top}.cpp", f"firmware/{top}.h", "firmware/defines.h", "firmware/parameters.h",
                "firmware/nn2rtl/dense.h", f"{top}_test.cpp", "build_prj.tcl", "README.md",
                "tb_data/tb_input_raw.dat", "tb_data/tb_output_raw.dat"):
        assert rel in f, rel
    assert f"void {top}(const input_t in[N_INPUT], result_t out[N_OUTPUT])" in f[f"firmware/{top}.h"]
    assert "typedef ap_fixed<16,6> input_t;" in f["firmware/defines.h"]
    cpp = f[f"firmware/{top}.cpp"]
    assert f"#pragma HLS PIPELINE II={mlp.ii}" in cpp
    assert cpp.count("nn2rtl::dense<") == 4
    params = f["firmware/parameters.h"]
    first = [n for n in mlp.graph.nodes if n.op == "Dense"][0]
    # at reuse factor 1: the RTL's multipliers (the 16 x 64 products but the zero and +-2^k weights)
    assert f"static const int multiplier_limit = {mlp.costs[first.name].multipliers};" in params
    assert 900 < mlp.costs[first.name].multipliers < 1024
    dense = [n for n in mlp.graph.nodes if n.op == "Dense"][0]
    w = np.asarray(dense.params["weight"]).reshape(-1)
    text = next(v for k, v in f.items() if k.startswith("firmware/weights/") and k.endswith("_weight.h"))
    body = text[text.index("{") + 1:text.index("}")]
    assert [int(v) for v in body.replace("\n", " ").split(",")] == [int(v) for v in w]
    tcl = f["build_prj.tcl"]
    for step in ("csim_design", "csynth_design", "cosim_design", "export_design"):
        assert step in tcl


def test_reuse_factor_sets_pipeline_and_multiplier_allocation(example_model):
    d = nn2rtl.convert(example_model, reuse=8, backends=("hls",))
    f = d.hls().files
    assert "#pragma HLS PIPELINE II=8" in f[f"firmware/{d.top}.cpp"]
    limits = [int(line.split("=")[1].rstrip(";")) for line in f["firmware/parameters.h"].splitlines()
              if "multiplier_limit" in line]
    assert limits == [-(-16 * 64 // 8), -(-64 * 32 // 8), -(-32 * 32 // 8), -(-32 * 5 // 8)]
    assert limits == [c.multipliers for n, c in d.costs.items() if d.graph.node(n).op == "Dense"]


def test_same_model_and_config_give_identical_files(example_model):
    a = nn2rtl.convert(example_model, reuse=2, backends=("hls",)).hls().files
    b = nn2rtl.convert(example_model, reuse=2, backends=("hls",)).hls().files
    assert a == b


def test_an_op_without_a_template_is_named(monkeypatch):
    from nn2rtl.ops import Op

    class Odd(Op):
        name = "Odd"

    monkeypatch.setitem(REGISTRY, "Odd", Odd())
    t = FixedType(8, 3)
    node = Node("weird", "Odd", ["x"], ["y"], {"source_name": "odd1", "source_op": "OddOp"}, {},
                {"input": t, "result": t})
    g = Graph("g", ["x"], ["y"], [node], {"x": Tensor("x", (3,), t), "y": Tensor("y", (3,), t)})
    with pytest.raises(Nn2rtlError, match="'odd1' \\(OddOp: no HLS C\\+\\+ template for Odd\\)"):
        HlsProject(g, "t")


# -- the toolchain and its errors -----------------------------------------------------------------------------------

def test_ap_types_are_found_and_a_wrong_directory_is_one_clear_error(tmp_path, monkeypatch):
    assert (find_ap_types() / "ap_fixed.h").is_file()
    monkeypatch.setenv("AP_TYPES_DIR", str(tmp_path))
    with pytest.raises(ToolError, match="AP_TYPES_DIR=.*holds no ap_fixed.h.*nn2rtl\\[hls\\]"):
        find_ap_types()


def test_ap_types_from_an_installed_hls4ml_wheel(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "hls4ml"
    ap = pkg / "templates" / "vivado" / "ap_types"
    ap.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for h in ("ap_fixed.h", "ap_int.h"):
        (ap / h).write_text("")
    monkeypatch.delenv("AP_TYPES_DIR", raising=False)
    for var in ("XILINX_HLS", "XILINX_VITIS", "XILINX_VIVADO"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "hls4ml", raising=False)
    assert find_ap_types() == ap.resolve()


def test_a_compiler_error_is_one_line_with_the_log(mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("NN2RTL_HLS_CACHE", str(tmp_path / "cache"))
    files = dict(mlp.hls().files)
    files[f"firmware/{mlp.top}.cpp"] += "\nthis is not C++;\n"
    with pytest.raises(ToolError) as e:
        HlsModel(files, mlp.top, mlp.graph)
    msg = str(e.value)
    assert "\n" not in msg and "g++ failed" in msg and "error" in msg and "full log:" in msg


def test_predict_compiles_once_and_reuses_the_cached_library(mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("NN2RTL_HLS_CACHE", str(tmp_path / "cache"))
    first = HlsModel(mlp.hls().files, mlp.top, mlp.graph)
    second = HlsModel(mlp.hls().files, mlp.top, mlp.graph)
    assert not first.compiled.cached and second.compiled.cached and first.compiled.path == second.compiled.path


# -- the command line -----------------------------------------------------------------------------------------------

def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "nn2rtl", *map(str, args)], capture_output=True, text=True,
                          env=env)


def test_cli_convert_hls_and_predict_through_the_cpp(example_model, tmp_path):
    out = tmp_path / "out"
    r = _cli("convert", example_model, "-o", out, "--backend", "hls")
    assert r.returncode == 0, r.stderr
    assert (out / "hls" / "firmware" / "jet_mlp.cpp").is_file() and not (out / "rtl").exists()
    x = example_model.with_name("jet_mlp_inputs.npy")
    r = _cli("predict", out, "--input", x, "--output", tmp_path / "y_hls.npy", "--backend", "hls")
    assert r.returncode == 0, r.stderr
    assert "HLS C++" in r.stdout
    r = _cli("predict", out, "--input", x, "--output", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y_hls.npy"), np.load(tmp_path / "y.npy"))
    d = Design.load(out)
    assert d.hls_files is not None and d.hls_files == d.hls().files


def test_cli_without_ap_types_exits_2_with_what_to_install(example_model, tmp_path):
    import os
    out = tmp_path / "out"
    assert _cli("convert", example_model, "-o", out, "--backend", "both").returncode == 0
    assert (out / "rtl" / "jet_mlp.v").is_file() and (out / "hls" / "build_prj.tcl").is_file()
    env = dict(os.environ, AP_TYPES_DIR=str(tmp_path / "nowhere"), NN2RTL_HLS_CACHE=str(tmp_path / "cache"))
    r = _cli("predict", out, "--input", example_model.with_name("jet_mlp_inputs.npy"), "--output",
             tmp_path / "y.npy", "--backend", "hls", env=env)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "ap_fixed.h" in r.stderr and "nn2rtl[hls]" in r.stderr
    assert not (tmp_path / "y.npy").exists()


def test_two_designs_with_the_same_layer_names_and_types_in_one_process(tmp_path):
    """Layers of the same name and types instantiate the same templates: each library keeps its own constants."""
    designs = []
    for seed in (1, 2):
        path = models.save(models.chain(4, [("fc", 5), ("Relu", {}), ("fc", 3)], seed=seed), tmp_path / f"{seed}.onnx")
        designs.append(nn2rtl.convert(path, top="same", backends=("hls",)))
    for d in designs + designs[::-1]:
        d._hls_model = None
    for d in designs:
        assert_cpp_equals_golden(d, n=200)
