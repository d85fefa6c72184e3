"""An ONNX graph of a BERT-style text encoder, built from the same weights with the ``onnx``
helper API (no torch), and run in ONNX Runtime: the independent check of every backend.

The graph uses ONNX's standard operators (``Gather``, ``MatMul``, ``LayerNormalization``,
``Softmax``, ``Erf``) on the padded batch, with ``input_ids``, ``attention_mask`` and
``token_type_ids`` as inputs of dynamic batch and sequence size::

    >>> sess = ort_session("minilm-l6")                             # doctest: +SKIP
    >>> ort_forward(sess, tokenize(get_model_spec("minilm-l6"), ["a sentence"]))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..exceptions import UnsupportedKernelError
from ._inputs import ModelInputs
from ._spec import ModelSpec, get_model_spec
from ._weights import import_optional, load_weights

__all__ = ["build_onnx", "ort_feeds", "ort_forward", "ort_session"]

OPSET = 17


def build_onnx(spec: ModelSpec, weights: Mapping[str, np.ndarray]) -> Any:
    """The ``onnx.ModelProto`` of ``spec`` (a post-norm text encoder with mean pooling)."""
    if spec.front != "text" or spec.pre_norm:
        raise UnsupportedKernelError(
            f"The ONNX graph is built for BERT-style text encoders only; {spec.name} is not one "
            f"(use minilm-l6)."
        )
    onnx = import_optional("onnx")
    helper, TP = onnx.helper, onnx.TensorProto
    nodes: list[Any] = []
    inits: list[Any] = []
    count = [0]

    def const(name: str, value: np.ndarray) -> str:
        inits.append(onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, *ins: str, **attrs: Any) -> str:
        count[0] += 1
        out = f"{kind.lower()}_{count[0]}"
        nodes.append(helper.make_node(kind, list(ins), [out], **attrs))
        return out

    for wname, arr in weights.items():
        const(wname, arr.astype(np.float32))
    h, nh, d = spec.hidden, spec.heads, spec.head_dim
    one = const("c_one", np.array(1.0, np.float32))
    half = const("c_half", np.array(0.5, np.float32))
    rsqrt2 = const("c_rsqrt2", np.array(1 / np.sqrt(2), np.float32))
    scale = const("c_scale", np.array(1 / np.sqrt(d), np.float32))
    neg = const("c_neg", np.array(-1e9, np.float32))
    axis1 = const("c_axis1", np.array([1], np.int64))
    qkv_shape = const("c_qkv_shape", np.array([0, 0, 3, nh, d], np.int64))
    ctx_shape = const("c_ctx_shape", np.array([0, 0, h], np.int64))

    def ln(x: str, name: str) -> str:
        return op("LayerNormalization", x, name + ".g", name + ".b", axis=-1, epsilon=spec.eps)

    def linear(x: str, name: str) -> str:
        return op("Add", op("MatMul", x, name + ".w"), name + ".b")

    # embeddings
    seq_len = op("Gather", op("Shape", "input_ids"), const("c_idx1", np.array(1, np.int64)))
    positions = op(
        "Range",
        const("c_zero_i", np.array(0, np.int64)),
        seq_len,
        const("c_one_i", np.array(1, np.int64)),
    )
    x = op(
        "Add",
        op("Add", op("Gather", "word", "input_ids"), op("Gather", "pos", positions)),
        op("Gather", "type", "token_type_ids"),
    )
    x = ln(x, "emb_ln")
    mask = op("Cast", "attention_mask", to=TP.FLOAT)
    bias = op("Mul", op("Sub", one, mask), neg)  # 0 at real tokens, -1e9 at padding
    bias = op("Unsqueeze", bias, const("c_axes12", np.array([1, 2], np.int64)))  # [B,1,1,S]

    for i in range(spec.layers):
        qkv = op("Transpose", op("Reshape", linear(x, f"{i}.qkv"), qkv_shape), perm=[2, 0, 3, 1, 4])
        q, k, v = (
            op("Gather", qkv, const(f"c_sel{j}_{i}", np.array(j, np.int64)), axis=0)
            for j in range(3)
        )
        scores = op(
            "Add", op("Mul", op("MatMul", q, op("Transpose", k, perm=[0, 1, 3, 2])), scale), bias
        )
        ctx = op("MatMul", op("Softmax", scores, axis=-1), v)  # [B, heads, S, d]
        ctx = op("Reshape", op("Transpose", ctx, perm=[0, 2, 1, 3]), ctx_shape)
        x = ln(op("Add", x, linear(ctx, f"{i}.out")), f"{i}.ln1")
        f = linear(x, f"{i}.ffn1")
        f = op("Mul", op("Mul", f, half), op("Add", one, op("Erf", op("Mul", f, rsqrt2))))
        x = ln(op("Add", x, linear(f, f"{i}.ffn2")), f"{i}.ln2")

    m3 = op("Unsqueeze", mask, const("c_axis2", np.array([2], np.int64)))  # [B, S, 1]
    summed = op("ReduceSum", op("Mul", x, m3), axis1, keepdims=0)
    counts = op(
        "Max", op("ReduceSum", m3, axis1, keepdims=0), const("c_eps", np.array(1e-9, np.float32))
    )
    nodes.append(
        helper.make_node(
            "LpNormalization", [op("Div", summed, counts)], ["embeddings"], axis=-1, p=2
        )
    )

    ins = [
        helper.make_tensor_value_info(n, TP.INT64, ["batch", "seq"])
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    out = helper.make_tensor_value_info("embeddings", TP.FLOAT, ["batch", h])
    graph = helper.make_graph(nodes, spec.name, ins, [out], initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="accel_toolkit"
    )
    model.ir_version = min(model.ir_version, 9)
    onnx.checker.check_model(model)
    return model


@functools.cache
def ort_session(name: str = "minilm-l6", threads: int = 0) -> Any:
    """An ONNX Runtime CPU session of model ``name`` (cached; ``threads=0``: ORT's default)."""
    ort = import_optional("onnxruntime")
    spec = get_model_spec(name)
    model = build_onnx(spec, load_weights(spec))
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def ort_feeds(inputs: ModelInputs) -> dict[str, np.ndarray]:
    """The ONNX graph's inputs for one batch."""
    assert inputs.type_ids is not None
    return {
        "input_ids": inputs.data.astype(np.int64),
        "attention_mask": inputs.mask().astype(np.int64),
        "token_type_ids": inputs.type_ids.astype(np.int64),
    }


def ort_forward(session: Any, inputs: ModelInputs) -> np.ndarray:
    """Sentence embeddings ``[batch, hidden]`` from ONNX Runtime."""
    return np.asarray(session.run(["embeddings"], ort_feeds(inputs))[0])
