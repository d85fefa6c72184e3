"""The ``cpu`` forward: numpy (BLAS for the projections) in float32 or float64.

:class:`NumpyOps` implements :class:`~accel_toolkit.models._graph.EncoderOps` on a padded
batch: hidden states are ``[batch * seq, hidden]``, the attention adds ``-inf``-like scores
at padded keys, and mean pooling counts real tokens only. With ``timed=True`` each op's
wall time is summed per kind in ``op_seconds`` (the per-op breakdown).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import erf

from ._graph import encoder_forward
from ._inputs import ModelInputs
from ._spec import ModelSpec

__all__ = ["NumpyOps", "cpu_forward", "im2col_1d", "patchify"]

_SQRT1_2 = 0.7071067811865476
#: the additive attention bias at padded keys: exp() of it minus any real score is 0
_MASKED = -1e30
#: elements per block of GELU's rows (four arrays of it) and of attention scores: both fit
#: the L2 cache of a core (2 MiB on the Xeon this was tuned on; 2-4x faster at batch 8)
_GELU_BLOCK = 1 << 16
_SCORES_BLOCK = 1 << 18


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
#: absolute error below 1.5e-7 (under float32's resolution of GELU's output); the
#: coefficients a5 ... a1 of t^5 ... t, highest power first (Horner's order)
_AS_P = 0.3275911
_AS_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
#: the same for Phi(-|x|) = erfc(|x| / sqrt 2) / 2: t = 1 / (1 + P |x| / sqrt 2), and the
#: coefficients halved
_PHI_P = np.float32(_AS_P * _SQRT1_2)
_PHI_A = tuple(np.float32(0.5 * a) for a in _AS_A)


def _gelu(x: np.ndarray, scratch: Sequence[np.ndarray] = ()) -> np.ndarray:
    """The erf GELU ``x * Phi(x)`` of ``x``, written into ``x``.

    float64: scipy's exact erf. float32: A&S 7.1.26 in 20 in-place numpy passes over three
    ``scratch`` arrays shaped like ``x`` (fresh ones if not given). scipy's float32 erf takes
    ~15 ns an element here, about four times these passes.
    """
    if x.dtype != np.float32:
        e = erf(x * _SQRT1_2)
        e += 1.0
        e *= 0.5
        x *= e
        return x
    ax, t, y = scratch if scratch else [np.empty_like(x) for _ in range(3)]
    np.abs(x, out=ax)
    np.multiply(ax, _PHI_P, out=t)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    np.multiply(t, _PHI_A[0], out=y)
    for a in _PHI_A[1:]:
        y += a
        y *= t
    np.multiply(ax, ax, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    y *= t  # Phi(-|x|)
    # x Phi(x) = max(x, 0) - |x| Phi(-|x|), for either sign of x (no masked select)
    y *= ax
    np.maximum(x, np.float32(0.0), out=x)
    x -= y
    return x


class NumpyOps:
    """numpy ops of one forward over a padded batch.

    Every op allocates its output once and works in place from there, in ``dtype`` only
    (no float64 temporaries in float32); ``linear`` with GELU and ``attention`` reuse
    scratch arrays kept for the forward. Two ops write into an argument that the graph
    hands them fresh and never reads again: ``attention`` scales the query third of its
    ``qkv`` and ``add`` sums into ``y``.

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
        self._scratch: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
        mask = inputs.mask()
        #: additive attention bias [batch, 1, seq, 1] at padded keys; None without padding
        self._key_bias: np.ndarray | None = None
        if not mask.all():
            bias = np.where(mask, self.dt.type(0.0), self.dt.type(_MASKED))
            self._key_bias = bias.astype(self.dt)[:, None, :, None]  # scores are [.., key, query]

    def _t(self, kind: str, fn: Callable[[], np.ndarray]) -> np.ndarray:
        if not self.timed:
            return fn()
        t0 = time.perf_counter()
        out = fn()
        self.op_seconds[kind] += time.perf_counter() - t0
        self.op_calls[kind] += 1
        return out

    def _buf(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A scratch array of this forward, reused by every call with the same name and shape."""
        key = (name, shape)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = np.empty(shape, self.dt)
        return buf

    # -- the graph's ops --------------------------------------------------------------------
    def front(self) -> np.ndarray:
        return self._t("front", self._front)

    def _front(self) -> np.ndarray:
        s, w, x = self.spec, self.w, self.inputs
        b, seq = x.batch, x.seq
        if s.front == "text":
            assert x.type_ids is not None
            h = w["word"][x.data]
            h += w["pos"][:seq][None]
            h += w["type"][x.type_ids]
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
            y: np.ndarray = np.matmul(x, self.w[name + ".w"])
            y += self.w[name + ".b"]
            if gelu:  # in blocks of rows that stay in the L2 cache with the scratch arrays
                n = max(1, _GELU_BLOCK // y.shape[1])
                n = -(-y.shape[0] // -(-y.shape[0] // n))  # equal blocks, none nearly empty
                bufs = [self._buf(f"gelu{i}", (n, y.shape[1])) for i in range(3)]
                for r in range(0, y.shape[0], n):
                    blk = y[r : r + n]
                    _gelu(blk, [buf[: len(blk)] for buf in bufs])
            return y

        return self._t("linear_gelu" if gelu else "linear", go)

    def attention(self, qkv: np.ndarray) -> np.ndarray:
        return self._t("attention", lambda: self._attention(qkv))

    def _attention(self, qkv: np.ndarray) -> np.ndarray:
        s, b, seq = self.spec, self.inputs.batch, self.inputs.seq
        h, d = s.heads, s.head_dim
        qkv[:, : s.hidden] *= self.dt.type(1.0 / np.sqrt(d))  # the scale, on the queries
        t = qkv.reshape(b, seq, 3, h, d).transpose(2, 0, 3, 1, 4)  # [3, B, heads, seq, d]
        q, k, v = t[0], t[1], t[2]
        out = np.empty((b, seq, h, d), self.dt)
        o = out.transpose(0, 2, 1, 3)  # [B, heads, seq, d], the merged layout's view
        # in blocks of (sequences, heads) whose scores stay in the L2 cache
        per_seq = h * seq * seq
        nh = h if per_seq <= _SCORES_BLOCK else max(1, _SCORES_BLOCK // (seq * seq))
        nb = max(1, _SCORES_BLOCK // per_seq) if nh == h else 1
        for b0 in range(0, b, nb):
            for h0 in range(0, h, nh):
                blk = (slice(b0, b0 + nb), slice(h0, h0 + nh))
                self._softmax_pv(q[blk], k[blk], v[blk], o[blk], b0)
        return out.reshape(b * seq, s.hidden)

    def _softmax_pv(
        self, q: np.ndarray, k: np.ndarray, v: np.ndarray, o: np.ndarray, b0: int
    ) -> None:
        """``o = softmax(q k^T + mask) v`` for one block ``[sequences, heads, seq, d]``.

        The scores are transposed, ``[.., key, query]``: the softmax's reductions then run over
        axis -2, which numpy vectorises across the queries (over axis -1 it is 3x slower).
        Each (sequence, head) is one BLAS GEMM on strided views: no copies of q, k or v.
        """
        scores = self._buf("scores", (*q.shape[:3], k.shape[2]))
        st = np.matmul(k, q.transpose(0, 1, 3, 2), out=scores)
        if self._key_bias is not None:
            st += self._key_bias[b0 : b0 + q.shape[0]]
        st -= st.max(axis=-2, keepdims=True)
        np.exp(st, out=st)
        total = st.sum(axis=-2)[..., None]  # [.., query, 1]
        np.matmul(st.transpose(0, 1, 3, 2), v, out=o)  # unnormalised: divided on d columns
        o /= total

    def add(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self._t("add", lambda: np.add(y, x, out=y))

    def layernorm(self, x: np.ndarray, name: str) -> np.ndarray:
        return self._t("layernorm", lambda: self._layernorm(x, name))

    def _layernorm(self, x: np.ndarray, name: str) -> np.ndarray:
        inv_n = self.dt.type(1.0 / x.shape[-1])
        ones = self._scratch.get(("ones", x.shape[-1:]))
        if ones is None:
            ones = self._buf("ones", x.shape[-1:])
            ones.fill(1.0)
        mean = x @ ones  # row sums by BLAS: 4x numpy's mean over the last axis
        mean *= inv_n
        c: np.ndarray = x - mean[:, None]
        var = np.einsum("ij,ij->i", c, c)
        var *= inv_n
        var += self.dt.type(self.spec.eps)
        np.sqrt(var, out=var)
        np.reciprocal(var, out=var)
        c *= var[:, None]
        c *= self.w[name + ".g"]
        c += self.w[name + ".b"]
        return c

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
        # [B, 1, seq] @ [B, seq, hidden]: the masked sum over tokens
        mean: np.ndarray = np.matmul(m[:, None, :], h)[:, 0]
        mean /= np.maximum(m.sum(axis=1), self.dt.type(1.0))[:, None]
        norm = np.sqrt(np.einsum("ij,ij->i", mean, mean))[:, None]
        mean /= np.maximum(norm, self.dt.type(1e-12))
        return mean


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
