"""Generated Verilog in Verilator: bit-exact against the golden model, latency and II measured = stated, the
valid/ready protocol kept; through the C++ harness (default) and the cocotb testbench, and both shown to fail on
broken designs."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import faults, models

import nn2rtl
from rtl_lib.da import kept_bits

pytestmark = pytest.mark.rtl

CONFIGS = {
    "default_fixed16_6": {},
    "narrow_wrapping": {"Model": {"Precision": "fixed<6,2>"}},
    "rounding_saturating_results": {"Model": {"Precision": {"default": "fixed<10,3>", "accum": "fixed<14,5>",
                                                            "result": "fixed<8,3,RND_CONV,SAT>"}}},
    "unsigned_input_auto_accum": {"Model": {"Precision": {"default": "fixed<8,2>", "accum": "auto",
                                                          "result": "fixed<12,4,RND,SAT_SYM>"}},
                                  "LayerName": {"input": {"Precision": {"result": "ufixed<7,3>"}}}},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_small_mlp_bit_exact(name, tmp_path):
    path = models.save(models.torch_mlp([6, 7, 3], seed=len(name)), tmp_path / "m.onnx")
    design = nn2rtl.convert(path, config=CONFIGS[name], top=f"mlp_{name}")
    r = design.simulate(vectors=400, seed=1, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.results == r.vectors == 400 and r.latency_min == design.latency and r.stall_cycles > 0


def test_keras_layout_bit_exact(tmp_path):
    path = models.save(models.keras_mlp([5, 4, 2], seed=9), tmp_path / "k.onnx")
    design = nn2rtl.convert(path, precision="fixed<12,4>")
    r = design.simulate(vectors=300, work_dir=tmp_path)
    assert r.ok, r.failures()


def test_example_bit_exact_with_random_extreme_and_real_inputs(example_model, tmp_path):
    design = nn2rtl.convert(example_model)
    r = design.simulate(vectors=20000, work_dir=tmp_path / "random")
    assert r.ok, r.failures()
    assert r.vectors >= 20000 and r.back_to_back_cycles >= 11000 and r.stall_cycles > 1000
    assert r.latency_min == r.latency_max == design.latency == 17 and r.ii_back_to_back == [1]
    x = np.load(example_model.with_name("jet_mlp_inputs.npy"))
    r2 = design.simulate(inputs=x, work_dir=tmp_path / "real")
    assert r2.ok and r2.vectors == len(x), r2.failures()


@pytest.mark.parametrize("reuse", [1, 2, 3, 4, 7, 16])
def test_every_reuse_factor_bit_exact_with_stated_latency_and_ii(reuse, tmp_path):
    """Layers of 5x11 and 11x3 products: no tested R divides both; R = 7 and 16 exceed n_in = 5, so a multiplier
    serves several outputs. Back-to-back inputs at II = R, idle gaps, and random output stalls."""
    path = models.save(models.torch_mlp([5, 11, 3], seed=reuse), tmp_path / "m.onnx")
    design = nn2rtl.convert(path, precision="fixed<10,4>", reuse=reuse, top=f"mlp_r{reuse}")
    dense = [c for c in design.costs.values() if c.products]
    if reuse == 1:  # constant weights: zeros and +-2^k are free
        from rtl_lib.dense import count_multipliers
        want = [count_multipliers(n.params["weight"]) for n in design.graph.nodes if n.op == "Dense"]
    else:  # the MAC array: one multiplier per R products (a few zeros are not worth skipping)
        want = [-(-55 // reuse), -(-33 // reuse)]
    assert [c.multipliers for c in dense] == want
    assert design.ii == reuse
    r = design.simulate(vectors=300, seed=reuse, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.results == r.vectors == 300 and r.stall_cycles > 0 and r.back_to_back_cycles > 100
    assert r.latency_min == r.latency_max == design.latency
    assert r.ii_back_to_back == [reuse] and r.ii_min == reuse


def test_per_layer_reuse_and_pipelining(tmp_path):
    """Different reuse factors per layer (the design runs at the slowest) and an adder tree cut every level."""
    path = models.save(models.torch_mlp([9, 6, 4], seed=5), tmp_path / "m.onnx")
    names = [n.name for n in nn2rtl.convert(path).graph.nodes if n.op == "Dense"]
    cfg = {"Model": {"Precision": "fixed<12,5>", "AdderLevelsPerStage": 1},
           "LayerName": {names[0]: {"ReuseFactor": 5, "Strategy": "Resource"}, names[1]: {"ReuseFactor": 2}}}
    design = nn2rtl.convert(path, config=cfg, top="mlp_mixed")
    assert design.ii == 5
    r = design.simulate(vectors=200, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.ii_back_to_back == [5]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 3 -> 2 design (fast to build) and 40 raw vectors with their expected outputs."""
    d = tmp_path_factory.mktemp("tiny")
    design = nn2rtl.convert(models.save(models.torch_mlp([3, 2], seed=2), d / "m.onnx"), top="mlp_tiny")
    out = design.write(d / "out")
    raw = nn2rtl.design.make_vectors(design.input.type, 3, 40, seed=4)[:40]
    return design, out / "rtl" / "mlp_tiny.v", raw, design.predict_raw(raw)


