"""A converted design: the typed graph, its schedule, its Verilog; predict, simulate, write, load."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from . import __version__
from .config import Config
from .errors import ConfigError, ModelError
from .fixed import FixedType
from .golden import run_golden
from .graph import Graph, Node, Tensor, sanitize_name
from .ops import REGISTRY
from .rtl import balance_registers, fifo_depth, schedule

__all__ = ["Design", "convert", "make_vectors", "LINT_WAIVERS"]

#: Verilator -Wall warnings that Amaranth's Verilog output raises by construction, and why they are harmless.
LINT_WAIVERS = {
    "DECLFILENAME": "one file holds the top level and all its submodules, so that a single file is added to a "
                    "project; only the top level matches the file name.",
    "UNUSEDSIGNAL": "Amaranth keeps a named wire for every port of every flattened submodule (for waveform "
                    "debugging), and truncating casts intentionally drop low or high product bits.",
    "WIDTH": "Amaranth emits comparisons and additions against minimal-width constants (e.g. $signed(1'h0)) and "
             "relies on Verilog's standard operand extension; every width is fixed by the Amaranth netlist.",
}


class Design:
    """A typed graph plus everything derived from it (schedule, Verilog)."""

    def __init__(self, graph: Graph, top: str, source: str = "", verilog: str | None = None):
        self.graph = graph
        self.top = top
        self.source = source
        self.stream = None
        if graph.meta.get("io_type") == "io_stream":
            from .stream import StreamDesign
            self.stream = StreamDesign(graph)
            self.costs = self.stream.costs()
            # latency: first input beat of an image to its first output beat; II: cycles per image
            self.latency, self.ii = self.stream.latency_first, self.stream.ii
        else:
            self.costs, self.latency, self.ii = schedule(graph)
        self._verilog = verilog
        self._hls = None
        self._hls_model = None
        self.hls_files = None  #: the HLS project's files as written (Design.load), compiled by predict(backend="hls")

    @property
    def fifo_depth(self):
        """Places of the output FIFO (``FlowControl: fifo``; 0: the pipeline stalls instead)."""
        if self.stream is not None or self.graph.meta.get("flow_control") != "fifo":
            return 0
        return fifo_depth(self.latency, self.ii)

    @property
    def skid_registers(self):
        """Flip-flop bits of ``FlowControl: skid`` at the top level: the skid register (one result) and the
        enable."""
        if self.stream is not None or self.graph.meta.get("flow_control") != "skid" or self.latency == 0:
            return 0
        return self.output.size * self.output.type.width + 1

    @property
    def io_type(self):
        return "io_stream" if self.stream is not None else "io_parallel"

    # -- conversions -----------------------------------------------------------------------------------------

    @property
    def input(self):
        return self.graph.tensors[self.graph.inputs[0]]

    @property
    def output(self):
        return self.graph.tensors[self.graph.outputs[0]]

    @property
    def verilog(self):
        if self._verilog is None:
            if self.stream is not None:
                from rtl_lib.library import ModuleLibrary, convert
                library = ModuleLibrary(self.top)
                body = convert(self.stream.top(library), self.top, library)
                self._verilog = self._stream_header() + body
            else:
                from .rtl import to_verilog
                _, body = to_verilog(self.graph, self.top)
                self._verilog = self._header() + body
        return self._verilog

    def quantize_input(self, x):
        """Floats -> raw input values, exactly as ``ap_fixed``'s conversion from double does."""
        x = np.asarray(x)
        n = self.input.size
        if x.dtype.kind not in "biuf":
            raise ConfigError(f"input array of dtype {x.dtype} is not real numbers (bool, int or float)")
        x = x.astype(np.float64)
        if x.ndim == 0 or x.size == 0:
            raise ConfigError(f"input array of shape {list(x.shape)} holds no rows of {n} features")
        rows = x.reshape(1, -1) if x.ndim == 1 else x.reshape(x.shape[0], -1)
        if rows.shape[1] != n:
            raise ConfigError(f"input array of shape {list(x.shape)} does not hold rows of {n} features "
                              f"(input '{self.input.name}' has shape {list(self.input.shape)})")
        bad = ~np.isfinite(rows)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ConfigError(f"input array holds {int(bad.sum())} NaN or infinite values (first: row {r}, "
                              f"feature {c}); fixed point has no such values")
        if "input_quantizer" in self.graph.meta:  # the model's own first quantiser, applied exactly
            from .passes import input_codes
            return input_codes(self.graph.meta, rows)
        try:
            return self.input.type.quantize(rows)
        except ValueError as e:
            raise ConfigError(f"input array: {e}") from None

    def predict_raw(self, raw, backend="golden"):
        """Raw input values -> raw output values, by the golden model or (``backend="hls"``) the HLS C++ compiled
        with g++."""
        if backend == "hls":
            return self.hls_model().predict_raw(raw)
        if backend != "golden":
            raise ConfigError(f"backend must be 'golden' or 'hls', not {backend!r}")
        return run_golden(self.graph, {self.graph.inputs[0]: raw})[self.graph.outputs[0]]

    def predict(self, x, backend="golden"):
        """Float in and out: inputs quantised like ``ap_fixed``, outputs the exact type values. ``backend``:
        ``"golden"`` (the integer golden model) or ``"hls"`` (the HLS C++, compiled with g++ and called through
        ctypes; the same bits)."""
        return self.output.type.dequantize(self.predict_raw(self.quantize_input(x), backend))

    # -- the HLS C++ back end --------------------------------------------------------------------------------

    def hls(self):
        """The HLS C++ project (:class:`nn2rtl.hls.HlsProject`): io_parallel C++ of the same graph, with a
        testbench on the golden model's outputs."""
        if self._hls is None:
            from .hls import TB_VECTORS, HlsProject
            costs, _, ii = (self.costs, self.latency, self.ii) if self.stream is None else schedule(self.graph)
            raw = make_vectors(self.input.type, self.input.size, TB_VECTORS, seed=0)[:TB_VECTORS]
            self._hls = HlsProject(self.graph, self.top, ii=ii,
                                   clock_period=self.graph.meta.get("clock_period", 5.0), tb_inputs=raw,
                                   tb_outputs=self.predict_raw(raw), costs=costs)
        return self._hls

    def hls_model(self):
        """The HLS C++ compiled with g++ (cached by content hash), called through ctypes."""
        if self._hls_model is None:
            from .hls import HlsModel
            files = self.hls_files if self.hls_files is not None else self.hls().files
            self._hls_model = HlsModel(files, self.top, self.graph)
        return self._hls_model

    # -- reports -------------------------------------------------------------------------------------------

    def report(self):
        layers = []
        for n in self.graph.nodes:
            if n.op == "Identity":
                continue
            c = self.costs[n.name]
            layers.append({
                "name": n.name, "source": n.attrs.get("source_name", n.name), "op": n.op,
                "input_shape": list(self.graph.tensors[n.inputs[0]].shape),
                "output_shape": list(self.graph.tensors[n.outputs[0]].shape),
                "types": {k: str(v) for k, v in sorted(n.types.items())},
                **{k: n.attrs[k] for k in ("reuse_factor", "strategy", "implementation", "levels_per_stage", "table",
                                           "tables", "table_mode", "levels", "absorbed", "moved_scale", "merged",
                                           "bipolar", "kernel", "strides", "pads", "dilations", "group", "mode",
                                           "count_include_pad", "input_never_negative")
                   if k in n.attrs},
                **c.to_dict(),
                **REGISTRY[n.op].details(n, self.graph),
            })
        out = {
            "nn2rtl_version": __version__, "top": self.top, "source": self.source, "io_type": self.io_type,
            "latency": self.latency, "ii": self.ii,
            **({"flow_control": {"mode": "fifo", "fifo_depth": self.fifo_depth,
                                 "fifo_bits": self.fifo_depth * self.output.size * self.output.type.width}}
               if self.fifo_depth else {}),
            **({"flow_control": {"mode": "skid", "skid_bits": self.skid_registers - 1}} if self.skid_registers else {}),
            "input": {"name": self.input.name, "shape": list(self.input.shape), "type": str(self.input.type),
                      "port": "in_data", "width": self.input.size * self.input.type.width,
                      **({"quantised_by": self.graph.meta["input_quantizer"]["source"]}
                         if "input_quantizer" in self.graph.meta else {})},
            "output": {"name": self.output.name, "shape": list(self.output.shape), "type": str(self.output.type),
                       "port": "out_data", "width": self.output.size * self.output.type.width},
            "warnings": self.warnings(),
            "totals": {"multipliers": sum(c.multipliers for c in self.costs.values()),
                       "products": sum(c.products for c in self.costs.values()),
                       "registers": sum(c.registers for c in self.costs.values()) + self.skid_registers,
                       "rom_bits": sum(c.rom_bits for c in self.costs.values()),
                       "comparators": sum(c.comparators for c in self.costs.values()),
                       "adders": sum(c.adders for c in self.costs.values()),
                       "adder_bits": sum(c.adder_bits for c in self.costs.values()),
                       # registers that delay the earlier branch of a merge (residual blocks, concatenations)
                       "balance_registers": 0 if self.stream else balance_registers(self.graph, self.costs)},
            "layers": layers,
        }
        if self.stream is not None:
            st = self.stream.report()
            out["stream"] = st
            out["input"].update(st["input"])
            out["output"].update(st["output"])
            out["totals"]["memory_bits"] = st["memory_bits"]
            out["totals"]["registers"] += self.stream.stage_registers()
        return out

    def warnings(self):
        """What the design does differently from what the model or configuration asked (each layer's notes)."""
        return [w for n in self.graph.nodes for w in n.attrs.get("warnings", [])]

    def summary(self):
        rows = [("layer", "op", "in", "out", "result type", "accum", "R", "lat", "II", "mults")]
        for lay in self.report()["layers"]:
            rows.append((lay["name"], lay["op"], "x".join(map(str, lay["input_shape"])),
                         "x".join(map(str, lay["output_shape"])), lay["types"]["result"],
                         lay["types"].get("accum", "-"), str(lay.get("reuse_factor", "-")), str(lay["latency"]),
                         str(lay["ii"]),
                         str(lay["multipliers"])))
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        report = self.report()
        t = report["totals"]
        for lay in report["layers"]:
            if "adder_graph" in lay:
                a = lay["adder_graph"]
                lines.append(f"{lay['name']}: shift-and-add graph of {a['adders']} adders ({a['adders_unshared']} "
                             f"without sharing; {a['multipliers_instead']} multipliers with Strategy Latency), depth "
                             f"{a['depth']} adder levels in {a['stages']} stages of {lay['levels_per_stage']}; shared "
                             f"{a['sharing']}")
        if self.stream is not None:
            st = self.stream
            mem = st.memory_bits()
            lines.append(f"io_stream: {st.in_beats} input beats of {st.plan.in_elements} x {self.input.type}, "
                         f"{st.out_beats} output beats of {st.plan.out_elements} x {st.plan.out_type} per image; "
                         f"latency {st.latency_first} cycles to the first output beat, {st.latency_last} to the "
                         f"last; II {st.ii} cycles per image ({1e3 / (st.ii * st.clock_period):,.3f} M images/s at "
                         f"{st.clock_period:g} ns); memory: {mem['line_buffers']} bits of line buffers, "
                         f"{mem['fifos']} bits in {len(st.depths)} FIFOs")
        lines.append(f"design '{self.top}': input {self.input.type} x{self.input.size}, output {self.output.type} "
                     f"x{self.output.size}; latency {self.latency} cycles, II {self.ii}"
                     + (f" (FlowControl fifo: {self.fifo_depth} output FIFO places, "
                        f"{self.fifo_depth * self.output.size * self.output.type.width} bits)"
                        if self.fifo_depth else "")
                     + (f" (FlowControl skid: the enable a register, a skid register of {self.skid_registers - 1} "
                        "bits)" if self.skid_registers else "")
                     + "; "
                     f"{t['multipliers']} multipliers, ~{t['registers']} register bits, {t['rom_bits']} ROM bits"
                     + (f", {t['comparators']} threshold comparators" if t["comparators"] else "")
                     + (f", {t['adders']} shift-and-add adders of {t['adder_bits']} bits (about a LUT each)"
                        if t["adders"] else "") + " (estimate)")
        if "input_quantizer" in self.graph.meta:
            q = self.graph.meta["input_quantizer"]
            lines.append(f"input: floats are quantised by '{q['source']}'"
                         + (f" (absorbing {', '.join(q['absorbed'])})" if q["absorbed"] else "")
                         + f" to {self.input.type} codes before the design (predict, simulate); the hardware "
                           f"takes the codes")
        return "\n".join(lines)

    def _header(self):
        tin, tout = self.input, self.output
        return (
            f"// {self.top}: generated by nn2rtl {__version__} from {Path(self.source).name or 'a model'}.\n"
            f"// Ports (clock 'clk' rising edge, synchronous active-high reset 'rst'):\n"
            f"//   in_data   [{tin.size * tin.type.width - 1}:0]  input '{tin.name}': {tin.size} x {tin.type}, "
            f"element k in bits [k*{tin.type.width} +: {tin.type.width}], raw two's complement\n"
            f"//   in_valid, in_ready       an input is taken when both are high; in_ready is high at most once "
            f"every {self.ii} cycle(s) (II) and low while "
            + (f"{self.fifo_depth} inputs are in flight (FlowControl fifo)\n" if self.fifo_depth else
               "the output stalls\n")
            +
            f"//   out_data  [{tout.size * tout.type.width - 1}:0]  output '{tout.name}': {tout.size} x "
            f"{tout.type}, element k in bits [k*{tout.type.width} +: {tout.type.width}]\n"
            f"//   out_valid, out_ready     a result is taken when both are high, {self.latency} cycles after its "
            f"input when out_ready stays high; "
            + ("results not taken wait in an output FIFO, the pipeline runs on\n" if self.fifo_depth else
               "out_ready low freezes the pipeline (tie high if never stalled)\n")
            +
            f"// Element order: the model's own layout, row-major: element k of in_data is element k of the "
            f"flattened input of shape [{', '.join(map(str, tin.shape))}], and likewise for out_data "
            f"[{', '.join(map(str, tout.shape))}] (channels-first where the ONNX model is).\n"
            f"// A raw value r of fixed<W,I> means r * 2^-(W-I).\n\n")

    def _stream_header(self):
        st = self.stream
        p = st.plan
        tin, tout = p.in_type, p.out_type
        ib, ob = p.streams[st._source.outputs[0]].bits, p.streams[st._sink.inputs[0]].bits
        from .stream import tdata_bits
        return (
            f"// {self.top}: generated by nn2rtl {__version__} from {Path(self.source).name or 'a model'} "
            f"(io_stream).\n"
            f"// Ports (clock 'clk' rising edge, synchronous active-high reset 'rst'), AXI4-Stream:\n"
            f"//   s_axis_tdata [{tdata_bits(ib) - 1}:0]  one input beat: {p.in_elements} x {tin}, element k in bits "
            f"[k*{tin.width} +: {tin.width}], raw two's complement; {st.in_beats} beats per image\n"
            f"//   s_axis_tvalid, s_axis_tready  a beat is taken when both are high; s_axis_tlast is ignored\n"
            f"//   m_axis_tdata [{tdata_bits(ob) - 1}:0]  one output beat: {p.out_elements} x {tout}, element k in "
            f"bits [k*{tout.width} +: {tout.width}]; {st.out_beats} beats per image\n"
            f"//   m_axis_tvalid, m_axis_tready  a beat is delivered when both are high and held while tready is "
            f"low; m_axis_tlast marks the last beat of each image\n"
            f"// Input order: {st.report()['input']['order']}; output order: {st.report()['output']['order']}.\n"
            f"// Schedule (input every cycle, output always ready): first output beat {st.latency_first} cycles "
            f"after the image's first input beat, last {st.latency_last}; a new image every {st.ii} cycles.\n"
            f"// A raw value r of fixed<W,I> means r * 2^-(W-I).\n\n")

    def lint_waivers(self):
        lines = ["`verilator_config", f"// Lint waivers for {self.top}.v: warnings that Amaranth output raises "
                                      "by construction."]
        for rule, why in LINT_WAIVERS.items():  # no quote characters in comments: Verilator 5.006 rejects them
            lines += [f"// {rule}: {why.replace(chr(39), '')}", f'lint_off -rule {rule} -file "*{self.top}.v"']
        return "\n".join(lines) + "\n"

    # -- files -----------------------------------------------------------------------------------------------

    def write(self, out_dir, backends=("rtl",)):
        """Write ``design.json``, ``graph.json`` and, per backend, ``rtl/<top>.v`` + ``rtl/<top>.vlt`` (``rtl``)
        or the HLS C++ project ``hls/`` (``hls``) into ``out_dir``, atomically: files go to a temporary sibling
        directory that replaces ``out_dir`` only when complete."""
        out = Path(out_dir).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        unknown = set(backends) - {"rtl", "hls"}
        if unknown or not backends:
            raise ConfigError(f"backends must be 'rtl' and/or 'hls', not {sorted(unknown) or 'none'}")
        verilog = self.verilog if "rtl" in backends else None
        hls = self.hls() if "hls" in backends else None
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            if verilog is not None:
                (tmp / "rtl").mkdir()
                (tmp / "rtl" / f"{self.top}.v").write_text(verilog)
                (tmp / "rtl" / f"{self.top}.vlt").write_text(self.lint_waivers())
            if hls is not None:
                hls.write(tmp / "hls")
            (tmp / "design.json").write_text(json.dumps(self.report(), indent=2) + "\n")
            (tmp / "graph.json").write_text(json.dumps(graph_to_json(self.graph, self.top, self.source)) + "\n")
            # the swap is locked: two conversions into one directory at once end with one complete result
            # (a lock on the parent directory itself: no lock file is left beside the user's output)
            lock = os.open(out.parent, os.O_RDONLY)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if out.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
                    os.rename(out, old / "x")
                    os.rename(tmp, out)
                    shutil.rmtree(old)
                else:
                    os.rename(tmp, out)
            finally:
                os.close(lock)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out

    def record_synthesis(self, out_dir, results):
        """Add synthesis figures (by target) to ``out_dir/design.json``, beside the estimate; atomic."""
        path = Path(out_dir) / "design.json"
        data = json.loads(path.read_text()) if path.exists() else self.report()
        data.setdefault("synthesis", {}).update({k: {kk: vv for kk, vv in v.items() if kk != "cached"}
                                                for k, v in results.items()})
        tmp = path.with_name(".design.json.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, out_dir):
        """Load a design written by :meth:`write` (for ``predict`` and ``simulate``)."""
        out = Path(out_dir)
        try:
            data = json.loads((out / "graph.json").read_text())
        except OSError:
            raise ConfigError(f"'{out}' is not an nn2rtl output directory (no graph.json); "
                              f"run 'nn2rtl convert MODEL -o {out}' first") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"'{out / 'graph.json'}' is corrupt: {e}") from None
        graph, top, source = graph_from_json(data)
        vpath = out / "rtl" / f"{top}.v"
        verilog = vpath.read_text() if vpath.exists() else None
        design = cls(graph, top, source, verilog)
        hdir = out / "hls"
        if (hdir / "firmware" / f"{top}.cpp").exists():  # compile what was written
            design.hls_files = {p.relative_to(hdir).as_posix(): p.read_text()
                                for p in sorted(hdir.rglob("*")) if p.is_file()}
        return design

    def write_hls(self, out_dir):
        """Write the HLS C++ project into ``out_dir`` (``OUT/hls`` of ``nn2rtl convert --backend hls``)."""
        return self.hls().write(out_dir)

    # -- simulation ------------------------------------------------------------------------------------------

    def simulate(self, inputs=None, vectors=1000, seed=0, work_dir=None, verilog_path=None, stalls=True,
                 engine="harness", traffic="mixed"):
        """Run the Verilog in Verilator on ``inputs`` (floats; default: random and extreme raw vectors, at least
        ``vectors`` of them), compare every output bit with the golden model, and measure latency and II.

        ``traffic="mixed"``: the first 60% of the vectors are offered back to back (latency and II measured
        exactly), the next 20% with random idle cycles between them, and, with ``stalls``, the last 20% while
        the consumer also drops ``out_ready`` at random (nothing may be lost, duplicated or changed).
        ``traffic="back_to_back"``: every vector back to back and no stalls (throughput).
        ``engine``: ``"harness"`` (C++, hundreds of thousands of vectors per second) or ``"cocotb"`` (Python
        testbench). Returns a :class:`sim.checks.SimResult`; its ``ok`` is the verdict."""
        from sim.runner import run_design
        if self.stream is not None:
            return self._simulate_stream(inputs, vectors, seed, work_dir, verilog_path, stalls, engine)
        if traffic not in ("mixed", "back_to_back"):
            raise ConfigError(f"traffic must be 'mixed' or 'back_to_back', not {traffic!r}")
        if inputs is not None:
            raw = self.quantize_input(inputs)
        else:
            raw = make_vectors(self.input.type, self.input.size, vectors, seed)
        expected = self.predict_raw(raw)
        rng = np.random.default_rng(seed + 1)
        n = len(raw)
        gaps = np.zeros(n, dtype=np.int64)
        stall_from = None
        if traffic == "mixed":
            gapped_from = max((n * 3) // 5, min(n, 2))  # at least two back to back: the II is measured
            stall_from = max((n * 4) // 5, gapped_from)
            gaps[gapped_from:] = rng.integers(0, 4, size=n - gapped_from)
            if not stalls or stall_from >= n:
                stall_from = None
        work, verilog_path, extra = self._sim_sources(work_dir, verilog_path)
        return run_design(verilog_path, self.top, raw, expected, self.input.type.width, self.output.type.width,
                          self.output.type.signed, self.latency, work / "sim", gaps,
                          extra_sources=extra, ii=self.ii, stall_from=stall_from,
                          ready_prob=0.6, seed=seed + 2, engine=engine,
                          stall_blocks_input=not self.fifo_depth,
                          ready_lag=bool(self.skid_registers))


    def _sim_sources(self, work_dir, verilog_path):
        """The work directory, the Verilog to simulate (written there unless given) and the other sources: its lint
        waivers, and simulation models of the vendor primitives it instantiates (``Model.DSP: ecp5``)."""
        work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix=f"nn2rtl-sim-{self.top}-"))
        if verilog_path is None:
            verilog_path = work / "rtl" / f"{self.top}.v"
            verilog_path.parent.mkdir(parents=True, exist_ok=True)
            verilog_path.write_text(self.verilog)
            (work / "rtl" / f"{self.top}.vlt").write_text(self.lint_waivers())
        vlt = Path(verilog_path).with_suffix(".vlt")
        extra = [vlt] if vlt.exists() else []
        from sim.models import primitive_models
        return work, verilog_path, extra + primitive_models(Path(verilog_path).read_text())

    def _simulate_stream(self, inputs, images, seed, work_dir, verilog_path, stalls, engine):
        """io_stream: the stream harness (:mod:`sim.stream_runner`); ``images`` random images by default."""
        from sim.stream_runner import run_stream

        from .stream.schedule import simulate_plan
        if inputs is not None:
            raw = self.quantize_input(inputs)
        else:
            raw = make_vectors(self.input.type, self.input.size, images, seed)
        expected = self.predict_raw(raw)
        work, verilog_path, extra = self._sim_sources(work_dir, verilog_path)
        st = self.stream
        timed = min(3, len(raw))
        sched = simulate_plan(st.plan, timed, st.depths)
        return run_stream(verilog_path, self.top, st.to_stream(raw, "in"), st.to_stream(expected, "out"),
                          st.plan.in_elements, st.plan.out_elements, st.plan.in_type, st.plan.out_type, sched,
                          (st.latency_first, st.latency_last, st.ii), work / "sim",
                          extra_sources=extra, timed=timed,
                          ready_prob=0.6 if stalls else 1.0, seed=seed + 2, engine=engine)


