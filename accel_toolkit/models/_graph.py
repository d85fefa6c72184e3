"""The forward of every model, written once over the ops a backend provides.

:func:`encoder_forward` is the graph: a front end, ``spec.layers`` encoder layers (fused
query/key/value projection, attention with the padding mask, output projection, residual and
LayerNorm, feed-forward with the erf GELU) and a pooling step. A backend supplies an
:class:`EncoderOps` whose methods are the library's kernels (``linear``, ``linear_gelu``,
``layernorm``, ``attention``) plus the glue (``front``, ``add``, ``pool``); weights are named,
so a backend may hold them where it likes (numpy arrays, GPU buffers).
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from ._spec import ModelSpec

__all__ = ["OP_KINDS", "EncoderOps", "encoder_forward"]

#: the op kinds a per-op breakdown reports, in graph order
OP_KINDS = ("front", "linear", "attention", "add", "layernorm", "linear_gelu", "pool")

T = TypeVar("T")


class EncoderOps(Protocol, Generic[T]):
    """The operations :func:`encoder_forward` chains; ``T`` is the backend's tensor type."""

    def front(self) -> T:
        """The embedded inputs ``[tokens, hidden]`` (LayerNorm included for BERT)."""

    def linear(self, x: T, name: str, gelu: bool = False) -> T:
        """``x @ w + b`` with weights ``<name>.w`` and ``<name>.b``, then GELU if asked."""

    def attention(self, qkv: T) -> T:
        """Multi-head attention over fused ``[tokens, 3 * hidden]``, padding masked."""

    def add(self, x: T, y: T) -> T:
        """The residual sum ``x + y``."""

    def layernorm(self, x: T, name: str) -> T:
        """LayerNorm with weights ``<name>.g`` and ``<name>.b``."""

    def pool(self, x: T) -> T:
        """The model's output from the last hidden states."""


def encoder_forward(spec: ModelSpec, ops: EncoderOps[T]) -> T:
    """Run ``spec``'s graph on ``ops`` and return the pooled output."""
    x = ops.front()
    for i in range(spec.layers):
        if spec.pre_norm:  # ViT, Whisper: x + f(LN(x))
            h = ops.layernorm(x, f"{i}.ln1")
            x = ops.add(x, ops.linear(ops.attention(ops.linear(h, f"{i}.qkv")), f"{i}.out"))
            h = ops.layernorm(x, f"{i}.ln2")
            x = ops.add(x, ops.linear(ops.linear(h, f"{i}.ffn1", gelu=True), f"{i}.ffn2"))
        else:  # BERT: LN(x + f(x))
            a = ops.linear(ops.attention(ops.linear(x, f"{i}.qkv")), f"{i}.out")
            x = ops.layernorm(ops.add(x, a), f"{i}.ln1")
            f = ops.linear(ops.linear(x, f"{i}.ffn1", gelu=True), f"{i}.ffn2")
            x = ops.layernorm(ops.add(x, f), f"{i}.ln2")
    if spec.pre_norm:
        x = ops.layernorm(x, "final_ln")
    return ops.pool(x)
