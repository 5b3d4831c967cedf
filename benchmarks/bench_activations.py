"""Accuracy of activation tables and softmax modes against float: hls4ml-compatible (the default) vs ours.

    make bench-activations      # or: python benchmarks/bench_activations.py [--inputs N]

1. The bundled jet-shaped example with a softmax head (and the variant whose ReLUs are tanh/sigmoid/leaky ReLU):
   float (ONNX Runtime) vs nn2rtl's golden model (bit-exact with the RTL and, in hls4ml mode, with hls4ml) in
   each mode: agreement of the argmax with float, worst-case and mean |softmax - float softmax|.
2. Each table activation alone: the worst-case error over every value of the input type, per table mode.

Writes benchmarks/results/activations.{md,json} and prints the tables.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from crosscheck_hls4ml import variant  # noqa: E402

import nn2rtl  # noqa: E402

MODES = {
    "hls4ml (default)": {},
    "centered": {"Model": {"TableMode": "centered"}},
    "fitted": {"Model": {"TableMode": "fitted"}},
    "fitted, inv 4096": {"Model": {"TableMode": "fitted"}, "LayerType": {"Softmax": {"InvTableSize": 4096}}},
    "argmax_index": {"LayerType": {"Softmax": {"implementation": "argmax_index"}}},
}


def float_outputs(path, x):
    import onnxruntime as ort
    return ort.InferenceSession(str(path)).run(None, {"input": x.astype(np.float32)})[0].astype(np.float64)


def fixed_logits(design, x):
    """The exact values of the softmax's input in the fixed-point network (the golden model without its head)."""
    from nn2rtl.golden import run_golden
    g = design.graph.copy()
    head = g.nodes[-1]
    g.nodes, g.outputs = g.nodes[:-1], [head.inputs[0]]
    raw = run_golden(g, {design.input.name: design.quantize_input(x)})[head.inputs[0]]
    return g.tensors[head.inputs[0]].type.dequantize(raw)


def model_rows(name, precision, x, tmp):
    path = variant(name, tmp)
    ref = float_outputs(path, x)
    rows = []
    for mode, cfg in MODES.items():
        cfg = json.loads(json.dumps(cfg))
        cfg.setdefault("Model", {})["Precision"] = precision
        t0 = time.perf_counter()
        d = nn2rtl.convert(path, config=cfg)
        y = d.predict(x)
        secs = time.perf_counter() - t0
        logits = fixed_logits(d, x)
        won = logits.argmax(1)  # the class the fixed-point network picked before its softmax
        if mode == "argmax_index":
            cls = y[:, 0].astype(int)
            err = (0.0, 0.0)
        else:
            cls = y.argmax(1)
            e = np.exp(logits - logits.max(1, keepdims=True))
            e = np.abs(y - e / e.sum(1, keepdims=True))
            err = (float(e.max()), float(e.mean()))
        sm = [lay for lay in d.report()["layers"] if lay["op"] == "Softmax"][0]
        rows.append({"model": name, "precision": precision, "mode": mode,
                     "argmax_agreement": float((cls == ref.argmax(1)).mean()),
                     "class_kept": float((cls == won).mean()), "max_abs_error": err[0], "mean_abs_error": err[1],
                     "latency": d.latency, "rom_bits": sm["rom_bits"], "seconds": round(secs, 2)})
    return rows


def table_rows(precision):
    rows = []
    for op in ("Sigmoid", "Tanh", "Softplus", "Softsign", "Elu", "Selu"):
        from onnx import TensorProto, helper
        g = helper.make_graph([helper.make_node(op, ["input"], ["output"], name="act")], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        row = {"op": op, "precision": precision}
        for mode in ("hls4ml", "centered", "fitted"):
            d = nn2rtl.convert(m, config={"Model": {"Precision": precision, "TableMode": mode}})
            t = d.report()["layers"][0]["table"]
            row[mode] = t["error"]["max_abs_error"]
            row[f"{mode}_range"] = t["range"]
        rows.append(row)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=20000, help="random inputs besides the bundled ones")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    bundled = np.load(ROOT / "examples" / "jet_mlp_inputs.npy").astype(np.float64)
    rng = np.random.default_rng(0)
    x = np.concatenate([bundled, rng.normal(bundled.mean(0), bundled.std(0) + 1e-9, (args.inputs, bundled.shape[1]))])
    models = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("jet_mlp_softmax", "jet_mlp_activations"):
            for precision in ("fixed<16,6>", "fixed<12,4>"):
                models += model_rows(name, precision, x, tmp)
    tables = table_rows("fixed<16,6>") + table_rows("fixed<10,3>")

    md = [f"## Softmax head: {len(x)} inputs (bundled + random of the same spread)", "",
          "argmax = float: the class equals the float model's (ONNX Runtime); class kept: the softmax's argmax equals "
          "the argmax of its own fixed-point input; errors: |softmax output - exact softmax of the same fixed-point "
          "logits| (the softmax's own error, apart from the layers before it).", "",
          "| model | precision | mode | argmax = float | class kept | max abs err | mean abs err | latency | "
          "softmax ROM bits |", "|---|---|---|---|---|---|---|---|---|"]
    for r in models:
        md.append(f"| {r['model']} | {r['precision']} | {r['mode']} | {100 * r['argmax_agreement']:.2f}% | "
                  f"{100 * r['class_kept']:.2f}% | {r['max_abs_error']:.4f} | {r['mean_abs_error']:.5f} | "
                  f"{r['latency']} | {r['rom_bits']} |")
    md += ["", "## Table activations alone: worst-case |error| over every input value (result type = input type)", "",
           "| op | precision | hls4ml | centered | fitted | fitted range |", "|---|---|---|---|---|---|"]
    for r in tables:
        md.append(f"| {r['op']} | {r['precision']} | {r['hls4ml']:.5f} | {r['centered']:.5f} | {r['fitted']:.5f} | "
                  f"{r['fitted_range']} |")
    text = "\n".join(md) + "\n"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "activations.md").write_text(text)
    (out / "activations.json").write_text(json.dumps({"models": models, "tables": tables}, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