def make_vectors(t: FixedType, n_in, n, seed=0):
    """At least ``n`` raw input rows: corner cases first (zero, max, min, +-1 LSB, alternating extremes, one-hot
    extremes), then random rows over the full range (overflowing accumulators on purpose) and random rows of
    moderate magnitude (the values a trained network sees)."""
    rng = np.random.default_rng(seed)
    lo, hi = t.min_raw, t.max_raw
    one = min(1, hi)
    rows = [np.zeros(n_in), np.full(n_in, hi), np.full(n_in, lo), np.full(n_in, one), np.full(n_in, max(-1, lo)),
            np.full(n_in, hi - 1 if hi - 1 >= lo else hi), np.full(n_in, lo + 1 if lo + 1 <= hi else lo),
            np.where(np.arange(n_in) % 2 == 0, hi, lo), np.where(np.arange(n_in) % 2 == 0, lo, hi)]
    for k in range(min(n_in, 8)):
        for v in (hi, lo):
            r = np.zeros(n_in)
            r[k] = v
            rows.append(r)
    fixed = np.array(rows, dtype=np.float64).astype(np.int64)
    n_rand = max(n - len(fixed), 0)
    full = rng.integers(lo, hi, size=(n_rand // 2, n_in), endpoint=True)
    moderate = t.quantize(rng.normal(0.0, 1.5, size=(n_rand - n_rand // 2, n_in)))
    return np.concatenate([fixed, full, moderate]).astype(np.int64)


def convert(model, config=None, precision=None, reuse=None, top=None, strategy=None, levels_per_stage=None,
            progress=None, io_type=None, backends=("rtl",), flow_control=None, dsp=None):
    """ONNX model (path or ``ModelProto``) -> :class:`Design`. ``config``: dict, YAML path or :class:`Config`.
    ``progress``: called with the name of each step as it starts (the CLI shows it on a terminal). ``backends``:
    what is generated now, so that its errors surface before anything is written (``rtl``: Verilog, ``hls``: the
    HLS C++ project); the other is generated when first asked for. ``flow_control``, ``dsp``: override
    ``Model.FlowControl`` and ``Model.DSP``."""
    step = progress or (lambda what: None)
    from .frontend.onnx import import_onnx
    from .passes import lower, quantize
    if config is None:
        cfg = Config()
    elif isinstance(config, Config):
        cfg = config
    elif isinstance(config, dict):
        cfg = Config.from_dict(config)
    else:
        cfg = Config.load(config)
    cfg = cfg.with_overrides(precision=precision, reuse_factor=reuse, strategy=strategy,
                             levels_per_stage=levels_per_stage, io_type=io_type, flow_control=flow_control,
                             dsp=dsp)
    if cfg.elements_per_beat is not None and cfg.io_type != "io_stream":
        raise ConfigError("Model.ElementsPerBeat sets the beats of a stream: it needs IOType io_stream (io_parallel "
                          "moves a whole vector per transfer)")
    step("reading the ONNX model")
    graph = import_onnx(model)
    source = str(model) if isinstance(model, (str, os.PathLike)) else ""
    if top is None:
        top = sanitize_name(Path(source).stem if source else graph.name, "nn2rtl_top")
    elif not top.isidentifier():
        raise ConfigError(f"top-level name must be a Verilog identifier, not {top!r}")
    step(f"typing {len(graph.nodes)} nodes")
    design = Design(quantize(lower(graph), cfg), top, source)
    if "hls" in backends:
        step("writing the HLS C++")
        design.hls()
    if "rtl" in backends:
        step(f"elaborating {design.report()['totals']['multipliers']} multipliers and writing Verilog (Yosys)")
        design.verilog  # noqa: B018 - generate now, so that errors surface before anything is written
    return design


# -- graph serialisation -------------------------------------------------------------------------------------

def _enc_array(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [int(v) for v in a.flat]}


def _dec_array(d):
    data = d["data"]
    big = any(abs(v) >= 1 << 62 for v in data)
    return np.array(data, dtype=object if big else np.int64).reshape(d["shape"])


def graph_to_json(g: Graph, top, source):
    return {
        "format": "nn2rtl-graph-1", "top": top, "source": source, "name": g.name,
        "inputs": g.inputs, "outputs": g.outputs, "meta": g.meta,
        "tensors": [{"name": t.name, "shape": list(t.shape), "type": str(t.type)} for t in g.tensors.values()],
        "nodes": [{"name": n.name, "op": n.op, "inputs": n.inputs, "outputs": n.outputs, "attrs": n.attrs,
                   "params": {k: _enc_array(v) for k, v in n.params.items()},
                   "types": {k: str(v) for k, v in n.types.items()}} for n in g.nodes],
    }


def graph_from_json(d):
    if d.get("format") != "nn2rtl-graph-1":
        raise ModelError("graph.json was written by an incompatible nn2rtl version; convert the model again")
    tensors = {t["name"]: Tensor(t["name"], tuple(t["shape"]), FixedType.parse(t["type"])) for t in d["tensors"]}
    nodes = [Node(n["name"], n["op"], n["inputs"], n["outputs"], n["attrs"],
                  {k: _dec_array(v) for k, v in n["params"].items()},
                  {k: FixedType.parse(v) for k, v in n["types"].items()}) for n in d["nodes"]]
    return (Graph(d["name"], d["inputs"], d["outputs"], nodes, tensors, d.get("meta")).verify(typed=True), d["top"],
            d["source"])