def _run(design, vpath, raw, expected, work, engine, latency=None, gaps=None, stall_from=20, ii=None):
    from sim.runner import run_design
    return run_design(vpath, design.top, raw, expected, 16, 16, True, latency or design.latency, work, gaps,
                      extra_sources=[vpath.with_suffix(".vlt")] if vpath.with_suffix(".vlt").exists() else [],
                      ii=ii or design.ii, stall_from=stall_from, ready_prob=0.5, seed=1, engine=engine)


@pytest.mark.parametrize("engine", ["harness", "cocotb"])
def test_checks_pass_on_the_correct_design_and_name_a_wrong_expectation(engine, tiny, tmp_path):
    """The checker can fail: corrupt one expected bit and the report names vector, output, expected and got; a
    wrong stated latency or II is caught; with no inputs back to back the II is unmeasured, which fails."""
    design, vpath, raw, expected = tiny
    r = _run(design, vpath, raw, expected, tmp_path / "ok", engine)
    assert r.ok, r.failures()
    assert r.stall_cycles > 0 and r.back_to_back_cycles > 10 and r.extra_results == 0
    wrong = expected.copy()
    wrong[1, 1] ^= 1
    r = _run(design, vpath, raw, wrong, tmp_path / "bit", engine)
    assert not r.ok and not r.bit_exact and r.mismatches == 1
    assert r.first_mismatches == [{"vector": 1, "output": 1, "expected": int(wrong[1, 1]),
                                   "got": int(expected[1, 1])}]
    assert "1 output values differ" in r.failures()[0]
    r = _run(design, vpath, raw, expected, tmp_path / "lat", engine, latency=design.latency + 1)
    assert r.bit_exact and not r.latency_ok and not r.ok
    r = _run(design, vpath, raw, expected, tmp_path / "ii", engine, ii=2)
    assert r.bit_exact and not r.ii_ok and not r.ok and r.ii_back_to_back == [1]
    r = _run(design, vpath, raw, expected, tmp_path / "gaps", engine, gaps=np.ones(len(raw), dtype=np.int64))
    assert r.bit_exact and r.back_to_back_cycles == 0 and not r.ii_ok and not r.ok
    assert "not measured" in " ".join(r.failures())


