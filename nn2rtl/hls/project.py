"""Typed graph -> HLS C++ project (firmware, parameters, testbench, Vitis HLS script, README).

Each op says what it emits in its ``hls(node, graph, layer)`` method (:mod:`nn2rtl.ops`), through the
:class:`Layer` it is handed: configuration members, constant arrays and the call of one template of the static
layer library (``include/nn2rtl/*.h``). The project puts them together:

```
hls/
  firmware/<top>.h, <top>.cpp     the top function <top>(input, output) and its pragmas
  firmware/defines.h              tensor types (ap_fixed exactly as the graph's FixedTypes) and sizes
  firmware/parameters.h           one configuration struct per layer, and the weights' headers
  firmware/weights/*.h            constants as raw integers
  firmware/nn2rtl/*.h             the layer library (a copy: the project builds on its own)
  <top>_test.cpp, tb_data/        a testbench: raw inputs in, expected raw outputs compared bit for bit
  <top>_bridge.cpp                the C interface nn2rtl's predict() calls through ctypes
  build_prj.tcl, README.md        the Vitis HLS flow (csim, csynth, cosim, export)
```
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import UnsupportedOpError
from ..fixed import FixedType
from ..graph import sanitize_name
from ..ops import REGISTRY
from .cpp import Call, ConstArray, LocalArray, Struct, Typedef, int_storage, raw_storage, storage_width

__all__ = ["HlsProject", "Layer", "library_headers", "TB_VECTORS"]

#: test vectors written for the C++ testbench
TB_VECTORS = 100


def library_headers():
    """{file name: text} of the static layer library."""
    root = resources.files("nn2rtl.hls") / "include" / "nn2rtl"
    return {p.name: p.read_text() for p in sorted(root.iterdir(), key=lambda p: p.name) if p.name.endswith(".h")}


class Layer:
    """What one node emits: handed to ``Op.hls``. ``inputs``/``output`` are the C++ names of its tensors,
    ``in_types``/``out_type`` the names of their typedefs."""

    def __init__(self, project, node, inputs, output, in_types, out_type, name):
        self.project = project
        self.node = node
        self.name = name
        self.inputs = inputs
        self.output = output
        self.in_types = in_types
        self.out_type = out_type
        self.struct = Struct(f"config_{name}", comment=f"{node.label}")
        self.calls = []

    @property
    def config_name(self):
        return self.struct.name

    def config(self, **members):
        """Add members to the layer's configuration struct (ints, bools, FixedTypes as typedefs)."""
        self.struct.members.update(members)
        return self.struct.name

    def const(self, key, values, t: FixedType | None = None, comment=""):
        """A constant array of raw integers: of ``t``'s raw type, or (``t`` None) the narrowest integer type that
        holds them. Returns its C++ name."""
        vals = np.asarray(values).reshape(-1)
        if t is not None:
            ctype = raw_storage(t)
            comment = f"{comment + ': ' if comment else ''}raw values of {t} (value = raw * 2^{-t.frac})"
        else:
            ctype = int_storage(storage_width(vals.tolist(), True))
        return self.project._array(f"{self.name}_{key}", ctype, vals, comment)

    def index(self, key, values, ctype="int", comment=""):
        """A constant array of plain integers (window and permutation indices, divisors)."""
        return self.project._array(f"{self.name}_{key}", ctype, np.asarray(values).reshape(-1), comment)

    def temp(self, ctype, size, key="tmp"):
        """A local array in the top function."""
        name = f"{self.name}_{key}"
        self.calls.append(LocalArray(ctype, name, int(size)))
        return name

    def call(self, func, *consts, targs=None, args=None, comment=""):
        """Call a layer template: by default ``func<in types..., out type, config>(inputs..., output, consts...)``."""
        targs = targs if targs is not None else [*self.in_types, self.out_type, self.struct.name]
        args = args if args is not None else [*self.inputs, self.output, *consts]
        self.calls.append(Call(func, targs, args, comment))


