"""The robustness property and the generators that attack it (hypothesis).

Property, for every command: any input either succeeds (exit 0), or ends with one or two lines on stderr naming
what is wrong and exit status 2; never a traceback (an exception escaping ``nn2rtl.cli.main``), never a hang
(each run has a time bound), and the output directory is either complete or absent.

Runs are in-process (``cli.main``) for speed; :func:`run_cli` classifies each outcome. Generators:
:func:`onnx_mutations` (protobuf bytes: truncations, bit flips, byte splices; and field mutations of parsed
models), :func:`config_documents` (every key with wrong types and extreme values, unknown names, YAML
hostilities), :func:`arrays` (wrong shapes, dtypes, object and pickled ``.npy``, empty, NaN/Inf).
"""

from __future__ import annotations

import contextlib
import io
import signal
import traceback
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

OUTCOMES = ("succeeded", "refused", "failed")


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def run_cli(argv, out_dir=None, seconds=60):
    """``(outcome, detail)``: ``succeeded``, ``refused`` (exit 2, one or two lines naming the problem) or
    ``failed`` (traceback, hang, wrong exit status, long message, or a half-written output directory)."""
    from nn2rtl import cli
    err, out = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = cli.main([str(a) for a in argv])
    except Hang:
        return "failed", f"hang: no answer in {seconds} s"
    except SystemExit as e:  # argparse: usage errors exit 2 with a usage line
        rc = e.code
    except BaseException:  # noqa: B036 - anything escaping main() is a traceback for the user
        return "failed", "traceback:\n" + traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip() and not ln.startswith("warning:")]
    if out_dir is not None and Path(out_dir).exists() and rc != 0:
        return "failed", f"exit {rc} but the output directory {out_dir} exists"
    if rc == 0:
        if out_dir is not None and not (Path(out_dir) / "design.json").exists():
            return "failed", "exit 0 but no complete output directory"
        return "succeeded", ""
    if rc == 2 and 1 <= len(lines) <= 2 and all(len(ln) < 2000 for ln in lines):
        return "refused", lines[-1]
    return "failed", f"exit {rc}, stderr: {err.getvalue()[-1500:]}"


# -- ONNX bytes ------------------------------------------------------------------------------------------------

