"""The golden model of every activation and softmax against hls4ml's own C++ (its headers, compiled with g++),
bit for bit, on every input value of the type (element-wise ops) or on thousands of vectors (softmax)."""

import numpy as np
import pytest
from helpers import hls4ml_oracle as oracle

from nn2rtl import ops
from nn2rtl.config import Config
from nn2rtl.fixed import FixedType
from nn2rtl.graph import Graph, Node, Tensor

pytestmark = [pytest.mark.hls4ml, pytest.mark.xdist_group("hls4ml")]



@pytest.fixture(autouse=True)
def _oracle_present():
    """make test installs hls4ml 1.3.0; without it (or with another version) every test here fails, saying why:
    a broken oracle must not turn the suite green."""
    why = oracle.problem()
    if why:
        pytest.fail(why)

N = 8


def build(op_name, tin, n=N, config=None, attrs=None, params=None):
    """One quantized node of ``op_name`` reading ``n`` values of ``tin``."""
    op = ops.REGISTRY[op_name]
    g = Graph("g", ["x"], ["y"], [Node("act", op_name, ["x"], ["y"], dict(attrs or {}), dict(params or {}))],
              {"x": Tensor("x", (n,), tin), "y": Tensor("y", (n,))})
    node = g.nodes[0]
    node.types["input"] = tin
    op.quantize(node, g, Config.from_dict(config or {}).layer(["act"], op_name))
    node.types["result"] = g.tensors["y"].type
    return op, node


def every_value(t, n=N):
    raw = np.arange(t.min_raw, t.max_raw + 1, dtype=np.int64)
    raw = np.concatenate([raw, np.full((-len(raw)) % n, t.max_raw)])
    return raw.reshape(-1, n)


def compare(op, node, raw, source, tmp_path, name):
    want = oracle.run(source, raw, tmp_path, node.types["result"], name=name)
    got = op.golden(node, [raw])[0]
    bad = np.argwhere(got != want)
    assert bad.size == 0, [(node.types["input"].dequantize(raw[r, c]), int(got[r, c]), int(want[r, c]))
                           for r, c in bad[:5]]


PRECISIONS = ["fixed<16,6>", "fixed<10,3>", "fixed<18,8>"]
TABLE_OPS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus", "Softsign": "softsign", "Selu": "selu"}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("op_name", sorted(TABLE_OPS))
def test_table_activation_equals_hls4ml_on_every_input(op_name, precision, tmp_path):
    t = FixedType.parse(precision)
    op, node = build(op_name, t, config={"Model": {"Precision": precision}})
    src = oracle.activation_source(TABLE_OPS[op_name], N, t.cpp(), t.cpp())
    compare(op, node, every_value(t), src, tmp_path, op_name)


@pytest.mark.parametrize("table", [("fixed<12,4>", 256), ("fixed<18,8>", 4096)])
def test_configured_table_size_and_type_equal_hls4ml(table, tmp_path):
    tt, size = table
    t = FixedType.parse("fixed<14,5>")
    cfg = {"Model": {"Precision": {"default": "fixed<14,5>", "table": tt}},
           "LayerType": {"Sigmoid": {"TableSize": size}, "Elu": {"table_size": size}}}
    for op_name, kind in (("Sigmoid", "sigmoid"), ("Elu", "elu")):
        op, node = build(op_name, t, config=cfg, attrs={"alpha": 0.7} if op_name == "Elu" else {})
        src = oracle.activation_source(kind, N, t.cpp(), t.cpp(), table_t=FixedType.parse(tt).cpp(),
                                       table_size=size, param_t=t.cpp(), param=0.7)
        compare(op, node, every_value(t), src, tmp_path, f"{kind}{size}")


