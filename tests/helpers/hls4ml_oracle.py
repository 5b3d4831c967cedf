"""hls4ml's own activation and softmax code (its ``nnet_activation.h`` and ``ap_fixed`` headers, from the hls4ml
1.3.0 package) compiled with g++ and run on raw inputs: the oracle for "bit-identical to hls4ml".

The headers come from the hls4ml installation ``make test`` puts in ``.venv-hls4ml`` (or ``$HLS4ML_TEMPLATES``).
Each call writes one C++ file instantiating hls4ml's function with the types and config struct hls4ml's Vivado
backend generates for that layer, feeds the raw input words and reads back the raw output words.
"""

import glob
import os
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def templates_dir():
    env = os.environ.get("HLS4ML_TEMPLATES")
    if env:
        return Path(env)
    venv = Path(os.environ.get("HLS4ML_VENV", ROOT / ".venv-hls4ml"))
    hits = sorted(glob.glob(str(venv / "lib" / "python3*" / "site-packages" / "hls4ml" / "templates" / "vivado")))
    return Path(hits[0]) if hits else None


EXPECTED_VERSION = "1.3.0"


def available():
    t = templates_dir()
    return t is not None and (t / "nnet_utils" / "nnet_activation.h").exists()


def version():
    """The version of the hls4ml whose templates are used (from its dist-info beside the package), or None."""
    t = templates_dir()
    if t is None:
        return None
    hits = sorted(t.parents[2].glob("hls4ml-*.dist-info"))
    return hits[0].name[len("hls4ml-"):-len(".dist-info")] if hits else None


def problem():
    """Why the oracle cannot be used (None when it can): tests fail with this, never skip."""
    if not available():
        return (f"hls4ml's templates were not found (looked in {templates_dir() or ROOT / '.venv-hls4ml'}): "
                "run 'make oracle' (make test does it)")
    if version() != EXPECTED_VERSION:
        return f"the oracle is hls4ml {version()}, not {EXPECTED_VERSION}: run 'make oracle' in a clean checkout"
    return None


def python():
    """The hls4ml venv's interpreter (for its converters and C simulation)."""
    return Path(os.environ.get("HLS4ML_VENV", ROOT / ".venv-hls4ml")) / "bin" / "python"


def _float_literal(v):
    return "0" if v is None else repr(float(v))


def activation_source(kind, n, in_t, out_t, table_t="ap_fixed<18,8>", table_size=1024, param_t="ap_fixed<16,6>",
                      param=None, slope=None, shift=None, softmax=None):
    """C++ for one hls4ml activation call (``kind``: sigmoid, tanh, softplus, softsign, selu, relu, elu,
    leaky_relu, thresholded_relu, prelu, hard_sigmoid, softmax)."""
    cfg = [f"static const unsigned n_in = {n};", f"static const unsigned table_size = {table_size};",
           "static const unsigned io_type = nnet::io_parallel;", "static const unsigned reuse_factor = 1;",
           f"typedef {table_t} table_t;", f"typedef {param_t} param_t;"]
    pre = ""
    if kind == "hard_sigmoid":
        cfg = [f"static const unsigned n_in = {n};", "static const slope_t slope;", "static const shift_t shift;",
               "static const unsigned io_type = nnet::io_parallel;", "static const unsigned reuse_factor = 1;"]
        pre = f"typedef {slope[0]} slope_t;\ntypedef {shift[0]} shift_t;\n"
    if kind == "softmax":
        s = softmax
        cfg = [f"static const unsigned n_in = {n};", f"static const unsigned n_slice = {n};",
               "static const unsigned n_outer = 1;", "static const unsigned n_inner = 1;",
               "static const unsigned parallelization_factor = -1;",
               f"static const unsigned exp_table_size = {s['exp_table_size']};",
               f"static const unsigned inv_table_size = {s['inv_table_size']};",
               "static const unsigned io_type = nnet::io_parallel;", "static const unsigned reuse_factor = 1;",
               "static const unsigned axis = -1;",
               f"static const nnet::softmax_implementation implementation = "
               f"nnet::softmax_implementation::{s['implementation']};",
               "static constexpr float exp_scale = 1.0;",
               f"typedef {s['exp_table_t']} exp_table_t;", f"typedef {s['inv_table_t']} inv_table_t;",
               f"typedef {s['accum_t']} accum_t;", f"typedef {s['inv_inp_t']} inv_inp_t;",
               f"typedef {s['inp_norm_t']} inp_norm_t;"]
    lit = _float_literal(param) if np.ndim(param) == 0 else "0"
    body = {
        "elu": f"nnet::elu<input_t, config::param_t, result_t, config>(x, {lit}, y);",
        "leaky_relu": f"nnet::leaky_relu<input_t, config::param_t, result_t, config>(x, {lit}, y);",
        "thresholded_relu": f"nnet::thresholded_relu<input_t, config::param_t, result_t, config>(x, "
                            f"{lit}, y);",
        "prelu": "nnet::prelu<input_t, config::param_t, result_t, config>(x, alpha, y);",
    }.get(kind, f"nnet::{kind}<input_t, result_t, config>(x, y);")
    alpha = ""
    if kind == "prelu":
        alpha = f"config::param_t alpha[{n}] = {{{', '.join(_float_literal(a) for a in param)}}};\n"
    consts = ""
    if kind == "hard_sigmoid":
        consts = (f"const slope_t config::slope = {_float_literal(slope[1])};\n"
                  f"const shift_t config::shift = {_float_literal(shift[1])};\n")
    return f"""#include "ap_fixed.h"
#include "nnet_utils/nnet_activation.h"
#include <cstdio>
typedef {in_t} input_t;
typedef {out_t} result_t;
{pre}struct config{" : nnet::activ_config" if kind != "hard_sigmoid" else ""} {{ {' '.join(cfg)} }};
{consts}int main() {{
    input_t x[{n}]; result_t y[{n}];
    {alpha}long long v;
    while (true) {{
        for (int k = 0; k < {n}; k++) {{ if (scanf("%lld", &v) != 1) return 0; x[k].range() = v; }}
        {body}
        for (int k = 0; k < {n}; k++) printf("%lld ", (long long)y[k].range().to_int64());
        printf("\\n");
    }}
}}
"""


