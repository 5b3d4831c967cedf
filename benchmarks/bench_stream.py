"""io_stream vs io_parallel on a 32x32x3 CNN, and the 256x256x3 scale run.

    python benchmarks/bench_stream.py                 # make bench-stream
    python benchmarks/bench_stream.py --no-synth      # schedule, conversion and Verilator figures only

**32x32x3 CNN** (Conv 3x3x4 pad 1 -> ReLU -> MaxPool 2 -> Conv 3x3x8 pad 1 -> ReLU -> MaxPool 2 -> Dense 10, seeded
random weights, fixed<8,3>; io_parallel's bus limit of 65,535 bits per tensor allows no more channels at this
size): per architecture and reuse factor, the schedule's latency and II per image, multipliers, register and memory
bits (line buffers, FIFOs), conversion time, a Verilator run (bit-exact; stream designs: every timed beat on
schedule) and Yosys figures (LUT, FF, DSP, BRAM) for the targets asked, each run stopped after ``--timeout``.

**256x256x3** (three 3x3 convolutions, 3 -> 8 -> 8 -> 2 channels, an image out, io_stream): conversion time and
peak memory of the converting process (measured in a child process), and Verilator's cycles per image on full
images.

Writes ``benchmarks/results/stream.{json,md}``. Measured on the machine it runs on; the Markdown says how.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import nn2rtl  # noqa: E402


def progress(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cnn32(path):
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(rng.normal(0, 0.4, (4, 3, 3, 3)).astype(np.float32), "w1"),
            numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "b1"),
            numpy_helper.from_array(rng.normal(0, 0.2, (8, 4, 3, 3)).astype(np.float32), "w2"),
            numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b2"),
            numpy_helper.from_array(rng.normal(0, 0.1, (8 * 8 * 8, 10)).astype(np.float32), "wf"),
            numpy_helper.from_array(rng.normal(0, 0.1, 10).astype(np.float32), "bf"),
            numpy_helper.from_array(np.array([1, 8 * 8 * 8], dtype=np.int64), "shape")]
    mk = helper.make_node
    nodes = [mk("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             mk("Relu", ["c1"], ["r1"], name="relu1"),
             mk("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             mk("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             mk("Relu", ["c2"], ["r2"], name="relu2"),
             mk("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
             mk("Flatten", ["p2"], ["f"], name="flatten"),
             mk("Gemm", ["f", "wf", "bf"], ["y"], name="fc")]
    g = helper.make_graph(nodes, "cnn32", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], init)
    from helpers import models
    return models.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def seg256(path):
    from helpers import models
    return models.conv_stack(path, (3, 8, 8, 2), 256)


def measure(model, io_type, reuse, precision, targets, timeout, sim_images, work):
    from nn2rtl.synth import synthesize
    cfg = {"Model": {"IOType": io_type, "ReuseFactor": reuse, "Precision": precision}}
    t0 = time.perf_counter()
    d = nn2rtl.convert(str(model), config=cfg, top=f"cnn32_{io_type[3:]}_r{reuse}")
    conv_s = time.perf_counter() - t0
    rep = d.report()
    row = {"io_type": io_type, "reuse": reuse, "latency": d.latency, "ii": d.ii, "convert_s": round(conv_s, 2),
           "multipliers": rep["totals"]["multipliers"], "registers": rep["totals"]["registers"],
           "verilog_kib": round(len(d.verilog) / 1024, 1)}
    if d.stream is not None:
        row.update(latency_last=d.stream.latency_last, **{f"{k}_bits": v for k, v in d.stream.memory_bits().items()})
    if sim_images:
        x = np.random.default_rng(1).normal(0, 1, (sim_images, d.input.size))
        r = d.simulate(inputs=x, work_dir=work / f"{io_type}_{reuse}")
        row["verilator_ok"] = bool(r.ok)
        row["verilator_run_s"] = round(r.run_seconds, 2)
    for target in targets:
        progress(f"Yosys {target}: {io_type} R={reuse}")
        try:
            s = synthesize(d.verilog, d.top, target, timeout=timeout, flatten=io_type == "io_stream")
            row[target] = {k: s.get(k) for k in ("luts", "ffs", "dsps", "memories", "lutram", "fmax_mhz")}
            row[target]["seconds"] = round(s["seconds"]["synthesis"], 1)
        except nn2rtl.Nn2rtlError as e:
            row[target] = {"error": str(e).splitlines()[0][:120]}
    return row


def scale_child(model, out):
    """Runs in a child process: conversion time and this process's peak memory."""
    t0 = time.perf_counter()
    d = nn2rtl.convert(str(model), config={"Model": {"IOType": "io_stream", "Precision": "fixed<12,5>"}},
                       top="seg256")
    secs = time.perf_counter() - t0
    Path(out).write_text(json.dumps({"convert_s": round(secs, 2), "peak_rss_mib": round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "ii": d.ii, "latency_first": d.latency,
        "latency_last": d.stream.latency_last, "line_buffer_bits": d.stream.memory_bits()["line_buffers"]}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", nargs="*", default=["ecp5", "xc7"])
    p.add_argument("--no-synth", action="store_true")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--scale-child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.scale_child:
        return scale_child(*args.scale_child)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "nn2rtl-bench-stream"
    work.mkdir(parents=True, exist_ok=True)
    targets = [] if args.no_synth else args.targets
    progress("warm-up conversion (compiles Amaranth's WebAssembly Yosys once)")
    model = cnn32(work / "cnn32.onnx")
    nn2rtl.convert(str(model), config={"Model": {"IOType": "io_stream"}}, top="warmup")
    rows = []
    for io_type, reuse in [("io_parallel", 1), ("io_parallel", 36), ("io_stream", 1), ("io_stream", 4)]:
        progress(f"32x32x3 CNN: {io_type} R={reuse}")
        # the fully parallel design (110k constant multipliers) is measured by its schedule only: synthesis of it
        # runs for hours
        full = io_type == "io_parallel" and reuse == 1
        rows.append(measure(model, io_type, reuse, "fixed<8,3>", [] if full else targets, args.timeout,
                            0 if full else 20, work))
        progress(json.dumps(rows[-1]))
    progress("256x256x3: conversion in a child process (time, peak memory)")
    big = seg256(work / "seg256.onnx")
    res = work / "scale.json"
    subprocess.run([sys.executable, __file__, "--scale-child", str(big), str(res)], check=True)
    scale = json.loads(res.read_text())
    d = nn2rtl.convert(str(big), config={"Model": {"IOType": "io_stream", "Precision": "fixed<12,5>"}}, top="seg256")
    x = np.random.default_rng(2).normal(0, 1, (4, d.input.size))
    r = d.simulate(inputs=x, work_dir=work / "seg256")
    scale.update(verilator_ok=bool(r.ok), images=r.images, cycles=r.cycles,
                 cycles_per_image=d.ii, verilator_run_s=round(r.run_seconds, 2),
                 verilator_build_s=round(r.build_seconds, 1))
    progress(json.dumps(scale))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    (out / "stream.json").write_text(json.dumps({"machine": machine, "cnn32": rows, "seg256": scale}, indent=1))
    head = ["architecture", "R", "latency (first/last beat)", "II per image", "mults", "register bits",
            "line-buffer bits", "FIFO bits", "convert s", "Verilator"] + [f"{t} LUT/FF/DSP/BRAM" for t in targets]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r_ in rows:
        lat = f"{r_['latency']}/{r_.get('latency_last', r_['latency'])}"
        syn = []
        for t in targets:
            s = r_.get(t)
            syn.append("-" if s is None else s.get("error") or f"{s['luts']}/{s['ffs']}/{s['dsps']}/{s['memories']}")
        md.append("| " + " | ".join([r_["io_type"], str(r_["reuse"]), lat, str(r_["ii"]), str(r_["multipliers"]),
                                     str(r_["registers"]), str(r_.get("line_buffers_bits", 0)),
                                     str(r_.get("fifos_bits", 0)), str(r_["convert_s"]),
                                     {True: "bit-exact", False: "FAILED"}.get(r_.get("verilator_ok"), "-")]
                               + syn) + " |")
    text = (f"# io_stream vs io_parallel\n\nMeasured {time.strftime('%Y-%m-%d')} by `make bench-stream` on {machine}; "
            f"Yosys {'from $YOSYS=' + os.environ['YOSYS'] if 'YOSYS' in os.environ else '(YoWASP)'}; stream designs "
            f"synthesized flattened, io_parallel per module; io_parallel at R=1 neither synthesized nor simulated "
            f"(110k constant multipliers: its figures are the schedule's).\n\n"
            f"## 32x32x3 CNN (fixed<8,3>)\n\n" + "\n".join(md) + "\n\n"
            f"## 256x256x3, three 3x3 convolutions (io_stream, fixed<12,5>)\n\n"
            f"- convert: {scale['convert_s']} s, peak memory {scale['peak_rss_mib']} MiB (one process, after nothing "
            f"else)\n- II {scale['ii']} cycles per image ({1e6 / (scale['ii'] * 5):.1f} k images/s at 5 ns), "
            f"latency {scale['latency_first']} cycles to the first output pixel, {scale['latency_last']} to the last; "
            f"{scale['line_buffer_bits']} bits of line buffers\n- Verilator: {scale['images']} full images, "
            f"{scale['cycles']} cycles in {scale['verilator_run_s']} s "
            f"({'bit-exact, on schedule' if scale['verilator_ok'] else 'FAILED'}), "
            f"build {scale['verilator_build_s']} s\n")
    (out / "stream.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