@pytest.mark.parametrize("engine", ["harness", "cocotb"])
@pytest.mark.parametrize("fault", sorted(faults.FAULTS))
def test_checks_fail_on_a_broken_design(fault, engine, tiny, tmp_path):
    """Each wrapper breaks one promise (a lost, extra or changing result, in_ready during a stall, a slower II);
    the simulation must say so, with the check that caught it."""
    design, vpath, raw, expected = tiny
    broken = tmp_path / "rtl" / "mlp_tiny.v"
    broken.parent.mkdir()
    broken.write_text(faults.wrap(vpath.read_text(), "mlp_tiny", fault, 48, 32, len(raw), 16))
    (tmp_path / "rtl" / "mlp_tiny.vlt").write_text(vpath.with_suffix(".vlt").read_text())
    r = _run(design, broken, raw, expected, tmp_path / "sim", engine)
    assert not r.ok
    caught = {"lost_result": r.results < r.vectors, "extra_result": r.extra_results > 0,
              "changes_while_stalled": r.hold_violations > 0, "ready_while_stalled": r.ready_while_stalled > 0,
              "slower_ii": not r.ii_ok and r.ii_back_to_back == [2] and r.latency_ok and r.mismatches == 0}
    assert caught[fault], (fault, r)
    assert r.failures()


def test_verilator_lint_clean_with_explained_waivers(example_model, tmp_path):
    design = nn2rtl.convert(example_model)
    out = design.write(tmp_path / "out")
    v, vlt = out / "rtl" / "jet_mlp.v", out / "rtl" / "jet_mlp.vlt"
    clean = subprocess.run(["verilator", "--lint-only", "-Wall", str(vlt), str(v)], capture_output=True, text=True)
    assert clean.returncode == 0 and clean.stderr == ""
    raw = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-fatal", str(v)], capture_output=True,
                         text=True)
    import re
    rules = set(re.findall(r"%Warning-([A-Z_]+)", raw.stderr))
    assert rules and rules <= set(nn2rtl.design.LINT_WAIVERS), rules  # only the explained categories


