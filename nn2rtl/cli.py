"""Command line: ``nn2rtl convert | predict | simulate | inspect | demo``.

User mistakes (bad model, config, precision, paths) print one ``error:`` line and exit with status 2; a failed
bit-exactness check exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .errors import ConfigError, Nn2rtlError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "jet_mlp.onnx"


def _load_array(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read input array {str(path)!r}: {e}") from None


def cmd_convert(args):
    from .design import convert
    t0 = time.perf_counter()
    design = convert(args.model, config=args.config, precision=args.precision, reuse=args.reuse, top=args.top)
    out = design.write(args.output)
    print(design.summary())
    print(f"wrote {out / 'rtl' / (design.top + '.v')} and {out / 'design.json'} "
          f"in {time.perf_counter() - t0:.2f} s")
    return 0


def cmd_predict(args):
    from .design import Design
    design = Design.load(args.design)
    y = design.predict(_load_array(args.input))
    np.save(args.output, y)
    print(f"wrote {args.output}: {y.shape[0]} rows x {y.shape[1]} outputs ({design.output.type})")
    return 0


def _print_sim(design, r):
    print(f"simulated {r.vectors} vectors ({r.back_to_back_cycles} back to back, the rest with idle cycles) in "
          f"Verilator: build {r.build_seconds:.1f} s, run {r.run_seconds:.1f} s")
    print(f"latency: measured {r.latency_min}"
          + (f"..{r.latency_max}" if r.latency_max != r.latency_min else "")
          + f" cycles, stated {r.stated_latency}: {'OK' if r.latency_ok else 'MISMATCH'}")
    if r.bit_exact:
        print(f"bit-exact: {r.vectors} vectors x {design.output.size} outputs match the golden model")
    else:
        print(f"NOT bit-exact: {r.mismatches} mismatching outputs, {r.results} results for {r.vectors} vectors")
        for mm in r.first_mismatches[:10]:
            print(f"  vector {mm['vector']} output {mm['output']}: expected {mm['expected']}, got {mm['got']}")
    return 0 if (r.bit_exact and r.latency_ok) else 1


def cmd_simulate(args):
    from .design import Design
    design = Design.load(args.design)
    inputs = _load_array(args.input) if args.input else None
    vpath = Path(args.design) / "rtl" / f"{design.top}.v"
    r = design.simulate(inputs=inputs, vectors=args.vectors, seed=args.seed,
                        work_dir=Path(args.design) / "sim", verilog_path=vpath)
    return _print_sim(design, r)


def cmd_inspect(args):
    from .design import Design, convert
    if Path(args.target).is_dir():
        g = Design.load(args.target).graph
    else:
        g = convert(args.target, config=args.config, precision=args.precision).graph
    sys.stdout.write(g.dump())
    return 0


def cmd_demo(args):
    from .design import convert
    model = Path(args.model) if args.model else EXAMPLE
    out = Path(args.output)
    print(f"== converting {model}")
    t0 = time.perf_counter()
    design = convert(model)
    design.write(out)
    print(design.summary())
    print(f"wrote {out / 'rtl' / (design.top + '.v')} in {time.perf_counter() - t0:.2f} s")
    inputs_file = model.with_name(model.stem + "_inputs.npy")
    x = np.load(inputs_file) if inputs_file.exists() else None
    if x is not None:
        y = design.predict(x)
        print(f"== golden model on {len(x)} bundled inputs: class agreement with float ONNX Runtime: "
              f"{_float_agreement(model, x, y)}")
    print("== simulating in Verilator")
    r = design.simulate(inputs=None, vectors=args.vectors, work_dir=out / "sim",
                        verilog_path=out / "rtl" / f"{design.top}.v")
    rc = _print_sim(design, r)
    if x is not None and rc == 0:
        r2 = design.simulate(inputs=x, work_dir=out / "sim_inputs", verilog_path=out / "rtl" / f"{design.top}.v")
        print(f"bundled inputs: {r2.vectors} vectors, {'bit-exact' if r2.bit_exact else 'NOT bit-exact'}")
        rc = 0 if r2.bit_exact and r2.latency_ok else 1
    return rc


def _float_agreement(model, x, y):
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime not installed"
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
    return f"{(ref.argmax(axis=1) == y.argmax(axis=1)).mean():.1%} (max |diff| {np.abs(ref - y).max():.3f})"


def build_parser():
    p = argparse.ArgumentParser(prog="nn2rtl", description="ONNX neural networks to bit-exact Verilog.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="convert an ONNX model to Verilog")
    c.add_argument("model", help="ONNX model file")
    c.add_argument("-o", "--output", required=True, help="output directory (replaced atomically)")
    c.add_argument("--config", help="hls4ml-style YAML configuration")
    c.add_argument("--precision", help="model precision, e.g. 'fixed<16,6>' (overrides the config's Model)")
    c.add_argument("--reuse", type=int, help="model reuse factor (overrides the config's Model)")
    c.add_argument("--top", help="top-level module name (default: the model file's name)")
    c.set_defaults(func=cmd_convert)

    pr = sub.add_parser("predict", help="run the golden model (float in, float out)")
    pr.add_argument("design", help="directory written by 'nn2rtl convert'")
    pr.add_argument("--input", required=True, help=".npy file, one row per input")
    pr.add_argument("--output", required=True, help=".npy file to write")
    pr.set_defaults(func=cmd_predict)

    s = sub.add_parser("simulate", help="simulate the Verilog in Verilator and check it bit by bit")
    s.add_argument("design", help="directory written by 'nn2rtl convert'")
    s.add_argument("--input", help=".npy file of inputs (default: random and extreme vectors)")
    s.add_argument("--vectors", type=int, default=1000, help="number of generated vectors (default 1000)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_simulate)

    i = sub.add_parser("inspect", help="print the typed graph of a model or an output directory")
    i.add_argument("target")
    i.add_argument("--config")
    i.add_argument("--precision")
    i.set_defaults(func=cmd_inspect)

    d = sub.add_parser("demo", help="convert, predict and simulate the bundled example")
    d.add_argument("--model", help="another ONNX model instead of the bundled example")
    d.add_argument("-o", "--output", default="demo_out")
    d.add_argument("--vectors", type=int, default=1000)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Nn2rtlError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
