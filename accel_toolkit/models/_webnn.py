"""A text encoder as one WebNN ``MLGraph``, built from the same weights.

The graph is a ``GraphSpec`` that ``widgets/runtime/webnn.js`` interprets by calling the
named ``MLGraphBuilder`` methods: ``gather`` for the embeddings, ``matmul``/``add`` for the
projections, ``layerNormalization``, ``softmax`` and ``gelu``; weights are graph constants,
the token ids, types and the padding mask are inputs. The batch is padded (the mask is an
additive ``[batch, 1, 1, seq]`` bias in attention and a ``[batch, seq, 1]`` weight in the
pooling), so one graph serves a whole batch.

    >>> g = minilm_graph(get_model_spec("minilm-l6"), batch=1, seq=32)     # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..backends.browser._webnn_graphs import GraphBuilder, GraphSpec
from ..exceptions import UnsupportedKernelError
from ._inputs import ModelInputs
from ._spec import ModelSpec
from ._weights import load_weights

__all__ = ["graph_inputs", "minilm_graph", "webnn_forward", "webnn_run"]

F = "float32"


@functools.cache
def minilm_graph(spec: ModelSpec, batch: int, seq: int, dtype: str = F) -> GraphSpec:
    """The forward of a BERT-style text encoder for ``batch`` x ``seq`` tokens as a GraphSpec.

    ``dtype`` is ``"float32"`` or ``"float16"`` (weights, activations, mask and output; the
    token ids stay int32).
    """
    if dtype not in (F, "float16"):
        raise UnsupportedKernelError(f"The WebNN model graph is float32 or float16, not {dtype!r}.")
    if spec.front != "text" or spec.pre_norm:
        raise UnsupportedKernelError(
            f"The WebNN graph is built for BERT-style text encoders; "
            f"{spec.name} is not one (use minilm-l6)."
        )
    w = load_weights(spec)
    b = GraphBuilder(f"model:{spec.name}")
    h, nh, d, t = spec.hidden, spec.heads, spec.head_dim, batch * seq

    def const(name: str) -> str:
        return b.const(dtype, w[name].shape, data=w[name], hint="w")

    def op(name: str, *args: Any, shape: tuple[int, ...], **options: Any) -> str:
        return b.op(name, *args, dtype=dtype, shape=shape, **options)

    def linear(x: str, name: str, n: int) -> str:
        return op(
            "add",
            op("matmul", x, const(name + ".w"), shape=(t, n)),
            const(name + ".b"),
            shape=(t, n),
        )

    def ln(x: str, name: str) -> str:
        return op(
            "layerNormalization",
            x,
            shape=(t, h),
            scale=const(name + ".g"),
            bias=const(name + ".b"),
            axes=[1],
            epsilon=spec.eps,
        )

    ids = b.input("ids", "int32", (t,))
    types = b.input("types", "int32", (t,))
    positions = b.input("positions", "int32", (t,))
    mask_bias = b.input("mask_bias", dtype, (batch, 1, 1, seq))
    mask = b.input("mask", dtype, (batch, seq, 1))
    counts = b.input("counts", dtype, (batch, 1))

    x = op(
        "add",
        op("gather", const("word"), ids, shape=(t, h), axis=0),
        op("gather", const("pos"), positions, shape=(t, h), axis=0),
        shape=(t, h),
    )
    x = ln(
        op("add", x, op("gather", const("type"), types, shape=(t, h), axis=0), shape=(t, h)),
        "emb_ln",
    )
    scale = b.const(dtype, (1,), data=np.array([1.0 / math.sqrt(d)], np.float32), hint="s")
    for i in range(spec.layers):
        qkv = op(
            "reshape",
            linear(x, f"{i}.qkv", 3 * h),
            [batch, seq, 3, nh, d],
            shape=(batch, seq, 3, nh, d),
        )
        qkv = op("transpose", qkv, shape=(3, batch, nh, seq, d), permutation=[2, 0, 3, 1, 4])
        q, k, v = (
            op(
                "reshape",
                op(
                    "slice",
                    qkv,
                    [j, 0, 0, 0, 0],
                    [1, batch, nh, seq, d],
                    shape=(1, batch, nh, seq, d),
                ),
                [batch, nh, seq, d],
                shape=(batch, nh, seq, d),
            )
            for j in range(3)
        )
        kt = op("transpose", k, shape=(batch, nh, d, seq), permutation=[0, 1, 3, 2])
        s = op(
            "mul",
            op("matmul", q, kt, shape=(batch, nh, seq, seq)),
            scale,
            shape=(batch, nh, seq, seq),
        )
        p = op(
            "softmax",
            op("add", s, mask_bias, shape=(batch, nh, seq, seq)),
            3,
            shape=(batch, nh, seq, seq),
        )
        ctx = op(
            "transpose",
            op("matmul", p, v, shape=(batch, nh, seq, d)),
            shape=(batch, seq, nh, d),
            permutation=[0, 2, 1, 3],
        )
        ctx = op("reshape", ctx, [t, h], shape=(t, h))
        x = ln(op("add", x, linear(ctx, f"{i}.out", h), shape=(t, h)), f"{i}.ln1")
        f = op("gelu", linear(x, f"{i}.ffn1", spec.ffn), shape=(t, spec.ffn))
        x = ln(op("add", x, linear(f, f"{i}.ffn2", h), shape=(t, h)), f"{i}.ln2")

    x3 = op("reshape", x, [batch, seq, h], shape=(batch, seq, h))
    summed = op(
        "reduceSum",
        op("mul", x3, mask, shape=(batch, seq, h)),
        shape=(batch, h),
        axes=[1],
        keepDimensions=False,
    )
    mean = op("div", summed, counts, shape=(batch, h))
    norm = op("reduceL2", mean, shape=(batch, 1), axes=[1], keepDimensions=True)
    b.output("embeddings", op("div", mean, norm, shape=(batch, h)))
    return b.finish({"batch": batch, "seq": seq}, dtype)


def graph_inputs(x: ModelInputs) -> dict[str, np.ndarray]:
    """The graph's inputs for a padded batch."""
    assert x.type_ids is not None
    m = x.mask()
    return {
        "ids": x.data.reshape(-1).astype(np.int32),
        "types": x.type_ids.reshape(-1).astype(np.int32),
        "positions": np.tile(np.arange(x.seq, dtype=np.int32), x.batch),
        # -1e4 rather than the lowest float: it must stay finite in float16 too
        "mask_bias": np.where(m, 0.0, -1e4).astype(np.float32).reshape(x.batch, 1, 1, x.seq),
        "mask": m.astype(np.float32).reshape(x.batch, x.seq, 1),
        "counts": np.maximum(m.sum(axis=1), 1).astype(np.float32).reshape(x.batch, 1),
    }


def webnn_run(
    backend: Any, spec: ModelSpec, x: ModelInputs, settings: Any = None, dtype: str = F
) -> tuple[np.ndarray, Any]:
    """Run (or, with ``settings``, measure) the graph on an open WebNN backend.

    The embeddings come back as float32 whatever ``dtype`` the graph computes in.
    """
    g = minilm_graph(spec, x.batch, x.seq, dtype)
    out, timing = backend.run_graph(g, graph_inputs(x), settings=settings)
    return np.asarray(out["embeddings"], np.float32), timing


def webnn_forward(backend: Any, spec: ModelSpec, x: ModelInputs, dtype: str = F) -> np.ndarray:
    """Sentence embeddings from one WebNN graph run."""
    return webnn_run(backend, spec, x, dtype=dtype)[0]
