"""hls4ml-style configuration, parsed once into typed values.

Accepted shape (a dict, or the same as a YAML file)::

    Model:
      Precision: fixed<16,6>        # or {default: ..., weight: ..., bias: ..., result: ..., accum: ...}
      ReuseFactor: 1                # any positive integer: ceil(n_in*n_out/R) multipliers, II = R
      Strategy: Latency             # or Resource (recorded; the reuse factor decides the datapath), or
                                    # distributed_arithmetic (R = 1: shifts and adds, no multiplier)
      AdderLevelsPerStage: 2        # adder-tree levels between pipeline registers (1: fastest clock)
      IOType: io_parallel           # or io_stream: AXI4-Stream ports, line buffers, FIFOs sized by the schedule
      FlowControl: stall            # io_parallel: out_ready low freezes the pipeline (one clock enable), or fifo:
                                    # the pipeline never stops, results wait in an output FIFO and in_ready
                                    # counts the free places (no enable fan-out; costs FIFO bits), or skid: as
                                    # stall a cycle later, the enable a register (copied per group of
                                    # multipliers), the result of that cycle in a skid register
      DSP: inferred                 # multipliers of the reuse > 1 arrays: inferred by synthesis from '*', or
                                    # ecp5: Lattice MULT18X18D primitives with their input and output registers
                                    # (3 cycles more latency, a faster ECP5 clock; operands of <= 18 bits)
      ElementsPerBeat: 4            # io_stream, a vector input or output (an MLP's): elements per beat (default all)
      ClockPeriod: 5                # ns (hls4ml's default): the throughput the report states
      TableMode: hls4ml             # activation tables: hls4ml (bit-exact with it), centered or fitted
      MaxAutoWidth: 32              # optional cap on 'auto' widths (fractional bits are dropped to fit)
      MaxLayerProducts: 1048576     # refuse layers with more multiplications per inference (the default)
      MaxTensorSize: 65536          # refuse activations with more elements (the default)
    LayerType:
      Dense: {Precision: {accum: auto}}
      Sigmoid: {TableSize: 1024, TableRange: [-8, 8], Precision: {table: fixed<18,8>}}
      Softmax: {implementation: stable, Precision: {exp_table: ..., inv_table: ..., inv_inp: ..., accum: ...}}
    LayerName:
      fc1: {Precision: {weight: fixed<8,3>, result: fixed<12,4>}, ReuseFactor: 1}
      input: {Precision: {result: fixed<12,4>}}   # an input's name sets the input type

Resolution order for each layer and variable: ``LayerName`` > ``LayerType`` > ``Model``. Defaults equal hls4ml's:
every variable ``fixed<16,6>``, the accumulator equal to the model precision; ``accum: auto`` asks for hls4ml's
precision inference (exact widths grown by ``ceil(log2(n_in))``). A model that carries its own quantisation
(QONNX ``Quant``, ONNX ``QuantizeLinear``/``DequantizeLinear``) keeps its grids: its quantised constants keep their
exact types, and ``result``/``accum`` default to ``auto`` unless a ``LayerName``/``LayerType`` entry or a
model-level ``result``/``accum`` key sets them. Table variables (``table``, ``exp_table``,
``inv_table``, ``inv_inp``, ``inp_norm``, ``slope``, ``shift``) have op-specific defaults (hls4ml's) and are only
set explicitly; activation options are accepted in nn2rtl's spelling (``TableSize``) and hls4ml's (``table_size``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rtl_lib.dense import DEFAULT_LEVELS_PER_STAGE

from .errors import ConfigError, PrecisionError
from .fixed import FixedType

__all__ = ["Strategy", "Config", "LayerConfig", "AUTO", "PRECISION_KEYS", "TABLE_KEYS"]

AUTO = "auto"
#: Variables that fall back to the layer's (or model's) default precision, as in hls4ml.
_DEFAULTED = ("weight", "bias", "result", "accum", "param")
#: Variables with op-specific defaults (tables, softmax internals, hard-sigmoid constants): set only explicitly.
TABLE_KEYS = ("table", "exp_table", "inv_table", "inv_inp", "inp_norm", "slope", "shift")
PRECISION_KEYS = ("default",) + _DEFAULTED + TABLE_KEYS
#: Activation options, by their nn2rtl spelling and hls4ml's (``table_size``, ``implementation``, ...).
_OPTION_KEYS = {"TableSize": "table_size", "table_size": "table_size", "ExpTableSize": "exp_table_size",
                "exp_table_size": "exp_table_size", "InvTableSize": "inv_table_size",
                "inv_table_size": "inv_table_size", "TableMode": "table_mode", "table_mode": "table_mode",
                "TableRange": "table_range", "table_range": "table_range", "Implementation": "implementation",
                "implementation": "implementation"}
_MODEL_KEYS = ("Precision", "ReuseFactor", "Strategy", "AdderLevelsPerStage", "IOType", "FlowControl", "DSP",
               "ElementsPerBeat",
               "ClockPeriod", "TableMode", "MaxAutoWidth", "MaxLayerProducts", "MaxTensorSize")
IO_TYPES = ("io_parallel", "io_stream")
FLOW_CONTROLS = ("stall", "fifo", "skid")
DSP_CHOICES = ("inferred", "ecp5")  # as rtl_lib.mac.DSPS (not imported: the config stays free of Amaranth)
#: Default limits: a layer beyond them is refused before anything is built (raise them in Model if you mean it).
MAX_LAYER_PRODUCTS = 1 << 20
MAX_TENSOR_SIZE = 1 << 16
_LAYER_KEYS = ("Precision", "ReuseFactor", "Strategy", "AdderLevelsPerStage") + tuple(_OPTION_KEYS)
_TOP_KEYS = ("Model", "LayerType", "LayerName")


def _io_type(value, where):
    if value not in IO_TYPES:
        raise ConfigError(f"{where} must be one of {', '.join(IO_TYPES)}, not {value!r}")
    return value


def _flow_control(value, where):
    if value not in FLOW_CONTROLS:
        raise ConfigError(f"{where} must be one of {', '.join(FLOW_CONTROLS)}, not {value!r}")
    return value


def _dsp(value, where):
    if value not in DSP_CHOICES:
        raise ConfigError(f"{where} must be one of {', '.join(DSP_CHOICES)}, not {value!r}")
    return value


class Strategy(enum.Enum):
    LATENCY = "Latency"
    RESOURCE = "Resource"
    #: hls4ml's name: constant products as shift-and-add graphs, no multiplier (reuse factor 1)
    DISTRIBUTED_ARITHMETIC = "distributed_arithmetic"


def _precision(value, where):
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    try:
        return FixedType.parse(value)
    except PrecisionError as e:
        raise PrecisionError(f"{where}: {e}") from None


def _precision_dict(value, where):
    """``Precision`` as a string (default for every variable) or a dict by variable name."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k not in PRECISION_KEYS:
                raise ConfigError(f"{where}: unknown precision variable {k!r} (expected one of "
                                  f"{', '.join(PRECISION_KEYS)})")
            out[k] = _precision(v, f"{where}.{k}")
        return out
    return {"default": _precision(value, where)}


