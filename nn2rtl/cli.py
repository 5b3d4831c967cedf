"""Command line: ``nn2rtl convert | report | predict | simulate | inspect | build | board-run | demo``.

User mistakes (bad model, config, precision, paths) print one ``error:`` line and exit with status 2; a failed
bit-exactness check exits with status 1.
"""

from __future__ import annotations

import argparse
import json
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
    from .progress import Progress
    t0 = time.perf_counter()
    with Progress(f"converting {args.model}") as p:
        design = convert(args.model, config=args.config, precision=args.precision, reuse=args.reuse, top=args.top,
                         strategy=args.strategy, levels_per_stage=args.adder_levels, progress=p.update,
                         io_type=args.io_type, backends=_BACKENDS[args.backend], flow_control=args.flow_control,
                         dsp=args.dsp)
        p.update("writing the output directory")
        out = design.write(args.output, backends=_BACKENDS[args.backend])
    print(design.summary())
    for w in design.warnings():
        print(f"warning: {w}", file=sys.stderr)
    wrote = []
    if "rtl" in _BACKENDS[args.backend]:
        wrote.append(str(out / "rtl" / (design.top + ".v")))
    if "hls" in _BACKENDS[args.backend]:
        wrote.append(f"the HLS C++ project {out / 'hls'} (top {design.top}() in firmware/{design.top}.cpp)")
        if design.stream is not None:
            print("note: the HLS C++ is io_parallel (whole tensors as arrays); io_stream shapes only the RTL",
                  file=sys.stderr)
    print(f"wrote {', '.join(wrote)} and {out / 'design.json'} in {time.perf_counter() - t0:.2f} s")
    return 0


_BACKENDS = {"rtl": ("rtl",), "hls": ("hls",), "both": ("rtl", "hls")}


def cmd_predict(args):
    from .design import Design
    design = Design.load(args.design)
    x = _load_array(args.input)
    t0 = time.perf_counter()
    y = design.predict(x, backend=args.backend)
    how = "golden model"
    if args.backend == "hls":
        m = design.hls_model()
        build = "cached build" if m.compiled.cached else f"compiled in {m.compiled.seconds:.1f} s"
        how = f"HLS C++ ({build}, {m.compiled.path.name})"
    np.save(args.output, y)
    print(f"wrote {args.output}: {y.shape[0]} rows x {y.shape[1]} outputs ({design.output.type}) by the {how} in "
          f"{time.perf_counter() - t0:.2f} s")
    return 0


def _print_stream_sim(design, r):
    build = "cached" if r.build_cached else f"{r.build_seconds:.1f} s"
    print(f"streamed {r.images} images through Verilator (AXI4-Stream harness): {r.timed_images} back to back with "
          f"the output always ready, then random tvalid gaps and {r.stall_cycles} cycles of tready stall")
    print(f"build {build}, run {r.run_seconds:.2f} s for {r.cycles} cycles")
    beats = ("every beat of the back-to-back images moved in the cycle the schedule states"
             if not r.schedule_differences else f"{r.schedule_differences} beats off the schedule")
    print(f"schedule: {beats}; "
          f"latency to the first/last output beat measured {r.latency_first[:1]}/{r.latency_last[:1]}, stated "
          f"{r.stated_latency_first}/{r.stated_latency_last}; II measured {r.ii}, stated {r.stated_ii}: "
          f"{'OK' if r.timing_ok else 'MISMATCH'}")
    if r.ok:
        print(f"bit-exact: {r.images} images x {design.output.size} outputs match the golden model; tlast on the "
              f"last beat of every image; no stalled beat changed")
        return 0
    print("FAILED:")
    for line in r.failures():
        print(f"  {line}")
    return 1


def _print_sim(design, r):
    if design.stream is not None:
        return _print_stream_sim(design, r)
    build = "cached" if r.build_cached else f"{r.build_seconds:.1f} s"
    print(f"simulated {r.vectors} vectors in Verilator ({r.engine}): {r.back_to_back_cycles} input spacings "
          f"measured back to back, then idle gaps, then {r.stall_cycles} cycles of output stall")
    print(f"build {build}, run {r.run_seconds:.2f} s for {r.cycles} cycles: {r.inferences_per_second:,.0f} "
          f"inferences/s (simulator start-up, idle and stall cycles included)")
    print(f"latency: measured {r.latency_min}"
          + (f"..{r.latency_max}" if r.latency_max != r.latency_min else "")
          + f" cycles, stated {r.stated_latency}: {'OK' if r.latency_ok else 'MISMATCH'}")
    measured_ii = "/".join(map(str, r.ii_back_to_back)) or "not measured"
    print(f"II: measured {measured_ii} cycles, stated {r.stated_ii}: {'OK' if r.ii_ok else 'MISMATCH'}")
    if r.ok:
        print(f"bit-exact: {r.vectors} vectors x {design.output.size} outputs match the golden model; "
              f"handshakes kept (no result lost, extra or changed while stalled)")
        return 0
    print("FAILED:")
    for line in r.failures():
        print(f"  {line}")
    for mm in r.first_mismatches[:10]:
        print(f"  vector {mm['vector']} output {mm['output']}: expected {mm['expected']}, got {mm['got']}")
    return 1


