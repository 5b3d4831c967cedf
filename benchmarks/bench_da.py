"""Shift-and-add dense layers side by side with da4ml 0.6.0: adders, LUTs, carry cells, flip-flops, DSPs, fmax.

The same quantised layers go through both tools: a 16x64 dense (8-bit weights fixed<8,1>, a fixed<16,6> input,
exact sums), the jet MLP 16-64-32-32-5 (8-bit weights and biases; fixed<16,6> ReLU activations) and the same MLP
with 70 % of its weights pruned. nn2rtl builds them with ``Strategy: distributed_arithmetic`` and an ``auto``
accumulator (products exact: subexpressions shared across the matrix), and with ``Strategy: Latency``
(multipliers) for reference; da4ml (run in its own venv by ``benchmarks/da4ml_gen.py``, never imported here)
traces the same arithmetic. Both tools pipeline at the same adder depth per stage (``--levels``, da4ml's
``latency_cutoff``). The outputs of both are compared on random inputs (da4ml's ``predict`` against nn2rtl's
golden model) before anything is counted.

Every Verilog text goes through the same Yosys ``synth_xilinx -family xc7 -flatten`` (``$YOSYS``: the native
Debian build is much faster than YoWASP's) and, with ``--ecp5``, ``synth_ecp5`` plus nextpnr-ecp5 on the LFE5U-85F
(fmax at the requested clock). Writes ``benchmarks/results/da.{md,json,png}``.

    make bench-da                                   # creates .venv-da4ml with da4ml 0.6.0, then runs this
    python benchmarks/bench_da.py --da4ml-python .venv-da4ml/bin/python --ecp5
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nn2rtl  # noqa: E402
from nn2rtl.synth import synthesize  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def progress(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def cases(seed=0):
    """``{name: [(raw weights in x out, raw bias or None)]}``, 8-bit raw values (fixed<8,1>)."""
    rng = np.random.default_rng(seed)

    def layer(n_in, n_out, bias=True, prune=0.0):
        w = rng.integers(-128, 128, size=(n_in, n_out))
        if prune:
            w[rng.random(w.shape) < prune] = 0
        return w, (rng.integers(-128, 128, size=n_out) if bias else None)

    sizes = [16, 64, 32, 32, 5]
    return {
        "dense16x64": [layer(16, 64, bias=False)],
        "jet_mlp": [layer(a, b) for a, b in zip(sizes, sizes[1:])],
        "jet_mlp_pruned70": [layer(a, b, prune=0.7) for a, b in zip(sizes, sizes[1:])],
    }


def onnx_model(layers, path):
    """Gemm (+ ReLU between layers) with the raw weights / 2^7, as a float ONNX file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], []
    x = "x"
    for k, (w, b) in enumerate(layers):
        inits.append(numpy_helper.from_array((w.T / 2 ** 7).astype(np.float32), f"w{k}"))
        ins = [x, f"w{k}"]
        if b is not None:
            inits.append(numpy_helper.from_array((b / 2 ** 7).astype(np.float32), f"b{k}"))
            ins.append(f"b{k}")
        y = f"h{k}" if k < len(layers) - 1 else "y"
        nodes.append(helper.make_node("Gemm", ins, [f"g{k}" if k < len(layers) - 1 else y], name=f"fc{k}",
                                      transB=1))
        if k < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [f"g{k}"], [y], name=f"relu{k}"))
        x = y
    n_in, n_out = layers[0][0].shape[0], layers[-1][0].shape[1]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def config(strategy, levels, n_layers):
    """fixed<16,6> activations, fixed<8,1> weights and biases, exact accumulators, the last layer's result exact
    (as da4ml's output)."""
    return {"Model": {"Precision": {"default": "fixed<16,6>", "weight": "fixed<8,1>", "bias": "fixed<8,1>",
                                    "accum": "auto"},
                      "Strategy": strategy, "AdderLevelsPerStage": levels},
            "LayerName": {f"fc{n_layers - 1}": {"Precision": {"result": "auto"}}}}


def run_da4ml(python, npz, out, levels):
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(ROOT / "benchmarks" / "da4ml_gen.py"), str(npz), str(out), "--cutoff",
                           str(levels)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"da4ml failed:\n{proc.stderr[-3000:]}")
    rows = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            rows[r["case"]] = r
    progress(f"da4ml: {time.perf_counter() - t0:.1f} s")
    return rows


def check_same_function(python, name, design, out, n=2000, seed=1):
    """da4ml's ``predict`` and nn2rtl's golden model on the same fixed<16,6> inputs: the differing outputs."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-(1 << 15), 1 << 15, size=(n, design.graph.tensors[design.graph.inputs[0]].shape[-1]))
    x = x / 2 ** 10
    xin = out / f"{name}_x.npy"
    np.save(xin, x)
    proc = subprocess.run([python, "-c", PREDICT, str(out / "cases.npz"), name, str(xin), str(out / f"{name}_y.npy")],
                          capture_output=True, text=True, cwd=str(ROOT / "benchmarks"))
    if proc.returncode != 0:
        raise SystemExit(f"da4ml predict failed:\n{proc.stderr[-3000:]}")
    theirs = np.load(out / f"{name}_y.npy")
    ours = design.predict(x)
    return int((np.abs(theirs.reshape(ours.shape) - ours) > 0).sum())


PREDICT = """
import sys, numpy as np
sys.path.insert(0, '.')
from da4ml_gen import trace
data = np.load(sys.argv[1]); name = sys.argv[2]
layers, k = [], 0
while f'{name}__w{k}' in data.files:
    layers.append((data[f'{name}__w{k}'], data[f'{name}__b{k}'] if f'{name}__b{k}' in data.files else None)); k += 1
