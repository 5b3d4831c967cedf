"""Cross-check nn2rtl's convolutional networks against hls4ml 1.3.0's own C simulation, bit for bit.

    make crosscheck        # builds .venv-hls4ml (hls4ml 1.3.0 + torch + nn2rtl) and runs this script too

Each network of tests/helpers/cnn_models.py is built in PyTorch with the same seeded weights, exported with
torch.onnx for nn2rtl, and given to hls4ml through its PyTorch front end (Vivado backend, io_parallel, granularity
'model'); the depthwise network goes through hls4ml's ONNX front end instead (its PyTorch front end refuses
``groups``; its ONNX front end's channels-last conversion cannot place average pooling, and it transposes the data
before a global pooling, which then pools across channels: 0.24 away from PyTorch on GlobalPoolNet). Both predict on
the same random inputs; the script prints a table and exits 1 on any differing bit. The dynamo exporter folds a
batch norm into the convolution before it, while hls4ml's PyTorch front end keeps it a layer; the batch-norm network
is therefore exported with the optimiser off, so that both tools see the same network.
"""

import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "tests"))
sys.path.append(str(ROOT / "benchmarks"))

import nn2rtl  # noqa: E402

PYTORCH = ["conv1d", "conv2d", "residual", "unet"]
ONNX = ["depthwise"]
PRECISIONS = ["fixed<16,6>", "fixed<12,4>", "fixed<18,8>"]


def hls4ml_pytorch(model, shape, precision, workdir, io_type="io_parallel"):
    import hls4ml
    cfg = hls4ml.utils.config_from_pytorch_model(model, shape, granularity="model", backend="Vivado",
                                                 default_precision=precision)
    return hls4ml.converters.convert_from_pytorch_model(model, hls_config=cfg, output_dir=str(workdir),
                                                        backend="Vivado", io_type=io_type)


def hls4ml_fifo_bits(hm):
    """hls4ml's FIFOs between layers as it writes them without a co-simulation (``#pragma HLS STREAM depth``: the
    tensor's pixel count for every stream), excluding the top level's input and output: (streams, bits)."""
    ports = set(hm.inputs) | set(hm.outputs)
    n = bits = 0
    for name, v in hm.output_vars.items():
        pragma = getattr(v, "pragma", None)
        if name in ports or not (isinstance(pragma, tuple) and pragma[0] == "stream"):
            continue
        n += 1
        bits += int(pragma[1]) * int(v.shape[-1]) * int(v.type.precision.width)
    return n, bits


