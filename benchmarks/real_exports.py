"""Real quantised exports, side by side: what each becomes, how it compares with the exact evaluation and with
its float32 executor (the differing rows counted and explained), and what the hardware costs.

    make bench-exports          (writes benchmarks/results/real_exports.md)

For every model of ``tests/helpers/real_exports.py``: the layer sequence after streamlining, threshold levels and
comparators, multipliers, latency; on 500 inputs (random rows, float32-nearest rounding ties of the input
quantiser, saturating extremes) the outputs that differ from the exact rational evaluation (must be 0), the rows
that differ from the float32 executor, split into tie rows and random rows, and the largest distance of any
quantiser input from a rounding boundary among the differing rows (the explanation: float32 decided a value
that close). Convert time includes Verilog generation.
"""

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "tests"))

from helpers import real_exports  # noqa: E402
from helpers.exact_onnx import design_fractions, evaluate_exact  # noqa: E402

from nn2rtl.design import convert  # noqa: E402


def main():
    sys.path.append(str(ROOT / "tests" / "nn2rtl"))
    from test_real_exports import ROWS, run_executor, test_inputs
    rows = [("model", "layers", "levels", "comparators", "mults", "latency", "convert s", "exact diff",
             "executor diff: tie rows", "random rows", "max margin of differing rows")]
    with tempfile.TemporaryDirectory() as zoo:
        for name in real_exports.MODELS:
            path = real_exports.model_path(zoo, name)
            model = onnx.load(path)
            t0 = time.perf_counter()
            d = convert(path)
            secs = time.perf_counter() - t0
            x = test_inputs(model)
            margins = {}
            want = evaluate_exact(model, x, margins=margins).reshape(len(x), -1)
            exact_diff = int((design_fractions(d, x) != want).sum())
            with warnings.catch_warnings(), np.errstate(over="ignore"):
                warnings.simplefilter("ignore")
                ref = run_executor(model, path, x)
            exact = np.vectorize(float, otypes=[np.float64])(want)
            differ = ~np.all(np.isclose(ref, exact, rtol=1e-5, atol=1e-6), axis=1)
            ties = int(differ[:ROWS // 5].sum())
            rnd = int(differ[ROWS // 5 + 4:].sum())
            worst = max([margins["row"][r] for r in np.flatnonzero(differ)], default=None)
            rep = d.report()
            ops = [n.op for n in d.graph.nodes]
            seq = " ".join(f"{o[0]}" for o in ops)
            rows.append((name, seq, str(sum(lay.get("levels", 0) for lay in rep["layers"])),
                         str(rep["totals"]["comparators"]), str(rep["totals"]["multipliers"]), str(d.latency),
                         f"{secs:.1f}", f"{exact_diff} of {want.size}", f"{ties} of {ROWS // 5}",
                         f"{rnd} of {len(x) - ROWS // 5 - 4}",
                         "-" if worst is None else f"{worst:.2e}"))
            print(" | ".join(rows[-1]), flush=True)
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    table = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    table.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    text = ("# Real quantised exports\n\n`make bench-exports` (benchmarks/real_exports.py), default configuration "
            "(reuse 1). Layers: D = Dense, T = Threshold, S = ScaleShift, R = Relu. 'exact diff': outputs of the "
            "golden model that differ from the exact rational evaluation. 'executor diff': rows where the float32 "
            "executor (qonnx; ONNX Runtime for QDQ/QCDQ) differs; tie rows are built on the input quantiser's "
            "rounding boundaries (their float32-nearest values), random rows are not. The margin is the smallest "
            "distance, in code units, of any quantiser input from a rounding boundary in that row, largest over "
            "the differing rows: float32 decided a value that close (0: an exact tie). The four saturating rows "
            "are in neither count (they agree). Convert time includes Verilog, warm Yosys.\n\n"
            + "\n".join(table) + "\n")
    out = ROOT / "benchmarks" / "results" / "real_exports.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
