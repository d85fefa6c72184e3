"""The ``cpu`` forward: numpy (BLAS for the projections) in float32 or float64.

:class:`NumpyOps` implements :class:`~accel_toolkit.models._graph.EncoderOps` on a padded
batch: hidden states are ``[batch * seq, hidden]``, the attention adds ``-inf``-like scores
at padded keys, and mean pooling counts real tokens only. With ``timed=True`` each op's
wall time is summed per kind in ``op_seconds`` (the per-op breakdown).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np
from scipy.special import erf

from ._graph import encoder_forward
from ._inputs import ModelInputs
from ._spec import ModelSpec

__all__ = ["NumpyOps", "cpu_forward", "im2col_1d", "patchify"]

_SQRT1_2 = 0.7071067811865476


def patchify(img: np.ndarray, patch: int) -> np.ndarray:
    """``[B, C, n*p, n*p]`` images as ``[B, n*n, C*p*p]`` rows (a stride-p convolution's input)."""
    b, c, hh, ww = img.shape
    n, m = hh // patch, ww // patch
    x = img.reshape(b, c, n, patch, m, patch).transpose(0, 2, 4, 1, 3, 5)
    return x.reshape(b, n * m, c * patch * patch)


def im2col_1d(x: np.ndarray, stride: int) -> np.ndarray:
    """``[B, T, C]`` as ``[B, T_out, C*3]``: the windows of a kernel-3, padding-1 conv1d.

    The column order is (channel, tap), matching a ``[out, C, 3]`` weight flattened.
    """
    b, t, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (0, 0)))
    t_out = (t + 2 - 3) // stride + 1
    taps = [xp[:, k : k + stride * (t_out - 1) + 1 : stride, :] for k in range(3)]
    return np.stack(taps, axis=-1).reshape(b, t_out, c * 3)


#: Abramowitz & Stegun 7.1.26: erfc(z) ~ poly(t) exp(-z^2), t = 1 / (1 + P z), z >= 0,
#: absolute error below 1.5e-7 (under float32's resolution of GELU's output)
_AS_P = 0.3275911
_AS_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _gelu(x: np.ndarray) -> np.ndarray:
    """The erf GELU ``x * Phi(x)``: scipy's erf in float64, A&S 7.1.26 in float32.

    scipy's float32 erf takes ~40 ns an element, a fifth of a MiniLM forward; the
    approximation is a dozen in-place numpy passes.
    """
    if x.dtype != np.float32:
        return cast(np.ndarray, 0.5 * x * (1.0 + erf(x * _SQRT1_2)))
    ax = np.abs(x)
    z = ax * np.float32(_SQRT1_2)
    t = z * np.float32(_AS_P)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    y = t * np.float32(_AS_A[0])
    for a in _AS_A[1:]:
        y += np.float32(a)
        y *= t
    z *= z
    np.negative(z, out=z)
    np.exp(z, out=z)
    y *= z  # erfc(|x| / sqrt 2)
    y *= np.float32(0.5)  # Phi(-|x|)
    # x Phi(x) = max(x, 0) - |x| Phi(-|x|), for either sign of x (no masked select)
    y *= ax
    out = np.maximum(x, np.float32(0.0))
    out -= y
    return cast(np.ndarray, out)