class HlsProject:
    """The files of the HLS C++ project of a typed graph: ``files`` maps relative paths to text."""

    def __init__(self, graph, top, ii=1, clock_period=5.0, tb_inputs=None, tb_outputs=None, costs=None):
        self.graph = graph
        self.top = top
        self.ii = ii
        self.clock_period = clock_period
        self.costs = costs or {}
        self.arrays = []
        self._names = set()
        self.layers = []
        self._build()
        self.files = self._files(tb_inputs, tb_outputs)

    # -- names -------------------------------------------------------------------------------------------------

    def _unique(self, base):
        name = base
        k = 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def _array(self, name, ctype, values, comment):
        name = self._unique(name)
        self.arrays.append(ConstArray(name, ctype, values, comment))
        return name

    # -- the graph -----------------------------------------------------------------------------------------------

    def _build(self):
        g = self.graph
        self._names.update({"input_t", "result_t", "in", "out", self.top})
        self.var = {g.inputs[0]: "in"}
        self.tname = {g.inputs[0]: "input_t"}
        self.typedefs = [Typedef("input_t", g.tensors[g.inputs[0]].type)]
        self.locals = []
        out_name = g.outputs[0]
        missing = []
        for n in g.nodes:
            name = self._unique(sanitize_name(n.name, "layer"))
            for t in n.outputs:
                if t == out_name:
                    self.var[t], self.tname[t] = "out", "result_t"
                else:
                    self.var[t] = self._unique(f"{name}_out")
                    self.tname[t] = self._unique(f"{name}_t")
                    self.typedefs.append(Typedef(self.tname[t], g.tensors[t].type))
                    self.locals.append(LocalArray(self.tname[t], self.var[t], g.tensors[t].size))
            layer = Layer(self, n, [self.var[t] for t in n.inputs], self.var[n.outputs[0]],
                          [self.tname[t] for t in n.inputs], self.tname[n.outputs[0]], name)
            if n.op == "Identity":
                layer.call("nn2rtl::cast_copy", targs=[*layer.in_types, layer.out_type, g.tensors[n.inputs[0]].size])
            else:
                try:
                    REGISTRY[n.op].hls(n, g, layer)
                except NotImplementedError:
                    missing.append((n.attrs.get("source_name", n.name), n.attrs.get("source_op", n.op),
                                    f"no HLS C++ template for {n.op}"))
            self.layers.append(layer)
        if missing:
            raise UnsupportedOpError(missing)
        self.typedefs.append(Typedef("result_t", g.tensors[out_name].type))
        if out_name == g.inputs[0]:  # a model without layers: the output is the input
            self.var[out_name] = "in"

    # -- files -------------------------------------------------------------------------------------------------

    def _files(self, tb_inputs, tb_outputs):
        g = self.graph
        tin, tout = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
        top = self.top
        guard = f"{top.upper()}_H_"
        banner = f"// {top}: generated by nn2rtl {__version__} (HLS C++ back end).\n"
        files = {}
        files["firmware/defines.h"] = "\n".join([
            banner + "// Tensor types: ap_fixed exactly as nn2rtl's fixed-point types, and sizes.",
            "#ifndef DEFINES_H_", "#define DEFINES_H_", "", '#include "nn2rtl/common.h"', "",
            f"#define N_INPUT {tin.size}   // '{tin.name}' {list(tin.shape)}",
            f"#define N_OUTPUT {tout.size}   // '{tout.name}' {list(tout.shape)}", "",
            *[t.render() for t in self.typedefs], "", "#endif", ""])
        files["firmware/parameters.h"] = "\n".join([
            banner + "// One configuration struct per layer; constants in weights/.",
            "#ifndef PARAMETERS_H_", "#define PARAMETERS_H_", "", '#include "defines.h"',
            *[f'#include "nn2rtl/{h}"' for h in library_headers() if h != "common.h"], "",
            *[f'#include "weights/{a.name}.h"' for a in self.arrays], "",
            *[lay.struct.render() + "\n" for lay in self.layers if lay.struct.members], "#endif", ""])
        for a in self.arrays:
            files[f"firmware/weights/{a.name}.h"] = (
                f"// {a.name}: constants as raw integers\n"
                f"#ifndef {a.name.upper()}_H_\n#define {a.name.upper()}_H_\n\n{a.render()}\n\n#endif\n")
        for name, text in library_headers().items():
            files[f"firmware/nn2rtl/{name}"] = text
        files[f"firmware/{top}.h"] = "\n".join([
            banner.rstrip(), f"#ifndef {guard}", f"#define {guard}", "", '#include "defines.h"', "",
            f"// input '{tin.name}' {list(tin.shape)} of {tin.type}, output '{tout.name}' {list(tout.shape)} of "
            f"{tout.type};",
            "// element order: the ONNX model's own layout, row-major (as nn2rtl's RTL ports).",
            f"void {top}(const input_t in[N_INPUT], result_t out[N_OUTPUT]);", "", "#endif", ""])
        body = []
        for lay in self.layers:
            body.append(f"    // {lay.node.label}: {lay.node.op}"
                        + (f", reuse factor {lay.node.attrs['reuse_factor']}" if "reuse_factor" in lay.node.attrs
                           else ""))
            body += [c.render() for c in lay.calls]
        if g.outputs[0] == g.inputs[0]:
            body.append("    nn2rtl::cast_copy<input_t, result_t, N_INPUT>(in, out);")
        files[f"firmware/{top}.cpp"] = "\n".join([
            banner.rstrip(), f'#include "{top}.h"', '#include "parameters.h"', "",
            f"void {top}(const input_t in[N_INPUT], result_t out[N_OUTPUT]) {{",
            "#pragma HLS ARRAY_PARTITION variable=in complete",
            "#pragma HLS ARRAY_PARTITION variable=out complete",
            f"#pragma HLS PIPELINE II={self.ii}",
            *[loc.render() for loc in self.locals], "", *body, "}", ""])
        files[f"{top}_bridge.cpp"] = _BRIDGE.replace("TOP", top)
        files[f"{top}_test.cpp"] = _TESTBENCH.replace("TOP", top)
        if tb_inputs is not None:
            files["tb_data/tb_input_raw.dat"] = _raw_rows(tb_inputs)
            files["tb_data/tb_output_raw.dat"] = _raw_rows(tb_outputs)
        files["build_prj.tcl"] = _TCL.replace("TOP", top).replace("CLOCK", f"{self.clock_period:g}")
        files["README.md"] = self._readme(tin, tout)
        return dict(sorted(files.items()))

    def _readme(self, tin, tout):
        mults = {name: c.multipliers for name, c in self.costs.items()}
        rows = []
        for lay in self.layers:
            n = lay.node
            rows.append(f"| {n.name} | {n.op} | {n.attrs.get('reuse_factor', '-')} | "
                        f"{mults.get(n.name, '-')} | {n.types.get('result', '-')} |")
        return _README.format(top=self.top, version=__version__, tin=tin, tout=tout, ii=self.ii,
                              clock=f"{self.clock_period:g}", layers="\n".join(rows))

    def write(self, directory):
        d = Path(directory)
        for rel, text in self.files.items():
            p = d / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        return d


