"""Every input surface against the robustness property (tests/helpers/robustness.py): mutated ONNX files, hostile
configurations and hostile input arrays either succeed or are refused in one or two lines with exit status 2;
never a traceback, a hang, or a half-written output directory. A short fixed-seed run; ``make fuzz`` runs long."""

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import models, robustness
from hypothesis import HealthCheck, Phase, given, settings

import nn2rtl

FUZZ = settings(deadline=None, derandomize=True, database=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck))
#: ``make fuzz`` multiplies every campaign (NN2RTL_FUZZ_SCALE=100: tens of thousands of inputs)
SCALE = int(os.environ.get("NN2RTL_FUZZ_SCALE", "1"))
FAILURES = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "fuzz_failures"


def campaign(n):
    return settings(FUZZ, max_examples=n * SCALE, derandomize=SCALE == 1)


def report(name, outcomes):
    counts = {k: outcomes.count(k) for k in robustness.OUTCOMES}
    print(f"\n{name}: {len(outcomes)} inputs, {counts}")


def torch_export():
    """A real torch.onnx.export (TorchScript exporter) of a small MLP with Flatten and Dropout."""
    import io
    import warnings

    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(3, 2)).eval()
    f = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's own deprecation notices are not ours to fail on
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(2, 4),), f, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}}, dynamo=False)
    return f.getvalue()


def seeds():
    """The bundled example, a real torch.onnx export, and test models of each family: PyTorch and Keras layouts,
    tables and softmax, QONNX, Brevitas-style and QDQ quantisation (built with onnx.helper in their exporters'
    shape)."""
    from helpers import qmodels
    root = Path(__file__).resolve().parent.parent
    return [(root / "examples" / "jet_mlp.onnx").read_bytes(), torch_export(),
            models.torch_mlp([4, 3, 2], seed=1).SerializeToString(),
            models.keras_mlp([3, 4, 2], seed=2).SerializeToString(),
            models.chain(4, [("fc", 3), ("Sigmoid", {}), ("fc", 2), ("Softmax", {})], seed=3).SerializeToString(),
            qmodels.qonnx_mlp([4, 3, 2], 4, seed=1).SerializeToString(),
            qmodels.brevitas_style(n_in=4, hidden=3, n_out=2).SerializeToString(),
            qmodels.qdq_mlp((4, 3, 2), act_zero_point=37).SerializeToString()]


def _check(outcomes, outcome, detail, what, reproducer=None):
    """Record an outcome; a failure saves its input under benchmarks/results/fuzz_failures/ and fails."""
    outcomes.append(outcome)
    if outcome == "failed" and reproducer is not None:
        FAILURES.mkdir(parents=True, exist_ok=True)
        name, data = reproducer
        (FAILURES / name).write_bytes(data)
    assert outcome != "failed", f"{what}: {detail}"


@pytest.mark.parametrize("command", ["convert", "inspect"])
def test_mutated_onnx_files(command):
    outcomes, seed_models = [], seeds()

    @campaign(150)
    @given(robustness.onnx_mutations(seed_models))
    def one(data):
        with tempfile.TemporaryDirectory() as d:
            path, out = Path(d) / "m.onnx", Path(d) / "out"
            path.write_bytes(data)
            argv = ["convert", path, "-o", out] if command == "convert" else ["inspect", path]
            outcome, detail = robustness.run_cli(argv, out_dir=out if command == "convert" else None)
            _check(outcomes, outcome, detail, f"{command} of a mutated model",
                   (f"{command}-{len(outcomes)}.onnx", data))

    one()
    report(f"{command} of mutated ONNX files", outcomes)
    assert outcomes.count("refused") > 50  # the mutations do reach the checks


def test_hostile_configurations(tmp_path_factory):
    work = tmp_path_factory.mktemp("cfg")
    model = models.save(models.chain(4, [("fc", 3), ("Sigmoid", {}), ("fc", 2), ("Softmax", {})], seed=3),
                        work / "m.onnx")
    names = [n.name for n in nn2rtl.convert(model).graph.nodes]
    outcomes = []

    @campaign(60)
    @given(robustness.config_documents(names))
    def one(text):
        with tempfile.TemporaryDirectory() as d:
            cfg, out = Path(d) / "c.yml", Path(d) / "out"
            cfg.write_text(text, encoding="utf-8", errors="surrogateescape")
            outcome, detail = robustness.run_cli(["convert", model, "-o", out, "--config", cfg], out_dir=out)
            _check(outcomes, outcome, detail, f"config {text[:300]!r}",
                   (f"config-{len(outcomes)}.yml", text.encode("utf-8", "surrogateescape")))

    one()
    report("convert with hostile configurations", outcomes)
    assert outcomes.count("refused") > 30


def test_hostile_input_arrays(tmp_path_factory):
    work = tmp_path_factory.mktemp("arr")
    model = models.save(models.torch_mlp([4, 3, 2], seed=1), work / "m.onnx")
    out = work / "out"
    nn2rtl.convert(model).write(out)
    outcomes = []

    @campaign(60)
    @given(robustness.arrays(4))
    def one(case):
        kind, write = case
        with tempfile.TemporaryDirectory() as d:
            x = Path(d) / "x.npy"
            write(x)
            for argv in (["predict", out, "--input", x, "--output", Path(d) / "y.npy"],
                         ["simulate", out, "--input", x]):
                outcome, detail = robustness.run_cli(argv, seconds=300)
                _check(outcomes, outcome, detail, f"{argv[0]} with a {kind} array")
                if kind == "pickle":
                    assert outcome == "refused"  # never unpickled

    one()
    report("predict with hostile arrays", outcomes)
    assert "refused" in outcomes


