"""Simulate a design's board top (``boards/top.py``) with its UART at the bit level (:mod:`sim.tb_board`)."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from nn2rtl.errors import SimulationError

from .build import build
from .runner import ROOT

__all__ = ["run_board"]


def run_board(design, inputs, work_dir, corrupt=(), divisor=8):
    """Send raw ``inputs`` (N, n_in) to ``design``'s board top as UART frames, one at a time; frames whose index
    is in ``corrupt`` carry a wrong checksum. Returns the testbench report (``answers``, ``mismatches``, ``naks``,
    ``bad_naks``, ``errors``); answers are compared with the golden model. ``divisor``: clocks per bit."""
    from boards.top import board_verilog
    from sim.compat import get_runner

    work_dir = Path(tempfile.mkdtemp(prefix="board-", dir=Path(work_dir).resolve()))
    inputs = np.asarray(inputs)
    good = np.array([k not in set(corrupt) for k in range(len(inputs))])
    expected = design.predict_raw(inputs[good]) if good.any() else np.zeros((0, design.output.size), dtype=np.int64)
    name = f"{design.top}_board"
    vpath = work_dir / f"{name}.v"
    vpath.write_text(board_verilog(design, clk_hz=divisor * 1_000_000, baud=1_000_000, name=name))
    b = build("cocotb", vpath, name)
    np.savez(work_dir / "vectors.npz", inputs=inputs.astype(object), expected=np.asarray(expected).astype(object))
    report = work_dir / "report.json"
    job = work_dir / "job.json"
    tout = design.output.type
    job.write_text(json.dumps({"vectors": str(work_dir / "vectors.npz"), "report": str(report), "divisor": divisor,
                               "in_width": design.input.type.width, "out_width": tout.width,
                               "out_signed": bool(tout.signed), "corrupt": sorted(int(c) for c in corrupt),
                               "latency": int(design.latency)}))
    added = str(ROOT) not in sys.path
    if added:
        sys.path.insert(0, str(ROOT))
    try:
        with open(work_dir / "runner.log", "w") as out, contextlib.redirect_stdout(out):
            get_runner("verilator").test(test_module="sim.tb_board", hdl_toplevel=name, hdl_toplevel_lang="verilog",
                                         build_dir=str(b.directory), test_dir=str(work_dir),
                                         extra_env={"NN2RTL_TB_JOB": str(job)}, log_file=str(work_dir / "sim.log"))
    except (SystemExit, Exception):
        pass  # a failed check: the report says what
    finally:
        if added:
            sys.path.remove(str(ROOT))
    if not report.exists():
        raise SimulationError(f"the board simulation of '{design.top}' ended without a report; see "
                              f"{work_dir / 'sim.log'}")
    return json.loads(report.read_text())
