"""Build a Verilog design with Verilator (through cocotb's runner) and run :mod:`sim.tb_design` on it.

Builds are keyed by the hash of the Verilog text: a process builds each distinct design once; across processes
``ccache`` (used when installed) makes rebuilding an unchanged design cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nn2rtl.errors import SimulationError, ToolError

__all__ = ["SimResult", "run_design", "verilator_version", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent
_BUILT = {}


@dataclass
class SimResult:
    vectors: int
    results: int
    mismatches: int
    first_mismatches: list
    latency_min: int | None
    latency_max: int | None
    stated_latency: int
    stated_ii: int
    ii_min: int | None            #: smallest spacing of accepted inputs (enabled cycles)
    ii_back_to_back: list         #: spacings measured while inputs were offered without pause
    back_to_back_cycles: int
    stall_cycles: int             #: cycles the consumer held out_ready low on a valid result
    hold_violations: int          #: cycles a stalled result changed
    cycles: int
    build_seconds: float
    run_seconds: float

    @property
    def bit_exact(self):
        return self.mismatches == 0 and self.results == self.vectors and self.hold_violations == 0

    @property
    def latency_ok(self):
        return self.latency_min == self.latency_max == self.stated_latency

    @property
    def ii_ok(self):
        return self.ii_back_to_back in ([], [self.stated_ii]) and (self.ii_min is None or
                                                                   self.ii_min >= self.stated_ii)


def verilator_version():
    exe = shutil.which("verilator")
    if exe is None:
        return None
    import subprocess
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.split()
    return out[1] if len(out) > 1 else "unknown"


def _cache_root():
    return Path(os.environ.get("NN2RTL_SIM_CACHE", Path(tempfile.gettempdir()) / "nn2rtl-sim"))


def _build(verilog_path, top, extra_sources):
    import time

    from sim.compat import get_runner
    if verilator_version() is None:
        raise ToolError("Verilator is not installed: run 'make setup' (Debian: apt-get install verilator)")
    text = Path(verilog_path).read_bytes() + b"".join(Path(s).read_bytes() for s in extra_sources)
    import cocotb  # the build embeds this cocotb's paths: another installation needs its own build
    key = hashlib.sha256(text + top.encode() + str(Path(cocotb.__file__).resolve()).encode()
                         + str(verilator_version()).encode()).hexdigest()[:16]
    if key in _BUILT:
        return _BUILT[key], 0.0
    build_dir = _cache_root() / f"{top}-{key}"
    runner = get_runner("verilator")
    t0 = time.perf_counter()
    saved = {k: os.environ.get(k) for k in ("OBJCACHE", "MAKEFLAGS")}
    if shutil.which("ccache") and saved["OBJCACHE"] is None:
        os.environ["OBJCACHE"] = "ccache"
    if saved["MAKEFLAGS"] is None:
        # Verilated C++ of a big layer is large; compiling it at -O0 on every core is 8x faster than the default
        # -Os on one, and simulation speed is bounded by the Python testbench anyway (see benchmarks/).
        opt = os.environ.get("NN2RTL_VERILATOR_CFLAGS", "-O0")
        os.environ["MAKEFLAGS"] = f"-j{os.cpu_count() or 1} OPT_FAST={opt} OPT_SLOW=-O0 OPT_GLOBAL=-O0"
    log = build_dir.parent / f"{top}-{key}.build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        # config files (.vlt waivers) go on the command line: the runner only accepts Verilog as sources
        with open(log.with_suffix(".runner.log"), "w") as out, contextlib.redirect_stdout(out):
            runner.build(sources=[str(verilog_path)], hdl_toplevel=top, build_dir=str(build_dir),
                         build_args=["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast"]
                         + [str(s) for s in extra_sources],
                         timescale=("1ns", "1ps"), log_file=str(log))
    except (SystemExit, Exception) as e:  # the runner raises SystemExit or CalledProcessError on failure
        tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
        raise SimulationError(f"Verilator build of '{top}' failed ({type(e).__name__}); see {log}: "
                              + " | ".join(tail)) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _BUILT[key] = runner
    return runner, time.perf_counter() - t0


def run_design(verilog_path, top, inputs, expected, in_width, out_width, out_signed, latency, work_dir,
               gaps=None, extra_sources=(), ii=1, stall_from=None, ready_prob=1.0, seed=0):
    """Simulate ``top`` on raw ``inputs`` (N, n_in) and compare with raw ``expected`` (N, n_out).

    ``gaps[k]``: idle cycles before vector k is offered; from vector ``stall_from`` on the consumer takes a
    result in a cycle with probability ``ready_prob``."""
    import time

    work_dir = Path(work_dir).resolve()
    verilog_path = Path(verilog_path).resolve()  # Verilator runs in the build directory
    extra_sources = [Path(p).resolve() for p in extra_sources]
    work_dir.mkdir(parents=True, exist_ok=True)
    inputs, expected = np.asarray(inputs), np.asarray(expected)
    if gaps is None:
        gaps = np.zeros(len(inputs), dtype=np.int64)
    runner, build_s = _build(verilog_path, top, extra_sources)
    vec = work_dir / "vectors.npz"
    np.savez(vec, inputs=inputs.astype(object), expected=expected.astype(object), gaps=np.asarray(gaps))
    report = work_dir / "report.json"
    if report.exists():
        report.unlink()
    job = work_dir / "job.json"
    job.write_text(json.dumps({"vectors": str(vec), "report": str(report), "in_width": in_width,
                               "out_width": out_width, "out_signed": bool(out_signed), "latency": latency,
                               "ii": ii, "stall_from": stall_from, "ready_prob": ready_prob, "seed": seed}))
    env = {"NN2RTL_TB_JOB": str(job)}
    t0 = time.perf_counter()
    # the runner hands this process's sys.path to the simulator's embedded Python as PYTHONPATH
    added = str(ROOT) not in sys.path
    if added:
        sys.path.insert(0, str(ROOT))
    try:
        with open(work_dir / "runner.log", "w") as out, contextlib.redirect_stdout(out):
            runner.test(test_module="sim.tb_design", hdl_toplevel=top, test_dir=str(work_dir),
                        extra_env=env, log_file=str(work_dir / "sim.log"))
    except (SystemExit, Exception) as e:
        # a failing check makes the runner raise; the testbench wrote its report first, which is the verdict
        if not report.exists():
            raise SimulationError(f"simulation of '{top}' did not run ({type(e).__name__}); see "
                                  f"{work_dir / 'sim.log'}") from None
    finally:
        if added:
            sys.path.remove(str(ROOT))
    run_s = time.perf_counter() - t0
    if not report.exists():
        raise SimulationError(f"simulation of '{top}' ended without a report; see {work_dir / 'sim.log'}")
    r = json.loads(report.read_text())
    return SimResult(build_seconds=build_s, run_seconds=run_s, **r)