@pytest.mark.parametrize("precision", ["fixed<16,6>", "fixed<9,4>"])
def test_parametrized_activations_equal_hls4ml(precision, tmp_path):
    t = FixedType.parse(precision)
    out = FixedType.parse("fixed<12,3,RND,SAT>")
    cfg = {"Model": {"Precision": {"default": precision, "result": str(out)}}}
    raw = every_value(t)
    cases = [("Relu", "relu", {}, None), ("LeakyRelu", "leaky_relu", {"alpha": 0.1}, 0.1),
             ("ThresholdedRelu", "thresholded_relu", {"alpha": 0.7}, 0.7), ("Elu", "elu", {"alpha": 1.3}, 1.3)]
    for op_name, kind, attrs, param in cases:
        op, node = build(op_name, t, config=cfg, attrs=attrs)
        src = oracle.activation_source(kind, N, t.cpp(), out.cpp(), param_t=t.cpp(), param=param)
        compare(op, node, raw, src, tmp_path, kind)
    slopes = np.linspace(-0.9, 0.7, N)
    op, node = build("PRelu", t, config=cfg, params={"slope": slopes})
    src = oracle.activation_source("prelu", N, t.cpp(), out.cpp(), param_t=t.cpp(), param=slopes)
    compare(op, node, raw, src, tmp_path, "prelu")


#: the slope and shift types hls4ml gives a HardActivation (checked against hls4ml in test_hls4ml_chooses_...)
HARD_SLOPE_T, HARD_SHIFT_T = "ufixed<16,0>", "ufixed<2,0>"


def test_hard_sigmoid_equals_hls4ml(tmp_path):
    t = FixedType.parse("fixed<12,4>")
    op, node = build("HardSigmoid", t, config={"Model": {"Precision": "fixed<12,4>"}},
                     attrs={"alpha": 1 / 6, "beta": 0.5})
    assert (str(node.types["slope"]), str(node.types["shift"])) == (HARD_SLOPE_T, HARD_SHIFT_T)
    src = oracle.activation_source("hard_sigmoid", N, t.cpp(), t.cpp(),
                                   slope=(FixedType.parse(HARD_SLOPE_T).cpp(), 1 / 6),
                                   shift=(FixedType.parse(HARD_SHIFT_T).cpp(), 0.5))
    compare(op, node, every_value(t), src, tmp_path, "hard_sigmoid")


