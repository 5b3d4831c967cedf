"""Generate da4ml 0.6.0's Verilog for the layers of ``bench_da.py`` (run in the da4ml venv, never imported by
nn2rtl: da4ml is run as a peer, not copied).

Usage: ``python benchmarks/da4ml_gen.py CASES.npz OUTDIR --cutoff LEVELS``. ``CASES.npz`` holds, per case
``NAME``, the raw 8-bit weights ``NAME__w0, NAME__w1, ...`` (``in x out``, fixed<8,1>: value = raw / 2^7) and
biases ``NAME__b0, ...``; the input is fixed<16,6>; between layers the sum is cast to fixed<16,6> (TRN, WRAP)
and passed through a ReLU, as the nn2rtl side computes. Writes ``OUTDIR/NAME.v`` (every source of da4ml's
project in one file, top module ``NAME``) and prints one JSON line per case: adders, adder depth, pipeline stages,
generation seconds.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from da4ml.codegen import VerilogModel
from da4ml.trace import FixedVariableArray, comb_trace
from da4ml.trace.ops import quantize, relu


def trace(layers):
    n_in = layers[0][0].shape[0]
    inp = FixedVariableArray.from_kif(np.ones(n_in, int), np.full(n_in, 5), np.full(n_in, 10))
    x = inp
    for k, (w, b) in enumerate(layers):
        y = x @ (w.astype(np.float64) / 2 ** 7)
        if b is not None:
            y = y + b.astype(np.float64) / 2 ** 7
        if k < len(layers) - 1:
            y = relu(quantize(y, 1, 5, 10))
        x = y
    return comb_trace(inp, x)


def depth(comb):
    d = {}
    for k, op in enumerate(comb.ops):
        if op.opcode < 0:
            d[k] = 0
        else:
            d[k] = max(d.get(op.id0, 0), d.get(op.id1, 0) if op.id1 >= 0 else 0) + int(op.opcode in (0, 1))
    return max(d[i] for i in comb.out_idxs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cases")
    p.add_argument("out")
    p.add_argument("--cutoff", type=int, default=2)
    args = p.parse_args()
    data = np.load(args.cases)
    names = sorted({k.split("__")[0] for k in data.files})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        layers, k = [], 0
        while f"{name}__w{k}" in data.files:
            b = data[f"{name}__b{k}"] if f"{name}__b{k}" in data.files else None
            layers.append((data[f"{name}__w{k}"], b))
            k += 1
        t0 = time.time()
        comb = trace(layers)
        prj = out / f"{name}_prj"
        if prj.exists():
            shutil.rmtree(prj)
        model = VerilogModel(comb, name, str(prj), latency_cutoff=args.cutoff)
        model.write()
        seconds = time.time() - t0
        src = prj / "src"
        files = sorted(src.glob("*.v")) + sorted((src / "static").glob("*.v"))
        skip = ("_wrapper.v", "lookup_table.v")  # an I/O wrapper, and a ROM template no layer here uses
        (out / f"{name}.v").write_text("\n".join(f.read_text() for f in files if not f.name.endswith(skip)))
        stages = len(model._pipe.solutions) if model._pipe is not None else 0
        print(json.dumps({"case": name, "adders": sum(op.opcode in (0, 1) for op in comb.ops), "depth": depth(comb),
                          "stages": stages, "seconds": round(seconds, 2)}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
