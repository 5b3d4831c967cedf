"""Simulate a Verilog design on raw vectors and check it against expected raw outputs.

Two engines give the same verdict (:mod:`sim.checks`):

``harness`` (default)
    A C++ Verilator harness (:file:`sim/harness.cpp`) streams the vectors from a file through the design with the
    valid/ready protocol, idle gaps and random output stalls, and writes every result back; Python compares.
    Hundreds of thousands of inferences per second: the way to check a model on a whole data set.
``cocotb``
    The Python testbench :mod:`sim.tb_design` under cocotb: the same protocol driven from Python, ~1000
    inferences per second; what protocol tests and future bus-level testbenches build on.

Builds are shared per design across processes (:mod:`sim.build`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nn2rtl.errors import SimulationError
from nn2rtl.progress import Progress

from .build import build, verilator_version
from .checks import SimResult, summarize

__all__ = ["SimResult", "run_design", "verilator_version", "pack_words", "unpack_words", "ROOT", "ENGINES"]

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("harness", "cocotb")
JOB_MAGIC = 0x314A4F424C52326E
RESULT_MAGIC = 0x315345524C52326E
_CHUNK = 8192


def _words(bits):
    return max(1, -(-bits // 32))


def pack_words(raw, width):
    """Rows of raw element values -> the port's 32-bit words, least significant first (element k in bits
    ``[k*width +: width]``, two's complement)."""
    raw = np.asarray(raw)
    n_rows, n = raw.shape
    nw = _words(n * width)
    out = np.zeros((n_rows, nw), dtype=np.uint32)
    if width > 62 or raw.dtype == object:
        mask = (1 << width) - 1
        for r in range(n_rows):
            word = 0
            for k in range(n):
                word |= (int(raw[r, k]) & mask) << (k * width)
            out[r] = [(word >> (32 * i)) & 0xFFFFFFFF for i in range(nw)]
        return out
    shifts = np.arange(width, dtype=np.int64)
    for s in range(0, n_rows, _CHUNK):
        u = raw[s:s + _CHUNK].astype(np.int64) & ((1 << width) - 1)
        bits = ((u[:, :, None] >> shifts) & 1).astype(np.uint8).reshape(len(u), n * width)
        bits = np.pad(bits, ((0, 0), (0, nw * 32 - n * width)))
        out[s:s + _CHUNK] = np.packbits(bits, axis=1, bitorder="little").view("<u4")
    return out


def unpack_words(words, n, width, signed):
    """The inverse of :func:`pack_words`: (rows, words) uint32 -> (rows, n) raw values."""
    words = np.ascontiguousarray(words, dtype="<u4")
    n_rows = len(words)
    if width > 62:
        out = np.empty((n_rows, n), dtype=object)
        mask = (1 << width) - 1
        for r in range(n_rows):
            word = sum(int(w) << (32 * i) for i, w in enumerate(words[r]))
            for k in range(n):
                v = (word >> (k * width)) & mask
                out[r, k] = v - (1 << width) if signed and v >> (width - 1) else v
        return out
    out = np.empty((n_rows, n), dtype=np.int64)
    weights = np.int64(1) << np.arange(width, dtype=np.int64)
    for s in range(0, n_rows, _CHUNK):
        w = words[s:s + _CHUNK]
        bits = np.unpackbits(w.view(np.uint8), axis=1, bitorder="little")[:, :n * width]
        v = bits.reshape(len(w), n, width).astype(np.int64) @ weights
        if signed:
            v = np.where(v >> (width - 1), v - (np.int64(1) << width), v)
        out[s:s + _CHUNK] = v
    return out