def softmax_vectors(t, n, rows=3000, seed=0):
    rng = np.random.default_rng(seed)
    full = rng.integers(t.min_raw, t.max_raw + 1, (rows, n))            # spreads beyond inp_norm_t: wrap
    near = rng.integers(-4 << t.frac, 4 << t.frac, (rows, n)).clip(t.min_raw, t.max_raw)   # typical logits
    ties = np.repeat(rng.integers(t.min_raw, t.max_raw + 1, (rows // 10, 1)), n, axis=1)
    ext = np.array([[t.min_raw] * n, [t.max_raw] * n, [t.min_raw, t.max_raw] * (n // 2) + [0] * (n % 2)])
    return np.concatenate([full, near, ties, ext]).astype(np.int64)


@pytest.mark.parametrize("impl", ["stable", "latency", "argmax"])
@pytest.mark.parametrize("precision,n", [("fixed<16,6>", 5), ("fixed<12,4>", 10), ("fixed<8,3>", 3)])
def test_softmax_equals_hls4ml(impl, precision, n, tmp_path):
    t = FixedType.parse(precision)
    op, node = build("Softmax", t, n=n, config={"Model": {"Precision": precision},
                                                 "LayerType": {"Softmax": {"implementation": impl}}})
    ty = node.types
    s = {"implementation": impl, "exp_table_size": node.attrs.get("tables", {}).get("exp_table_size", 1024),
         "inv_table_size": node.attrs.get("tables", {}).get("inv_table_size", 1024)}
    if impl != "argmax":
        s.update({k: ty[k].cpp() for k in ("exp_table", "inv_table", "inv_inp", "accum")})
        s = {(k + "_t" if k in ("exp_table", "inv_table", "inv_inp", "accum") else k): v for k, v in s.items()}
        s["inp_norm_t"] = ty["inp_norm"].cpp() if impl == "stable" else "ap_fixed<1,0>"
    else:
        s.update({"exp_table_t": "ap_fixed<18,8>", "inv_table_t": "ap_fixed<18,8>", "accum_t": t.cpp(),
                  "inv_inp_t": "ap_fixed<18,8>", "inp_norm_t": "ap_fixed<1,0>"})
    src = oracle.activation_source("softmax", n, t.cpp(), ty["result"].cpp(), softmax=s)
    compare(op, node, softmax_vectors(t, n), src, tmp_path, f"softmax_{impl}")


def test_whole_models_with_softmax_equal_hls4ml_c_simulation():
    """hls4ml's own flow (ONNX front end, type choices, generated C++, predict()) on the bundled example at defaults,
    with a softmax head, and with tanh/sigmoid/leaky-ReLU activations: every output bit equal to nn2rtl's golden
    model and to nn2rtl's HLS C++ compiled with g++."""
    import subprocess
    r = subprocess.run([str(oracle.python()), str(oracle.ROOT / "benchmarks" / "crosscheck_hls4ml.py"), "--models",
                        "jet_mlp", "jet_mlp_softmax", "jet_mlp_activations", "--precisions", "fixed<16,6>", "--hls"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    table = r.stdout.splitlines()
    rows = [line.split() for line in table if line.startswith("jet_mlp")]
    assert [(row[0], row[4], row[6]) for row in rows] == [
        ("jet_mlp", "0", "0"), ("jet_mlp_softmax", "0", "0"), ("jet_mlp_activations", "0", "0")]
    assert "bit-exact with hls4ml" in table[-1]


@pytest.mark.parametrize("impl", ["stable", "latency"])
def test_softmax_tables_equal_hls4ml_entry_by_entry(impl, tmp_path):
    """Every entry of the exp and inverse tables, including those no test vector reaches (1/0 in the inverse table
    becomes the largest code, as ap_fixed converts +inf under SAT)."""
    t = FixedType.parse("fixed<16,6>")
    op, node = build("Softmax", t, n=5, config={"LayerType": {"Softmax": {"implementation": impl}}})
    ty, sizes = node.types, node.attrs["tables"]
    norm = ty["inp_norm"].cpp() if impl == "stable" else "ap_fixed<1,0>"
    src = f"""#include "ap_fixed.h"
#include "nnet_utils/nnet_activation.h"
#include <cstdio>
struct config : nnet::activ_config {{
    static const unsigned exp_table_size = {sizes['exp_table_size']};
    static const unsigned inv_table_size = {sizes['inv_table_size']};
    static constexpr float exp_scale = 1.0;
    typedef {ty['exp_table'].cpp()} exp_table_t; typedef {ty['inv_table'].cpp()} inv_table_t;
}};
int main() {{
    long long v; if (scanf("%lld", &v) != 1) return 1;
    static config::exp_table_t e[config::exp_table_size]; static config::inv_table_t r[config::inv_table_size];
    nnet::init_exp_table<{norm if impl == "stable" else t.cpp()}, config>(e, {"true" if impl == "stable" else "false"});
    nnet::init_invert_table<{ty['inv_inp'].cpp()}, config>(r);
    for (unsigned i = 0; i < config::exp_table_size; i++) printf("%lld ", (long long)e[i].range().to_int64());
    printf("\\n");
    for (unsigned i = 0; i < config::inv_table_size; i++) printf("%lld ", (long long)r[i].range().to_int64());
    printf("\\n");
}}
"""
    exp_want, inv_want = oracle.run(src, [[0]], tmp_path, ty["exp_table"], name=f"tables_{impl}")  # same type
    assert np.array_equal(node.params["exp_table"], exp_want)
    assert np.array_equal(node.params["inv_table"], inv_want)
    assert node.params["inv_table"][0] == ty["inv_table"].max_raw


def test_a_missing_or_wrong_oracle_is_a_failure_not_a_skip(tmp_path, monkeypatch):
    monkeypatch.setenv("HLS4ML_TEMPLATES", str(tmp_path / "nowhere"))
    assert "make oracle" in oracle.problem()
    fake = tmp_path / "site" / "hls4ml" / "templates" / "vivado"
    (fake / "nnet_utils").mkdir(parents=True)
    (fake / "nnet_utils" / "nnet_activation.h").write_text("")
    (tmp_path / "site" / "hls4ml-1.2.0.dist-info").mkdir()
    monkeypatch.setenv("HLS4ML_TEMPLATES", str(fake))
    assert "hls4ml 1.2.0, not 1.3.0" in oracle.problem()


CAST_CASES = [  # (source, target shape): fewer fractional bits (rounding), fewer integer bits (overflow), signs
    ("fixed<12,5>", "fixed<6,2>"),
    ("fixed<12,5>", "ufixed<5,2>"),
    ("ufixed<11,4>", "fixed<6,3>"),
    ("fixed<10,2>", "fixed<7,-1>"),
]


@pytest.mark.parametrize("src,dst", CAST_CASES)
def test_every_rounding_and_overflow_mode_equals_ap_fixed(src, dst, tmp_path):
    """All 7 rounding x 4 overflow modes of FixedType.cast against the real ap_fixed headers, on every value of
    the source type."""
    from nn2rtl.fixed import Overflow, Rounding
    ts, base = FixedType.parse(src), FixedType.parse(dst)
    targets = [base.with_modes(r, o) for r in Rounding for o in Overflow]
    lines = [f"{{ {t.cpp()} y; y = x; printf(\"%lld \", (long long)y.range().to_int64()); }}" for t in targets]
    src_cpp = f"""#include "ap_fixed.h"
#include <cstdio>
int main() {{
    long long v;
    while (scanf("%lld", &v) == 1) {{
        {ts.cpp()} x; x.range() = v;
        {chr(10).join(lines)}
        printf("\\n");
    }}
}}
"""
    raw = np.arange(ts.min_raw, ts.max_raw + 1, dtype=np.int64)
    widest = FixedType.parse("int<62>")  # read back unmasked; each column is masked to its own type below
    got = oracle.run(src_cpp, raw[:, None], tmp_path, widest, name="casts")
    assert got.shape == (len(raw), len(targets))
    for k, t in enumerate(targets):
        want = got[:, k] & ((1 << t.width) - 1)
        if t.signed:
            want = np.where(want >= 1 << (t.width - 1), want - (1 << t.width), want)
        ours = t.cast(raw, ts)
        bad = np.flatnonzero(ours != want)
        assert bad.size == 0, (str(t), [(int(raw[i]), int(ours[i]), int(want[i])) for i in bad[:5]])


@pytest.mark.parametrize("bounds,kind", [((0.0, 6.0), "relu6"), ((-1.0, 1.0), "hard_tanh")])
def test_clip_equals_hls4ml_relu6_and_hard_tanh(bounds, kind, tmp_path):
    """Clip(0, 6) is hls4ml's relu6 (relu_max); Clip(-1, 1) its hard_tanh (2 * clip(x/2 + 1/2, 0, 1) - 1 with
    its default slope/shift types); every input value, a result type that rounds and saturates."""
    t, out = FixedType.parse("fixed<12,4>"), FixedType.parse("fixed<9,3,RND,SAT>")
    op, node = build("Clip", t, config={"Model": {"Precision": {"default": "fixed<12,4>", "result": str(out)}}},
                     attrs={"min": bounds[0], "max": bounds[1]})
    if kind == "relu6":
        src = oracle.activation_source("relu6", N, t.cpp(), out.cpp())
    else:
        src = oracle.activation_source("hard_sigmoid", N, t.cpp(), out.cpp(),
                                       slope=(FixedType.parse(HARD_SLOPE_T).cpp(), 0.5),
                                       shift=(FixedType.parse(HARD_SHIFT_T).cpp(), 0.5)).replace("nnet::hard_sigmoid",
                                                                              "nnet::hard_tanh")
    compare(op, node, every_value(t), src, tmp_path, kind)


@pytest.fixture(scope="module")
def hls4ml_types():
    import json
    import subprocess
    r = subprocess.run([str(oracle.python()), str(oracle.ROOT / "tests" / "helpers" / "hls4ml_types.py")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout[r.stdout.index("{"):])


def test_hls4ml_chooses_the_types_these_tests_and_our_defaults_use(hls4ml_types):
    """The single-op tests above hand hls4ml's C++ the types our layers chose; here hls4ml 1.3.0's own converter
    says which types it would choose for the same layers at the default precision: they must be the same."""
    h = hls4ml_types
    assert h["hls4ml_version"] == oracle.EXPECTED_VERSION
    T = FixedType.parse
    _, sig = build("Sigmoid", T("fixed<16,6>"))
    assert T(h["table_activation"]["table_t"]) == sig.types["table"]
    assert h["table_activation"]["table_size"] == sig.attrs["table"]["size"] == 1024
    assert (T(h["hard_activation"]["slope_t"]), T(h["hard_activation"]["shift_t"])) == (T(HARD_SLOPE_T),
                                                                                       T(HARD_SHIFT_T))
    _, hs = build("HardSigmoid", T("fixed<16,6>"), attrs={"alpha": 0.2, "beta": 0.5})
    assert (hs.types["slope"], hs.types["shift"]) == (T(HARD_SLOPE_T), T(HARD_SHIFT_T))
    _, sm = build("Softmax", T("fixed<16,6>"), n=5)
    s = h["softmax"]
    assert s["implementation"] == sm.attrs["implementation"] == "stable"
    for k in ("exp_table", "inv_table", "inv_inp", "accum", "inp_norm"):
        assert T(s[f"{k}_t"].replace("ap_", "")) == sm.types[k], k
    assert (s["exp_table_size"], s["inv_table_size"]) == (sm.attrs["tables"]["exp_table_size"],
                                                          sm.attrs["tables"]["inv_table_size"])


def test_convolutional_networks_equal_hls4ml_c_simulation():
    """hls4ml's own flow on the same PyTorch networks (Conv1d, Conv2d + BatchNorm2d, max and average pooling, a
    residual Add, Upsample + Concat, depthwise + pointwise): every output bit equal to nn2rtl's golden model at the
    default precision (make crosscheck runs two more precisions)."""
    import subprocess
    r = subprocess.run([str(oracle.python()), str(oracle.ROOT / "benchmarks" / "crosscheck_cnn_hls4ml.py"),
                        "--precisions", "fixed<16,6>", "--io-types", "io_parallel"], capture_output=True, text=True,
                       timeout=1200)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    rows = [line.split() for line in r.stdout.splitlines()
            if line.split() and line.split()[0] in ("conv1d", "conv2d", "residual", "unet", "depthwise")]
    assert sorted((row[0], row[5]) for row in rows) == sorted(
        (m, "0") for m in ("conv1d", "conv2d", "residual", "unet", "depthwise"))
    assert "bit-exact with hls4ml" in r.stdout.splitlines()[-1]


def test_streaming_networks_equal_hls4ml_io_stream_c_simulation():
    """hls4ml's io_stream flow (its streaming convolutions, Clone, Merge) on the residual and U-Net blocks: every
    output bit equal to nn2rtl's io_stream design (whose golden model is the io_parallel one); hls4ml's own
    io_stream and io_parallel agree too; and the FIFO memory table is printed (hls4ml's default depths vs ours)."""
    import subprocess
    r = subprocess.run([str(oracle.python()), str(oracle.ROOT / "benchmarks" / "crosscheck_cnn_hls4ml.py"),
                        "--precisions", "fixed<16,6>", "--io-types", "io_stream", "--models", "residual", "unet"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    lines = [line.split() for line in r.stdout.splitlines() if line.split()]
    compared = {row[0]: row for row in lines if len(row) > 1 and row[1] == "(io_stream)"}
    assert set(compared) == {"residual", "unet"} and all(row[6] == "0" for row in compared.values())
    fifo = {row[0]: row for row in lines if row[0] in ("residual", "unet") and len(row) == 7}
    for row in fifo.values():
        hls_bits, our_bits = int(row[2]), int(row[4])
        assert 0 < our_bits < hls_bits and row[6] == "0"
    assert "bit-exact with hls4ml" in r.stdout.splitlines()[-1]


#: pooling cases: (mode, in_shape channels-last, kernel, strides, pads in ONNX order, count_include_pad, global)
POOLS = {
    "max2x2": ("max", (6, 6, 3), (2, 2), (2, 2), (0, 0, 0, 0), 0, False),
    "max3x3_pad": ("max", (5, 5, 2), (3, 3), (1, 1), (1, 1, 1, 1), 0, False),
    "avg2x2_shift": ("avg", (6, 6, 3), (2, 2), (2, 2), (0, 0, 0, 0), 0, False),
    "avg3x3_stride2_pad": ("avg", (7, 7, 2), (3, 3), (2, 2), (1, 1, 1, 1), 0, False),
    "avg3x3_count_pad": ("avg", (5, 5, 2), (3, 3), (1, 1), (1, 1, 1, 1), 1, False),
    "avg3x2_asym_pad": ("avg", (6, 5, 2), (3, 2), (2, 1), (0, 1, 1, 0), 0, False),
    "avg1d_pad": ("avg", (9, 3), (3,), (2,), (1, 1), 0, False),
    "max1d": ("max", (8, 3), (2,), (2,), (0, 0), 0, False),
    "global_avg_5x5": ("avg", (5, 5, 4), (5, 5), (5, 5), (0, 0, 0, 0), 0, True),
    "global_max_4x4": ("max", (4, 4, 4), (4, 4), (4, 4), (0, 0, 0, 0), 0, True),
    "global_avg1d_6": ("avg", (6, 3), (6,), (6,), (0, 0), 0, True),
}


def _pool_node(case, precision):
    mode, in_shape, kernel, strides, pads, count_pad, _ = POOLS[case]
    nd = len(kernel)
    out = tuple((in_shape[d] + pads[d] + pads[nd + d] - kernel[d]) // strides[d] + 1 for d in range(nd))
    attrs = {"mode": mode, "in_shape": in_shape, "out_shape": out + (in_shape[-1],), "kernel": kernel,
             "strides": strides, "pads": pads, "dilations": (1,) * nd, "count_include_pad": count_pad}
    tin = FixedType.parse(precision)
    g = Graph("g", ["x"], ["y"], [Node("pool", "Pool", ["x"], ["y"], attrs, {})],
              {"x": Tensor("x", (int(np.prod(in_shape)),), tin),
               "y": Tensor("y", (int(np.prod(attrs["out_shape"])),))})
    node = g.nodes[0]
    node.types["input"] = tin
    lc = Config.from_dict({"Model": {"Precision": precision}}).layer(["pool"], "Pool")
    ops.REGISTRY["Pool"].quantize(node, g, lc)
    node.types["result"] = g.tensors["y"].type
    return node


@pytest.mark.parametrize("precision", ["fixed<16,6>", "fixed<8,3>", "ufixed<10,4>"])
@pytest.mark.parametrize("case", sorted(POOLS))
def test_pooling_equals_hls4ml(case, precision, tmp_path):
    """Max and average pooling, 1-D and 2-D, strides, symmetric and asymmetric padding, count_pad, global pooling,
    against hls4ml's io_parallel pooling functions, on random raw inputs over the whole range (so the wrapping of
    the accumulator is exercised). For an unsigned type with padding, hls4ml's max-pooling pad value (sign bit set:
    the middle of the range) can win; those windows are checked to be exactly the ones where it exceeds the true
    maximum, and nn2rtl's value there is the true maximum."""
    node = _pool_node(case, precision)
    mode, in_shape, kernel, strides, pads, count_pad, global_pool = POOLS[case]
    tin, tacc, tout = node.types["input"], node.types["accum"], node.types["result"]
    assert tacc == tout == tin  # hls4ml at 'model' granularity: accum_t = result_t = the model precision
    rng = np.random.default_rng(5)
    raw = rng.integers(tin.min_raw, tin.max_raw + 1, size=(400, int(np.prod(in_shape))), dtype=np.int64)
    raw[:20] = tin.max_raw  # saturated windows: the sums wrap
    raw[20:40] = tin.min_raw
    src = oracle.pooling_source(mode, in_shape, kernel, strides, pads, count_pad, tin.cpp(), tacc.cpp(), tout.cpp(),
                                global_pool=global_pool)
    want = oracle.run(src, raw, tmp_path, tout, name=f"pool_{case}")
    got = ops.REGISTRY["Pool"].golden(node, [raw])[0]
    differ = got != want
    if mode == "max" and not tin.signed and any(pads):
        from nn2rtl.ops.pool import pool_windows
        idx, _ = pool_windows(node.attrs)
        padded = (idx < 0).any(axis=1)
        mid = 1 << (tin.width - 1)
        hls_wins = padded[None, :] & (got < mid)  # hls4ml's pad value beats the true maximum
        assert (differ == hls_wins).all() and (want[hls_wins] == mid).all()
        assert hls_wins.any()
    else:
        bad = np.argwhere(differ)
        assert bad.size == 0, [(r, c, int(got[r, c]), int(want[r, c])) for r, c in bad[:5]]
