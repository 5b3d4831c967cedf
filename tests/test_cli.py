"""The command line as a user runs it: outputs, determinism, and one-line errors that leave nothing behind."""

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import models

import nn2rtl

EXE = [sys.executable, "-m", "nn2rtl"]


def run(*args):
    return subprocess.run(EXE + [str(a) for a in args], capture_output=True, text=True)


def test_convert_writes_design_and_is_deterministic(example_model, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ra, rb = run("convert", example_model, "-o", a), run("convert", example_model, "-o", b)
    assert ra.returncode == rb.returncode == 0, ra.stderr
    va, vb = (a / "rtl" / "jet_mlp.v").read_bytes(), (b / "rtl" / "jet_mlp.v").read_bytes()
    assert va == vb  # byte-identical Verilog from separate processes
    assert b"module jet_mlp(" in va and b"in_data   [255:0]" in va
    d = json.loads((a / "design.json").read_text())
    assert d["latency"] == sum(layer["latency"] for layer in d["layers"]) == 17
    assert d["ii"] == 1
    # every product except the zero and +-2^k weights (shifts) gets a multiplier
    from nn2rtl.design import Design
    weights = [np.asarray(n.params["weight"]) for n in Design.load(a).graph.nodes if n.op == "Dense"]
    free = [int(((w == 0) | (np.abs(w) & (np.abs(w) - 1) == 0)).sum()) for w in weights]
    assert [layer["multipliers"] for layer in d["layers"] if layer["op"] == "Dense"] == \
        [w.size - f for w, f in zip(weights, free)]
    assert [w.size for w in weights] == [1024, 2048, 1024, 160] and sum(free) > 0
    assert d["layers"][0]["types"]["accum"] == "fixed<16,6>"
    assert "latency 17 cycles, II 1" in ra.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary directories left


def test_convert_replaces_an_existing_output(tmp_path):
    m = models.save(models.torch_mlp([3, 2]), tmp_path / "m.onnx")
    out = tmp_path / "out"
    (out / "rtl").mkdir(parents=True)
    (out / "rtl" / "stale.v").write_text("old")
    assert run("convert", m, "-o", out, "--top", "small").returncode == 0
    assert sorted(p.name for p in (out / "rtl").iterdir()) == ["small.v", "small.vlt"]


def test_predict_matches_python_api(example_model, tmp_path):
    out = tmp_path / "out"
    assert run("convert", example_model, "-o", out).returncode == 0
    x = np.load(example_model.with_name("jet_mlp_inputs.npy"))[:50]
    np.save(tmp_path / "x.npy", x)
    r = run("predict", out, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y, nn2rtl.convert(example_model).predict(x))
    # outputs are exact values of fixed<16,6>: multiples of 2^-10
    assert np.all(y * 1024 == np.round(y * 1024))


def _unsupported(tmp_path):
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Sin", ["x"], ["y"], name="sm")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    return models.save(m, tmp_path / "u.onnx")


@pytest.mark.parametrize("case, fragment", [
    ("truncated", "not a valid ONNX file"),
    ("unsupported", "1 unsupported node: 'sm' (Sin)"),
    ("bad_precision", "invalid precision 'fixed<16,x>'"),
    ("missing", "No such file"),
    ("bad_config_key", "unknown key 'Modle'"),
    ("saturating_accum", "needs a WRAP accumulator"),
])
def test_errors_are_one_line_exit_2_and_leave_no_output(case, fragment, example_model, tmp_path):
    out = tmp_path / "out"
    args = ["convert", example_model, "-o", out]
    if case == "truncated":
        p = tmp_path / "t.onnx"
        p.write_bytes(example_model.read_bytes()[:4000])
        args[1] = p
    elif case == "unsupported":
        args[1] = _unsupported(tmp_path)
    elif case == "bad_precision":
        args += ["--precision", "fixed<16,x>"]
    elif case == "missing":
        args[1] = tmp_path / "nope.onnx"
    elif case == "bad_config_key":
        cfg = tmp_path / "c.yml"
        cfg.write_text("Modle: {}\n")
        args += ["--config", cfg]
    elif case == "saturating_accum":
        cfg = tmp_path / "c.yml"
        cfg.write_text("Model: {Precision: {accum: 'fixed<16,6,TRN,SAT>'}}\n")
        args += ["--config", cfg]
    r = run(*args)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and fragment in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_predict_on_a_non_design_directory(tmp_path):
    r = run("predict", tmp_path, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 2 and "not an nn2rtl output directory" in r.stderr


def test_predict_with_wrong_feature_count(example_model, tmp_path):
    out = tmp_path / "out"
    assert run("convert", example_model, "-o", out).returncode == 0
    np.save(tmp_path / "x.npy", np.zeros((4, 15)))
    r = run("predict", out, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 2 and "does not hold rows of 16 features" in r.stderr


def test_inspect_prints_typed_graph(example_model):
    r = run("inspect", example_model, "--precision", "fixed<12,4>")
    assert r.returncode == 0
    assert "fc1_Gemm = Dense(input[16] fixed<12,4>) -> /fc1/Gemm_output_0[64] fixed<12,4>" in r.stdout


def test_nan_weights_are_named_in_one_line_and_nothing_is_written(tmp_path):
    """A diverged training run: NaN and infinite weights are refused naming the node, not a traceback."""
    import onnx
    m = models.torch_mlp([4, 3, 2], seed=1)
    for init in m.graph.initializer:
        a = onnx.numpy_helper.to_array(init).copy()
        if init.name == "fc1.weight":
            a[0, 0], a[1, 2] = np.nan, np.inf
        elif init.name == "fc2.bias":
            a[1] = -np.inf
        init.CopyFrom(onnx.numpy_helper.from_array(a, init.name))
    path = models.save(m, tmp_path / "nan.onnx")
    r = run("convert", path, "-o", tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "'/fc1/Gemm' (Gemm) weight: 2 of 12 values are NaN or infinite" in r.stderr
    assert "'/fc2/Gemm' (Gemm) bias: 1 of 2" in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_reuse_factor_beyond_a_layer_is_capped_with_a_warning(tmp_path):
    m = models.save(models.torch_mlp([4, 3, 2], seed=1), tmp_path / "m.onnx")
    cfg = tmp_path / "c.yml"
    cfg.write_text("Model:\n  ReuseFactor: 100000\n")
    r = run("convert", m, "-o", tmp_path / "out", "--config", cfg)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "warning: layer '/fc1/Gemm' (Gemm): ReuseFactor 100000 exceeds its 12 products; 12 used" in r.stderr
    d = json.loads((tmp_path / "out" / "design.json").read_text())
    assert [lay["reuse_factor"] for lay in d["layers"] if lay["op"] == "Dense"] == [12, 6]
    assert d["ii"] == 12 and len(d["warnings"]) == 2


def _complete(out):
    """An output directory that looks complete is complete: every file present and readable."""
    d = json.loads((out / "design.json").read_text())
    json.loads((out / "graph.json").read_text())
    v = (out / "rtl" / f"{d['top']}.v").read_text()
    return v.rstrip().endswith("endmodule") and (out / "rtl" / f"{d['top']}.vlt").exists()


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.4, 2.0, 2.6])
def test_a_convert_killed_at_any_moment_leaves_nothing_that_looks_complete(example_model, tmp_path, delay):
    import signal
    import time
    out = tmp_path / "out"
    p = subprocess.Popen(EXE + ["convert", str(example_model), "-o", str(out)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not out.exists() or _complete(out)


def test_two_converts_into_one_directory_end_with_one_complete_result(example_model, tmp_path):
    small = models.save(models.torch_mlp([3, 2], seed=1), tmp_path / "small.onnx")
    out = tmp_path / "out"
    procs = [subprocess.Popen(EXE + ["convert", str(m), "-o", str(out), "--top", "same"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for m in (example_model, small, example_model)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert _complete(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "small.onnx"]  # no temporary or lock files
