"""Run in hls4ml's venv: the types and table sizes hls4ml 1.3.0 itself chooses for activations and softmax.

Converts a small ONNX model (Gemm, Sigmoid, Gemm, Softmax; qonnx clean-up as hls4ml's documentation prescribes)
with the Vivado backend at the default precision, adds a HardActivation (the Keras/QKeras hard sigmoid) with
hls4ml's own ``make_node``, and prints, per layer kind, every ``*_t`` type in HLS spelling and every table size as
JSON. The oracle tests compare the types they hand to hls4ml's C++ with these.
"""

import json
import re
import sys
import tempfile

import hls4ml
import numpy as np
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
from qonnx.transformation.gemm_to_matmul import GemmToMatMul
from qonnx.util.cleanup import cleanup_model


def spell(p):
    """An hls4ml precision in nn2rtl's spelling, e.g. ``fixed<18,8,RND,SAT>`` (read by FixedType.parse)."""
    rnd = getattr(p, "rounding_mode", None)
    sat = getattr(p, "saturation_mode", None)
    modes = [rnd.name if rnd is not None else "TRN", sat.name if sat is not None else "WRAP"]
    return f"{'fixed' if p.signed else 'ufixed'}<{p.width},{p.integer},{','.join(modes)}>"


def main():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Sigmoid", ["h"], ["s"], name="sig"),
             helper.make_node("Gemm", ["s", "w2", "b2"], ["z"], name="fc2", transB=1),
             helper.make_node("Softmax", ["z"], ["y"], name="sm", axis=-1)]
    inits = [numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b1"),
             numpy_helper.from_array(rng.normal(size=(5, 4)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.zeros(5, np.float32), "b2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    m = cleanup_model(ModelWrapper(helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])))
    m = cleanup_model(m.transform(ConvertToChannelsLastAndClean()).transform(GemmToMatMul()))
    cfg = hls4ml.utils.config_from_onnx_model(m, granularity="model", backend="Vivado")
    with tempfile.TemporaryDirectory() as d:
        hm = hls4ml.converters.convert_from_onnx_model(m, output_dir=d, backend="Vivado", hls_config=cfg,
                                                       io_type="io_parallel")
        sig = next(layer for layer in hm.get_layers() if layer.class_name.endswith("Activation"))
        hard = hm.make_node("HardActivation", "hard", {"activation": "hard_sigmoid", "slope": 0.2, "shift": 0.5},
                            [sig.outputs[0]])
        out = {}
        for kind, layer in (("table_activation", sig), ("hard_activation", hard),
                            ("softmax", next(la for la in hm.get_layers() if "Softmax" in la.class_name))):
            row = {}
            for k, v in layer.attributes.items():
                if k.endswith("_t") and hasattr(v, "precision"):
                    row[k] = spell(v.precision)
                elif k.endswith("table_size") or k == "implementation":
                    row[k] = v
            cpp = layer.get_attr("config_cpp") or ""
            norm = re.search(r"typedef (.+?) inp_norm_t;", cpp)
            if norm:
                row["inp_norm_t"] = norm.group(1).replace(" ", "")
            for size in ("exp_table_size", "inv_table_size"):
                hit = re.search(rf"{size} = (\d+);", cpp)
                if hit:
                    row[size] = int(hit.group(1))
            out[kind] = row
    json.dump({"hls4ml_version": hls4ml.__version__, **out}, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
