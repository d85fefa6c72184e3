"""Whole models on an NVIDIA GPU through CuPy: cuBLAS GEMMs, CuPy elementwise and reductions.

:class:`CupyOps` is :func:`~accel_toolkit.models._graph.encoder_forward`'s op set written
against an *array module* ``xp`` (CuPy on a GPU): projections are ``xp.matmul`` (cuBLAS),
GELU uses the exact ``erf`` (``cupyx.scipy.special.erf``), attention is batched matmuls with
the padding mask and a max-subtracted softmax, pooling is masked mean and L2 norm. Weights
are uploaded once per process (:meth:`CudaModel.shared`), the batch's ids or pixels once per
forward, and the output comes back in one device-to-host copy.

The array module and the timer are the seam: on a machine without a GPU the same ops run
with numpy behind them (``tests/test_models_cuda.py``), which checks the op plan and its
numerics but not CuPy itself; the ``cuda``-marked test runs the real thing.
"""

from __future__ import annotations

import functools
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..exceptions import BackendUnavailableError
from ._cpu import patchify
from ._graph import encoder_forward
from ._inputs import ModelInputs
from ._spec import ModelSpec, get_model_spec
from ._weights import load_weights

__all__ = ["CudaModel", "CupyOps", "cupy_module"]


def cupy_module() -> tuple[Any, Callable[[Any], Any]]:
    """CuPy and its ``erf``, or :class:`BackendUnavailableError` saying how to get them."""
    from ..backends._cuda import _cupy_erf, _import_cupy

    cp = _import_cupy()
    try:
        n = int(cp.cuda.runtime.getDeviceCount())
    except Exception as exc:
        raise BackendUnavailableError(
            f"cuda: CuPy found no usable CUDA driver ({exc}); models on cuda need an NVIDIA GPU."
        ) from None
    if n < 1:
        raise BackendUnavailableError("cuda: no NVIDIA GPU is visible (CUDA_VISIBLE_DEVICES?).")
    return cp, _cupy_erf(cp)


class CupyOps:
    """The ops of one forward over a padded batch on the array module ``xp``.

    Parameters
    ----------
    spec : ModelSpec
    weights : mapping of str to device arrays
        Already on the device, float32 (see :class:`CudaModel`).
    inputs : ModelInputs
    xp : module
        ``cupy`` (or numpy, behind the same seam, for the GPU-free checks).
    erf : callable
        The exact error function on ``xp`` arrays.
    timer : callable, optional
        ``timer(kind, fn)`` runs ``fn`` and records its time (CUDA events on a GPU).
    """

    def __init__(
        self,
        spec: ModelSpec,
        weights: Mapping[str, Any],
        inputs: ModelInputs,
        xp: Any,
        erf: Callable[[Any], Any],
        timer: Callable[[str, Callable[[], Any]], Any] | None = None,
    ) -> None:
        self.spec, self.w, self.inputs, self.xp, self.erf = spec, weights, inputs, xp, erf
        self.timer = timer
        mask = inputs.mask()
        self.mask = xp.asarray(mask.astype(np.float32))
        self.masked = not bool(mask.all())

    def _t(self, kind: str, fn: Callable[[], Any]) -> Any:
        return fn() if self.timer is None else self.timer(kind, fn)

    def _gelu(self, x: Any) -> Any:
        return 0.5 * x * (1.0 + self.erf(x * np.float32(1.0 / math.sqrt(2.0))))

    def _im2col(self, x: Any, stride: int) -> Any:
        """``[B, T, C]`` as the windows of a kernel-3, padding-1 conv1d, ``[B, T', C*3]``."""
        xp = self.xp
        b, t, c = x.shape
        p = xp.pad(x, ((0, 0), (1, 1), (0, 0)))
        t_out = (t + 2 - 3) // stride + 1
        taps = [p[:, k : k + stride * (t_out - 1) + 1 : stride, :] for k in range(3)]
        return xp.stack(taps, axis=-1).reshape(b, t_out, c * 3)

    # -- the graph's ops --------------------------------------------------------------------
    def front(self) -> Any:
        return self._t("front", self._front)

    def _front(self) -> Any:
        s, w, x, xp = self.spec, self.w, self.inputs, self.xp
        b, seq = x.batch, x.seq
        if s.front == "text":
            assert x.type_ids is not None
            ids = xp.asarray(x.data.astype(np.int64))
            types = xp.asarray(x.type_ids.astype(np.int64))
            h = w["word"][ids] + w["pos"][:seq][None] + w["type"][types]
            return self._layernorm(h.reshape(b * seq, s.hidden), "emb_ln")
        if s.front == "patch":
            rows = xp.asarray(patchify(np.asarray(x.data, np.float32), s.patch))
            rows = xp.matmul(rows, w["patch.w"]) + w["patch.b"]
            cls = xp.broadcast_to(w["cls"], (b, 1, s.hidden))
            h = xp.concatenate([cls, rows], axis=1) + w["pos"][:seq][None]
            return xp.ascontiguousarray(h.reshape(b * seq, s.hidden))
        mel = xp.asarray(np.asarray(x.data, np.float32).transpose(0, 2, 1))
        h = self._gelu(xp.matmul(self._im2col(mel, 1), w["conv1.w"]) + w["conv1.b"])
        h = self._gelu(xp.matmul(self._im2col(h, 2), w["conv2.w"]) + w["conv2.b"])
        h = h + w["pos"][:seq][None]
        return xp.ascontiguousarray(h.reshape(b * seq, s.hidden))

    def linear(self, x: Any, name: str, gelu: bool = False) -> Any:
        def go() -> Any:
            y = self.xp.matmul(x, self.w[name + ".w"]) + self.w[name + ".b"]
            return self._gelu(y) if gelu else y

        return self._t("linear_gelu" if gelu else "linear", go)

    def attention(self, qkv: Any) -> Any:
        return self._t("attention", lambda: self._attention(qkv))

    def _attention(self, qkv: Any) -> Any:
        s, xp, b, seq = self.spec, self.xp, self.inputs.batch, self.inputs.seq
        h, d = s.heads, s.head_dim
        t = qkv.reshape(b, seq, 3, h, d).transpose(2, 0, 3, 1, 4)  # [3, B, heads, seq, d]
        scores = xp.matmul(t[0], t[1].transpose(0, 1, 3, 2)) * np.float32(1.0 / math.sqrt(d))
        if self.masked:
            lowest = np.float32(np.finfo(np.float32).min)
            scores = xp.where(self.mask[:, None, None, :] > 0, scores, lowest)
        scores = scores - scores.max(axis=-1, keepdims=True)
        p = xp.exp(scores)
        p = p / p.sum(axis=-1, keepdims=True)
        o = xp.matmul(p, t[2]).transpose(0, 2, 1, 3)  # [B, seq, heads, d]
        return xp.ascontiguousarray(o.reshape(b * seq, s.hidden))

    def add(self, x: Any, y: Any) -> Any:
        return self._t("add", lambda: x + y)

    def layernorm(self, x: Any, name: str) -> Any:
        return self._t("layernorm", lambda: self._layernorm(x, name))

    def _layernorm(self, x: Any, name: str) -> Any:
        c = x - x.mean(axis=-1, keepdims=True)
        var = (c * c).mean(axis=-1, keepdims=True)
        return (
            c / self.xp.sqrt(var + np.float32(self.spec.eps)) * self.w[name + ".g"]
            + self.w[name + ".b"]
        )

    def pool(self, x: Any) -> Any:
        return self._t("pool", lambda: self._pool(x))

    def _pool(self, x: Any) -> Any:
        s, xp, b, seq = self.spec, self.xp, self.inputs.batch, self.inputs.seq
        h = x.reshape(b, seq, s.hidden)
        if s.front == "patch":
            return xp.ascontiguousarray(h[:, 0])
        if s.front == "conv":
            return h
        m = self.mask
        mean = (h * m[:, :, None]).sum(axis=1) / xp.maximum(m.sum(axis=1), 1.0)[:, None]
        norm = xp.sqrt((mean * mean).sum(axis=1, keepdims=True))
        return mean / xp.maximum(norm, np.float32(1e-12))