def test_pickled_arrays_are_refused_without_being_unpickled(tmp_path):
    model = models.save(models.torch_mlp([4, 3, 2], seed=1), tmp_path / "m.onnx")
    out = nn2rtl.convert(model).write(tmp_path / "out")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    np.save(tmp_path / "x.npy", np.array([Evil()], dtype=object), allow_pickle=True)
    outcome, detail = robustness.run_cli(["predict", out, "--input", tmp_path / "x.npy", "--output",
                                          tmp_path / "y.npy"])
    assert outcome == "refused" and ("pickle" in detail.lower() or "object" in detail.lower()), detail
    assert not marker.exists()


#: what each hostile graph must be refused for (a word of the message), or None: it converts
HOSTILE_EXPECT = {"cycle": "topologically sorted", "if": "control flow", "loop": "control flow",
                  "seq": "SequenceConstruct", "huge_dim": "1000000000 elements", "zero_dim": "[1, 0]",
                  "symbolic_feature": "must be fixed", "declared_2e31_init": "too small", "denormal": None,
                  "opset1": "opset 1;", "opset99": "opset 99;", "dangling": "nowhere", "dup_output_names": "SSA",
                  "two_inputs": "2 inputs (input, in2)", "attr_wrong_type": "alpha", "negative_dim": "[1, -3]",
                  "ext_devzero": "outside the model's folder", "ext_short": "beyond the end",
                  "ext_fifo": "not a regular file", "ext_missing": "missing"}


def test_hostile_graphs_are_refused_naming_the_problem(tmp_path):
    paths = robustness.hostile_graphs(tmp_path)
    assert sorted(paths) == sorted(HOSTILE_EXPECT)
    for name, path in paths.items():
        out = tmp_path / f"out_{name}"
        outcome, detail = robustness.run_cli(["convert", path, "-o", out], out_dir=out, seconds=60)
        want = HOSTILE_EXPECT[name]
        if want is None:
            assert outcome == "succeeded", (name, detail)
        else:
            assert outcome == "refused" and want in detail, (name, outcome, detail)
        outcome, detail = robustness.run_cli(["inspect", path], seconds=60)
        assert outcome != "failed", (name, detail)


@pytest.mark.parametrize("damage", ["no_graph", "graph_not_json", "graph_wrong_format", "graph_truncated",
                                    "design_missing", "verilog_missing", "not_a_dir"])
def test_damaged_output_directories(damage, tmp_path):
    """predict, simulate, report and inspect on an output directory that was damaged after convert."""
    model = models.save(models.torch_mlp([4, 3, 2], seed=1), tmp_path / "m.onnx")
    out = nn2rtl.convert(model).write(tmp_path / "out")
    g = out / "graph.json"
    if damage == "no_graph":
        g.unlink()
    elif damage == "graph_not_json":
        g.write_text("{nope")
    elif damage == "graph_wrong_format":
        g.write_text('{"format": "other"}')
    elif damage == "graph_truncated":
        g.write_text(g.read_text()[: len(g.read_text()) // 2])
    elif damage == "design_missing":
        (out / "design.json").unlink()
    elif damage == "verilog_missing":
        (out / "rtl" / "m.v").unlink()
    else:
        import shutil
        shutil.rmtree(out)
        out.write_text("a file")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 4)))
    for argv in (["predict", out, "--input", x, "--output", tmp_path / "y.npy"], ["simulate", out, "--input", x],
                 ["report", out], ["inspect", out]):
        outcome, detail = robustness.run_cli(argv, seconds=300)
        assert outcome != "failed", (damage, argv[0], detail)


def test_an_initializer_whose_data_does_not_fit_its_shape_is_named(tmp_path):
    """Found by the campaign: a flipped bit removed an initializer's dims; its data no longer fits its shape, and
    onnx.checker does not notice."""
    m = models.chain(4, [("fc", 3), ("Sigmoid", {}), ("fc", 2)], seed=3)
    b0 = next(t for t in m.graph.initializer if t.name == "b0")
    del b0.dims[:]
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    outcome, detail = robustness.run_cli(["convert", path, "-o", tmp_path / "out"], out_dir=tmp_path / "out")
    assert outcome == "refused" and "initializer 'b0' is corrupt" in detail, detail


@pytest.mark.parametrize("info,dims,why", [
    ({"location": "big.bin"}, [4, 4], "8589934592 bytes"),
    ({"location": "big.bin", "offset": "0", "length": str(8 << 30)}, [2**16, 2**15], "2147483648 elements"),
    ({"location": "big.bin", "offset": "x"}, [4, 4], "non-numeric"),
    ({"location": "big.bin", "offset": "-8", "length": "64"}, [4, 4], "beyond the end")])
def test_huge_external_data_is_refused_before_it_is_read(info, dims, why, tmp_path):
    """An 8 GiB (sparse) file beside the model: a declared 2^31-element tensor, or one with no length, is refused
    before a byte is read; so are offsets that are not numbers or negative."""
    from onnx import TensorProto, helper
    with open(tmp_path / "big.bin", "wb") as f:
        f.truncate(8 << 30)
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims, data_location=TensorProto.EXTERNAL)
    for k, v in info.items():
        e = w.external_data.add()
        e.key, e.value = k, v
    m = robustness._graph([helper.make_node("MatMul", ["input", "w"], ["output"], name="mm")], inits=[w])
    (tmp_path / "m.onnx").write_bytes(m.SerializeToString())
    outcome, detail = robustness.run_cli(["convert", tmp_path / "m.onnx", "-o", tmp_path / "out"],
                                         out_dir=tmp_path / "out", seconds=30)
    assert outcome == "refused" and why in detail, detail