#: A configuration is a few kilobytes of YAML; anything much larger is a mistake (or an attack).
MAX_CONFIG_BYTES = 1 << 20


def _reuse(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: ReuseFactor must be a positive integer, not {value!r}")
    return value


def _levels(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: AdderLevelsPerStage must be a positive integer (adder levels between pipeline "
                          f"registers), not {value!r}")
    return value


def _strategy(value, where):
    for s in Strategy:
        if isinstance(value, str) and value.strip().lower() == s.value.lower():
            return s
    raise ConfigError(f"{where}: Strategy must be 'Latency', 'Resource' or 'distributed_arithmetic', not {value!r}")


def _check_keys(d, allowed, where):
    if not isinstance(d, dict):
        raise ConfigError(f"{where} must be a mapping, not {type(d).__name__}")
    for k in d:
        if k not in allowed:
            raise ConfigError(f"{where}: unknown key {k!r} (expected one of {', '.join(allowed)})")


def _layer_entry(d, where):
    _check_keys(d, _LAYER_KEYS, where)
    out = {}
    if "Precision" in d:
        out["precision"] = _precision_dict(d["Precision"], f"{where}.Precision")
    if "ReuseFactor" in d:
        out["reuse_factor"] = _reuse(d["ReuseFactor"], f"{where}.ReuseFactor")
    if "Strategy" in d:
        out["strategy"] = _strategy(d["Strategy"], f"{where}.Strategy")
    if "AdderLevelsPerStage" in d:
        out["levels_per_stage"] = _levels(d["AdderLevelsPerStage"], f"{where}.AdderLevelsPerStage")
    options = {}
    for k, v in d.items():
        if k in _OPTION_KEYS:
            options[_OPTION_KEYS[k]] = _option(_OPTION_KEYS[k], v, f"{where}.{k}")
    if options:
        out["options"] = options
    return out


def _option(key, value, where):
    """Check the shape of an activation option here; each op checks its meaning (and names the layer)."""
    if key.endswith("table_size"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2 or value & (value - 1):
            raise ConfigError(f"{where}: a table size must be a power of two of at least 2, not {value!r}")
    elif key == "table_range":
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise ConfigError(f"{where}: a table range must be a list [low, high], not {value!r}")
        value = (float(value[0]), float(value[1]))
    elif key == "table_mode":
        from .tables import TABLE_MODES
        if value not in TABLE_MODES:
            raise ConfigError(f"{where}: table mode must be one of {', '.join(TABLE_MODES)}, not {value!r}")
    elif key == "implementation":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: implementation must be a name such as 'stable', not {value!r}")
        value = value.strip().lower()
    return value


@dataclass(frozen=True)
class LayerConfig:
    """The resolved settings of one layer."""

    weight: FixedType
    bias: FixedType
    result: FixedType
    accum: object  # FixedType or AUTO
    reuse_factor: int
    strategy: Strategy
    levels_per_stage: int = DEFAULT_LEVELS_PER_STAGE
    tables: dict = field(default_factory=dict)   #: explicitly set table-type precisions (``TABLE_KEYS``)
    options: dict = field(default_factory=dict)  #: activation options (``table_size``, ``implementation``, ...)
    param: object = None                          #: precision of activation parameters (alpha, slopes, bounds)
    explicit: frozenset = frozenset()             #: variables the configuration sets for this layer

    def table(self, var, default):
        return self.tables.get(var, default)

    def option(self, key, default=None):
        return self.options.get(key, default)


@dataclass
class Config:
    precision: dict = field(default_factory=lambda: {"default": FixedType(16, 6)})
    reuse_factor: int = 1
    strategy: Strategy = Strategy.LATENCY
    levels_per_stage: int = DEFAULT_LEVELS_PER_STAGE
    layer_type: dict = field(default_factory=dict)
    layer_name: dict = field(default_factory=dict)
    table_mode: str = "hls4ml"
    max_auto_width: int | None = None
    max_layer_products: int = MAX_LAYER_PRODUCTS
    max_tensor_size: int = MAX_TENSOR_SIZE
    io_type: str = "io_parallel"
    elements_per_beat: int | None = None
    clock_period: float = 5.0
    flow_control: str = "stall"
    dsp: str = "inferred"

    @classmethod
    def from_dict(cls, d):
        if d is None:
            d = {}
        _check_keys(d, _TOP_KEYS, "config")
        cfg = cls()
        model = d.get("Model", {}) or {}
        _check_keys(model, _MODEL_KEYS, "Model")
        if "Precision" in model:
            prec = _precision_dict(model["Precision"], "Model.Precision")
            if "default" not in prec:
                prec["default"] = FixedType(16, 6)
            if prec["default"] == AUTO:
                raise ConfigError("Model.Precision: the model default cannot be 'auto'")
            cfg.precision = prec
        if "ReuseFactor" in model:
            cfg.reuse_factor = _reuse(model["ReuseFactor"], "Model.ReuseFactor")
        if "Strategy" in model:
            cfg.strategy = _strategy(model["Strategy"], "Model.Strategy")
        if "AdderLevelsPerStage" in model:
            cfg.levels_per_stage = _levels(model["AdderLevelsPerStage"], "Model.AdderLevelsPerStage")
        if "TableMode" in model:
            cfg.table_mode = _option("table_mode", model["TableMode"], "Model.TableMode")
        for key, attr in (("MaxAutoWidth", "max_auto_width"), ("MaxLayerProducts", "max_layer_products"),
                          ("MaxTensorSize", "max_tensor_size")):
            if key in model:
                v = model[key]
                if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                    raise ConfigError(f"Model.{key} must be an integer of at least 2, not {v!r}")
                setattr(cfg, attr, v)
        if "IOType" in model:
            cfg.io_type = _io_type(model["IOType"], "Model.IOType")
        if "FlowControl" in model:
            cfg.flow_control = _flow_control(model["FlowControl"], "Model.FlowControl")
        if "DSP" in model:
            cfg.dsp = _dsp(model["DSP"], "Model.DSP")
        if "ElementsPerBeat" in model:
            v = model["ElementsPerBeat"]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"Model.ElementsPerBeat must be a positive integer, not {v!r}")
            cfg.elements_per_beat = v
        if "ClockPeriod" in model:
            v = model["ClockPeriod"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1e6:
                raise ConfigError(f"Model.ClockPeriod must be a positive number of nanoseconds, not {v!r}")
            cfg.clock_period = float(v)
        for key, attr in (("LayerType", "layer_type"), ("LayerName", "layer_name")):
            section = d.get(key, {}) or {}
            _check_keys(section, list(section), key)
            getattr(cfg, attr).update({str(k): _layer_entry(v or {}, f"{key}.{k}") for k, v in section.items()})
        return cfg

    @classmethod
    def load(cls, path):
        import yaml
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise ConfigError(f"config {str(path)!r} is larger than {MAX_CONFIG_BYTES // 2**20} MiB: not a "
                                  "configuration")
            data = yaml.safe_load(raw.decode("utf-8"))  # safe: plain data only, no Python objects
        except OSError as e:
            raise ConfigError(f"cannot read config {str(path)!r}: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"config {str(path)!r} is not UTF-8 text (byte {e.start})") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config {str(path)!r} is not valid YAML: {str(e).splitlines()[0]}") from None
        except RecursionError:
            raise ConfigError(f"config {str(path)!r} is nested too deeply to be a configuration") from None
        return cls.from_dict(data)

    def with_overrides(self, precision=None, reuse_factor=None, strategy=None, levels_per_stage=None, io_type=None,
                       flow_control=None, dsp=None):
        """This config with model-level settings replaced (the CLI's options)."""
        cfg = Config(dict(self.precision), self.reuse_factor, self.strategy, self.levels_per_stage,
                     dict(self.layer_type), dict(self.layer_name), self.table_mode, self.max_auto_width,
                     self.max_layer_products, self.max_tensor_size, self.io_type, self.elements_per_beat,
                     self.clock_period, self.flow_control, self.dsp)
        if dsp is not None:
            cfg.dsp = _dsp(dsp, "--dsp")
        if io_type is not None:
            cfg.io_type = _io_type(io_type, "--io-type")
        if flow_control is not None:
            cfg.flow_control = _flow_control(flow_control, "--flow-control")
        if strategy is not None:
            cfg.strategy = _strategy(strategy, "--strategy")
        if levels_per_stage is not None:
            cfg.levels_per_stage = _levels(levels_per_stage, "--adder-levels")
        if precision is not None:
            cfg.precision = dict(cfg.precision, default=_precision(precision, "--precision"))
            if cfg.precision["default"] == AUTO:
                raise ConfigError("--precision: the model default cannot be 'auto'")
        if reuse_factor is not None:
            cfg.reuse_factor = _reuse(reuse_factor, "--reuse")
        return cfg

    def _lookup(self, names, layer_type, key):
        for name in names:
            entry = self.layer_name.get(name, {})
            if key in entry:
                return entry[key]
        entry = self.layer_type.get(layer_type, {})
        return entry.get(key)

    def precision_of(self, names, layer_type, var):
        """The precision of ``var`` (weight, bias, result, accum) for a layer known by any of ``names``."""
        for source in [self.layer_name.get(n, {}).get("precision", {}) for n in names] + [
                self.layer_type.get(layer_type, {}).get("precision", {})]:
            if var in source:
                return source[var]
            if "default" in source:
                return source["default"]
        if var in self.precision:
            return self.precision[var]
        return self.precision["default"]

    def explicit_precision(self, names, layer_type, var):
        """The precision of a table variable if the configuration names it (layer, then type, then model)."""
        for source in [self.layer_name.get(n, {}).get("precision", {}) for n in names] + [
                self.layer_type.get(layer_type, {}).get("precision", {}), self.precision]:
            if var in source:
                return source[var]
        return None

    def configured(self, names, layer_type, var):
        """Whether the configuration sets ``var`` for this layer: a ``LayerName``/``LayerType`` precision (its
        ``default`` included) or a model-level key for ``var`` itself."""
        for source in [self.layer_name.get(n, {}).get("precision", {}) for n in names] + [
                self.layer_type.get(layer_type, {}).get("precision", {})]:
            if var in source or "default" in source:
                return True
        return var in self.precision

    def layer(self, names, layer_type):
        rf = self._lookup(names, layer_type, "reuse_factor") or self.reuse_factor
        st = self._lookup(names, layer_type, "strategy") or self.strategy
        lps = self._lookup(names, layer_type, "levels_per_stage") or self.levels_per_stage
        tables = {v: p for v in TABLE_KEYS if (p := self.explicit_precision(names, layer_type, v)) is not None}
        options = {"table_mode": self.table_mode, "max_auto_width": self.max_auto_width, "dsp": self.dsp}
        options.update(self.layer_type.get(layer_type, {}).get("options", {}))
        for n in reversed(list(names)):
            options.update(self.layer_name.get(n, {}).get("options", {}))
        return LayerConfig(*(self.precision_of(names, layer_type, v) for v in ("weight", "bias", "result", "accum")),
                           reuse_factor=rf, strategy=st, levels_per_stage=lps, tables=tables, options=options,
                           param=self.precision_of(names, layer_type, "param"),
                           explicit=frozenset(v for v in _DEFAULTED if self.configured(names, layer_type, v)))

    def check_names(self, known_names, known_types):
        """Reject ``LayerName``/``LayerType`` entries that match nothing in the model (likely typos)."""
        for name in sorted(self.layer_name):
            if name not in known_names:
                raise ConfigError(f"LayerName.{name}: no layer or input of that name; the model has: "
                                  f"{', '.join(sorted(known_names))}")
        for t in sorted(self.layer_type):
            if t not in known_types:
                raise ConfigError(f"LayerType.{t}: unknown layer type (expected one of "
                                  f"{', '.join(sorted(known_types))})")