class CudaModel:
    """A model's weights on the device and its forward through :class:`CupyOps`.

    Parameters
    ----------
    name : str
        The model (``minilm-l6``, ``vit-b16``, ``whisper-tiny-encoder``).
    xp, erf : optional
        The array module and its ``erf``; default CuPy (:func:`cupy_module`).
    """

    def __init__(
        self, name: str, *, xp: Any = None, erf: Callable[[Any], Any] | None = None
    ) -> None:
        if xp is None:
            xp, erf = cupy_module()
        assert erf is not None
        self.spec = get_model_spec(name)
        self.xp, self.erf = xp, erf
        w = dict(load_weights(self.spec))
        self.weights = {k: xp.asarray(np.ascontiguousarray(v, np.float32)) for k, v in w.items()}
        self.nbytes = sum(int(v.nbytes) for v in w.values())

    @classmethod
    @functools.cache
    def shared(cls, name: str) -> CudaModel:
        """One uploaded copy per model and process (on CuPy's current device)."""
        return cls(name)

    def synchronize(self) -> None:
        """Wait for the device (a no-op without CuPy's stream)."""
        cuda = getattr(self.xp, "cuda", None)
        if cuda is not None:
            cuda.get_current_stream().synchronize()

    def forward(self, x: ModelInputs) -> np.ndarray:
        """The model's output for batch ``x``, copied to the host once."""
        out = encoder_forward(self.spec, CupyOps(self.spec, self.weights, x, self.xp, self.erf))
        asnumpy = getattr(self.xp, "asnumpy", np.asarray)
        return np.asarray(asnumpy(out), np.float32)

    def forward_timed(self, x: ModelInputs) -> tuple[np.ndarray, dict[str, tuple[float, int]]]:
        """One forward with each op timed: CUDA events on a GPU, else ``perf_counter``."""
        seconds: dict[str, float] = defaultdict(float)
        calls: dict[str, int] = defaultdict(int)
        cuda = getattr(self.xp, "cuda", None)

        def timer(kind: str, fn: Callable[[], Any]) -> Any:
            if cuda is not None:
                start, end = cuda.Event(), cuda.Event()
                start.record()
                out = fn()
                end.record()
                end.synchronize()
                seconds[kind] += cuda.get_elapsed_time(start, end) / 1e3
            else:
                t0 = time.perf_counter()
                out = fn()
                seconds[kind] += time.perf_counter() - t0
            calls[kind] += 1
            return out

        ops = CupyOps(self.spec, self.weights, x, self.xp, self.erf, timer)
        out = encoder_forward(self.spec, ops)
        asnumpy = getattr(self.xp, "asnumpy", np.asarray)
        return np.asarray(asnumpy(out), np.float32), {k: (seconds[k], calls[k]) for k in seconds}
