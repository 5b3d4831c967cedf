"""The board top at the bit level of its UART, in Verilator: frames in, answers out, equal to the golden model;
a frame with a wrong checksum is answered with NAK and the next frame is still taken."""

import numpy as np
import pytest
from helpers import models

import nn2rtl
from sim.board_runner import run_board

pytestmark = pytest.mark.rtl


def test_board_top_answers_frames_bit_exact_and_naks_a_bad_checksum(tmp_path):
    path = models.save(models.torch_mlp([5, 7, 3], seed=9), tmp_path / "m.onnx")
    design = nn2rtl.convert(path, precision="fixed<10,4>", reuse=2, top="uart_mlp")  # 2-byte words, signed
    t = design.input.type
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.integers(t.min_raw, t.max_raw, size=(52, 5), endpoint=True),
                        np.full((1, 5), t.max_raw), np.full((1, 5), t.min_raw)])
    corrupt = [3, 4, 30]  # two bad frames in a row too
    rep = run_board(design, x, tmp_path, corrupt=corrupt)
    assert rep["errors"] == [] and rep["bad_naks"] == [] and rep["mismatches"] == []
    assert rep["naks"] == len(corrupt) and rep["answers"] == len(x) - len(corrupt) >= 50