@st.composite
def onnx_mutations(draw, seeds):
    """Bytes of a mutated model, from one of ``seeds`` (serialized models)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "field"]))
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            k = draw(st.integers(0, len(data) - 1))
            data[k] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if kind == "splice":
        k = draw(st.integers(0, len(data)))
        return bytes(data[:k]) + draw(st.binary(min_size=1, max_size=16)) + bytes(data[k:])
    return _field_mutation(draw, bytes(data))


def _field_mutation(draw, data):
    """A well-formed protobuf with one field made hostile: dims, attributes, opsets, names, data types."""
    import onnx
    m = onnx.load_from_string(data)
    g = m.graph
    choice = draw(st.sampled_from(["dim", "attr", "opset", "name", "dtype", "drop_init", "dup_node", "io",
                                   "raw_data", "ir"]))
    extreme = st.sampled_from([0, -1, -7, 1, 3, 2**31, 2**40, 1_000_000_000])
    if choice == "dim" and g.input:
        vi = draw(st.sampled_from(list(g.input) + list(g.output)))
        dims = vi.type.tensor_type.shape.dim
        if dims:
            d = dims[draw(st.integers(0, len(dims) - 1))]
            if draw(st.booleans()):
                d.dim_value = draw(extreme)
            else:
                d.dim_param = draw(st.sampled_from(["N", "", "batch"]))
    elif choice == "attr" and g.node:
        n = draw(st.sampled_from(list(g.node)))
        if n.attribute:
            a = n.attribute[draw(st.integers(0, len(n.attribute) - 1))]
            v = draw(st.sampled_from(["int", "float", "str", "ints"]))
            a.ClearField("i")
            a.ClearField("f")
            a.ClearField("s")
            del a.ints[:]
            if v == "int":
                a.type, a.i = onnx.AttributeProto.INT, draw(extreme)
            elif v == "float":
                a.type, a.f = onnx.AttributeProto.FLOAT, draw(st.sampled_from([float("nan"), float("inf"), -1e30,
                                                                              0.0]))
            elif v == "str":
                a.type, a.s = onnx.AttributeProto.STRING, b"\xff" * 3
            else:
                a.type = onnx.AttributeProto.INTS
                a.ints.extend([draw(extreme), draw(extreme)])
    elif choice == "opset":
        m.opset_import[0].version = draw(st.sampled_from([0, 1, 5, 99, 2**40]))
    elif choice == "name" and g.node:
        n = draw(st.sampled_from(list(g.node)))
        target = draw(st.sampled_from(["in", "out"]))
        names = n.input if target == "in" else n.output
        if names:
            names[draw(st.integers(0, len(names) - 1))] = draw(st.sampled_from(["", "nowhere", g.node[0].output[0],
                                                                                 g.input[0].name]))
    elif choice == "dtype" and g.initializer:
        t = draw(st.sampled_from(list(g.initializer)))
        t.data_type = draw(st.sampled_from([0, 2, 7, 8, 11, 16, 999]))
    elif choice == "drop_init" and g.initializer:
        del g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
    elif choice == "dup_node" and g.node:
        g.node.append(g.node[draw(st.integers(0, len(g.node) - 1))])
    elif choice == "io":
        if draw(st.booleans()) and g.input:
            g.input.append(g.input[0])
        elif g.output:
            del g.output[:]
    elif choice == "raw_data" and g.initializer:
        t = draw(st.sampled_from(list(g.initializer)))
        raw = t.raw_data or np.asarray(onnx.numpy_helper.to_array(t)).tobytes()
        t.ClearField("float_data")
        t.raw_data = raw[:draw(st.integers(0, max(0, len(raw) - 1)))]
    elif choice == "ir":
        m.ir_version = draw(st.sampled_from([0, 1, 3, 99]))
    return m.SerializeToString()


# -- configurations ----------------------------------------------------------------------------------------------

HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.sampled_from([0, -1, 2**63, 1e308]),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                    st.sampled_from(["x" * 100_000, "fixed<0,0>", "fixed<100000,3>", "fixed<16,6,RND,FOO>",
                                     "ufixed<1,-40>", "auto", "int<0>", "fixed<16,6>"]),
                    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                                          max_size=2))
KEYS = ["Precision", "ReuseFactor", "Strategy", "AdderLevelsPerStage", "MaxAutoWidth", "TableMode", "TableSize",
        "TableRange", "implementation", "InvTableSize", "ExpTableSize", "MaxLayerProducts", "MaxTensorSize",
        "Unknown"]
PREC_KEYS = ["default", "weight", "bias", "result", "accum", "table", "param", "slope", "shift", "exp_table",
             "inv_table", "inv_inp", "nonsense"]


@st.composite
def config_documents(draw, layer_names):
    """YAML text of a configuration with hostile values in random places."""
    import yaml
    section = draw(st.sampled_from(["Model", "LayerType", "LayerName", "Top"]))
    key = draw(st.sampled_from(KEYS))
    if key == "Precision" and draw(st.booleans()):
        value = {draw(st.sampled_from(PREC_KEYS)): draw(HOSTILE)}
    else:
        value = draw(HOSTILE)
    body = {key: value}
    if section == "Model":
        doc = {"Model": body}
    elif section == "LayerType":
        doc = {"LayerType": {draw(st.sampled_from(["Dense", "Relu", "Sigmoid", "Softmax", "Conv", 7])): body}}
    elif section == "LayerName":
        doc = {"LayerName": {draw(st.sampled_from(layer_names + ["no_such_layer", ""])): body}}
    else:
        doc = draw(st.sampled_from([[1, 2], "text", 5, None, {"Model": None}, {"Model": [1]}]))
    kind = draw(st.sampled_from(["plain", "plain", "anchors", "deep", "garbage"]))
    if kind == "anchors":  # a billion-laughs shaped document: aliases nested ten deep
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{k}: &a{k} [{', '.join(['*a' + str(k - 1)] * 10)}]" for k in range(1, 10)]
        return "\n".join(lines) + "\nModel: {ReuseFactor: *a9}\n"
    if kind == "deep":
        return "Model: " + "[" * 5000 + "]" * 5000 + "\n"
    if kind == "garbage":
        return draw(st.sampled_from(["Model: [unclosed\n", "\tModel: 1\n", "!!python/object:os.system {}\n",
                                     "Model: !!python/name:os.system\n", "%YAML 9.9\n---\nx: 1\n", "\x00\x01"]))
    return yaml.safe_dump(doc, allow_unicode=True)


# -- arrays for predict / simulate --------------------------------------------------------------------------------

@st.composite
def arrays(draw, n_in):
    """``(kind, writer)``: how to write a hostile ``.npy`` (or not-npy) file of inputs for a model with ``n_in``
    features."""
    kind = draw(st.sampled_from(["shape", "dtype", "object", "pickle", "empty", "nan", "scalar", "3d", "text",
                                 "huge_header"]))
    rows = draw(st.integers(0, 5))

    def write(path):
        if kind == "shape":
            np.save(path, np.zeros((rows + 1, n_in + draw_extra)))
        elif kind == "dtype":
            np.save(path, np.zeros((2, n_in), dtype=np.complex128))
        elif kind == "object":
            np.save(path, np.array([[1, "a"]] * 2, dtype=object), allow_pickle=True)
        elif kind == "pickle":
            np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        elif kind == "empty":
            np.save(path, np.zeros((0, n_in)))
        elif kind == "nan":
            a = np.zeros((3, n_in))
            a[1, 0], a[2, -1] = np.nan, -np.inf
            np.save(path, a)
        elif kind == "scalar":
            np.save(path, np.float64(3.0))
        elif kind == "3d":
            np.save(path, np.zeros((2, 1, n_in)))
        elif kind == "text":
            Path(path).write_text("1,2,3\n")
        else:
            Path(path).write_bytes(b"\x93NUMPY\x01\x00\xff\xff" + b" " * 100)

    draw_extra = draw(st.integers(1, 3))
    return kind, write



# -- well-formed but hostile graphs ----------------------------------------------------------------------------

def _graph(nodes, inits=(), ins=None, outs=None, opset=17):
    from onnx import TensorProto, helper
    ins = ins or [("input", ["batch", 4])]
    outs = outs or [("output", ["batch", 4])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in ins],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outs], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def hostile_graphs(d):
    """Models that are valid protobuf but hostile: cycles, control flow, sequences, huge/zero/negative/symbolic
    dimensions, a declared 2^31-element initializer, denormals, opsets 1 and 99, dangling and duplicate names, two
    inputs, mistyped attributes, external data at /dev/zero, a short file, a FIFO, a missing file. Written into
    ``d``; returns ``{name: path}``."""
    import os

    from onnx import TensorProto, helper, numpy_helper
    d = Path(d)
    (d / "short.bin").write_bytes(b"\0" * 8)
    if not (d / "fifo").exists():
        os.mkfifo(d / "fifo")
    node = helper.make_node
    relu = [node("Relu", ["input"], ["output"], name="r")]
    body = helper.make_graph([node("Relu", ["input"], ["t"])], "body", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["batch", 4])])
    true = numpy_helper.from_array(np.array(True))
    big = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2**16, 2**15], raw_data=b"\0" * 16)
    cases = {
        "cycle": _graph([node("Relu", ["input2"], ["a"], name="r1"), node("Add", ["input", "a"], ["input2"]),
                         node("Relu", ["a"], ["output"], name="r2")]),
        "if": _graph([node("Constant", [], ["c"], value=true),
                      node("If", ["c"], ["output"], then_branch=body, else_branch=body, name="if")]),
        "loop": _graph([node("Loop", ["", "", "input"], ["output"], body=body, name="loop")]),
        "seq": _graph([node("SequenceConstruct", ["input"], ["s"], name="sc"),
                       node("SequenceAt", ["s", "zero"], ["output"], name="sa")],
                      inits=[numpy_helper.from_array(np.array(0, dtype=np.int64), "zero")]),
        "huge_dim": _graph(relu, ins=[("input", [1, 10**9])], outs=[("output", [1, 10**9])]),
        "zero_dim": _graph(relu, ins=[("input", [1, 0])], outs=[("output", [1, 0])]),
        "symbolic_feature": _graph(relu, ins=[("input", ["N", "F"])], outs=[("output", ["N", "F"])]),
        "declared_2e31_init": _graph([node("MatMul", ["input", "w"], ["output"], name="mm")], inits=[big]),
        "denormal": _graph([node("Gemm", ["input", "w", "b"], ["output"], name="g", transB=1)],
                           inits=[numpy_helper.from_array(np.full((4, 4), 1e-40, np.float32), "w"),
                                  numpy_helper.from_array(np.zeros(4, np.float32), "b")]),
        "opset1": _graph(relu, opset=1),
        "opset99": _graph(relu, opset=99),
        "dangling": _graph([node("Relu", ["nowhere"], ["output"], name="r")]),
        "dup_output_names": _graph(relu + [node("Relu", ["input"], ["output"], name="r2")]),
        "two_inputs": _graph([node("Add", ["input", "in2"], ["output"], name="a")],
                             ins=[("input", ["batch", 4]), ("in2", ["batch", 4])]),
        "attr_wrong_type": _graph([node("LeakyRelu", ["input"], ["output"], name="l", alpha="x")]),
        "negative_dim": _graph(relu, ins=[("input", [1, -3])]),
    }
    for name, target in [("ext_devzero", "/dev/zero"), ("ext_short", "short.bin"), ("ext_fifo", "fifo"),
                         ("ext_missing", "missing.bin")]:
        w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        for k, v in (("location", target), ("offset", "0"), ("length", "64")):
            e = w.external_data.add()
            e.key, e.value = k, v
        cases[name] = _graph([node("MatMul", ["input", "w"], ["output"], name="mm")], inits=[w])
    paths = {}
    for name, m in cases.items():
        paths[name] = d / f"{name}.onnx"
        paths[name].write_bytes(m.SerializeToString())
    return paths