comb = trace(layers)
np.save(sys.argv[4], comb.predict(np.load(sys.argv[3])))
"""


def synth_row(verilog, top, targets, freq):
    row = {}
    for target in targets:
        progress(f"{top}: synthesizing for {target}")
        res = synthesize(verilog, top, target, progress=progress, freq_mhz=freq, timeout=3600)
        cells = res["cells"]
        if target == "xc7":
            row.update(luts=res["luts"], carry=cells.get("CARRY4", 0), ffs=res["ffs"], dsps=res["dsps"],
                       lutram=res["lutram"], synth_s=res["seconds"]["synthesis"])
        else:
            row.update(ecp5_luts=res["luts"], ecp5_ffs=res["ffs"], ecp5_dsps=res["dsps"],
                       fmax=res.get("fmax_mhz"), fits=res.get("fits"))
    return row


def table(rows, levels, freq):
    lines = [f"Adder levels per pipeline stage: {levels} (nn2rtl `AdderLevelsPerStage`, da4ml `latency_cutoff`). "
             "xc7: Yosys `synth_xilinx -family xc7 -flatten`; ECP5: `synth_ecp5` + nextpnr-ecp5 on the LFE5U-85F "
             f"at {freq:g} MHz (fmax: nextpnr's estimate). Latency: cycles from input to output of each tool's "
             "module (da4ml's registers its inputs too).", "",
             "| case | tool | adders | depth | latency (cycles) | xc7 LUT | LUTRAM cells | CARRY4 | FF | DSP "
             "| ECP5 LUT | ECP5 FF | fmax (MHz) | latency (ns) | convert (s) | differing outputs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fmax = r.get("fmax")
        ns = f"{r['latency'] * 1000 / fmax:.1f}" if fmax else "-"
        lines.append("| " + " | ".join(str(v) for v in [
            r["case"], r["tool"], r.get("adders", "-"), r.get("depth", "-"), r["latency"], r.get("luts", "-"),
            r.get("lutram", "-"), r.get("carry", "-"), r.get("ffs", "-"), r.get("dsps", "-"), r.get("ecp5_luts", "-"),
            r.get("ecp5_ffs", "-"), fmax or "-", ns, r.get("convert_s", "-"), r.get("diff", "-")]) + " |")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    try:
        import matplotlib
    except ImportError:
        progress("matplotlib is missing (pip install -e '.[bench]'): no plot")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = sorted({r["case"] for r in rows}, key=[r["case"] for r in rows].index)
    tools = sorted({r["tool"] for r in rows}, key=[r["tool"] for r in rows].index)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, key, label in ((axes[0], "luts", "xc7 LUTs"), (axes[1], "ffs", "xc7 flip-flops")):
        for t, tool in enumerate(tools):
            vals = [next((r.get(key, 0) for r in rows if r["case"] == n and r["tool"] == tool), 0) for n in names]
            ax.bar(np.arange(len(names)) + t * 0.8 / len(tools), vals, 0.8 / len(tools), label=tool)
        ax.set_xticks(np.arange(len(names)) + 0.4 - 0.4 / len(tools), names)
        ax.set_title(label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize="small")
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=100)


def conversion(sizes, out):
    """Conversion time of one n x n shift-and-add layer (8-bit weights, fixed<16,6> input) as n grows to 100k
    products: exact sums (shared across the matrix) and hls4ml's default accumulator (per-input sharing)."""
    import onnx  # noqa: F401  (the model file)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nn2rtl-bench-da-conv-") as work:
        for n in sizes:
            layers = [(np.random.default_rng(n).integers(-128, 128, size=(n, n)), None)]
            model = onnx_model(layers, Path(work) / f"sq{n}.onnx")
            for accum in ("auto", "fixed<16,6>"):
                cfg = config("distributed_arithmetic", 2, 1)
                cfg["Model"]["Precision"]["accum"] = accum
                t0 = time.perf_counter()
                design = nn2rtl.convert(model, config=cfg, top=f"sq{n}")
                seconds = time.perf_counter() - t0
                g = design.report()["layers"][0]["adder_graph"]
                rows.append({"n": n, "products": n * n, "accum": accum, "adders": g["adders"],
                             "unshared": g["adders_unshared"], "depth": g["depth"], "seconds": round(seconds, 1),
                             "verilog_mib": round(len(design.verilog.encode()) / 2 ** 20, 1)})
                progress(json.dumps(rows[-1]))
    lines = ["# Conversion time of shift-and-add layers", "",
             "One n x n dense layer, 8-bit weights, fixed<16,6> input, `Strategy: distributed_arithmetic`, "
             "`nn2rtl.convert` (plan, netlist, Verilog) on one core of this machine.", "",
             "| products | accumulator | adders | without sharing | depth | convert (s) | Verilog (MiB) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['products']:,} ({r['n']}x{r['n']}) | {r['accum']} | {r['adders']:,} | "
                     f"{r['unshared']:,} | {r['depth']} | {r['seconds']} | {r['verilog_mib']} |")
    Path(out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--da4ml-python", default=str(ROOT / ".venv-da4ml" / "bin" / "python"))
    p.add_argument("--levels", type=int, default=2)
    p.add_argument("--ecp5", action="store_true", help="also synth_ecp5 + nextpnr (fmax); minutes per design")
    p.add_argument("--freq", type=float, default=150.0)
    p.add_argument("--cases", nargs="*", default=None)
    p.add_argument("--flow-control", choices=["stall", "fifo"], nargs="+", default=["stall", "fifo"],
                   help="the FlowControl of the nn2rtl shift-and-add designs, a row each (fifo: the enable is "
                        "constant, as da4ml's module has none; default both)")
    p.add_argument("--no-latency", action="store_true", help="skip the multiplier (Strategy Latency) rows")
    p.add_argument("--out", default=str(RESULTS / "da"))
    p.add_argument("--conversion", nargs="*", type=int, metavar="N",
                   help="only time the conversion of N x N layers (default 64 128 316) into "
                        "benchmarks/results/da_conversion.md")
    args = p.parse_args()
    if args.conversion is not None:
        return conversion(args.conversion or [64, 128, 316], RESULTS / "da_conversion.md")
    args.da4ml_python = os.path.abspath(args.da4ml_python)  # not resolved: the venv's python is a symlink
    if not os.environ.get("YOSYS"):
        progress("note: $YOSYS not set, so the YoWASP Yosys runs (slow on these designs)")
    targets = ["xc7"] + (["ecp5"] if args.ecp5 else [])
    all_cases = cases()
    names = args.cases or list(all_cases)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nn2rtl-bench-da-") as work:
        work = Path(work)
        npz = work / "cases.npz"
        arrays = {}
        for name in names:
            for k, (w, b) in enumerate(all_cases[name]):
                arrays[f"{name}__w{k}"] = w
                if b is not None:
                    arrays[f"{name}__b{k}"] = b
        np.savez(npz, **arrays)
        theirs = run_da4ml(args.da4ml_python, npz, work, args.levels)
        for name in names:
            layers = all_cases[name]
            model = onnx_model(layers, work / f"{name}.onnx")
            runs = [("distributed_arithmetic", f) for f in args.flow_control]
            runs += [] if args.no_latency else [("Latency", "stall")]
            for strategy, flow_control in runs:
                t0 = time.perf_counter()
                design = nn2rtl.convert(model, config=config(strategy, args.levels, len(layers)),
                                        top=f"{name}_{'da' if strategy != 'Latency' else 'mul'}"
                                            + ("" if flow_control == "stall" else f"_{flow_control}"),
                                        flow_control=flow_control)
                convert_s = time.perf_counter() - t0
                costs = [c for n, c in design.costs.items() if design.graph.node(n).op == "Dense"]
                flow = "" if flow_control == "stall" else f", FlowControl {flow_control}"
                row = {"case": name, "tool": f"nn2rtl {strategy}{flow}",
                       "latency": design.latency, "convert_s": round(convert_s, 2),
                       "diff": check_same_function(args.da4ml_python, name, design, work)}
                if strategy != "Latency":
                    graphs = [lay["adder_graph"] for lay in design.report()["layers"] if "adder_graph" in lay]
                    row["adders"] = sum(c.adders for c in costs)
                    row["depth"] = sum(a["depth"] for a in graphs)  # layer after layer
                row.update(synth_row(design.verilog, design.top, targets, args.freq))
                rows.append(row)
                progress(json.dumps(row))
                if strategy != "Latency" and len(layers) == 1:
                    # the layer's module alone: without the design's handshake (input, stall and output registers,
                    # whose output multiplexers cost a LUT per output bit), as da4ml's module has none
                    alone = dict(row, tool=f"nn2rtl distributed_arithmetic{flow}, layer module",
                                 latency=costs[0].latency)
                    alone.update(synth_row(design.verilog, f"{design.top}_da0", ["xc7"], args.freq))
                    rows.append(alone)
                    progress(json.dumps(alone))
            t = theirs[name]
            verilog = (work / f"{name}.v").read_text()
            row = {"case": name, "tool": "da4ml 0.6.0", "adders": t["adders"], "depth": t["depth"],
                   "latency": t["stages"] + 1, "convert_s": t["seconds"], "diff": 0}
            row.update(synth_row(verilog, name, targets, args.freq))
            rows.append(row)
            progress(json.dumps(row))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    text = table(rows, args.levels, args.freq)
    out.with_suffix(".md").write_text("# Shift-and-add dense layers: nn2rtl and da4ml 0.6.0\n\n" + text)
    plot(rows, out.with_suffix(".png"))
    print(text)


if __name__ == "__main__":
    main()