def _raw_rows(raw):
    raw = np.asarray(raw)
    return "".join(" ".join(str(int(v)) for v in row) + "\n" for row in raw.reshape(raw.shape[0], -1))


def multiplier_limit(products, reuse):
    return max(1, math.ceil(products / max(1, reuse)))


_BRIDGE = """\
// TOP: the C interface nn2rtl's predict() calls through ctypes (not part of the HLS design).
// Raw values pass as 64-bit limbs, least significant first: any width, exactly.
#include "firmware/TOP.h"

#define EXPORT __attribute__((visibility("default")))

extern "C" {

EXPORT int nn2rtl_n_input() { return N_INPUT; }
EXPORT int nn2rtl_n_output() { return N_OUTPUT; }
EXPORT int nn2rtl_input_limbs() { return nn2rtl::limbs<input_t>::count; }
EXPORT int nn2rtl_output_limbs() { return nn2rtl::limbs<result_t>::count; }

EXPORT void nn2rtl_predict(long rows, const uint64_t *in, uint64_t *out) {
    const int li = nn2rtl::limbs<input_t>::count, lo = nn2rtl::limbs<result_t>::count;
    for (long r = 0; r < rows; r++) {
        input_t x[N_INPUT];
        result_t y[N_OUTPUT];
        for (int i = 0; i < N_INPUT; i++) x[i] = nn2rtl::load_limbs<input_t>(in + (r * N_INPUT + i) * li);
        TOP(x, y);
        for (int j = 0; j < N_OUTPUT; j++) nn2rtl::store_limbs<result_t>(y[j], out + (r * N_OUTPUT + j) * lo);
    }
}

}
"""

_TESTBENCH = """\
// TOP testbench: reads raw inputs (tb_data/tb_input_raw.dat, one vector per line) and the expected raw outputs
// (tb_data/tb_output_raw.dat, from nn2rtl's golden model), runs TOP and compares every output bit.
// Exit status 0 when every output matches. Used by Vitis HLS csim/cosim and by 'make'-free g++ builds.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "firmware/TOP.h"

template <class T> static bool read_row(std::istream &f, T *v, int n) {
    std::string line;
    if (!std::getline(f, line)) return false;
    std::istringstream s(line);
    for (int i = 0; i < n; i++) {
        std::string tok;
        if (!(s >> tok)) return false;
        typename nn2rtl::fx<T>::raw_t r(tok.c_str(), 10);
        v[i] = nn2rtl::from_raw<T>(r);
    }
    return true;
}

int main(int argc, char **argv) {
    const std::string dir = argc > 1 ? argv[1] : "tb_data";
    std::ifstream fin((dir + "/tb_input_raw.dat").c_str()), fout((dir + "/tb_output_raw.dat").c_str());
    if (!fin || !fout) {
        std::cerr << "TOP_test: cannot open " << dir << "/tb_input_raw.dat or tb_output_raw.dat" << std::endl;
        return 2;
    }
    long vectors = 0, bad = 0;
    input_t x[N_INPUT];
    result_t want[N_OUTPUT];
    while (read_row(fin, x, N_INPUT)) {
        if (!read_row(fout, want, N_OUTPUT)) {
            std::cerr << "TOP_test: fewer expected rows than inputs" << std::endl;
            return 2;
        }
        result_t y[N_OUTPUT];
        TOP(x, y);
        for (int j = 0; j < N_OUTPUT; j++) {
            if (nn2rtl::raw_of(y[j]) != nn2rtl::raw_of(want[j])) {
                if (bad < 10)
                    std::cerr << "vector " << vectors << " output " << j << ": got raw "
                              << nn2rtl::raw_of(y[j]).to_string(10) << ", expected "
                              << nn2rtl::raw_of(want[j]).to_string(10) << std::endl;
                bad++;
            }
        }
        vectors++;
    }
    std::cout << "TOP_test: " << vectors << " vectors, " << bad << " outputs differ" << std::endl;
    return (bad == 0 && vectors > 0) ? 0 : 1;
}
"""

