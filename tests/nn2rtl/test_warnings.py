"""Where the design cannot represent what the model asks (hls4ml behaves the same), convert says so, in its output
and in design.json, and names the setting that represents it; the setting does."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
from helpers import models

import nn2rtl


def test_hard_sigmoid_shift_that_hls4ml_types_round_is_warned_and_the_exact_setting_offered(tmp_path):
    path = models.save(models.chain(4, [("HardSigmoid", {"alpha": 0.5, "beta": 0.6})]), tmp_path / "m.onnx")
    d = nn2rtl.convert(path)
    (w,) = d.warnings()
    assert "shift 0.6 is 0.5 in ufixed<2,0>" in w and "set Precision.shift to ufixed<14,0>" in w
    exact = nn2rtl.convert(path, config={"LayerType": {"HardSigmoid": {"Precision": {"shift": "ufixed<14,0>"}}}})
    assert exact.warnings() == []
    x = np.linspace(-1.5, 1.5, 24).reshape(6, 4)
    want = np.clip(0.5 * x + 0.6, 0, 1)
    assert np.abs(d.predict(x) - want).max() > 0.09  # hls4ml's numbers: off by 0.1
    assert np.abs(exact.predict(x) - want).max() < 2 * 2.0 ** -10


def test_softmax_on_a_wide_input_type_is_warned_and_fitted_tables_fix_it(tmp_path):
    path = models.save(models.chain(4, [("fc", 5), ("Softmax", {})], seed=2), tmp_path / "m.onnx")
    coarse = nn2rtl.convert(path, precision="fixed<40,20>")
    assert len(coarse.warnings()) == 1 and "exp table steps by 512" in coarse.warnings()[0]
    fitted = nn2rtl.convert(path, config={"Model": {"Precision": "fixed<40,20>", "TableMode": "fitted"}})
    assert fitted.warnings() == [] and nn2rtl.convert(path).warnings() == []
    x = np.random.default_rng(0).normal(0, 2, (200, 4))
    ref = ort.InferenceSession(str(path)).run(None, {"input": x.astype(np.float32)})[0]
    assert np.abs(coarse.predict(x) - ref).max() > 0.1
    assert np.abs(fitted.predict(x) - ref).max() < 0.01


def test_weights_beyond_the_weight_type_are_warned_in_convert_output_and_design_json(tmp_path):
    path = models.save(models.torch_mlp([4, 3], seed=1, scale=2.0), tmp_path / "m.onnx")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "nn2rtl", "convert", str(path), "-o", str(out), "--precision",
                        "fixed<8,2>"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert any("weights lie outside fixed<8,2>" in ln and "wrap, as in hls4ml" in ln for ln in lines), r.stderr
    assert json.loads((out / "design.json").read_text())["warnings"] == [ln[len("warning: "):] for ln in lines]


def test_every_warning_of_a_layer_is_kept(tmp_path):
    """A layer with weights beyond their type and a reuse factor beyond its products reports both (the second used
    to replace the first)."""
    path = models.save(models.torch_mlp([4, 3], seed=1, scale=2.0), tmp_path / "m.onnx")
    d = nn2rtl.convert(path, precision="fixed<8,2>", reuse=100)
    ws = d.warnings()
    assert any("weights lie outside fixed<8,2>" in w for w in ws) and any("ReuseFactor 100 exceeds" in w for w in ws)
