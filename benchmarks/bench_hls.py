"""The HLS C++ back end side by side with hls4ml 1.3.0, in one run, from empty compile caches:

    make bench-hls        # runs in .venv-hls4ml (hls4ml + nn2rtl); writes benchmarks/results/hls.md and hls.json

Per model: convert, write and g++ compile time of nn2rtl's HLS C++ project and of hls4ml's (``compile()`` writes
and builds its project), then ``predict`` throughput on 100k inputs (float in, float out, through ctypes for both),
and the number of output bits where the two differ (0 expected: the same ``ap_fixed`` numerics). nn2rtl's output is
also checked against its golden model. Machine load matters: the table says what was measured, where.
"""

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import nn2rtl  # noqa: E402
from nn2rtl.design import make_vectors  # noqa: E402

ROWS = 100_000


def bench_nn2rtl(model, x, out_dir):
    t0 = time.perf_counter()
    design = nn2rtl.convert(model, backends=("hls",))
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    design.write_hls(out_dir / "nn2rtl_hls")
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = design.hls_model()
    t_compile = time.perf_counter() - t0
    assert not m.compiled.cached
    design.predict(x[:10], backend="hls")  # warm up
    t0 = time.perf_counter()
    y = design.predict(x, backend="hls")
    t_predict = time.perf_counter() - t0
    golden = design.predict(x)
    return {"convert": t_convert, "write": t_write, "compile": t_compile, "predict": t_predict,
            "golden_differing": int((y != golden).sum())}, y


def bench_hls4ml(model, x, out_dir, torch_model=None):
    """hls4ml's ONNX front end, or (``torch_model``: a convolutional network) its PyTorch front end, as
    crosscheck_cnn_hls4ml.py uses it (hls4ml's ONNX channels-last conversion cannot place every layer)."""
    import hls4ml
    from crosscheck_hls4ml import hls4ml_model
    t0 = time.perf_counter()
    if torch_model is not None:
        from crosscheck_cnn_hls4ml import hls4ml_pytorch
        hm = hls4ml_pytorch(torch_model[0], torch_model[1], "fixed<16,6>", out_dir / "hls4ml_prj")
    else:
        hm = hls4ml_model(model, "fixed<16,6>", out_dir / "hls4ml_prj")
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    hm.compile()
    t_compile = time.perf_counter() - t0
    xc = np.ascontiguousarray(x, dtype=np.float64)
    hm.predict(xc[:10])
    t0 = time.perf_counter()
    y = np.asarray(hm.predict(xc)).reshape(len(x), -1)
    t_predict = time.perf_counter() - t0
    return {"convert": t_convert, "compile": t_compile, "predict": t_predict, "version": hls4ml.__version__}, y


def inputs(model, shape, seed=0):
    """Random and extreme values on the input grid, in the model's input shape."""
    design = nn2rtl.convert(model, backends=("hls",))
    t = design.input.type
    raw = make_vectors(t, design.input.size, ROWS, seed)[:ROWS]
    return t.dequantize(raw).reshape((ROWS, *shape))


def model_for(name, tmp):
    """(ONNX path, input shape, (torch model, shape) for hls4ml's PyTorch front end or None)."""
    import warnings
    if name in ("jet_mlp", "jet_mlp_softmax"):
        from crosscheck_hls4ml import variant
        return variant(name, tmp), (16,), None
    sys.path.append(str(ROOT / "tests"))
    from helpers import cnn_models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m, shape = cnn_models.build(name)
        path = Path(tmp) / f"{name}.onnx"
        cnn_models.export(name, path, dynamo=True, optimize=False)
    return path, shape, (m, shape)


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["jet_mlp", "jet_mlp_softmax", "conv2d", "residual"])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "hls.md"))
    args = p.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="nn2rtl-bench-hls-") as tmp:
        tmp = Path(tmp)
        os.environ["NN2RTL_HLS_CACHE"] = str(tmp / "cache")  # empty: every nn2rtl build is a real compile
        for name in args.models:
            model, shape, torch_model = model_for(name, tmp)
            x = inputs(model, shape)
            ours, y_ours = bench_nn2rtl(model, x, tmp / name)
            try:
                theirs, y_theirs = bench_hls4ml(model, x, tmp / name, torch_model)
                differing = int((y_ours != y_theirs).sum())
            except Exception as e:  # hls4ml cannot take this model: say so in the table
                theirs, differing = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"}, None
            results.append({"model": name, "rows": ROWS, "nn2rtl": ours, "hls4ml": theirs,
                            "differing_from_hls4ml": differing})
            print(f"{name}: done", file=sys.stderr)
    version = next((r["hls4ml"]["version"] for r in results if "version" in r["hls4ml"]), "")
    lines = [f"# HLS C++ back end vs hls4ml {version}",
             "", f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, g++; compile caches empty "
             f"(a fresh NN2RTL_HLS_CACHE; hls4ml always rebuilds); {ROWS:,} inputs per predict (random and "
             "extreme values on the input grid). Default precision fixed<16,6>, reuse factor 1, io_parallel. "
             "hls4ml reads the MLPs through its ONNX front end and the CNNs (tests/helpers/cnn_models.py) through "
             "its PyTorch front end; nn2rtl reads the torch.onnx export.", "",
             "| model | tool | convert s | write s | g++ compile s | predict s | inferences/s | differing outputs |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        o, h = r["nn2rtl"], r["hls4ml"]
        lines.append(f"| {r['model']} | nn2rtl | {o['convert']:.2f} | {o['write']:.2f} | {o['compile']:.1f} | "
                     f"{o['predict']:.2f} | {ROWS / o['predict']:,.0f} | {o['golden_differing']} vs golden |")
        if "error" in h:
            lines.append(f"| {r['model']} | hls4ml | {h['error']} | | | | | |")
        else:
            lines.append(f"| {r['model']} | hls4ml | {h['convert']:.2f} | (in compile) | {h['compile']:.1f} | "
                         f"{h['predict']:.2f} | {ROWS / h['predict']:,.0f} | {r['differing_from_hls4ml']} vs "
                         f"nn2rtl |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    bad = any(r["nn2rtl"]["golden_differing"] or r["differing_from_hls4ml"] for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