def run(source, raw_inputs, work_dir, out_type, name="oracle"):
    """Compile ``source`` and run it on ``raw_inputs`` (rows of raw words); returns the raw outputs of
    ``out_type`` (a :class:`~nn2rtl.fixed.FixedType`) as int64."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    cpp, exe = work_dir / f"{name}.cpp", work_dir / name
    cpp.write_text(source)
    t = templates_dir()
    r = subprocess.run(["g++", "-O1", "-std=c++14", "-w", f"-I{t}", f"-I{t / 'ap_types'}", str(cpp), "-o",
                        str(exe)], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"g++ failed on {cpp}:\n{r.stderr[-3000:]}")
    raw = np.asarray(raw_inputs, dtype=np.int64)
    text = "\n".join(" ".join(map(str, row)) for row in raw) + "\n"
    out = subprocess.run([str(exe)], input=text, check=True, capture_output=True, text=True).stdout
    bits = np.array([[int(v) for v in line.split()] for line in out.splitlines()], dtype=np.int64)
    bits &= (1 << out_type.width) - 1
    if out_type.signed:
        bits = np.where(bits >= 1 << (out_type.width - 1), bits - (1 << out_type.width), bits)
    return bits


def pooling_source(mode, in_shape, kernel, strides, pads, count_pad, in_t, accum_t, out_t, global_pool=False):
    """C++ for one hls4ml io_parallel pooling call (``pooling1d_cl``/``pooling2d_cl``, or ``global_pooling1d_cl``/
    ``global_pooling2d_cl``) on channels-last data: ``in_shape`` is the spatial dimensions then the channels,
    ``pads`` in ONNX order (begins, then ends)."""
    *spatial, c = in_shape
    op = "Max" if mode == "max" else "Average"
    if len(spatial) == 1:
        (w,), (k,), (s,) = spatial, kernel, strides
        out = [(w + pads[0] + pads[1] - k) // s + 1] if not global_pool else [1]
        cfg = [f"static const unsigned n_in = {w};", f"static const unsigned n_filt = {c};",
               f"static const unsigned pool_width = {k};", f"static const unsigned stride_width = {s};",
               f"static const unsigned n_out = {out[0]};", f"static const unsigned pad_left = {pads[0]};",
               f"static const unsigned pad_right = {pads[1]};"]
        fn = "global_pooling1d_cl" if global_pool else "pooling1d_cl"
    else:
        (h, w), (kh, kw), (sh, sw) = spatial, kernel, strides
        out = ([(h + pads[0] + pads[2] - kh) // sh + 1, (w + pads[1] + pads[3] - kw) // sw + 1]
               if not global_pool else [1, 1])
        cfg = [f"static const unsigned in_height = {h};", f"static const unsigned in_width = {w};",
               f"static const unsigned n_filt = {c};", f"static const unsigned pool_height = {kh};",
               f"static const unsigned pool_width = {kw};", f"static const unsigned stride_height = {sh};",
               f"static const unsigned stride_width = {sw};", f"static const unsigned out_height = {out[0]};",
               f"static const unsigned out_width = {out[1]};", f"static const unsigned pad_top = {pads[0]};",
               f"static const unsigned pad_left = {pads[1]};", f"static const unsigned pad_bottom = {pads[2]};",
               f"static const unsigned pad_right = {pads[3]};"]
        fn = "global_pooling2d_cl" if global_pool else "pooling2d_cl"
    cfg += [f"static const bool count_pad = {'true' if count_pad else 'false'};",
            f"static const nnet::Pool_Op pool_op = nnet::{op};", "static const unsigned reuse_factor = 1;",
            f"typedef {accum_t} accum_t;"]
    n_in = int(np.prod(in_shape))
    n_out = int(np.prod(out)) * c
    return f"""#include "ap_fixed.h"
#include "nnet_utils/nnet_pooling.h"
#include <cstdio>
typedef {in_t} input_t;
typedef {out_t} result_t;
struct config {{ {' '.join(cfg)} }};
int main() {{
    static input_t x[{n_in}]; static result_t y[{n_out}];
    long long v;
    while (true) {{
        for (int k = 0; k < {n_in}; k++) {{ if (scanf("%lld", &v) != 1) return 0; x[k].range() = v; }}
        nnet::{fn}<input_t, result_t, config>(x, y);
        for (int k = 0; k < {n_out}; k++) printf("%lld ", (long long)y[k].range().to_int64());
        printf("\\n");
    }}
}}
"""