def cmd_simulate(args):
    from .design import Design
    design = Design.load(args.design)
    inputs = _load_array(args.input) if args.input else None
    vpath = Path(args.design) / "rtl" / f"{design.top}.v"
    if not vpath.is_file():
        raise ConfigError(f"{vpath} is missing: the simulation checks the Verilog in the output directory; run "
                          f"'nn2rtl convert' again")
    if args.vectors < 1:
        raise ConfigError(f"--vectors must be at least 1, not {args.vectors}")
    r = design.simulate(inputs=inputs, vectors=args.vectors, seed=args.seed,
                        work_dir=Path(args.design) / "sim", verilog_path=vpath, engine=args.engine)
    return _print_sim(design, r)


def cmd_report(args):
    from .design import Design
    from .synth import synthesize
    design = Design.load(args.design)
    print(design.summary())
    if not args.synth:
        return 0
    vpath = Path(args.design) / "rtl" / f"{design.top}.v"
    verilog = vpath.read_text() if vpath.exists() else design.verilog
    from .progress import Progress
    results = {}
    for target in args.synth:
        with Progress(f"synthesizing '{design.top}' for {target}") as p:
            results[target] = synthesize(verilog, design.top, target, progress=p.update,
                                         use_cache=not args.no_cache, freq_mhz=args.freq)
    design.record_synthesis(args.design, results)
    t = design.report()["totals"]
    print(f"\nestimate before synthesis: {t['multipliers']} multipliers, {t['registers']} register bits, "
          f"{t['rom_bits']} ROM bits" + (f", {t['adder_bits']} adder bits" if t["adders"] else ""))
    rows = [("target", "LUT", "FF", "DSP", "BRAM", "LUTRAM", "fmax MHz", "latency ns", "fits", "seconds")]
    for target, r in results.items():
        secs = r["seconds"]["synthesis"] + r.get("seconds_pnr", 0)
        fmax = r.get("fmax_mhz")
        rows.append((target, str(r["luts"]), str(r["ffs"]), str(r["dsps"]), str(r["memories"]), str(r["lutram"]),
                     "-" if fmax is None else f"{fmax:.1f}",
                     "-" if not fmax else f"{design.latency * 1e3 / fmax:.1f}",  # the latency at that clock
                     "-" if "fits" not in r else ("yes" if r["fits"] else "no"),
                     "cached" if r.get("cached") else f"{secs:.0f}"))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(f"recorded in {Path(args.design) / 'design.json'} under 'synthesis'")
    return 0


def cmd_inspect(args):
    """A model file: every ONNX node with its op, output shape, fixed-point type and status (folded, removed,
    translated, or unsupported and why), then the typed graph after clean-up. An output directory: its graph."""
    from .design import Design, convert
    if Path(args.target).is_dir():
        sys.stdout.write(Design.load(args.target).graph.dump())
        return 0
    from .frontend.onnx import inspect_onnx
    rows, graph, problems = inspect_onnx(args.target)
    typed = convert(args.target, config=args.config, precision=args.precision).graph if graph is not None else None
    table = [("node", "op", "output shape", "type", "status")]
    absorbed = _absorbed_by(typed) if typed is not None else {}
    for name, op, shape, status in rows:
        t = None
        if typed is not None:
            t = next((typed.tensors[o].type for n in typed.nodes if n.attrs.get("source_name") == name
                      for o in n.outputs[-1:]), None)
            if t is None and status == "ok" and name in absorbed:
                status = absorbed[name]
        table.append((name, op, shape, "-" if t is None else str(t), status))
    widths = [min(max(len(r[k]) for r in table), 48) for k in range(4)]
    for n, r in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
        if n == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    if problems:
        print(f"\n{len(problems)} unsupported node{'s' if len(problems) != 1 else ''}: nothing was converted",
              file=sys.stderr)
        return 2
    print()
    sys.stdout.write(typed.dump())
    return 0


