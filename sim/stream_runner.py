"""Simulate an io_stream design (AXI4-Stream ports) in Verilator and check it against the golden model and its
schedule.

:file:`sim/stream_harness.cpp` offers the first images beat after beat with the output always ready (phase 1), lets
the design drain, then offers the rest with random ``tvalid`` gaps and random ``tready`` stalls (phase 2). The
verdict (:class:`StreamSimResult`) holds only if every output bit is right, ``tlast`` marks exactly the last beat of
every image, no stalled beat changed, nothing arrived beyond the last expected beat, and in phase 1 **every** input
and output beat moved in the cycle the schedule (:mod:`nn2rtl.stream.schedule`) says: so the stated latencies and
II are the measured ones.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nn2rtl.errors import SimulationError
from nn2rtl.progress import Progress

from .build import build
from .runner import _words, pack_words, unpack_words

__all__ = ["StreamSimResult", "run_stream"]

JOB_MAGIC = 0x314A4F4253324E6E
RESULT_MAGIC = 0x3153455253324E6E


@dataclass
class StreamSimResult:
    images: int
    results: int                  #: images whose every output beat arrived
    mismatches: int               #: output elements that differ
    first_mismatches: list
    tlast_errors: int             #: beats whose tlast is wrong
    hold_violations: int
    extra_beats: int
    timed_images: int             #: images of phase 1
    schedule_differences: int     #: phase-1 beats that moved in another cycle than the schedule's
    first_difference: str
    latency_first: list           #: measured, per phase-1 image: first input beat -> first output beat
    latency_last: list            #: ... -> last output beat
    ii: list                      #: measured spacings of consecutive phase-1 images' first beats
    stated_latency_first: int
    stated_latency_last: int
    stated_ii: int
    stall_cycles: int             #: phase-2 cycles with a valid output beat and tready low
    cycles: int
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    build_cached: bool = False
    engine: str = "stream harness"
    notes: list = field(default_factory=list)

    @property
    def bit_exact(self):
        return self.mismatches == 0 and self.results == self.images and self.extra_beats == 0

    @property
    def timing_ok(self):
        return (self.schedule_differences == 0 and self.latency_first[:1] == [self.stated_latency_first]
                and self.latency_last[:1] == [self.stated_latency_last]
                and all(d == self.stated_ii for d in self.ii[-1:]))

    @property
    def ok(self):
        return self.bit_exact and self.timing_ok and self.tlast_errors == 0 and self.hold_violations == 0

    def failures(self):
        out = []
        if self.results < self.images:
            out.append(f"{self.images - self.results} of {self.images} images did not arrive complete")
        if self.extra_beats:
            out.append(f"{self.extra_beats} beats arrived after the last expected one")
        if self.mismatches:
            mm = self.first_mismatches[0]
            out.append(f"{self.mismatches} output values differ (first: image {mm['image']} output {mm['output']}: "
                       f"expected {mm['expected']}, got {mm['got']})")
        if self.tlast_errors:
            out.append(f"tlast wrong on {self.tlast_errors} beats")
        if self.hold_violations:
            out.append(f"a stalled beat changed or vanished in {self.hold_violations} cycles")
        if not self.timing_ok:
            out.append(f"schedule: {self.schedule_differences} beats off ({self.first_difference}); latency measured "
                       f"{self.latency_first[:1]}/{self.latency_last[:1]}, stated {self.stated_latency_first}/"
                       f"{self.stated_latency_last}; II measured {self.ii}, stated {self.stated_ii}")
        return out

    # the names the CLI prints for both architectures
    @property
    def vectors(self):
        return self.images

    @property
    def inferences_per_second(self):
        return self.images / self.run_seconds if self.run_seconds > 0 else float("inf")


def run_stream(verilog_path, top, in_rows, expected, in_elements, out_elements, in_type, out_type, schedule, stated,
               work_dir, extra_sources=(), timed=3, valid_prob=0.7, ready_prob=0.6, seed=0, engine="harness"):
    """Simulate ``top`` on raw input rows in stream order (images x in_beats*in_elements) against raw expected rows
    in stream order. ``schedule``: the model's ``Timing`` of the first ``timed`` images (offered back to back);
    ``stated``: the design's (latency to the first beat, to the last beat, II)."""
    verilog_path = Path(verilog_path).resolve()
    extra_sources = [Path(p).resolve() for p in extra_sources]
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="stream-", dir=Path(work_dir).resolve()))
    in_rows, expected = np.asarray(in_rows), np.asarray(expected)
    n = len(in_rows)
    timed = min(timed, n)
    in_beats = in_rows.shape[1] // in_elements
    out_beats = expected.shape[1] // out_elements
    in_words = _words(max(8, -(-in_elements * in_type.width // 8) * 8))
    out_words = _words(max(8, -(-out_elements * out_type.width // 8) * 8))
    if engine == "cocotb":
        return _run_cocotb(verilog_path, top, in_rows, expected, in_elements, out_elements, in_type, out_type,
                           schedule, stated, work, extra_sources, timed, valid_prob, ready_prob, seed)
    b = build("stream", verilog_path, top, extra_sources,
              defines={"NN2RTL_IN_WORDS": in_words, "NN2RTL_OUT_WORDS": out_words})
    beats = pack_words(in_rows.reshape(n * in_beats, in_elements), in_type.width)
    if beats.shape[1] < in_words:
        beats = np.concatenate([beats, np.zeros((beats.shape[0], in_words - beats.shape[1]), beats.dtype)], axis=1)
    per_image = max(schedule.cycles // max(timed, 1), in_beats + out_beats) + 100
    limit = per_image * n * 8 + 100000
    drain = 200
    job, res = work / "job.bin", work / "result.bin"
    with open(job, "wb") as f:
        f.write(struct.pack("<10Q", JOB_MAGIC, n, seed & (2**64 - 1), in_beats, out_beats, timed,
                            round(valid_prob * 1000), round(ready_prob * 1000), limit, drain))
        f.write(beats[:, :in_words].astype("<u4").tobytes())
    t0 = time.perf_counter()
    with Progress(f"streaming {n} images through '{top}' in Verilator"):
        p = subprocess.run([str(b.executable), str(job), str(res)], capture_output=True, text=True)
    run_s = time.perf_counter() - t0
    if p.returncode != 0 or not res.exists():
        raise SimulationError(f"the Verilator stream harness of '{top}' failed (exit {p.returncode}): "
                              f"{p.stderr.strip()[-400:]}")
    data = res.read_bytes()
    magic, cycles, hold, extra, n_in, n_out, stalls = struct.unpack_from("<7Q", data)
    if magic != RESULT_MAGIC:
        raise SimulationError(f"the Verilator stream harness of '{top}' wrote an unreadable result file {res}")
    off = 56
    in_at = np.frombuffer(data, "<u8", n_in, off).astype(np.int64)
    off += 8 * n_in
    out_at = np.frombuffer(data, "<u8", n_out, off).astype(np.int64)
    off += 8 * n_out
    tlast = np.frombuffer(data, "u1", n_out, off).astype(bool)
    off += (n_out + 7) // 8 * 8
    words = np.frombuffer(data, "<u4", n_out * out_words, off).reshape(n_out, out_words)
    got = unpack_words(words, out_elements, out_type.width, out_type.signed)
    rep = _verdict(expected, got, tlast, in_at, out_at, in_beats, out_beats, out_elements, timed, schedule)
    rep.update(hold_violations=int(hold), extra_beats=int(extra), cycles=int(cycles), stall_cycles=int(stalls),
               stated_latency_first=int(stated[0]), stated_latency_last=int(stated[1]), stated_ii=int(stated[2]))
    (work / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    shutil.copyfile(work / "report.json", Path(work_dir) / "report.json")
    result = StreamSimResult(**rep, build_seconds=b.seconds, run_seconds=run_s, build_cached=b.cached)
    if result.ok:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _pack(values, width):
    mask = (1 << width) - 1
    return sum((int(v) & mask) << (k * width) for k, v in enumerate(values))


def _run_cocotb(verilog_path, top, in_rows, expected, in_elements, out_elements, in_type, out_type, schedule, stated,
                work, extra_sources, timed, valid_prob, ready_prob, seed):
    """The same check with cocotbext-axi's AXI4-Stream source and sink (:mod:`sim.tb_stream`)."""
    import contextlib
    import sys

    from sim.compat import get_runner

    from .runner import ROOT
    b = build("cocotb", verilog_path, top, extra_sources)
    n = len(in_rows)
    in_beats = in_rows.shape[1] // in_elements
    out_beats = expected.shape[1] // out_elements
    frames = [[str(_pack(r[k * in_elements:(k + 1) * in_elements], in_type.width)) for k in range(in_beats)]
              for r in in_rows]
    report = work / "observed.json"
    job = work / "job.json"
    job.write_text(json.dumps({
        "frames": frames, "in_bytes": max(1, -(-in_elements * in_type.width // 8)),
        "out_bytes": max(1, -(-out_elements * out_type.width // 8)), "timed": timed, "valid_prob": valid_prob,
        "ready_prob": ready_prob, "seed": seed, "drain": 200, "report": str(report)}))
    added = str(ROOT) not in sys.path
    if added:
        sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    try:
        with open(work / "runner.log", "w") as out, contextlib.redirect_stdout(out), \
                Progress(f"streaming {n} images through '{top}' under cocotb (cocotbext-axi)"):
            get_runner("verilator").test(test_module="sim.tb_stream", hdl_toplevel=top, hdl_toplevel_lang="verilog",
                                         build_dir=str(b.directory), test_dir=str(work),
                                         extra_env={"NN2RTL_TB_JOB": str(job)}, log_file=str(work / "sim.log"))
    except (SystemExit, Exception):
        pass  # the observations are the verdict; a testbench that never wrote them is reported below
    finally:
        if added:
            sys.path.remove(str(ROOT))
    run_s = time.perf_counter() - t0
    if not report.exists():
        raise SimulationError(f"the cocotb stream testbench of '{top}' ended without a report; see "
                              f"{work / 'sim.log'}")
    obs = json.loads(report.read_text())
    words = np.array([[int(w)] for w in obs["words"]], dtype=object)
    got = np.array([[(int(w) >> (j * out_type.width)) & ((1 << out_type.width) - 1) for j in range(out_elements)]
                    for w in obs["words"]], dtype=np.int64).reshape(len(words), out_elements)
    if out_type.signed:
        got = np.where(got >> (out_type.width - 1), got - (1 << out_type.width), got)
    rep = _verdict(expected, got, np.array(obs["tlast"], dtype=bool), np.array(obs["in_at"], dtype=np.int64),
                   np.array(obs["out_at"], dtype=np.int64), in_beats, out_beats, out_elements, timed, schedule)
    rep.update(hold_violations=0, extra_beats=int(obs["extra"]), cycles=int(obs["cycles"]),
               stall_cycles=int(obs["stalls"]), stated_latency_first=int(stated[0]),
               stated_latency_last=int(stated[1]), stated_ii=int(stated[2]))
    (work / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    return StreamSimResult(**rep, build_seconds=b.seconds, run_seconds=run_s, build_cached=b.cached,
                           engine="cocotb + cocotbext-axi")


def _verdict(expected, got, tlast, in_at, out_at, in_beats, out_beats, out_elements, timed, schedule):
    n = len(expected)
    complete = min(n, len(got) // out_beats)
    flat = got[:complete * out_beats].reshape(complete, out_beats * out_elements)
    exp = expected[:complete]
    bad = np.argwhere(flat != exp)
    first = [{"image": int(i), "output": int(j), "expected": int(exp[i, j]), "got": int(flat[i, j])}
             for i, j in bad[:20]]
    want_last = (np.arange(len(tlast)) % out_beats) == out_beats - 1
    # phase 1: every beat in the schedule's cycle (times relative to the first input beat)
    ti, to = timed * in_beats, timed * out_beats
    diffs, first_diff = 0, ""
    if len(in_at) >= ti and len(out_at) >= to:
        t0 = in_at[0] if ti else 0
        m_in = np.asarray(schedule.in_at[:ti]) - (schedule.in_at[0] if ti else 0)
        m_out = np.asarray(schedule.out_at[:to]) - (schedule.in_at[0] if ti else 0)
        d_in = np.flatnonzero(in_at[:ti] - t0 != m_in)
        d_out = np.flatnonzero(out_at[:to] - t0 != m_out)
        diffs = len(d_in) + len(d_out)
        if len(d_in):
            first_diff = f"input beat {d_in[0]}: cycle {in_at[d_in[0]] - t0}, schedule {m_in[d_in[0]]}"
        elif len(d_out):
            first_diff = f"output beat {d_out[0]}: cycle {out_at[d_out[0]] - t0}, schedule {m_out[d_out[0]]}"
    else:
        diffs, first_diff = -1, "phase 1 incomplete"
    firsts = [int(in_at[k * in_beats]) for k in range(timed) if k * in_beats < len(in_at)]
    lat_first = [int(out_at[k * out_beats]) - firsts[k] for k in range(len(firsts)) if k * out_beats < len(out_at)]
    lat_last = [int(out_at[k * out_beats + out_beats - 1]) - firsts[k] for k in range(len(firsts))
                if k * out_beats + out_beats - 1 < len(out_at)]
    return {"images": n, "results": int(complete), "mismatches": int(len(bad)), "first_mismatches": first,
            "tlast_errors": int((tlast != want_last).sum()), "timed_images": timed,
            "schedule_differences": int(diffs), "first_difference": first_diff,
            "latency_first": lat_first, "latency_last": lat_last, "ii": [b - a for a, b in zip(firsts, firsts[1:])]}