def main(argv=None):
    import argparse

    from helpers import cnn_models
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=PYTORCH + ONNX, choices=PYTORCH + ONNX)
    p.add_argument("--precisions", nargs="+", default=PRECISIONS)
    p.add_argument("--out", help="also write the table as Markdown to this file")
    p.add_argument("--io-types", nargs="+", default=["io_parallel", "io_stream"],
                   choices=["io_parallel", "io_stream"])
    args = p.parse_args(argv)
    rows, failed = [], False
    fifo_rows = []
    for name in args.models:
        for precision in args.precisions:
            if "io_parallel" not in args.io_types:
                break
            with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model, shape = cnn_models.build(name)
                path = Path(tmp) / f"{name}.onnx"
                cnn_models.export(name, path, dynamo=name in PYTORCH, optimize=False)
                design = nn2rtl.convert(str(path), precision=precision)
                x = np.random.default_rng(11).normal(0, 2, size=(300, *shape))
                if name in PYTORCH:
                    hm = hls4ml_pytorch(model, shape, precision, Path(tmp) / "prj")
                else:
                    from crosscheck_hls4ml import hls4ml_model
                    hm = hls4ml_model(path, precision, Path(tmp) / "prj")
                hm.compile()
                y_hls = np.asarray(hm.predict(np.ascontiguousarray(x))).reshape(len(x), -1)
            y_ours = design.predict(x)
            diff = int((y_hls != y_ours).sum())
            failed |= diff > 0
            rows.append((name, "pytorch" if name in PYTORCH else "onnx", precision, str(len(x)), str(y_ours.size),
                         str(diff), f"{np.abs(y_hls - y_ours).max():.3g}"))
    if "io_stream" in args.io_types:  # hls4ml's io_stream C simulation (its PyTorch front end) vs our stream design
        for name in PYTORCH:
            if name not in args.models:
                continue
            precision = args.precisions[0]
            with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model, shape = cnn_models.build(name)
                path = Path(tmp) / f"{name}.onnx"
                cnn_models.export(name, path, dynamo=True, optimize=False)
                design = nn2rtl.convert(str(path), precision=precision, io_type="io_stream")
                parallel = nn2rtl.convert(str(path), precision=precision)
                x = np.random.default_rng(11).normal(0, 2, size=(300, *shape))
                hm = hls4ml_pytorch(model, shape, precision, Path(tmp) / "prj", io_type="io_stream")
                hm.compile()
                y_hls = np.asarray(hm.predict(np.ascontiguousarray(x))).reshape(len(x), -1)
                hp = hls4ml_pytorch(model, shape, precision, Path(tmp) / "prj_par")
                hp.compile()
                y_par = np.asarray(hp.predict(np.ascontiguousarray(x))).reshape(len(x), -1)
                n_streams, hls_bits = hls4ml_fifo_bits(hm)
            y_ours = design.predict(x)
            assert np.array_equal(y_ours, parallel.predict(x))
            diff = int((y_hls != y_ours).sum())
            failed |= diff > 0
            rows.append((name + " (io_stream)", "pytorch", precision, str(len(x)), str(y_ours.size), str(diff),
                         f"{np.abs(y_hls - y_ours).max():.3g}"))
            mem = design.stream.memory_bits()
            fifo_rows.append((name, str(n_streams), str(hls_bits), str(len(design.stream.depths)), str(mem["fifos"]),
                              str(mem["line_buffers"]), str(int((y_hls != y_par).sum()))))
    from crosscheck_hls4ml import print_table
    if fifo_rows:
        fhead = ("model", "hls4ml streams", "hls4ml FIFO bits", "nn2rtl FIFOs", "nn2rtl FIFO bits",
                 "nn2rtl line-buffer bits", "hls4ml io_stream vs io_parallel differing")
        widths = [max(len(r[k]) for r in fifo_rows + [fhead]) for k in range(len(fhead))]
        for r in [fhead] + fifo_rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    head = ("model", "hls4ml front end", "precision", "inputs", "outputs compared", "differing", "max |diff|")
    if args.out:
        import time

        import hls4ml
        md = ["| " + " | ".join(head).replace("|diff|", "abs diff") + " |", "|" + "---|" * len(head)]
        md += ["| " + " | ".join(r) + " |" for r in rows]
        Path(args.out).write_text(
            f"nn2rtl's golden model vs hls4ml {hls4ml.__version__}'s C simulation (`hm.compile()`, `hm.predict()`) on "
            f"the CNNs of `tests/helpers/cnn_models.py`, io_parallel, Latency strategy, granularity 'model'. "
            f"Measured {time.strftime('%Y-%m-%d')} by `make crosscheck`.\n\n" + "\n".join(md) + "\n\n"
            + ("bit-exact with hls4ml" if not failed else "MISMATCH with hls4ml") + "\n"
            + ("" if not fifo_rows else "\n## io_stream: FIFO memory\n\nhls4ml's FIFOs as it writes them without a "
               "co-simulation (every stream between layers as deep as its tensor has pixels; its FIFO-depth "
               "optimiser needs a Vivado co-simulation, not run here) vs nn2rtl's, sized from the schedule (only "
               "where a tensor feeds two branches). nn2rtl's line buffers are listed apart; hls4ml's are inside its "
               "convolution blocks and not counted. The last column: outputs where hls4ml's own io_stream and "
               "io_parallel C simulations differ.\n\n"
               + "| " + " | ".join(fhead) + " |\n|" + "---|" * len(fhead) + "\n"
               + "\n".join("| " + " | ".join(r) + " |" for r in fifo_rows) + "\n"))
    return print_table(head, rows, failed)


if __name__ == "__main__":
    sys.exit(main())