def _absorbed_by(graph):
    """ONNX node name -> what became of it when a pass folded it into another layer (thresholds, the input
    quantiser, a merged scaling)."""
    import re
    out = {}
    q = graph.meta.get("input_quantizer")
    if q:
        out[q["source"]] = "quantises the floats at the edge (predict, simulate); the hardware takes the codes"
    for label in (q or {}).get("absorbed", []):
        for name in re.findall(r"'([^']*)'", label)[:1]:
            out[name] = f"absorbed into the input quantiser '{q['source']}' (applied to the floats)"
    for n in graph.nodes:
        for label in n.attrs.get("absorbed", []):
            for name in re.findall(r"'([^']*)'", label)[:1]:
                out.setdefault(name, f"absorbed into the thresholds of '{n.attrs.get('source_name', n.name)}'")
        if n.attrs.get("merged"):
            out.setdefault(n.attrs["merged"], f"merged into the scaling after '{n.attrs.get('source_name', n.name)}'")
    return out


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
        verdict = "bit-exact, latency and II as stated" if r2.ok else "FAILED: " + "; ".join(r2.failures())
        print(f"bundled inputs: {r2.vectors} vectors, {verdict}")
        rc = 0 if r2.ok else 1
    return rc


def cmd_build(args):
    from boards.build import build_board
    from boards.platforms import get_board

    from .design import Design
    from .progress import Progress
    design = Design.load(args.design)
    board = get_board(args.board)
    with Progress(f"building '{design.top}' for the {board.name}") as p:
        r = build_board(design, args.design, board.name, clock_mhz=args.clock, baud=args.baud, progress=p.update,
                        use_cache=not args.no_cache)
    info = json.loads((r.directory / "board.json").read_text())
    fr = info["frame"]
    print(f"board {board.name} ({board.device}): '{design.top}' behind the UART at {info['baud']} baud, clock "
          f"{r.clock_mhz:.3f} MHz" + (f" (PLL from the board's {info['board_clock_mhz']:g} MHz)" if info["pll"]
                                      else " (the board's oscillator)"))
    print(f"frame: 0xA5, {fr['in']['words']} words of {fr['in']['bytes_per_word']} bytes (little-endian), checksum; "
          f"answer: 0x5A, {fr['out']['words']} words of {fr['out']['bytes_per_word']} bytes, checksum; NAK 0x15")
    est = r.estimate
    print(f"fit check (design estimate): {est['dsps']} DSP blocks, {est['memory_bits']:,} memory bits, "
          f"~{est['ffs']:,} register bits")
    if r.synthesis:
        s_ = r.synthesis
        print(f"synthesis (Yosys): {s_['luts']:,} LUTs, {s_['ffs']:,} flip-flops, {s_['dsps']} DSP blocks, "
              f"{s_['memories']} block RAMs")
    if not info["built"]:
        print(f"note: {board.name} is a Xilinx board: Vivado is not free software and is not run here. Wrote the "
              f"Amaranth build plan {r.files['plan']} ({info['note']})")
        return 0
    print(r.summary())
    print(f"latency {design.latency} cycles = {design.latency * 1e3 / r.clock_mhz:.0f} ns at {r.clock_mhz:.3f} MHz, "
          f"plus the UART: {info['frame']['in']['words'] * info['frame']['in']['bytes_per_word'] + 2} bytes in and "
          f"{info['frame']['out']['words'] * info['frame']['out']['bytes_per_word'] + 2} out at 10 bits a byte")
    if args.program:
        _program(board, r.files["bitstream"])
    else:
        print(f"next: program it (nn2rtl build {args.design} --board {board.name} --program, or openFPGALoader -b "
              f"{board.loader} {r.files['bitstream']}), then: nn2rtl board-run {args.design} --board {board.name} "
              f"--port /dev/ttyUSB0 --input X.npy")
    return 0


def _program(board, bitstream):
    import os
    import shutil
    import subprocess

    from .errors import ToolError
    tool = os.environ.get("OPENFPGALOADER") or shutil.which("openFPGALoader")
    if not tool:
        raise ToolError(f"openFPGALoader is not installed, so the bitstream was built but not loaded. Install it "
                        f"(Debian/Ubuntu: apt-get install openfpgaloader; other systems: "
                        f"https://trabucayre.github.io/openFPGALoader/) or set OPENFPGALOADER, then run: "
                        f"openFPGALoader -b {board.loader} {bitstream}")
    print(f"programming: {tool} -b {board.loader} {bitstream}")
    rc = subprocess.run([tool, "-b", board.loader, str(bitstream)]).returncode
    if rc != 0:
        raise ToolError(f"openFPGALoader failed (exit status {rc}): is the {board.name} connected, and may this user "
                        f"open its USB device?")


