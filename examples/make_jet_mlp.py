"""Train the bundled example and write it as ONNX: ``python examples/make_jet_mlp.py [OUT.onnx]``.

A jet-tagging-shaped MLP (16 -> 64 -> 32 -> 32 -> 5, ReLU, logits out) trained with plain numpy (Adam, cross
entropy, fixed seed) on a synthetic 5-class task: 16 features drawn around class-dependent centres and passed
through a fixed nonlinearity, scaled like standardised jet features. The ONNX file uses the layout that
``torch.onnx.export`` produces for ``nn.Linear`` (Gemm with ``transB=1``, weights ``[out, in]``, node names
``/fc1/Gemm``), so the example exercises the common PyTorch path. Same seed, same bytes.
"""

import sys
from pathlib import Path

import numpy as np

SIZES = [16, 64, 32, 32, 5]
SEED = 2026


def make_data(rng, n):
    centres = rng.normal(0.0, 1.0, size=(5, 16))
    mix = rng.normal(0.0, 0.5, size=(16, 16))
    labels = rng.integers(0, 5, size=n)
    z = centres[labels] + rng.normal(0.0, 1.0, size=(n, 16))
    x = np.tanh(z @ mix) * 2.0 + 0.3 * z
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(np.float32), labels


def train(x, y, rng, epochs=30, batch=256, lr=3e-3):
    params = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        params.append([rng.normal(0.0, np.sqrt(2.0 / a), size=(b, a)), np.zeros(b)])
    m = [[np.zeros_like(w), np.zeros_like(b)] for w, b in params]
    v = [[np.zeros_like(w), np.zeros_like(b)] for w, b in params]
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch):
            idx = order[s:s + batch]
            acts = [x[idx].astype(np.float64)]
            for k, (w, b) in enumerate(params):
                h = acts[-1] @ w.T + b
                acts.append(np.maximum(h, 0.0) if k < len(params) - 1 else h)
            logits = acts[-1]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1.0
            grad = p / len(idx)
            step += 1
            for k in range(len(params) - 1, -1, -1):
                w, b = params[k]
                gw, gb = grad.T @ acts[k], grad.sum(axis=0)
                if k:
                    grad = (grad @ w) * (acts[k] > 0)
                for j, g in enumerate((gw, gb)):
                    m[k][j] = 0.9 * m[k][j] + 0.1 * g
                    v[k][j] = 0.999 * v[k][j] + 0.001 * g * g
                    mh, vh = m[k][j] / (1 - 0.9 ** step), v[k][j] / (1 - 0.999 ** step)
                    params[k][j] = params[k][j] - lr * mh / (np.sqrt(vh) + 1e-8)
    return params


def accuracy(params, x, y):
    h = x.astype(np.float64)
    for k, (w, b) in enumerate(params):
        h = h @ w.T + b
        if k < len(params) - 1:
            h = np.maximum(h, 0.0)
    return float((h.argmax(axis=1) == y).mean())


def to_onnx(params):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], []
    prev = "input"
    for k, (w, b) in enumerate(params, start=1):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"fc{k}.weight"),
                  numpy_helper.from_array(b.astype(np.float32), f"fc{k}.bias")]
        out = "output" if k == len(params) else f"/fc{k}/Gemm_output_0"
        nodes.append(helper.make_node("Gemm", [prev, f"fc{k}.weight", f"fc{k}.bias"], [out], name=f"/fc{k}/Gemm",
                                      alpha=1.0, beta=1.0, transB=1))
        prev = out
        if k < len(params):
            out = f"/relu{k}/Relu_output_0"
            nodes.append(helper.make_node("Relu", [prev], [out], name=f"/relu{k}/Relu"))
            prev = out
    graph = helper.make_graph(
        nodes, "jet_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", SIZES[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", SIZES[-1]])], inits)
    model = helper.make_model(graph, producer_name="nn2rtl-example", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(argv):
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("jet_mlp.onnx")
    rng = np.random.default_rng(SEED)
    x, y = make_data(rng, 20000)
    params = train(x[:16000], y[:16000], rng)
    print(f"test accuracy (float): {accuracy(params, x[16000:], y[16000:]):.3f}")
    import onnx
    onnx.save(to_onnx(params), out)
    np.save(out.with_name("jet_mlp_inputs.npy"), x[16000:17000])
    print(f"wrote {out} and {out.with_name('jet_mlp_inputs.npy')}")


if __name__ == "__main__":
    main(sys.argv)
