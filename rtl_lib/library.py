"""Shared module definitions, so that large layers convert to Verilog quickly.

Amaranth elaborates every instance of a block separately into a bit-level netlist; a layer of 2,000 constant
multipliers takes seconds. A :class:`ModuleLibrary` lets a block ask for a module *definition* once (e.g. one
neuron shape) and place many :class:`~amaranth.hdl.Instance`\\ s of it with different constant ports. Synthesis
tools flatten the hierarchy and propagate the constants, so the hardware is the same; conversion time and
Verilog size grow with the number of distinct shapes rather than with the number of instances.
"""

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil
from amaranth.hdl import ClockSignal, Instance, ResetSignal, Signal, Value

__all__ = ["ModuleLibrary", "RtlilText", "RtlilModule", "rtlil_const", "kept_register", "convert"]


class RtlilText(str):
    """A module definition written directly as RTLIL text (a block whose structure Amaranth would elaborate bit by
    bit too slowly, such as a shift-and-add graph of thousands of adders)."""


class RtlilModule:
    """A module written as RTLIL text (Yosys' own netlist format, read by :func:`convert` with Amaranth's output):
    wires, arithmetic cells with signed operands, enabled flip-flops, instances."""

    def __init__(self, name):
        self.lines, self.n, self.ports = [f"module \\{name}"], 0, 0

    def wire(self, name, width, direction=None, keep=False):
        port = ""
        if direction:
            self.ports += 1
            port = f" {direction} {self.ports}"
        if keep:
            self.lines.append("  attribute \\keep 1")
        self.lines.append(f"  wire width {width}{port} \\{name}")
        return f"\\{name}"

    def cell(self, kind, params, conns, name=None, keep=False):
        self.n += 1
        if keep:
            self.lines.append("  attribute \\keep 1")
        self.lines.append(f"  cell {kind} {name or '$c' + str(self.n)}")
        self.lines += [f"    parameter \\{k} {v}" for k, v in params.items()]
        self.lines += [f"    connect \\{k} {v}" for k, v in conns.items()]
        self.lines.append("  end")

    def unary(self, kind, a, wa, y, wy):
        """``y = kind(a)`` with ``a`` signed (``$pos``: sign-extend or truncate; ``$neg``)."""
        self.cell(f"${kind}", {"A_SIGNED": 1, "A_WIDTH": wa, "Y_WIDTH": wy}, {"A": a, "Y": y})

    def binary(self, kind, a, wa, b, wb, y, wy):
        self.cell(f"${kind}", {"A_SIGNED": 1, "B_SIGNED": 1, "A_WIDTH": wa, "B_WIDTH": wb, "Y_WIDTH": wy},
                  {"A": a, "B": b, "Y": y})

    def dffe(self, d, q, width, clk, en):
        self.cell("$dffe", {"WIDTH": width, "CLK_POLARITY": 1, "EN_POLARITY": 1},
                  {"CLK": clk, "EN": en, "D": d, "Q": q})

    def sdffe(self, d, q, width, clk, en, srst, keep=False, init=0):
        """An enabled flip-flop set to ``init`` by ``srst`` whether enabled or not (reset over enable: Xilinx FDRE,
        ECP5 LSR)."""
        self.cell("$sdffe", {"WIDTH": width, "CLK_POLARITY": 1, "EN_POLARITY": 1, "SRST_POLARITY": 1,
                             "SRST_VALUE": rtlil_const(init, width)},
                  {"CLK": clk, "EN": en, "SRST": srst, "D": d, "Q": q}, keep=keep)

    def connect(self, lhs, rhs):
        self.lines.append(f"  connect {lhs} {rhs}")

    def text(self):
        return "\n".join(self.lines + ["end", ""])


def rtlil_const(value, width):
    return f"{width}'{format(value & ((1 << width) - 1), f'0{width}b')}"


class ModuleLibrary:
    """Module definitions requested during elaboration, named ``<prefix>_<kind><k>`` in order of first request."""

    def __init__(self, prefix):
        if not isinstance(prefix, str) or not prefix.isidentifier():
            raise ValueError(f"module prefix must be an identifier, not {prefix!r}")
        self.prefix = prefix
        self._by_key = {}
        self._defs = []

    def _name(self, kind, key):
        """A new definition's name, recorded for ``(kind, key)``."""
        name = f"{self.prefix}_{kind}{sum(1 for k, _ in self._by_key if k == kind)}"
        self._by_key[kind, key] = name
        return name

    def request(self, kind, key, factory):
        """The module name for definition ``key``; ``factory()`` builds its elaboratable the first time."""
        if (kind, key) not in self._by_key:
            name = self._name(kind, key)
            self._defs.append((name, factory()))
        return self._by_key[kind, key]

    def request_text(self, kind, key, make):
        """The module name for a definition written as RTLIL text: ``make(name)`` returns that text the first
        time (it may request further definitions, whose names it can then instantiate)."""
        if (kind, key) not in self._by_key:
            name = self._name(kind, key)
            index = len(self._defs)
            self._defs.append((name, None))
            self._defs[index] = (name, RtlilText(make(name)))
        return self._by_key[kind, key]

    def definitions(self):
        return list(self._defs)


