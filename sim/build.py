"""Verilator builds: one per distinct design, atomic, shared by processes, with flags chosen for speed.

Two kinds of executable are built from a design's Verilog:

``harness``
    :file:`sim/harness.cpp` linked with the verilated design: streams vectors from a file, no Python per cycle
    (:mod:`sim.runner`). The per-cycle code is compiled at ``-O1``: it runs hundreds of thousands of cycles.
``stream``
    :file:`sim/stream_harness.cpp`, the same for an io_stream design: AXI4-Stream beats (:mod:`sim.stream_runner`).
``cocotb``
    cocotb's Verilator main with VPI, for the Python testbench :mod:`sim.tb_design`. Only the top-level ports
    are VPI-visible (the cocotb runner's ``--public-flat-rw`` makes every internal signal public, which
    multiplies the generated C++). Compiled at ``-O0``: simulation speed is bounded by Python.

A build lives in ``$NN2RTL_SIM_CACHE`` (default ``<tmp>/nn2rtl-sim``) under a key that hashes everything it
depends on (Verilog, waivers, harness source, kind, Verilator and cocotb versions, flags). It is made in a private
directory and renamed into place, under a per-key lock: concurrent processes (pytest-xdist workers, CLI
subprocesses, two users) never see a half-built directory, and the second waits for the first and reuses its
result. ``ccache`` is used when installed, so a changed design recompiles only what changed.

Make flags are set explicitly (``-j<cores>``, ``OPT_FAST``/``OPT_SLOW``/``OPT_GLOBAL``) and the ``MAKEFLAGS`` a
parent ``make`` exports are dropped; a user's own ``MAKEFLAGS`` outside make is kept (its ``-j`` wins).
``NN2RTL_BUILD_JOBS`` sets the job count and ``NN2RTL_VERILATOR_FLAGS`` adds Verilator options.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nn2rtl.errors import SimulationError, ToolError
from nn2rtl.progress import Progress

__all__ = ["Build", "build", "cache_root", "verilator_version", "make_env", "HARNESS"]

HARNESS = Path(__file__).resolve().parent / "harness.cpp"
#: the io_stream designs' harness (AXI4-Stream ports, beat by beat)
STREAM_HARNESS = Path(__file__).resolve().parent / "stream_harness.cpp"
_HARNESSES = {"harness": HARNESS, "stream": STREAM_HARNESS}
#: the header both harnesses include (part of every harness build's cache key)
HARNESS_UTIL = Path(__file__).resolve().parent / "harness_util.h"
#: Verilator options for both kinds. Verilator's own default optimisation: its -O3 (unlimited inlining) buys
#: ~30% simulation speed and costs more C++ on large designs (benchmarks/bench_sim.py).
VERILATOR_FLAGS = ["-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast"]
#: C++ optimisation per kind: (OPT_FAST for the per-cycle code, OPT_SLOW for start-up code, OPT_GLOBAL for
#: Verilator's runtime library). Measured on the example: -O0 for the per-cycle code runs 40x slower; -Og saves
#: 1 s of compilation and runs 2x slower; the runtime library at -O0 saves 0.7 s and costs nothing measurable.
CXX_OPT = {"harness": ("-O1", "-O0", "-O0"), "stream": ("-O1", "-O0", "-O0"), "cocotb": ("-O0", "-O0", "-O0")}
_BUILT: dict[str, "Build"] = {}


@dataclass
class Build:
    directory: Path
    executable: Path
    seconds: float       #: wall time of this call (0 when this process had it already)
    cached: bool         #: the build existed (this process or another) and was reused


def verilator_version():
    exe = shutil.which("verilator")
    if exe is None:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.split()
    return out[1] if len(out) > 1 else "unknown"


def cache_root():
    return Path(os.environ.get("NN2RTL_SIM_CACHE", Path(tempfile.gettempdir()) / "nn2rtl-sim"))


def make_env(jobs=None):
    """Environment and ``make`` arguments for building verilated C++.

    Returns ``(env, args)``. A ``MAKEFLAGS`` inherited from a parent ``make`` (``MAKELEVEL`` set) would run the
    build at the parent's job count through its jobserver, or on one core: it is dropped. A user's own
    ``MAKEFLAGS`` is kept, and its ``-j`` replaces ours."""
    env = dict(os.environ)
    if "MAKELEVEL" in env:
        for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
            env.pop(k, None)
    if shutil.which("ccache") and "OBJCACHE" not in env:
        env["OBJCACHE"] = "ccache"
    user_jobs = re.search(r"(^|\s)-j\s*\d*|--jobs", env.get("MAKEFLAGS", ""))
    if jobs is None:
        jobs = int(os.environ.get("NN2RTL_BUILD_JOBS", 0)) or os.cpu_count() or 1
    return env, ([] if user_jobs else [f"-j{jobs}"])


def _cocotb_paths():
    """cocotb's Verilator main and its library directory (cocotb 2.x: cocotb_tools.config; 1.9: cocotb.config)."""
    import cocotb
    try:
        from cocotb_tools import config as cfg  # cocotb 2.x
    except ImportError:
        from cocotb import config as cfg  # cocotb 1.9
    main = Path(cfg.share_dir) / "lib" / "verilator" / "verilator.cpp"  # where both versions' runners find it
    if not main.exists():
        raise ToolError(f"cocotb {cocotb.__version__} has no Verilator main at {main}; reinstall cocotb")
    return main, Path(cfg.libs_dir), cocotb.__version__


