"""Running a model: :func:`embed` for sentences, :func:`forward` for any prepared batch."""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from ..exceptions import ParameterError, UnknownBackendError, UnsupportedKernelError
from ._cpu import cpu_forward
from ._inputs import ModelInputs, tokenize
from ._spec import get_model_spec
from ._weights import load_weights

__all__ = ["MODEL_BACKENDS", "embed", "forward", "webgpu_backend", "webnn_backend"]

#: backends that run a whole model forward
MODEL_BACKENDS = ("cpu", "wgpu", "webgpu", "webnn", "onnxruntime", "cuda", "reference")

_WEBGPU: list[Any] = []
_WEBNN: list[Any] = []


def webnn_backend() -> Any:
    """The headless-Chromium WebNN (cpu device) backend models run on (opened once)."""
    if not _WEBNN:
        from ..backends.browser import WebNNBackend

        _WEBNN.append(WebNNBackend())
    return _WEBNN[0]


def webgpu_backend() -> Any:
    """The headless-Chromium WebGPU backend models run on (opened once per process)."""
    if not _WEBGPU:
        from ..backends.browser import WebGPUBackend

        _WEBGPU.append(WebGPUBackend())
    return _WEBGPU[0]


def _webgpu_forward(spec: Any, inputs: ModelInputs) -> np.ndarray:
    """One ComputePlan request per distinct length (each group runs unpadded)."""
    from ._blobs import cached_weights
    from ._plan import model_gemm, model_plan, plan_inputs

    out: np.ndarray | None = None
    for n in sorted(set(inputs.lengths.tolist())):
        rows = np.flatnonzero(inputs.lengths == n)
        sub = ModelInputs(
            inputs.data[rows][:, :n] if spec.front == "text" else inputs.data[rows],
            inputs.lengths[rows],
            None if inputs.type_ids is None else inputs.type_ids[rows][:, :n],
            n,
        )
        be = webgpu_backend()
        plan = model_plan(spec, len(rows), n, tuple(model_gemm(be, spec, len(rows), n).items()))
        pin = plan_inputs(plan, sub, weights=False)
        got = be.run_plan(plan, pin, weights=cached_weights(be, spec.name, plan.inputs))[0]["out"]
        if out is None:
            out = np.empty((inputs.batch, *got.shape[1:]), np.float32)
        out[rows] = got
    assert out is not None
    return out


def _check_backend(backend: str) -> str:
    if backend not in MODEL_BACKENDS:
        close = difflib.get_close_matches(str(backend), MODEL_BACKENDS, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownBackendError(
            f"Models run on {', '.join(MODEL_BACKENDS)}; not on {backend!r}.{hint}"
        )
    return backend


def forward(
    model: str,
    inputs: ModelInputs,
    *,
    backend: str = "cpu",
    device: Any = None,
    dtype: str = "float32",
) -> np.ndarray:
    """The output of ``model`` for a prepared batch on ``backend``.

    ``cpu`` is numpy in float32, ``reference`` numpy in float64, ``onnxruntime`` the ONNX
    graph in ONNX Runtime's CPU provider (text models only), ``wgpu`` the WGSL kernels
    in-process (``device``: an open ``WgpuModel``, optional), ``webgpu`` the same kernels as
    one ComputePlan in headless Chromium (one request per distinct sequence length),
    ``webnn`` one WebNN ``MLGraph`` of the padded batch (text models only), ``cuda`` CuPy
    on an NVIDIA GPU (``device``: a ``CudaModel``, optional). ``dtype="float16"`` runs on
    ``wgpu`` (an adapter with ``shader-f16``) and ``webnn``; elsewhere it raises
    :class:`~accel_toolkit.exceptions.UnsupportedKernelError` saying why. The result is
    float32 either way.
    """
    spec = get_model_spec(model)
    backend = _check_backend(backend)
    if dtype not in ("float32", "float16"):
        raise UnsupportedKernelError(f"Models run float32 or float16, not {dtype!r}.")
    if dtype == "float16" and backend not in ("wgpu", "webnn"):
        from ._bench import _float16_unsupported

        info = webgpu_backend().device_info() if backend == "webgpu" else None
        raise UnsupportedKernelError(_float16_unsupported(backend, info))
    if backend in ("cpu", "reference"):
        dtype = "float32" if backend == "cpu" else "float64"
        return cpu_forward(spec, load_weights(spec), inputs, dtype)[0]
    if backend == "webgpu":
        return _webgpu_forward(spec, inputs)
    if backend == "webnn":
        from ._webnn import webnn_forward

        return np.asarray(webnn_forward(webnn_backend(), spec, inputs, dtype), np.float32)
    if backend == "onnxruntime":
        from ._onnx import ort_forward, ort_session

        return ort_forward(ort_session(model), inputs)
    if backend == "cuda":
        from ._cuda import CudaModel

        cm = device if device is not None else CudaModel.shared(model)
        if not isinstance(cm, CudaModel) or cm.spec != spec:
            raise UnsupportedKernelError(f"device= must be a CudaModel of {model!r}.")
        return cm.forward(inputs)
    from ._wgpu import WgpuModel

    runner = device if device is not None else WgpuModel.shared(model, dtype)
    if not isinstance(runner, WgpuModel) or runner.spec != spec or runner.dtype != dtype:
        raise UnsupportedKernelError(f"device= must be a {dtype} WgpuModel of {model!r}.")
    return runner.forward(inputs)


def embed(
    texts: Any, *, model: str = "minilm-l6", backend: str = "cpu", dtype: str = "float32"
) -> np.ndarray:
    """Sentence embeddings: L2-normalised mean of MiniLM's last hidden states.

    Parameters
    ----------
    texts : list of str
        The sentences (a single string is one sentence). The batch is padded to its
        longest sentence; padding is masked in attention and pooling.
    model : str
        A text model; ``"minilm-l6"`` (sentence-transformers all-MiniLM-L6-v2, real weights).
    backend : str
        ``"cpu"`` (numpy f32), ``"wgpu"`` (WGSL in-process), ``"webgpu"`` (WGSL in headless
        Chromium), ``"webnn"`` (one MLGraph in headless Chromium), ``"onnxruntime"`` or
        ``"reference"`` (numpy f64).
    dtype : {"float32", "float16"}
        The weights and activations on the device; float16 runs on ``wgpu`` (an adapter
        with ``shader-f16``, lavapipe has it) and ``webnn``, and raises
        ``UnsupportedKernelError`` saying why on the others (SwiftShader lacks ``shader-f16``).

    Returns
    -------
    numpy.ndarray
        ``[len(texts), 384]``, one unit vector a sentence; cosine similarity is a dot product.

    Examples
    --------
    >>> import accel_toolkit as at
    >>> e = at.embed(["A man is eating food.", "Someone is having a meal."])  # doctest: +SKIP
    >>> float(e[0] @ e[1]) > 0.5                                             # doctest: +SKIP
    True
    """
    spec = get_model_spec(model)
    if spec.front != "text":
        raise ParameterError(
            f"embed() takes sentences, and {model!r} is not a text "
            f"model; use embed(..., model='minilm-l6')."
        )
    _check_backend(backend)
    return forward(model, tokenize(spec, texts), backend=backend, dtype=dtype)
