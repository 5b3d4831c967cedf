"""Compile and run the HLS C++ with g++: the ``ap_types`` headers located, a shared library cached by content hash,
raw values passed through ctypes.

``ap_types`` are not nn2rtl's to ship. They are looked for, in order: ``$AP_TYPES_DIR``; Vitis' include directory
(``$XILINX_HLS/include``, ``$XILINX_VITIS/include``, ``$XILINX_VIVADO/include``); the Apache-2.0 copy inside an
installed hls4ml wheel (``pip install "nn2rtl[hls]"``), in this interpreter or in the ``.venv-hls4ml`` beside
the project.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ToolError

__all__ = ["find_ap_types", "compile_library", "HlsModel", "run_testbench", "CXXFLAGS", "hls_cache_root"]

#: warnings are errors for nn2rtl's own code (HLS pragmas are for Vitis; ap_types is a system header)
CXXFLAGS = ["-std=c++14", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas"]

_HINT = ("install them with 'pip install \"nn2rtl[hls]\"' (the Apache-2.0 copy in the hls4ml wheel), or set "
         "AP_TYPES_DIR to a directory holding ap_fixed.h (Vitis: $XILINX_HLS/include)")


def _has_ap(d):
    return d is not None and (Path(d) / "ap_fixed.h").is_file() and (Path(d) / "ap_int.h").is_file()


def find_ap_types():
    """The directory holding ``ap_fixed.h``; :class:`ToolError` saying what to install when there is none."""
    env = os.environ.get("AP_TYPES_DIR")
    if env:
        if _has_ap(env):
            return Path(env).resolve()
        raise ToolError(f"AP_TYPES_DIR={env} holds no ap_fixed.h and ap_int.h; {_HINT}")
    for var in ("XILINX_HLS", "XILINX_VITIS", "XILINX_VIVADO"):
        if os.environ.get(var) and _has_ap(Path(os.environ[var]) / "include"):
            return (Path(os.environ[var]) / "include").resolve()
    candidates = []
    spec = importlib.util.find_spec("hls4ml")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "templates" / "vivado" / "ap_types" for p in spec.submodule_search_locations]
    root = Path(__file__).resolve().parents[2]  # a source checkout: make test's hls4ml venv
    py = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates.append(root / ".venv-hls4ml" / "lib" / py / "site-packages" / "hls4ml" / "templates" / "vivado"
                      / "ap_types")
    for c in candidates:
        if _has_ap(c):
            return c.resolve()
    raise ToolError(f"the HLS C++ needs the ap_types headers (ap_fixed.h), and none were found; {_HINT}")


def _compiler():
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise ToolError(f"no C++ compiler: '{cxx}' is not on PATH (Debian/Ubuntu: apt-get install g++)")
    return cxx


def hls_cache_root():
    return Path(os.environ.get("NN2RTL_HLS_CACHE", Path(tempfile.gettempdir()) / "nn2rtl-hls"))


def _key(files, flags, ap, cxx):
    h = hashlib.sha256()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    for part in (*flags, str(ap), *version):
        h.update(part.encode() + b"\0")
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    return h.hexdigest()[:20]


def _first_error(stderr):
    for line in stderr.splitlines():
        if "error" in line:
            return line.strip()
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    return lines[0].strip() if lines else "(no message)"


@dataclass
class Compiled:
    path: Path        #: the shared library or executable
    seconds: float    #: compile time (0 when cached)
    cached: bool


def _compile(files, sources, output_name, extra_flags, label):
    """Compile ``sources`` (relative paths of ``files``) into the cache; reuse a build of the same content."""
    ap = find_ap_types()
    cxx = _compiler()
    flags = [*CXXFLAGS, *extra_flags]
    key = _key({k: v for k, v in files.items() if not k.startswith("tb_data/")}, [*flags, *sources], ap, cxx)
    root = hls_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{key}-{output_name}"
    t0 = time.perf_counter()
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.exists():
            return Compiled(final, 0.0, True)
        with tempfile.TemporaryDirectory(prefix="nn2rtl-hls-", dir=root) as tmp:
            for rel, text in files.items():
                p = Path(tmp) / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text)
            out = Path(tmp) / output_name
            cmd = [cxx, *flags, "-isystem", str(ap), f"-I{Path(tmp) / 'firmware'}", f"-I{tmp}",
                   *[str(Path(tmp) / s) for s in sources], "-o", str(out)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                log = root / f"{key}-{output_name}.log"
                log.write_text(" ".join(cmd) + "\n\n" + r.stderr)
                raise ToolError(f"{label}: {cxx} failed: {_first_error(r.stderr)} (full log: {log})")
            os.replace(out, final)
    return Compiled(final, time.perf_counter() - t0, False)


def compile_library(files, top):
    """The project's C++ (top function + ctypes bridge) as a shared library, cached by content."""
    # only the bridge's C functions are exported, and no symbol is process-wide unique: two designs loaded in one
    # process may instantiate the same template for layers of the same name, and must not share its statics
    return _compile(files, [f"firmware/{top}.cpp", f"{top}_bridge.cpp"], f"{top}.so",
                    ["-shared", "-fPIC", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-fno-gnu-unique"],
                    f"compiling the HLS C++ of '{top}'")


def run_testbench(files, top, data_dir=None):
    """Build the testbench with g++ and run it on ``tb_data`` (or ``data_dir``): ``(ok, output)``."""
    exe = _compile(files, [f"{top}_test.cpp", f"firmware/{top}.cpp"], f"{top}_test", [],
                   f"compiling the testbench of '{top}'")
    with tempfile.TemporaryDirectory(prefix="nn2rtl-tb-") as tmp:
        if data_dir is None:
            for rel in ("tb_data/tb_input_raw.dat", "tb_data/tb_output_raw.dat"):
                p = Path(tmp) / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(files[rel])
            data_dir = Path(tmp) / "tb_data"
        r = subprocess.run([str(exe.path), str(data_dir)], capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def _to_limbs(raw, width):
    """Raw integers (any width; int64 or object arrays) -> uint64 limbs, least significant first."""
    n = (width + 63) // 64
    raw = np.asarray(raw)
    if n == 1 and raw.dtype != object:
        return np.ascontiguousarray(raw.astype(np.int64).view(np.uint64)).reshape(-1)
    mask = (1 << 64) - 1
    flat = [int(v) for v in raw.reshape(-1)]
    return np.array([(v >> (64 * k)) & mask for v in flat for k in range(n)], dtype=np.uint64)


def _from_limbs(limbs, width, signed, shape):
    n = (width + 63) // 64
    if width <= 62:
        v = (limbs.reshape(shape) & np.uint64((1 << width) - 1)).astype(np.int64)
        if signed:
            v = np.where(v >= (1 << (width - 1)), v - (1 << width), v)
        return v
    vals = []
    lm = limbs.reshape(-1, n)
    for row in lm:
        v = sum(int(x) << (64 * k) for k, x in enumerate(row)) & ((1 << width) - 1)
        if signed and v >= 1 << (width - 1):
            v -= 1 << width
        vals.append(v)
    return np.array(vals, dtype=object).reshape(shape)


class HlsModel:
    """The compiled C++ of a project, called through ctypes: raw values in, raw values out."""

    def __init__(self, files, top, graph):
        self.files, self.top = files, top
        self.in_type = graph.tensors[graph.inputs[0]].type
        self.out_type = graph.tensors[graph.outputs[0]].type
        self.n_in, self.n_out = graph.tensors[graph.inputs[0]].size, graph.tensors[graph.outputs[0]].size
        self.compiled = compile_library(files, top)
        self._lib = ctypes.CDLL(str(self.compiled.path))
        self._lib.nn2rtl_predict.restype = None
        self._lib.nn2rtl_predict.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        got = (self._lib.nn2rtl_n_input(), self._lib.nn2rtl_n_output(), self._lib.nn2rtl_input_limbs(),
               self._lib.nn2rtl_output_limbs())
        want = (self.n_in, self.n_out, (self.in_type.width + 63) // 64, (self.out_type.width + 63) // 64)
        if got != want:
            raise ToolError(f"the HLS C++ of '{top}' does not match its design (inputs, outputs, limbs: {got} in the "
                            f"C++, {want} in graph.json); convert the model again")

    def predict_raw(self, raw):
        raw = np.asarray(raw)
        rows = raw.reshape(-1, self.n_in).shape[0]
        inp = _to_limbs(raw.reshape(rows, self.n_in), self.in_type.width)
        lo = (self.out_type.width + 63) // 64
        out = np.zeros(rows * self.n_out * lo, dtype=np.uint64)
        self._lib.nn2rtl_predict(rows, inp.ctypes.data, out.ctypes.data)
        return _from_limbs(out, self.out_type.width, self.out_type.signed, (rows, self.n_out))
