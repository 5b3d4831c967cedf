"""Random small models and configurations (hypothesis strategies) for the RTL-against-golden fuzzer.

A drawn case is a chain of Gemm layers and activations with random sizes, a random model precision, random
rounding and overflow modes on each layer's result, an accumulator that is the model type, ``auto`` or a random
wrapping type, random reuse factors (any positive integer, also larger than the layer) or shift-and-add layers,
random adder pipelining,
and a random input type. :func:`check` converts it and simulates it in Verilator against the golden model.
The short run is ``tests/sim/test_fuzz_rtl.py``; ``benchmarks/fuzz_rtl.py`` runs thousands and counts outcomes.
"""

from hypothesis import strategies as st

from nn2rtl.fixed import Overflow, Rounding

ACTIVATIONS = [None, ("Relu", {}), ("LeakyRelu", {"alpha": 0.125}), ("Clip", {"min": 0.0, "max": 2.0}),
               ("Sigmoid", {}), ("Tanh", {}), ("ThresholdedRelu", {"alpha": 0.5}), ("HardSigmoid", {}),
               ("Elu", {"alpha": 0.5}), ("Softplus", {}), ("Softsign", {}), ("PRelu", {})]
SOFTMAX = ["stable", "latency", "argmax", "argmax_index"]
QONNX_ROUNDING = ["ROUND", "FLOOR", "HALF_UP", "HALF_DOWN", "DOWN", "CEIL", "UP"]
ROUNDINGS = [r.value for r in Rounding]
OVERFLOWS = [o.value for o in Overflow]


@st.composite
def fixed_types(draw, min_width=2, max_width=20, signed=None, modes=True):
    width = draw(st.integers(min_width, max_width))
    integer = draw(st.integers(-2, width + 2))
    is_signed = draw(st.booleans()) if signed is None else signed
    name = "fixed" if is_signed else "ufixed"
    if not modes:
        return f"{name}<{width},{integer}>"
    return f"{name}<{width},{integer},{draw(st.sampled_from(ROUNDINGS))},{draw(st.sampled_from(OVERFLOWS))}>"


@st.composite
def cases(draw):
    """``(n_in, layers, config, seed)`` for :func:`tests.helpers.models.chain` and :func:`nn2rtl.convert`; or, one
    case in five, ``("qonnx", sizes, bits, rounding, narrow, reuse, seed, float_scales, bn)``: a QONNX MLP with its
    own grids (float scales and batch norm make thresholds)."""
    if draw(st.integers(0, 4)) == 0:
        sizes = [draw(st.integers(1, 6)) for _ in range(draw(st.integers(2, 4)))]
        return ("qonnx", sizes, draw(st.integers(2, 8)), draw(st.sampled_from(QONNX_ROUNDING)), draw(st.booleans()),
                draw(st.integers(1, 12)), draw(st.integers(0, 2**16)), draw(st.booleans()), draw(st.booleans()))
    n_in = draw(st.integers(1, 6))
    layers, names = [], []
    for _ in range(draw(st.integers(1, 3))):
        layers.append(("fc", draw(st.integers(1, 6))))
        names.append(f"fc{len(layers) - 1}")
        act = draw(st.sampled_from(ACTIVATIONS))
        if act is not None:
            layers.append(act)
    if draw(st.booleans()):  # a classifier head
        layers.append(("Softmax", {}))
    default = draw(fixed_types(min_width=4, max_width=18, signed=True, modes=False))
    layer_cfg = {}
    for name in names:
        prec = {"result": draw(fixed_types(min_width=3, max_width=18))}
        accum = draw(st.sampled_from(["model", "auto", "random"]))
        if accum == "auto":
            prec["accum"] = "auto"
        elif accum == "random":  # the RTL adds in a tree: accumulators wrap, with any rounding of the products
            prec["accum"] = draw(fixed_types(min_width=6, max_width=24, signed=True, modes=False))
        layer_cfg[name] = {"Precision": prec, "ReuseFactor": draw(st.integers(1, 40))}
    config = {"Model": {"Precision": default, "AdderLevelsPerStage": draw(st.integers(1, 3)),
                        "TableMode": draw(st.sampled_from(["hls4ml", "centered", "fitted"]))},
              "LayerType": {"Softmax": {"implementation": draw(st.sampled_from(SOFTMAX))}},
              "LayerName": {**layer_cfg, "input": {"Precision": {"result": draw(fixed_types(3, 16, modes=False))}}}}
    seed = draw(st.integers(0, 2**16))
    for name in names:  # one layer in four as shifts and adds (reuse factor 1); drawn last, after the rest
        if draw(st.integers(0, 3)) == 0:
            layer_cfg[name].update(Strategy="distributed_arithmetic", ReuseFactor=1)
    if draw(st.integers(0, 2)) == 0:  # one design in three never stalls its pipeline (an output FIFO instead)
        config["Model"]["FlowControl"] = "fifo"
    elif draw(st.integers(0, 1)) == 0:  # of the others, one in two stalls a cycle late (a registered enable)
        config["Model"]["FlowControl"] = "skid"
    return n_in, layers, config, seed


def check(case, work, vectors=150, hls=False):
    """Convert and simulate one case; returns ``("ok", design)``, ``("refused", message)`` for a configuration
    nn2rtl rejects with a clear error, or raises AssertionError with the failed checks. ``hls``: the HLS C++ (g++)
    must give the golden model's bits on the same vectors too."""
    import nn2rtl
    from nn2rtl.errors import Nn2rtlError

    from . import models
    if case[0] == "qonnx":
        from . import qmodels
        _, sizes, bits, rounding, narrow, reuse, seed, *more = case  # more: float scales, batch norm
        float_scales, bn = (more + [False, False])[:2]
        path = models.save(qmodels.qonnx_mlp(sizes, bits, seed=seed, rounding=rounding, narrow=narrow,
                                             float_scales=float_scales, bn=bn), work / "m.onnx")
        config = {"Model": {"ReuseFactor": reuse}}
    else:
        n_in, layers, config, seed = case
        path = models.save(models.chain(n_in, layers, seed=seed, scale=1.0), work / "m.onnx")
    try:
        design = nn2rtl.convert(path, config=config, top="fuzz")
    except Nn2rtlError as e:
        return "refused", str(e)
    r = design.simulate(vectors=vectors, seed=seed, work_dir=work)
    assert r.ok, (case, r.failures())
    if hls:
        from nn2rtl.design import make_vectors
        raw = make_vectors(design.input.type, design.input.size, vectors, seed)
        differ = int((design.predict_raw(raw, backend="hls") != design.predict_raw(raw)).sum())
        assert not differ, (case, f"HLS C++: {differ} outputs differ from the golden model")
    return "ok", design
