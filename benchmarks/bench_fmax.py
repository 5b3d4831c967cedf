"""Clock on ECP5 of the shift-and-add layers (adder levels per stage, flow control) and of the multiply-accumulate
array on DSP tiles, measured by nextpnr.

One 16x16 dense layer (8-bit random weights fixed<8,1>, a fixed<16,6> input, exact sums: the layer of
``bench_da.py`` at a size the WebAssembly nextpnr places in two minutes) is built with ``Strategy:
distributed_arithmetic`` at ``AdderLevelsPerStage`` 1 and 2, with ``FlowControl`` stall (one clock enable for the
whole pipeline, driven by ``out_ready``) and fifo (no enable: an output FIFO instead), beside da4ml 0.6.0's module
for the same layer at the same ``latency_cutoff`` (run in its own venv, never imported). Each design goes through
Yosys ``synth_ecp5`` and nextpnr-ecp5 out of context on the LFE5U-85F at a 150 MHz constraint (``nn2rtl.synth``,
cached by design hash). Then the 16x64 layer of ``bench_da.py`` as a multiply-accumulate array at ReuseFactor 8
with ``DSP: ecp5`` (128 MULT18X18D with their registers, FlowControl fifo, stall and skid, 1 adder level per
stage; about 11k LUTs, 15 minutes per seed; a seed that nextpnr has not routed in 30 minutes counts as no figure,
'-'). ``--jet`` adds the jet MLP 16-64-32-32-5 with 70 % of its 8-bit weights pruned, at
AdderLevelsPerStage 1 and FlowControl fifo (about 50k LUTs: the WebAssembly nextpnr takes tens of minutes).
Writes ``benchmarks/results/fmax.{md,json}``.

    make bench-fmax                 # YOSYS=/usr/bin/yosys recommended (Debian's yosys: much faster)
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_da  # noqa: E402

import nn2rtl  # noqa: E402
from nn2rtl.synth import ToolError, synthesize  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
NOTES = "## Notes"


def dense(n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(-128, 128, size=(n_in, n_out)), None)]


def measure(name, layers, lps, flow, work, freq, router=None, seeds=(1,), reuse=1, dsp=None, timeout=7200):
    """One design through Yosys and nextpnr for each seed: shift-and-add at ``reuse`` 1, else the
    multiply-accumulate array (``Strategy: Resource``) at that reuse factor with ``Model.DSP`` ``dsp``."""
    model = bench_da.onnx_model(layers, work / f"{name}.onnx")
    cfg = bench_da.config("distributed_arithmetic" if reuse == 1 else "Resource", lps, len(layers))
    if reuse > 1:
        cfg["Model"]["ReuseFactor"] = reuse
        name = f"{name}_r{reuse}" + (f"_{dsp}" if dsp else "")
    if dsp:
        cfg["Model"]["DSP"] = dsp
    if flow != "stall":
        cfg["Model"]["FlowControl"] = flow
    top = f"{name}_l{lps}" + ("" if flow == "stall" else f"_{flow}")
    design = nn2rtl.convert(model, config=cfg, top=top)
    t0 = time.perf_counter()
    runs = []
    for seed in seeds:  # a seed whose routing does not finish within the timeout counts as no figure
        try:
            runs.append(synthesize(design.verilog, top, "ecp5", freq_mhz=freq, timeout=timeout, router=router,
                                   seed=seed, progress=lambda line: sys.stderr.write(f"{top}: {line}\n")))
        except ToolError as e:
            if "did not finish" not in str(e):
                raise
            sys.stderr.write(f"{top}: seed {seed}: {e}\n")
            runs.append({})
    done = [x for x in runs if x]
    if not done:
        raise SystemExit(f"{top}: no seed finished within {timeout} s")
    r = done[0]
    found = sorted(x["fmax_mhz"] for x in runs if x.get("fmax_mhz"))
    fmax = found[(len(found) - 1) // 2] if found else None  # the median (the lower one of an even count)
    row = {"case": name, "levels_per_stage": lps, "flow_control": flow, "latency": design.latency, "ii": design.ii,
           "luts": r["luts"], "ffs": r["ffs"], "dsps": r["dsps"], "fmax_mhz": fmax,
           "latency_ns": round(design.latency * 1e3 / fmax, 1) if fmax else None,
           "fifo_bits": design.report().get("flow_control", {}).get("fifo_bits", 0),
           "adders": design.report()["totals"]["adders"], "seconds": round(time.perf_counter() - t0),
           "cached": all(x.get("cached") for x in done), "router": router or "router1",
           "fmax_seeds": {int(s): x.get("fmax_mhz") for s, x in zip(seeds, runs)}}
    print(json.dumps(row), flush=True)
    return row


def measure_da4ml(name, layers, lps, work, freq, python, seeds=(1,), timeout=7200):
    """da4ml 0.6.0's module for the same layer (``latency_cutoff`` = ``lps``; run in its own venv by
    ``bench_da.run_da4ml``, never imported) through the same Yosys and nextpnr: its input and output are registers
    and it has no handshake (no enable, no FIFO). Checked to compute what ours does first."""
    case = f"{name}_c{lps}"
    npz = work / "cases.npz"
    np.savez(npz, **{f"{case}__w{k}": w for k, (w, _) in enumerate(layers)})
    theirs = bench_da.run_da4ml(python, npz, work, lps)[case]
    model = bench_da.onnx_model(layers, work / f"{case}.onnx")
    ours = nn2rtl.convert(model, config=bench_da.config("distributed_arithmetic", lps, len(layers)), top=case)
    diff = bench_da.check_same_function(python, case, ours, work)
    if diff:
        raise SystemExit(f"{case}: da4ml and nn2rtl differ in {diff} outputs")
    verilog = (work / f"{case}.v").read_text()
    t0 = time.perf_counter()
    runs = []
    for seed in seeds:
        runs.append(synthesize(verilog, case, "ecp5", freq_mhz=freq, timeout=timeout, seed=seed,
                               progress=lambda line: sys.stderr.write(f"{case}: {line}\n")))
    r = runs[0]
    found = sorted(x["fmax_mhz"] for x in runs if x.get("fmax_mhz"))
    fmax = found[(len(found) - 1) // 2] if found else None
    latency = theirs["stages"] + 1  # its input register, then a register after each stage (bench_da.py)
    row = {"case": name, "tool": "da4ml 0.6.0", "levels_per_stage": lps, "flow_control": "-", "latency": latency,
           "ii": 1, "luts": r["luts"], "ffs": r["ffs"], "dsps": r["dsps"], "fmax_mhz": fmax,
           "latency_ns": round(latency * 1e3 / fmax, 1) if fmax else None, "fifo_bits": 0,
           "adders": theirs["adders"], "seconds": round(time.perf_counter() - t0), "router": "router1",
           "cached": all(x.get("cached") for x in runs),
           "fmax_seeds": {int(s): x.get("fmax_mhz") for s, x in zip(seeds, runs)}}
    print(json.dumps(row), flush=True)
    return row


def table(rows, freq):
    lines = [f"ECP5 LFE5U-85F, Yosys `synth_ecp5` + nextpnr-ecp5 out of context at a {freq:g} MHz constraint "
             "(fmax: nextpnr's estimate for the whole design: the layer, the handshake and, with fifo, the output "
             "FIFO). fmax: the median over nextpnr's placement seeds, each seed's figure beside it; latency (ns) at "
             "the median.", "",
             "| case | tool | AdderLevelsPerStage | FlowControl | adders | latency (cycles) | II | ECP5 LUT | FF | DSP "
             "| FIFO bits | fmax (MHz) | per seed | latency (ns) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(str(v) for v in [
            r["case"] + (f" (nextpnr {r['router']})" if r.get("router", "router1") != "router1" else ""),
            r.get("tool", "nn2rtl"),
            r["levels_per_stage"], r["flow_control"], r["adders"], r["latency"], r.get("ii", 1), r["luts"], r["ffs"],
            r["dsps"], r["fifo_bits"], r["fmax_mhz"] or "-",
            ", ".join(f"{v or '-'}" for v in r.get("fmax_seeds", {}).values()) or "-", r["latency_ns"] or "-"]) + " |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--freq", type=float, default=150.0, help="clock constraint in MHz (default 150)")
    p.add_argument("--jet", action="store_true", help="also the 70 %%-pruned jet MLP (tens of minutes)")
    p.add_argument("--out", default=str(RESULTS / "fmax"), help="output path without suffix")
    p.add_argument("--da4ml-python", default=str(ROOT / ".venv-da4ml" / "bin" / "python"),
                   help="da4ml 0.6.0's venv (make bench-fmax installs it), for its rows beside ours")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3],
                   help="nextpnr placement seeds (default 1 2 3: its estimate moves by 10-20 %% between seeds)")
    args = p.parse_args()
    args.da4ml_python = os.path.abspath(args.da4ml_python)  # not resolved: the venv's python is a symlink
    rows = []
    with tempfile.TemporaryDirectory(prefix="nn2rtl-bench-fmax-") as work:  # the model files only
        work = Path(work)
        for lps in (1, 2):
            for flow in ("stall", "fifo", "skid"):
                rows.append(measure("e16x16", dense(16, 16), lps, flow, work, args.freq, seeds=args.seeds))
            if lps == 1:  # da4ml's module at one adder level per stage, where both tools reach their fastest clock
                # (nextpnr takes about 15 minutes per seed on it, 2 on ours; at two levels bench_da.py compares the
                # resources)
                rows.append(measure_da4ml("e16x16", dense(16, 16), 1, work, args.freq, args.da4ml_python,
                                          args.seeds))
        # the multiply-accumulate array: the 16x64 layer of bench_da.py at R = 8 on ECP5 DSP tiles
        # with each flow control: stall's clock enable reaches every flip-flop and DSP tile of the array, skid's is
        # a register copied per group of multipliers
        for flow in ("fifo", "stall", "skid"):
            rows.append(measure("dense16x64", bench_da.cases()["dense16x64"], 1, flow, work, args.freq,
                                seeds=args.seeds, reuse=8, dsp="ecp5", timeout=1800))
        if args.jet:
            # router2: nextpnr's default router1 was still routing this one after an hour (arcs left barely falling)
            rows.append(measure("jet_mlp_pruned70", bench_da.cases()["jet_mlp_pruned70"], 1, "fifo", work,
                                args.freq, router="router2", seeds=args.seeds[:1]))
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    md = out.with_suffix(".md")
    # the findings written under the table (from a line "## Notes" on) outlive a rerun; the table is replaced
    old = md.read_text() if md.exists() else ""
    notes = old[old.index(NOTES):] if NOTES in old else ""
    md.write_text("# Clock of the shift-and-add layers on ECP5\n\n" + table(rows, args.freq)
                  + ("\n" + notes if notes else ""))
    print(table(rows, args.freq))


if __name__ == "__main__":
    main()