def kept_register(m, d, en, name, library=None, init=0):
    """A register of ``d`` (``init`` after the domain's reset, loaded when ``en``) that synthesis keeps apart from
    its equals: returns its output, a signal of ``d``'s shape.

    Yosys's ``opt_merge`` merges flip-flops whose inputs are equal, which undoes a deliberate copy: a value meant to
    reach each group of multipliers from a register of its own comes back as one register driving all of them,
    across the chip. A ``keep`` attribute on the flip-flop *cell* stops it (on the wire it does not); Amaranth puts
    attributes on wires only, so with a ``library`` the register is an instance of a one-cell RTLIL definition,
    written to Verilog as ``(* keep *) always @(posedge clk) ...``. Without a library (Amaranth's simulator) it is
    an ordinary register of ``m``, whose enable the caller's ``EnableInserter`` supplies."""
    d = Value.cast(d)
    q = Signal(d.shape(), name=name, init=init)
    if library is None:
        m.d.sync += q.eq(d)
        return q
    width = len(d)

    def text(module_name):
        r = RtlilModule(module_name)
        clk, rst, enable = r.wire("clk", 1, "input"), r.wire("rst", 1, "input"), r.wire("en", 1, "input")
        r.sdffe(r.wire("d", width, "input"), r.wire("q", width, "output"), width, clk, enable, rst, keep=True,
                init=init)
        return r.text()
    module_name = library.request_text("keep", (width, init) if init else width, text)
    m.submodules[name] = Instance(module_name, i_clk=ClockSignal(), i_rst=ResetSignal(), i_en=en, i_d=d, o_q=q)
    return q


def convert(top, name, library):
    """Verilog for ``top`` (named ``name``) followed by every module ``library`` collected while elaborating it.

    One Yosys run converts the concatenated RTLIL; output is deterministic (no time stamps, fixed order).
    Unlike :func:`amaranth.back.verilog.convert`, the script lets Yosys merge each register's enable and
    synchronous reset into the flip-flop (``opt_dff``): every register becomes one
    ``always @(posedge clk) if (rst) q <= 0; else if (en) q <= d;`` instead of an ``always @*`` process per
    register. Same netlist, the ordinary coding style; and a simulator no longer re-evaluates every register's
    input logic when a top-level input changes (Verilator: 5x faster simulation, and its ``-O3`` no longer takes
    minutes on a large layer; ``benchmarks/bench_sim.py``).
    """
    texts = [rtlil.convert(top, name=name, emit_src=False)]
    done = 0
    while done < len(library.definitions()):  # a definition may request further definitions
        def_name, elaboratable = library.definitions()[done]
        if isinstance(elaboratable, RtlilText):
            texts.append(elaboratable)
        else:
            texts.append(rtlil.convert(elaboratable, name=def_name, emit_src=False))
        done += 1
    yosys = find_yosys(lambda ver: ver >= (0, 40))
    strip = "-remove generator -remove top -remove src -remove amaranth.hierarchy -remove amaranth.decoding"
    script = [f"read_rtlil <<rtlil\n{chr(10).join(texts)}\nrtlil", "proc -norom", "opt_clean", "opt_dff",
              "opt_clean", "memory_collect", f"attrmap {strip}", f"attrmap -modattr {strip}",
              "write_verilog -norename"]
    return wrap_long_lines(yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True))


#: characters per line of a wrapped concatenation
WRAP = 2000


def wrap_long_lines(verilog, limit=WRAP):
    """Break each ``assign`` longer than ``limit`` characters after the commas of its concatenation.

    Yosys writes a wide concatenation (a layout change of a 32x32x3 input, the outputs of a convolution's 1024
    pixel kernels) as one line, and Verilator's preprocessor refuses a line of more than 40,000 tokens. Verilog
    ignores the line breaks; the netlist is unchanged."""
    out = []
    for line in verilog.split("\n"):
        if len(line) <= limit or not line.lstrip().startswith("assign ") or '"' in line:
            out.append(line)
            continue
        parts, cur = [], ""
        for piece in line.split(", "):
            if cur and len(cur) + len(piece) > limit:
                parts.append(cur + ",")
                cur = "    " + piece
            else:
                cur = piece if not cur else cur + ", " + piece
        parts.append(cur)
        out.append("\n".join(parts))
    return "\n".join(out)
