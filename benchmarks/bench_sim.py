"""Verification speed, side by side with hls4ml, from empty caches: prints a table (and writes
benchmarks/results/sim.md).

    python benchmarks/bench_sim.py [--vectors 100000] [--model examples/jet_mlp.onnx]

The same model and the same inputs through both tools, in one run:

* nn2rtl: ONNX -> Verilog, a Verilator build of the C++ harness (``NN2RTL_SIM_CACHE`` and ``CCACHE_DIR`` point at
  new empty directories, so nothing is reused), then every vector through the RTL with back-to-back inputs, idle
  gaps and output stalls, every output bit compared with the golden model (whose time is included);
* hls4ml 1.3.0 (in ``.venv-hls4ml``, ``make oracle``): ONNX -> HLS project, ``compile()`` (g++ of the generated
  C++) and ``predict()`` of the same vectors (its C simulation), and whether its outputs equal ours bit for bit.

Also the cocotb engine on a few thousand vectors, for comparison, from its own empty build cache. The Yosys
WebAssembly compile (once per machine) is warmed up first and not counted.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def hls4ml_worker(model, x_path, out_path, prj):
    """Runs inside .venv-hls4ml: times convert, compile and predict; saves the predictions."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    t0 = time.perf_counter()
    import hls4ml
    from crosscheck_hls4ml import hls4ml_model
    t_import = time.perf_counter() - t0
    x = np.load(x_path)
    t0 = time.perf_counter()
    hm = hls4ml_model(model, "fixed<16,6>", prj)
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    hm.compile()
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    y = np.asarray(hm.predict(np.ascontiguousarray(x, dtype=np.float64)))
    t_predict = time.perf_counter() - t0
    np.save(out_path, y.reshape(len(x), -1))
    print(json.dumps({"import": t_import, "convert": t_convert, "compile": t_compile, "predict": t_predict,
                      "version": hls4ml.__version__}))


def run_hls4ml(model, x, tmp):
    py = Path(os.environ.get("HLS4ML_VENV", ROOT / ".venv-hls4ml")) / "bin" / "python"
    if not py.exists():
        return None, "hls4ml venv missing (make oracle)"
    np.save(tmp / "x.npy", x)
    r = subprocess.run([str(py), __file__, "--hls4ml-worker", str(model), str(tmp / "x.npy"), str(tmp / "y.npy"),
                        str(tmp / "hls4ml_prj")], capture_output=True, text=True)
    if r.returncode:
        return None, r.stderr.strip().splitlines()[-1]
    return json.loads(r.stdout.strip().splitlines()[-1]), np.load(tmp / "y.npy")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "examples" / "jet_mlp.onnx"))
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--cocotb-vectors", type=int, default=2000)
    ap.add_argument("--hls4ml-worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hls4ml_worker:
        return hls4ml_worker(*args.hls4ml_worker)
    import nn2rtl
    tmp = Path(tempfile.mkdtemp(prefix="nn2rtl-bench-sim-"))
    os.environ["NN2RTL_SIM_CACHE"] = str(tmp / "sim-cache")  # empty: nothing reused
    os.environ["CCACHE_DIR"] = str(tmp / "ccache")
    nn2rtl.convert(args.model)  # warm the Yosys WebAssembly compile (once per machine)
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.5, size=(args.vectors, nn2rtl.convert(args.model).input.size))

    t_all = time.perf_counter()
    t0 = time.perf_counter()
    design = nn2rtl.convert(args.model)
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = design.simulate(inputs=x, work_dir=tmp / "harness")  # golden model, build, RTL run, comparison
    t_simulate = time.perf_counter() - t0
    t_ours = time.perf_counter() - t_all
    assert r.ok, r.failures()
    t0 = time.perf_counter()
    y = design.predict(x)  # again, on its own, to show its share of simulate
    t_golden = time.perf_counter() - t0

    os.environ["NN2RTL_SIM_CACHE"] = str(tmp / "sim-cache-cocotb")
    rc = design.simulate(vectors=args.cocotb_vectors, work_dir=tmp / "cocotb", engine="cocotb")
    assert rc.ok, rc.failures()

    h, y_h = run_hls4ml(Path(args.model), x, tmp)
    rows = [("tool / step", "seconds", "vectors/s", "note")]
    rows.append(("nn2rtl convert (ONNX -> Verilog)", f"{t_convert:.1f}", "", ""))
    rows.append(("nn2rtl Verilator build (harness, empty caches)", f"{r.build_seconds:.1f}", "",
                 "verilate + g++ -O1, make -j"))
    rows.append(("nn2rtl golden model (part of simulate)", f"{t_golden:.2f}", f"{len(x) / t_golden:,.0f}",
                 "integer numpy"))
    rows.append(("nn2rtl RTL run (harness, part of simulate)", f"{r.run_seconds:.2f}",
                 f"{r.inferences_per_second:,.0f}", f"{r.cycles} cycles incl. gaps and stalls"))
    rows.append(("nn2rtl simulate(): golden + build + RTL + compare", f"{t_simulate:.1f}", "",
                 f"{r.vectors} vectors, every bit, latency {r.latency_min}, II {r.ii_back_to_back}"))
    rows.append(("nn2rtl total: convert + simulate", f"{t_ours:.1f}", "", ""))
    rows.append(("nn2rtl cocotb engine (build, empty cache)", f"{rc.build_seconds:.1f}", "", ""))
    rows.append(("nn2rtl cocotb engine (run)", f"{rc.run_seconds:.2f}", f"{rc.inferences_per_second:,.0f}",
                 f"{rc.vectors} vectors"))
    if h is None:
        rows.append(("hls4ml", "-", "-", y_h))
    else:
        same = np.array_equal(y_h.astype(np.float64), y.astype(np.float64))
        rows.append((f"hls4ml {h['version']} convert", f"{h['convert']:.1f}", "", f"+ {h['import']:.1f} s import"))
        rows.append(("hls4ml compile() (g++)", f"{h['compile']:.1f}", "", ""))
        rows.append(("hls4ml predict() (C simulation)", f"{h['predict']:.2f}", f"{len(x) / h['predict']:,.0f}", ""))
        rows.append(("hls4ml compile() + predict()", f"{h['compile'] + h['predict']:.1f}", "", ""))
        rows.append(("hls4ml total: convert + compile + predict", f"{h['convert'] + h['compile'] + h['predict']:.1f}",
                     "", "outputs equal nn2rtl's bit for bit" if same else "outputs DIFFER from nn2rtl's"))
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    text = (f"Model {Path(args.model).name}, {args.vectors} vectors, {os.cpu_count()} cores, empty build caches "
            f"({time.strftime('%Y-%m-%d')})\n\n" + "\n".join(lines) + "\n")
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "sim.md").write_text(text)


if __name__ == "__main__":
    main()
