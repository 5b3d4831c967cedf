"""Conversion and simulation figures for the bundled example (and larger MLPs): prints a table.

    python benchmarks/bench_convert.py [--sizes 16,64,32,32,5 ...] [--no-sim]

Columns: ONNX -> Verilog time (Yosys WebAssembly already cached: a warm-up conversion runs first), peak Python
memory during conversion (tracemalloc) and process peak RSS, Verilog size, the Verilator build time of the C++
harness (cold: a new empty build cache and ccache disabled, so nothing is reused) and its simulation speed with
every vector offered back to back and no stalls (vectors / wall time of the harness process, which includes its
start-up and reading the vectors; the golden model and the comparison are not in it).
"""

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import nn2rtl  # noqa: E402


def model_for(sizes, tmp):
    if sizes == [16, 64, 32, 32, 5]:
        return ROOT / "examples" / "jet_mlp.onnx"
    from helpers import models
    return models.save(models.torch_mlp(sizes, seed=1), Path(tmp) / f"mlp_{'_'.join(map(str, sizes))}.onnx")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", default=["16,64,32,32,5", "32,128,64,10", "64,256,128,10"])
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--vectors", type=int, default=50000)
    ap.add_argument("--max-sim-products", type=int, default=60000,
                    help="skip the Verilator columns above this many multiplications (builds grow linearly)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nn2rtl-bench-")
    nn2rtl.convert(ROOT / "examples" / "jet_mlp.onnx")  # warm the WebAssembly Yosys cache
    rows = [("model", "products", "convert s", "py peak MB", "RSS MB", "verilog KB", "latency",
             "cold build s", "harness inf/s")]
    for spec in args.sizes:
        sizes = [int(v) for v in spec.split(",")]
        path = model_for(sizes, tmp)
        top = "bench_" + "_".join(map(str, sizes))
        t0 = time.perf_counter()
        design = nn2rtl.convert(path, top=top)
        conv = time.perf_counter() - t0
        tracemalloc.start()  # a second conversion for memory: tracemalloc slows Python down several times
        nn2rtl.convert(path, top=top)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        products = design.report()["totals"]["products"]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        build = rate = "-"
        if not args.no_sim and products <= args.max_sim_products:
            os.environ["CCACHE_DISABLE"] = "1"
            os.environ["NN2RTL_SIM_CACHE"] = tempfile.mkdtemp(prefix="cold-", dir=tmp)  # nothing to reuse
            r = design.simulate(vectors=args.vectors, work_dir=Path(tmp) / design.top, traffic="back_to_back")
            os.environ.pop("CCACHE_DISABLE")
            assert r.ok, r.failures()
            assert not r.build_cached
            build, rate = f"{r.build_seconds:.1f}", f"{r.inferences_per_second:,.0f}"
        rows.append(("-".join(map(str, sizes)), str(products), f"{conv:.2f}", f"{peak:.0f}", f"{rss:.0f}",
                     f"{len(design.verilog) / 1024:.0f}", str(design.latency), build, rate))
        print("measured", rows[-1], flush=True)
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    print()
    for k, r in enumerate(rows):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