def _key(kind, top, sources, extra):
    h = hashlib.sha256()
    for part in [kind, top, str(verilator_version()), repr(VERILATOR_FLAGS), repr(CXX_OPT[kind]),
                 os.environ.get("NN2RTL_VERILATOR_FLAGS", ""), *map(str, extra)]:
        h.update(part.encode() + b"\0")
    for s in sources:
        h.update(Path(s).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build(kind, verilog_path, top, extra_sources=(), defines=None, quiet=False) -> Build:
    """Build (or reuse) the ``kind`` executable of ``top`` from ``verilog_path`` plus ``extra_sources``
    (Verilator configuration files such as the lint waivers). ``defines`` are C preprocessor macros."""
    if kind not in CXX_OPT:
        raise ValueError(f"build kind must be one of {sorted(CXX_OPT)}, not {kind!r}")
    if verilator_version() is None:
        raise ToolError("Verilator is not installed: run 'make setup' (Debian: apt-get install verilator)")
    verilog_path = Path(verilog_path).resolve()
    extra_sources = [Path(s).resolve() for s in extra_sources]
    defines = dict(sorted((defines or {}).items()))
    sources = [verilog_path, *extra_sources]
    extra = [repr(defines)]
    if kind in _HARNESSES:
        sources += [_HARNESSES[kind], HARNESS_UTIL]
    else:
        main, libs, version = _cocotb_paths()
        extra += [str(main), str(libs), version]
    key = _key(kind, top, sources, extra)
    if key in _BUILT:
        b = _BUILT[key]
        return Build(b.directory, b.executable, 0.0, True)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    name = f"{top}-{kind}-{key}"
    final = root / name
    exe_name = kind if kind in _HARNESSES else top
    t0 = time.perf_counter()
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process building the same key: wait for it, then reuse
        if (final / exe_name).exists():
            b = _BUILT[key] = Build(final, final / exe_name, time.perf_counter() - t0, True)
            return b
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            _run_build(kind, tmp, verilog_path, extra_sources, top, exe_name, defines, quiet)
            if final.exists():  # a stale directory without an executable (a build killed by an old version)
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    b = _BUILT[key] = Build(final, final / exe_name, time.perf_counter() - t0, False)
    return b


def _class_list(text, name):
    m = re.search(rf"^{name} \+= \\\n((?:\t.*\\\n)*)", text, re.MULTILINE)
    return [line.strip(" \t\\") for line in m.group(1).splitlines()] if m else []


def unity_sources(d, groups):
    """Make-variable overrides that compile the verilated design as ``groups`` unity files (plus one for the
    start-up code) instead of one object per generated file.

    Every generated file includes ``verilated.h``, whose parsing costs ~0.5 s: on a large design it was half of
    the compile time. The unity files ``#include`` the generated ``.cpp`` files, balanced by size, so the
    headers are parsed once per job (the jet example: 22 objects in 10.9 s -> 4 in 6.0 s on 2 cores; the
    same executable)."""
    text = (d / "Vtop_classes.mk").read_text()
    fast = _class_list(text, "VM_CLASSES_FAST")
    slow = _class_list(text, "VM_CLASSES_SLOW") + _class_list(text, "VM_SUPPORT_SLOW")
    if not fast:
        return []
    bins = [[] for _ in range(max(1, min(groups, len(fast))))]
    load = [0] * len(bins)
    for c in sorted(fast, key=lambda c: (-(d / f"{c}.cpp").stat().st_size, c)):
        k = load.index(min(load))
        bins[k].append(c)
        load[k] += (d / f"{c}.cpp").stat().st_size
    names = []
    for k, members in enumerate(bins):
        names.append(f"nn2rtl_unity_fast{k}")
        (d / f"{names[-1]}.cpp").write_text("".join(f'#include "{c}.cpp"\n' for c in sorted(members)))
    (d / "nn2rtl_unity_slow.cpp").write_text("".join(f'#include "{c}.cpp"\n' for c in slow))
    return [f"VM_CLASSES_FAST={' '.join(names)}", "VM_CLASSES_SLOW=nn2rtl_unity_slow", "VM_SUPPORT_SLOW="]


def _run_build(kind, d, verilog_path, extra_sources, top, exe_name, defines, quiet):
    cmd = ["verilator", "--cc", "--exe", "-Mdir", str(d), "--top-module", top, "--prefix", "Vtop",
           "-o", exe_name, *VERILATOR_FLAGS, *shlex.split(os.environ.get("NN2RTL_VERILATOR_FLAGS", ""))]
    if defines:
        cmd += ["-CFLAGS", " ".join(f"-D{k}={v}" for k, v in defines.items())]
    if kind in _HARNESSES:
        cmd += ["-CFLAGS", f"-I{HARNESS_UTIL.parent}", *map(str, extra_sources), str(verilog_path),
                str(_HARNESSES[kind])]
    else:
        main, libs, _ = _cocotb_paths()
        public = d / "public_ports.vlt"  # only the top level's ports are visible to the testbench
        public.write_text(f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n')
        cmd += ["--vpi", "-DCOCOTB_SIM=1", "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
                str(public), *map(str, extra_sources), str(verilog_path), str(main)]
    env, jobs = make_env()
    fast, slow, glob = CXX_OPT[kind]
    make = ["make", "-C", str(d), "-f", "Vtop.mk", *jobs, f"OPT_FAST={fast}", f"OPT_SLOW={slow}",
            f"OPT_GLOBAL={glob}", "VM_TRACE=0"]
    n_jobs = int(jobs[0][2:]) if jobs else (os.cpu_count() or 1)
    log = d / "build.log"

    def compiled():
        if not (d / "Vtop_classes.mk").exists():
            return "verilating"
        return f"compiling C++ with {n_jobs} jobs, {len(list(d.glob('*.o')))} objects done"

    what = f"building the Verilator {dict(stream='stream harness', cocotb='cocotb model').get(kind, kind)} of '{top}'"
    with open(log, "w") as out, Progress(what, status=compiled) as _:
        for step in (cmd, make):
            if step is make:
                step = make + unity_sources(d, n_jobs)
            out.write("$ " + shlex.join(step) + "\n")
            out.flush()
            r = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=d)
            if r.returncode != 0:
                keep = cache_root() / f"{d.name.lstrip('.')}.failed.log"
                shutil.copy(log, keep)
                tail = keep.read_text(errors="replace").strip().splitlines()[-6:]
                raise SimulationError(f"Verilator build of '{top}' failed (exit {r.returncode}); see {keep}: "
                                      + " | ".join(tail))