def test_cli_convert_then_simulate(example_model, tmp_path):
    exe = [sys.executable, "-m", "nn2rtl"]
    c = subprocess.run(exe + ["convert", str(example_model), "-o", "out"], capture_output=True, text=True,
                       cwd=tmp_path)  # relative paths, as a user types them
    assert c.returncode == 0, c.stderr
    s = subprocess.run(exe + ["simulate", "out", "--vectors", "1000"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert s.returncode == 0, s.stdout + s.stderr
    assert "bit-exact: 1000 vectors x 5 outputs match" in s.stdout
    assert "latency: measured 17 cycles, stated 17: OK" in s.stdout
    assert "II: measured 1 cycles, stated 1: OK" in s.stdout


def test_verilator_available():
    assert shutil.which("verilator")


def test_concurrent_simulations_of_one_design_share_one_build(tiny, tmp_path):
    """Two processes simulating the same design at the same moment, from an empty build cache (the race that broke
    a fresh 'make test'): both pass, one build is made and the other waits for it and reuses it."""
    design, vpath, raw, expected = tiny
    out = design.write(tmp_path / "out")
    env = dict(__import__("os").environ, NN2RTL_SIM_CACHE=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "nn2rtl", "simulate", str(out), "--vectors", "300"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    for stdout, stderr, rc in results:
        assert rc == 0 and "bit-exact: 300 vectors" in stdout, stdout + stderr
    builds = [d for d in (tmp_path / "cache").iterdir() if d.is_dir()]
    assert len(builds) == 1 and builds[0].name.startswith("mlp_tiny-harness-")
    assert sum("build cached" in stdout for stdout, _, _ in results) == 1  # the second waited and reused it


@pytest.mark.parametrize("layers", [[("Relu", {})], [("Clip", {"min": -1.0, "max": 1.0}), ("Relu", {})],
                                    [("ThresholdedRelu", {"alpha": 0.5})]], ids=["relu", "clip_relu", "thresholded"])
def test_all_combinational_designs_pass_valid_and_ready_through(layers, tmp_path):
    """A design with no register (found by ONNX's conformance cases: a lone Relu died in elaboration with a
    combinational loop through the clock enable): latency 0, ready and valid pass straight through."""
    path = models.save(models.chain(5, layers, seed=1), tmp_path / "m.onnx")
    design = nn2rtl.convert(path, precision="fixed<8,3>", top="comb")
    assert design.latency == 0
    r = design.simulate(vectors=300, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.latency_min == 0 and r.stall_cycles > 0


def _pruned_mlp(tmp_path):
    """A 12-10-4 MLP with 70 % zero weights, +-2^k weights, and an output with no weight at all."""
    import onnx
    from onnx import numpy_helper
    model = models.torch_mlp([12, 10, 4], seed=11)
    rng = np.random.default_rng(3)
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init).copy()
        if w.ndim != 2:
            continue
        w[rng.random(w.shape) < 0.7] = 0.0
        mask = rng.random(w.shape) < 0.3
        w[mask] = rng.choice([0.5, -0.25, 1.0, -2.0, 0.125], size=int(mask.sum()))
        w[0] = 0.0  # Gemm weights are (out, in): output 0 has no weight
        init.CopyFrom(numpy_helper.from_array(w.astype(np.float32), init.name))
    path = tmp_path / "pruned.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("reuse", [1, 4])
def test_pruned_and_power_of_two_weights_cost_nothing_and_stay_bit_exact(reuse, tmp_path):
    """70 % zero weights, +-2^k weights and a whole output with no weight at all. At R = 1: no multiplier,
    adder-tree leaf or register for a zero, a shift for +-2^k. In the MAC array (R = 4): a zero takes no
    multiplier round (each multiplier selects its rounds' inputs). Bit-exact in Verilator at the stated latency."""
    from rtl_lib.dense import count_multipliers
    path = _pruned_mlp(tmp_path)
    design = nn2rtl.convert(path, precision="fixed<12,4>", reuse=reuse, top=f"pruned_r{reuse}")
    dense = [n for n in design.graph.nodes if n.op == "Dense"]
    for n in dense:
        w = np.asarray(n.params["weight"])
        c = design.costs[n.name]
        if reuse == 1:
            assert c.multipliers == count_multipliers(w) < int((w != 0).sum()) < w.size
        else:
            assert c.multipliers == -(-int((w != 0).sum()) // reuse) < -(-w.size // reuse)
    r = design.simulate(vectors=400, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.latency_min == r.latency_max == design.latency


@pytest.mark.parametrize("accum", ["model", "auto"])
def test_distributed_arithmetic_has_no_multiplier_and_is_bit_exact(accum, tmp_path):
    """Strategy distributed_arithmetic: every product as shifts and adds (no multiplier), with the products rounded
    into hls4ml's default accumulator (a register each) or exact in an 'auto' one (wiring into the tree)."""
    path = models.save(models.torch_mlp([7, 9, 4], seed=21), tmp_path / "m.onnx")
    cfg = {"Model": {"Precision": "fixed<12,4>", "Strategy": "distributed_arithmetic"}}
    if accum == "auto":
        cfg["LayerType"] = {"Dense": {"Precision": {"accum": "auto"}}}
    design = nn2rtl.convert(path, config=cfg, top=f"da_{accum}")
    dense = [c for n, c in design.costs.items() if design.graph.node(n).op == "Dense"]
    assert [c.multipliers for c in dense] == [0, 0] and all(c.adders > 0 for c in dense)
    assert all(n.attrs["implementation"] == "distributed-arithmetic" for n in design.graph.nodes if n.op == "Dense")
    # the second layer reads a ReLU: its adders are sized from 0 up (the extreme inputs below reach both ends)
    assert [n.attrs.get("input_never_negative", False) for n in design.graph.nodes if n.op == "Dense"] == [False, True]
    layers = [lay for lay in design.report()["layers"] if lay["op"] == "Dense"]
    assert [lay.get("input_never_negative") for lay in layers] == [None, True]
    if accum == "auto":  # the fixed<12,4> results wrap: every adder is cut to the 20 low bits they read
        assert [kept_bits(n.types["accum"], n.types["result"]) for n in design.graph.nodes if n.op == "Dense"] \
            == [20, 20]
    r = design.simulate(vectors=300, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.latency_min == r.latency_max == design.latency


@pytest.mark.parametrize("flow", ["stall", "fifo"])
def test_distributed_arithmetic_takes_the_relu_into_its_output_register(flow, tmp_path):
    """A shift-and-add layer whose output only a ReLU reads zeroes its negatives in its own last register: the sign
    selects the flip-flops' synchronous reset (no LUT per bit) and the ReLU is wiring. The register count follows
    (that register holds the cast, without its constant sign bit, instead of the whole root); the last layer, a
    graph output, is untouched. Bit-exact in Verilator at the stated latency."""
    import re

    from nn2rtl.ops.dense import da_plan_of, relu_fused
    from rtl_lib.da import da_registers
    path = models.save(models.torch_mlp([7, 9, 4], seed=21), tmp_path / "m.onnx")
    cfg = {"Model": {"Precision": "fixed<12,4>", "Strategy": "distributed_arithmetic", "FlowControl": flow},
           "LayerType": {"Dense": {"Precision": {"accum": "auto"}}}}
    design = nn2rtl.convert(path, config=cfg, top=f"da_relu_{flow}")
    dense = [n for n in design.graph.nodes if n.op == "Dense"]
    assert [relu_fused(design.graph, n) for n in dense] == [True, False]
    assert [lay.get("relu") for lay in design.report()["layers"] if lay["op"] == "Dense"] == \
        ["in the output register", None]
    first = dense[0]
    plan = da_plan_of(first.params["weight"], first.params.get("bias"), first.types, 2)
    tacc, tout = first.types["accum"], first.types["result"]
    roots = {r for r in plan.roots if r is not None}
    assert design.costs[first.name].registers == da_registers(plan, tacc, tout) - sum(
        plan.graph.width[r] for r in roots) + 9 * (tout.width - 1)
    da0 = design.verilog[design.verilog.index(f"module da_relu_{flow}_da0("):]
    da0 = da0[:da0.index("endmodule")]
    resets = re.findall(r"if \((y\d+)_neg\) (y\d+)_r <= 11'h000;\s*else if \(en\) \2_r <= (\w+)\[18:8\];", da0)
    assert len(resets) == 9 and all(a == b for a, b, _ in resets)
    for y, _, n in resets:  # the reset: the 12-bit cast's sign (bit 8 + 11) while enabled (a stall holds)
        assert re.search(rf"assign {y}_neg = {n}\[19\] & en;", da0)
    from nn2rtl.ops import REGISTRY
    relu = REGISTRY["Relu"].block(next(n for n in design.graph.nodes if n.op == "Relu"), design.graph)
    relu._MustUse__silence = True
    assert relu.rectified  # a cast, no selection on the sign
    r = design.simulate(vectors=300, work_dir=tmp_path)
    assert r.ok, r.failures()


def test_distributed_arithmetic_rounds_each_product_and_casts_the_result(tmp_path):
    """A rounding accumulator (each product rounded half up on its own: a shared rounding module per shape), a
    rounding and saturating result (a registered cast), a pruned matrix with a constant output, unsigned inputs
    after the ReLU, adder levels cut every stage: bit-exact in Verilator at the latency of the plan."""
    path = _pruned_mlp(tmp_path)
    cfg = {"Model": {"Precision": {"default": "fixed<12,4>", "accum": "fixed<14,5,RND>",
                                   "result": "fixed<10,4,RND,SAT>"},
                     "Strategy": "distributed_arithmetic", "AdderLevelsPerStage": 1}}
    design = nn2rtl.convert(path, config=cfg, top="da_round")
    assert "_dacast" in design.verilog  # the rounding of the products and the saturating result cast
    r = design.simulate(vectors=400, work_dir=tmp_path)
    assert r.ok, r.failures()
    assert r.latency_min == r.latency_max == design.latency


def test_distributed_arithmetic_needs_reuse_factor_1(tmp_path):
    path = models.save(models.torch_mlp([4, 3], seed=1), tmp_path / "m.onnx")
    from nn2rtl.errors import ConfigError
    with pytest.raises(ConfigError, match="distributed_arithmetic.*ReuseFactor is 4"):
        nn2rtl.convert(path, config={"Model": {"Strategy": "distributed_arithmetic", "ReuseFactor": 4}})
