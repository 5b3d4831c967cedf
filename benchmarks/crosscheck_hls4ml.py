"""Cross-check nn2rtl's golden model against hls4ml's own C simulation, bit for bit.

    make crosscheck        # builds .venv-hls4ml (hls4ml 1.3.0 + qonnx + nn2rtl) and runs this script

For each model (the bundled example, the example with a softmax head, and the example with its ReLUs replaced by
tanh, sigmoid and leaky ReLU and a softmax head) and precision below it converts the same ONNX file with hls4ml
(Vivado backend, io_parallel, granularity 'model', qonnx clean-up as hls4ml's documentation prescribes), compiles
hls4ml's C++ with g++, and compares ``hls_model.predict`` with ``nn2rtl.convert(...).predict`` on the bundled
inputs plus nn2rtl's random and extreme test vectors (which overflow accumulators: wrap-around must match too).
With ``--hls`` nn2rtl's HLS C++ back end (compiled with g++) is compared with hls4ml's ``predict`` too.
Prints a table; exits 1 on any differing bit. The test suite runs the softmax models at fixed<16,6>
(tests/nn2rtl/test_hls4ml_oracle.py); ``make test`` installs hls4ml in its own venv for that.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nn2rtl  # noqa: E402
from nn2rtl.design import make_vectors  # noqa: E402

PRECISIONS = ["fixed<16,6>", "fixed<12,4>", "fixed<8,3>", "fixed<18,8>"]


def variant(name, workdir):
    """The bundled example as is (``jet_mlp``), with a softmax head (``jet_mlp_softmax``), or with its ReLUs
    replaced by table and parametrised activations and a softmax head (``jet_mlp_activations``)."""
    import onnx
    from onnx import helper
    path = ROOT / "examples" / "jet_mlp.onnx"
    if name == "jet_mlp":
        return path
    m = onnx.load(str(path))
    g = m.graph
    if name == "jet_mlp_activations":
        swaps = iter([("Tanh", {}), ("Sigmoid", {}), ("LeakyRelu", {"alpha": 0.1})])
        for k, node in enumerate(g.node):
            if node.op_type == "Relu":
                op, attrs = next(swaps)
                g.node[k].CopyFrom(helper.make_node(op, list(node.input), list(node.output), name=node.name, **attrs))
    last = g.node[len(g.node) - 1]
    last.output[0] = "logits"
    g.node.append(helper.make_node("Softmax", ["logits"], ["output"], name="/softmax/Softmax", axis=-1))
    out = Path(workdir) / f"{name}.onnx"
    onnx.save(m, str(out))
    return out


def hls4ml_model(onnx_path, precision, workdir):
    """hls4ml's model of ``onnx_path`` (not compiled): qonnx clean-up as hls4ml's documentation prescribes, the
    Vivado backend, io_parallel, granularity 'model'."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model
    m = cleanup_model(ModelWrapper(str(onnx_path)))
    m = cleanup_model(m.transform(ConvertToChannelsLastAndClean()).transform(GemmToMatMul()))
    cfg = hls4ml.utils.config_from_onnx_model(m, granularity="model", backend="Vivado",
                                               default_precision=precision)
    return hls4ml.converters.convert_from_onnx_model(m, output_dir=str(workdir), backend="Vivado",
                                                     io_type="io_parallel", hls_config=cfg)


def hls4ml_predict(onnx_path, precision, x, workdir):
    hm = hls4ml_model(onnx_path, precision, workdir)
    hm.compile()
    return np.asarray(hm.predict(np.ascontiguousarray(x, dtype=np.float64)))


MODELS = {"jet_mlp": PRECISIONS, "jet_mlp_softmax": ["fixed<16,6>", "fixed<12,4>", "fixed<18,8>"],
          "jet_mlp_activations": ["fixed<16,6>", "fixed<12,4>"]}


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--precisions", nargs="+", help="default: each model's list")
    p.add_argument("--hls", action="store_true", help="also compare nn2rtl's HLS C++ (compiled with g++) with "
                                                      "hls4ml's predict()")
    args = p.parse_args(argv)
    bundled = np.load(ROOT / "examples" / "jet_mlp_inputs.npy").astype(np.float64)
    rows, failed = [], False
    for name in args.models:
        for precision in args.precisions or MODELS[name]:
            with tempfile.TemporaryDirectory() as tmp:
                model = variant(name, tmp)
                design = nn2rtl.convert(model, precision=precision)
                t = design.input.type
                extreme = t.dequantize(make_vectors(t, design.input.size, 1000, seed=5))  # on the input grid
                x = np.concatenate([bundled, extreme])
                y_hls = hls4ml_predict(model, precision, x, Path(tmp) / "prj").reshape(len(x), -1)
            y_ours = design.predict(x)
            diff = int((y_hls != y_ours).sum())
            failed |= diff > 0
            row = [name, precision, str(len(x)), str(y_ours.size), str(diff), f"{np.abs(y_hls - y_ours).max():.3g}"]
            if args.hls:
                cpp_diff = int((y_hls != design.predict(x, backend="hls")).sum())
                failed |= cpp_diff > 0
                row.append(str(cpp_diff))
            rows.append(tuple(row))
    head = ("model", "precision", "inputs", "outputs compared", "differing", "max |diff|")
    return print_table(head + (("HLS C++ differing",) if args.hls else ()), rows, failed)


def print_table(head, rows, failed):
    """Print the comparison table and the verdict line the tests read; the exit status (1 on any differing bit)."""
    widths = [max(len(r[k]) for r in rows + [head]) for k in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print("bit-exact with hls4ml" if not failed else "MISMATCH with hls4ml")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
