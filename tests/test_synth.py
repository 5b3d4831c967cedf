"""Measured resources: one small design through Yosys (ECP5, with nextpnr) and the report command."""

import json
import os
import subprocess
import sys

import pytest
from helpers import models

import nn2rtl
from nn2rtl.errors import ConfigError
from nn2rtl.synth import synthesize

pytestmark = [pytest.mark.synth, pytest.mark.xdist_group("synth")]


def test_report_synth_ecp5_measures_and_records(tmp_path, monkeypatch):
    monkeypatch.setenv("NN2RTL_CACHE", str(tmp_path / "cache"))
    path = models.save(models.torch_mlp([4, 3, 2], seed=3), tmp_path / "m.onnx")
    out = tmp_path / "out"
    design = nn2rtl.convert(path, precision="fixed<8,3>", reuse=3, top="tiny")
    design.write(out)
    exe = [sys.executable, "-m", "nn2rtl", "report", str(out), "--synth", "ecp5"]
    env = dict(os.environ, NN2RTL_PROGRESS="1")  # progress lines as on a terminal
    r = subprocess.run(exe, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "yosys ecp5" in r.stderr  # progress is shown
    rec = json.loads((out / "design.json").read_text())["synthesis"]["ecp5"]
    # 4 + 2 multipliers at reuse 3 (12 and 6 products); tiny: fits with a real clock estimate
    assert rec["ffs"] > 0 and rec["luts"] > 0 and rec["fits"] is True and rec["fmax_mhz"] > 10
    assert rec["dsps"] <= design.report()["totals"]["multipliers"]
    assert "TRELLIS_FF" in rec["cells"] and rec["ffs"] == rec["cells"]["TRELLIS_FF"]
    assert "ecp5" in r.stdout and "estimate before synthesis" in r.stdout
    # the second time comes from the cache, keyed by the Verilog
    again = subprocess.run(exe, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "cached" in again.stdout and "yosys ecp5" not in again.stderr


def test_unknown_target_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown synthesis target 'xc9'"):
        synthesize("module m; endmodule", "m", "xc9")