def cmd_board_run(args):
    from boards.host import run_vectors

    from .design import Design
    from .errors import ToolError
    design = Design.load(args.design)
    boards_dir = Path(args.design) / "boards"
    built = sorted(p.name for p in boards_dir.iterdir() if (p / "board.json").exists()) if boards_dir.is_dir() else []
    if args.board is None and len(built) != 1:
        which = f": {', '.join(built)}" if built else ""
        raise ConfigError(f"{args.design} has {len(built) or 'no'} board builds{which}; name one with --board "
                          f"(built by 'nn2rtl build {args.design} --board NAME')")
    name = args.board or built[0]
    if name not in built:
        raise ConfigError(f"no build for board {name!r} in {boards_dir}: run 'nn2rtl build {args.design} --board "
                          f"{name}' first")
    info = json.loads((boards_dir / name / "board.json").read_text())
    if info["design"] != design.top:
        raise ConfigError(f"{boards_dir / name} was built for '{info['design']}', not '{design.top}': build again")
    x = _load_array(args.input)
    if x.ndim != 2 or x.shape[1] != design.input.size:
        raise ConfigError(f"--input must have shape (N, {design.input.size}), not {x.shape}")
    raw = design.quantize_input(x)
    try:
        import serial
    except ImportError:
        raise ToolError("board-run needs pyserial: pip install 'nn2rtl[board]'") from None
    try:
        port = serial.serial_for_url(args.port, baudrate=info["baud"], timeout=args.timeout)
    except (serial.SerialException, ValueError) as e:
        raise ConfigError(f"cannot open {args.port}: {e}") from None
    from boards.host import LinkError
    try:
        port.reset_input_buffer()
        r = run_vectors(design, port, raw)
    except LinkError as e:
        raise ToolError(f"{args.port} at {info['baud']} baud: {e} within {args.timeout:g} s. Is the bitstream for "
                        f"'{design.top}' loaded on the {name}, and is this its serial port?") from None
    finally:
        port.close()
    tout = design.output.type
    if args.output:
        np.save(args.output, r.outputs * 2.0 ** -tout.frac)
    print(f"{len(raw)} vectors through the {name} on {args.port}: {r.inferences_per_second:,.1f} inferences/s "
          f"({r.seconds:.2f} s, the UART at {info['baud']} baud bounds it), {r.naks} frames resent after NAK"
          + (f"; wrote {args.output}" if args.output else ""))
    if r.ok:
        print(f"bit-exact: {len(raw)} x {design.output.size} outputs equal the golden model")
        return 0
    print(f"FAILED: {len(r.mismatches)} outputs differ from the golden model")
    for v, j, want, got in r.mismatches[:10]:
        print(f"  vector {v} output {j}: expected {want}, got {got}")
    return 1


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
    c.add_argument("--reuse", type=int, help="model reuse factor, any positive integer: ceil(n_in*n_out/R) "
                                             "multipliers per layer, II = R (overrides the config's Model)")
    c.add_argument("--strategy", help="Latency, Resource or distributed_arithmetic (overrides the config's Model)")
    c.add_argument("--adder-levels", type=int, help="adder-tree levels between pipeline registers (default 2; 1 "
                                                    "for the fastest clock, more for fewer cycles)")
    c.add_argument("--top", help="top-level module name (default: the model file's name)")
    c.add_argument("--io-type", choices=["io_parallel", "io_stream"],
                   help="io_parallel (default: the whole tensor in one bus) or io_stream (AXI4-Stream, line "
                        "buffers, FIFOs; overrides the config's Model.IOType)")
    c.add_argument("--flow-control", choices=["stall", "fifo", "skid"],
                   help="io_parallel: stall (default: out_ready low freezes the pipeline) or fifo (the pipeline "
                        "never stops, results wait in an output FIFO: no enable fan-out) or skid (as stall, a cycle "
                        "later: the enable is a register, the result of that cycle waits in a skid register; "
                        "overrides the config's Model.FlowControl)")
    c.add_argument("--dsp", choices=["inferred", "ecp5"],
                   help="multipliers of the reuse > 1 arrays: inferred (default: synthesis maps '*') or ecp5 "
                        "(Lattice MULT18X18D with input and output registers: 3 cycles more, a faster ECP5 clock; "
                        "overrides the config's Model.DSP)")
    c.add_argument("--backend", choices=sorted(_BACKENDS), default="rtl",
                   help="rtl (default: Verilog in OUT/rtl), hls (a Vitis HLS C++ project in OUT/hls, bit-exact "
                        "with the golden model), or both")
    c.set_defaults(func=cmd_convert)

    rp = sub.add_parser("report", help="the design's schedule and estimate; with --synth, resources measured by "
                                       "Yosys (and nextpnr for ECP5)")
    rp.add_argument("design", help="directory written by 'nn2rtl convert'")
    rp.add_argument("--synth", nargs="+", metavar="TARGET", choices=["xc7", "xcup", "ecp5", "ice40"],
                    help="synthesize for these targets: xc7 xcup ecp5 ice40 (needs the 'synth' extra)")
    rp.add_argument("--freq", type=float, default=100.0, help="ECP5 clock constraint for nextpnr, MHz")
    rp.add_argument("--no-cache", action="store_true", help="synthesize again even if a cached result exists")
    rp.set_defaults(func=cmd_report)

    pr = sub.add_parser("predict", help="run the golden model or the HLS C++ (float in, float out)")
    pr.add_argument("design", help="directory written by 'nn2rtl convert'")
    pr.add_argument("--input", required=True, help=".npy file, one row per input")
    pr.add_argument("--output", required=True, help=".npy file to write")
    pr.add_argument("--backend", choices=["golden", "hls"], default="golden",
                    help="golden (default: nn2rtl's integer model) or hls (the design's HLS C++ compiled with g++, "
                         "cached by content; the same bits)")
    pr.set_defaults(func=cmd_predict)

    s = sub.add_parser("simulate", help="simulate the Verilog in Verilator and check it bit by bit")
    s.add_argument("design", help="directory written by 'nn2rtl convert'")
    s.add_argument("--input", help=".npy file of inputs (default: random and extreme vectors)")
    s.add_argument("--vectors", type=int, default=1000, help="number of generated vectors (default 1000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--engine", choices=["harness", "cocotb"], default="harness",
                   help="harness: a C++ Verilator harness, ~10^5 vectors/s (default); cocotb: the Python testbench")
    s.set_defaults(func=cmd_simulate)

    i = sub.add_parser("inspect", help="every node of a model (op, shape, type, supported or not) and its typed "
                                       "graph after clean-up; or the graph of an output directory")
    i.add_argument("target", help="ONNX model file, or a directory written by 'nn2rtl convert'")
    i.add_argument("--config", help="hls4ml-style YAML configuration")
    i.add_argument("--precision", help="model precision, e.g. 'fixed<16,6>'")
    i.set_defaults(func=cmd_inspect)

    b = sub.add_parser("build", help="the design behind a UART on an FPGA board: bitstream with Yosys and nextpnr "
                                     "(YoWASP), after a fit check")
    b.add_argument("design", help="directory written by 'nn2rtl convert' (the build goes to DESIGN/boards/BOARD)")
    b.add_argument("--board", required=True, help="icebreaker, ulx3s-12f, ulx3s-25f, ulx3s-45f, ulx3s-85f, or "
                                                  "arty-a7-35 (the Vivado build plan only)")
    b.add_argument("--clock", type=float, help="design clock in MHz, made by the FPGA's PLL (default: the board's "
                                               "oscillator)")
    b.add_argument("--baud", type=int, default=115200, help="UART baud rate (default 115200)")
    b.add_argument("--program", action="store_true", help="load the bitstream with openFPGALoader")
    b.add_argument("--no-cache", action="store_true", help="build again even if a cached build exists")
    b.set_defaults(func=cmd_build)

    br = sub.add_parser("board-run", help="send input vectors to a programmed board over its serial port and check "
                                          "the answers against the golden model")
    br.add_argument("design", help="directory written by 'nn2rtl convert' and built by 'nn2rtl build'")
    br.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 (any pyserial URL)")
    br.add_argument("--input", required=True, help=".npy file, one row per input (floats, like predict)")
    br.add_argument("--output", help=".npy file for the board's answers (floats)")
    br.add_argument("--board", help="which build, when there are several")
    br.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for an answer (default 2)")
    br.set_defaults(func=cmd_board_run)

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