def run_design(verilog_path, top, inputs, expected, in_width, out_width, out_signed, latency, work_dir,
               gaps=None, extra_sources=(), ii=1, stall_from=None, ready_prob=1.0, seed=0, engine="harness",
               stall_blocks_input=True, ready_lag=False):
    """Simulate ``top`` on raw ``inputs`` (N, n_in) and compare with raw ``expected`` (N, n_out).

    ``gaps[k]``: idle cycles before vector k is offered; from vector ``stall_from`` on the consumer takes a
    result in a cycle with probability ``ready_prob``. ``stall_blocks_input``: the design promises ``in_ready``
    low while its output stalls (every design of the parallel architecture does); with ``ready_lag``, low in the
    cycle after each stalled one instead (``FlowControl: skid``: the enable is a register)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    verilog_path = Path(verilog_path).resolve()  # Verilator runs in the build directory
    extra_sources = [Path(p).resolve() for p in extra_sources]
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    # a private directory per run: two simulations of one design at once (two users, a CLI and a test) never
    # share job or result files; the last report is also copied to work_dir/report.json
    work_dir = Path(tempfile.mkdtemp(prefix=f"{engine}-", dir=Path(work_dir).resolve()))
    inputs, expected = np.asarray(inputs), np.asarray(expected)
    n = len(inputs)
    gaps = np.zeros(n, dtype=np.int64) if gaps is None else np.asarray(gaps, dtype=np.int64)
    if stall_from is None or stall_from >= n:
        stall_from = n
    job = dict(verilog_path=verilog_path, top=top, inputs=inputs, expected=expected, in_width=in_width,
               out_width=out_width, out_signed=out_signed, latency=latency, work_dir=work_dir, gaps=gaps,
               extra_sources=extra_sources, ii=ii, stall_from=stall_from, ready_prob=ready_prob, seed=seed,
               stall_blocks_input=stall_blocks_input, ready_lag=ready_lag)
    result = (_run_harness if engine == "harness" else _run_cocotb)(**job)
    latest = work_dir.parent / "report.json"
    tmp = work_dir / "report.json.tmp"
    shutil.copyfile(work_dir / "report.json", tmp)
    os.replace(tmp, latest)
    if engine == "harness" and result.ok:
        shutil.rmtree(work_dir, ignore_errors=True)  # vectors and raw results: kept only when a check failed
    return result


def _limits(n, gaps, latency, ii, stalling):
    drain = latency + 2 * ii + 16  # cycles after the last result in which nothing more may appear
    busy = int(gaps.sum()) + n * ii + latency + 100
    return drain, busy * (4 if stalling else 1) + drain + 1000


def _run_harness(verilog_path, top, inputs, expected, in_width, out_width, out_signed, latency, work_dir, gaps,
                 extra_sources, ii, stall_from, ready_prob, seed, stall_blocks_input, ready_lag):
    n, n_in = inputs.shape
    n_out = expected.shape[1]
    in_words, out_words = _words(n_in * in_width), _words(n_out * out_width)
    b = build("harness", verilog_path, top, extra_sources,
              defines={"NN2RTL_IN_WORDS": in_words, "NN2RTL_OUT_WORDS": out_words})
    drain, limit = _limits(n, gaps, latency, ii, stall_from < n)
    job, res = work_dir / "job.bin", work_dir / "result.bin"
    res.unlink(missing_ok=True)
    header = struct.pack("<8Q", JOB_MAGIC, n, seed & (2**64 - 1), stall_from, round(ready_prob * 1000), drain,
                         limit, int(bool(stall_blocks_input)) | (2 if ready_lag else 0))
    with open(job, "wb") as f:
        f.write(header)
        f.write(gaps.astype("<u4").tobytes())
        f.write(pack_words(inputs, in_width).tobytes())
    t0 = time.perf_counter()
    with Progress(f"simulating {n} vectors through '{top}' in Verilator"):
        p = subprocess.run([str(b.executable), str(job), str(res)], capture_output=True, text=True)
    run_s = time.perf_counter() - t0
    if p.returncode != 0 or not res.exists():
        raise SimulationError(f"the Verilator harness of '{top}' failed (exit {p.returncode}): "
                              f"{p.stderr.strip()[-400:]}")
    data = res.read_bytes()
    (magic, cycles, stall_cycles, hold, ready_stalled, extra, n_acc, n_res) = struct.unpack_from("<8Q", data)
    if magic != RESULT_MAGIC:
        raise SimulationError(f"the Verilator harness of '{top}' wrote an unreadable result file {res}")
    off = 64
    accepted_at = np.frombuffer(data, "<u8", n_acc, off).astype(np.int64)
    off += 8 * n_acc
    result_at = np.frombuffer(data, "<u8", n_res, off).astype(np.int64)
    off += 8 * n_res
    words = np.frombuffer(data, "<u4", n_res * out_words, off).reshape(n_res, out_words)
    outputs = unpack_words(words, n_out, out_width, out_signed)
    off += 4 * n_res * out_words
    accepted_stalls = np.frombuffer(data, "<u8", n_acc, off).astype(np.int64)
    off += 8 * n_acc
    result_stalls = np.frombuffer(data, "<u8", n_res, off).astype(np.int64)
    rep = summarize(expected, accepted_at, result_at, outputs, gaps, latency, ii, stall_cycles=stall_cycles,
                    hold_violations=hold, ready_while_stalled=ready_stalled, extra_results=extra, cycles=cycles,
                    accepted_stalls=accepted_stalls, result_stalls=result_stalls,
                    free_running=not stall_blocks_input)
    (work_dir / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    return SimResult(**rep, build_seconds=b.seconds, run_seconds=run_s, engine="harness", build_cached=b.cached)


def _run_cocotb(verilog_path, top, inputs, expected, in_width, out_width, out_signed, latency, work_dir, gaps,
                extra_sources, ii, stall_from, ready_prob, seed, stall_blocks_input, ready_lag):
    from sim.compat import get_runner
    b = build("cocotb", verilog_path, top, extra_sources)
    drain, limit = _limits(len(inputs), gaps, latency, ii, stall_from < len(inputs))
    vec = work_dir / "vectors.npz"
    np.savez(vec, inputs=inputs.astype(object), expected=expected.astype(object), gaps=np.asarray(gaps))
    report = work_dir / "report.json"
    report.unlink(missing_ok=True)
    job = work_dir / "job.json"
    job.write_text(json.dumps({"vectors": str(vec), "report": str(report), "in_width": in_width,
                               "out_width": out_width, "out_signed": bool(out_signed), "latency": latency,
                               "ii": ii, "stall_from": int(stall_from), "ready_prob": ready_prob, "seed": seed,
                               "drain": drain, "limit": limit, "stall_blocks_input": bool(stall_blocks_input),
                               "ready_lag": bool(ready_lag)}))
    runner = get_runner("verilator")
    t0 = time.perf_counter()
    # the runner hands this process's sys.path to the simulator's embedded Python as PYTHONPATH
    added = str(ROOT) not in sys.path
    if added:
        sys.path.insert(0, str(ROOT))
    try:
        with open(work_dir / "runner.log", "w") as out, contextlib.redirect_stdout(out), \
                Progress(f"simulating {len(inputs)} vectors through '{top}' under cocotb"):
            runner.test(test_module="sim.tb_design", hdl_toplevel=top, hdl_toplevel_lang="verilog",
                        build_dir=str(b.directory),
                        test_dir=str(work_dir), extra_env={"NN2RTL_TB_JOB": str(job)},
                        log_file=str(work_dir / "sim.log"))
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
    rep = json.loads(report.read_text())
    return SimResult(**rep, build_seconds=b.seconds, run_seconds=run_s, engine="cocotb", build_cached=b.cached)