class NumpyOps:
    """numpy ops of one forward over a padded batch.

    Parameters
    ----------
    spec, weights, inputs
        The model, its weights (converted to ``dtype`` once) and the batch.
    dtype : str
        ``"float32"`` (the ``cpu`` backend) or ``"float64"`` (the reference).
    timed : bool
        Sum each op's wall time per kind in ``op_seconds``.
    """

    def __init__(
        self,
        spec: ModelSpec,
        weights: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        dtype: str = "float32",
        timed: bool = False,
    ) -> None:
        self.spec, self.inputs, self.dt = spec, inputs, np.dtype(dtype)
        self.w = {k: v.astype(self.dt, copy=False) for k, v in weights.items()}
        self.timed = timed
        self.op_seconds: dict[str, float] = defaultdict(float)
        self.op_calls: dict[str, int] = defaultdict(int)

    def _t(self, kind: str, fn: Callable[[], np.ndarray]) -> np.ndarray:
        if not self.timed:
            return fn()
        t0 = time.perf_counter()
        out = fn()
        self.op_seconds[kind] += time.perf_counter() - t0
        self.op_calls[kind] += 1
        return out

    # -- the graph's ops --------------------------------------------------------------------
    def front(self) -> np.ndarray:
        return self._t("front", self._front)

    def _front(self) -> np.ndarray:
        s, w, x = self.spec, self.w, self.inputs
        b, seq = x.batch, x.seq
        if s.front == "text":
            assert x.type_ids is not None
            h = w["word"][x.data] + w["pos"][:seq][None] + w["type"][x.type_ids]
            return self._layernorm(h.reshape(b * seq, s.hidden), "emb_ln")
        if s.front == "patch":
            patches = patchify(x.data.astype(self.dt, copy=False), s.patch)
            rows = patches @ w["patch.w"] + w["patch.b"]
            cls = np.broadcast_to(w["cls"], (b, 1, s.hidden))
            h = np.concatenate([cls, rows], axis=1) + w["pos"][:seq][None]
            return np.ascontiguousarray(h.reshape(b * seq, s.hidden))
        mel = x.data.astype(self.dt, copy=False).transpose(0, 2, 1)  # [B, frames, mels]
        h = _gelu(im2col_1d(mel, 1) @ w["conv1.w"] + w["conv1.b"])
        h = _gelu(im2col_1d(h, 2) @ w["conv2.w"] + w["conv2.b"]) + w["pos"][:seq][None]
        return np.ascontiguousarray(h.reshape(b * seq, s.hidden))

    def linear(self, x: np.ndarray, name: str, gelu: bool = False) -> np.ndarray:
        def go() -> np.ndarray:
            y = x @ self.w[name + ".w"]
            y += self.w[name + ".b"]
            return _gelu(y) if gelu else y

        return self._t("linear_gelu" if gelu else "linear", go)

    def attention(self, qkv: np.ndarray) -> np.ndarray:
        return self._t("attention", lambda: self._attention(qkv))

    def _attention(self, qkv: np.ndarray) -> np.ndarray:
        s, b, seq = self.spec, self.inputs.batch, self.inputs.seq
        h, d = s.heads, s.head_dim
        t = qkv.reshape(b, seq, 3, h, d).transpose(2, 0, 3, 1, 4)  # [3, B, heads, seq, d]
        q, k, v = t[0], t[1], t[2]
        scores = (q @ k.transpose(0, 1, 3, 2)) * self.dt.type(1.0 / np.sqrt(d))
        mask = self.inputs.mask()
        if not mask.all():
            scores = np.where(mask[:, None, None, :], scores, np.finfo(self.dt).min)
        scores -= scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=-1, keepdims=True)
        o = (p @ v).transpose(0, 2, 1, 3)  # [B, seq, heads, d]
        return np.ascontiguousarray(o.reshape(b * seq, s.hidden))

    def add(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self._t("add", lambda: x + y)

    def layernorm(self, x: np.ndarray, name: str) -> np.ndarray:
        return self._t("layernorm", lambda: self._layernorm(x, name))

    def _layernorm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        c = x - mean
        var = (c * c).mean(axis=-1, keepdims=True)
        c *= 1.0 / np.sqrt(var + self.spec.eps)
        return cast(np.ndarray, c * self.w[name + ".g"] + self.w[name + ".b"])

    def pool(self, x: np.ndarray) -> np.ndarray:
        return self._t("pool", lambda: self._pool(x))

    def _pool(self, x: np.ndarray) -> np.ndarray:
        s, b, seq = self.spec, self.inputs.batch, self.inputs.seq
        h = x.reshape(b, seq, s.hidden)
        if s.front == "patch":
            return np.ascontiguousarray(h[:, 0])  # the class token
        if s.front == "conv":
            return h  # Whisper's encoder output: every frame's hidden state
        m = self.inputs.mask().astype(self.dt)
        mean = (h * m[:, :, None]).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)[:, None]
        norm = np.sqrt((mean * mean).sum(axis=1, keepdims=True))
        return cast(np.ndarray, mean / np.maximum(norm, self.dt.type(1e-12)))


def cpu_forward(
    spec: ModelSpec,
    weights: Mapping[str, np.ndarray],
    inputs: ModelInputs,
    dtype: str = "float32",
    timed: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The model's output on the CPU and the per-op seconds (empty unless ``timed``)."""
    ops = NumpyOps(spec, weights, inputs, dtype, timed)
    out = encoder_forward(spec, ops)
    return out, {k: (ops.op_seconds[k], ops.op_calls[k]) for k in ops.op_seconds}