_TCL = """\
# TOP: Vitis HLS project (vitis_hls -f build_prj.tcl). Steps by variable, e.g.
#   vitis_hls -f build_prj.tcl -tclargs csim=1 synth=1 cosim=0 export=0 part=xcvu13p-flga2577-2-e
array set opt {csim 1 synth 1 cosim 0 export 0 part xcvu13p-flga2577-2-e clock CLOCK}
foreach arg $argv {
    lassign [split $arg =] key value
    if {![info exists opt($key)]} { error "unknown option '$key' (csim, synth, cosim, export, part, clock)" }
    set opt($key) $value
}
set cflags "-std=c++14 -I[pwd]/firmware"
open_project -reset TOP_prj
set_top TOP
add_files firmware/TOP.cpp -cflags $cflags
add_files -tb TOP_test.cpp -cflags $cflags
add_files -tb tb_data
open_solution -reset solution1 -flow_target vivado
set_part $opt(part)
create_clock -period $opt(clock) -name default
if {$opt(csim)} { csim_design -argv tb_data }
if {$opt(synth)} { csynth_design }
if {$opt(cosim)} { cosim_design -argv tb_data }
if {$opt(export)} { export_design -format ip_catalog }
exit
"""

_README = """\
# {top}: HLS C++ (generated by nn2rtl {version})

The same quantised graph as nn2rtl's Verilog, as C++ for Vitis HLS (or any tool that reads `ap_fixed`), bit-exact
with nn2rtl's golden model.

- Top function: `void {top}(const input_t in[N_INPUT], result_t out[N_OUTPUT])` in `firmware/{top}.cpp`.
  Input '{tin.name}' {tin.shape} of `{tin.type}`, output '{tout.name}' {tout.shape} of `{tout.type}`, each in the
  ONNX model's own layout, row-major.
- Types: `firmware/defines.h` (tensors) and `firmware/parameters.h` (one configuration struct per layer: weight,
  bias, accumulator and table types as `ap_fixed<W,I,Q,O>`).
- Constants: `firmware/weights/*.h`, raw integers (value = raw x 2^-frac of the type named in the layer's config).
- Layer library: `firmware/nn2rtl/*.h`, nn2rtl's own templates.
- Pragmas: the top is pipelined at II={ii} (the largest reuse factor, as the RTL); every array is partitioned
  completely (io_parallel); each dense or convolution layer is pipelined at its reuse factor R and limited to the
  multipliers nn2rtl's RTL instantiates (`ceil(n_in*n_out/R)` for a dense layer).

| layer | op | R | multipliers | result |
|---|---|---|---|---|
{layers}

## Vitis HLS

`ap_types` come with Vitis (`$XILINX_HLS/include`). Then

    vitis_hls -f build_prj.tcl                                   # csim + csynth
    vitis_hls -f build_prj.tcl -tclargs cosim=1 export=1 part=<your part> clock={clock}

`csim` and `cosim` run `{top}_test.cpp` on `tb_data/`: raw inputs and the golden model's raw outputs, compared
bit for bit (exit status 1 on any difference).

## Without Vitis

    g++ -std=c++14 -O2 -Wall -Werror -isystem <ap_types> -Ifirmware {top}_test.cpp firmware/{top}.cpp -o {top}_test
    ./{top}_test tb_data

(`ap_types`: Vitis' include directory, or the Apache-2.0 copy in an installed hls4ml wheel,
`hls4ml/templates/vivado/ap_types`.) `nn2rtl predict OUT --backend hls` compiles and runs this C++ for you.
"""
