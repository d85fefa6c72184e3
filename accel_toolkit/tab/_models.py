"""Whole models in the live tab: the headless venue's webgpu requests, sent over the comm.

A model forward in the tab is the same request the headless venue sends
(:func:`accel_toolkit.backends.browser._backends.plan_request`): the model's ComputePlan
(:func:`accel_toolkit.models._plan.model_plan`) with its weights named, not carried. The page
binds the GPU copies it kept from an earlier request, else loads the tensors through its
IndexedDB cache; a tensor it lacks it asks the kernel for over the comm
(:mod:`._weights`), because the tab has no page server. A batch is grouped by sentence length
and each group runs unpadded, as on the headless webgpu backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import BackendUnavailableError, ParameterError
from ..harness import TimingResult, TimingSettings
from ..models._inputs import ModelInputs
from ..models._spec import ModelSpec
from ._protocols import Mode, RunRequest, RuntimeReply
from ._weights import WeightServer

__all__ = ["ModelRun", "length_groups", "model_output", "model_request", "model_timing"]


@dataclass
class ModelRun:
    """One measured model forward in the tab: its output, timing and where it ran."""

    output: np.ndarray
    timing: TimingResult
    device: dict[str, Any] = field(default_factory=dict)


def length_groups(spec: ModelSpec, inputs: ModelInputs) -> list[tuple[np.ndarray, ModelInputs]]:
    """The batch split by real length: ``(rows, unpadded sub-batch)`` per distinct length."""
    out = []
    for n in sorted(set(inputs.lengths.tolist())):
        rows = np.flatnonzero(inputs.lengths == n)
        text = spec.front == "text"
        sub = ModelInputs(
            inputs.data[rows][:, :n] if text else inputs.data[rows],
            inputs.lengths[rows],
            None if inputs.type_ids is None else inputs.type_ids[rows][:, :n],
            int(n),
        )
        out.append((rows, sub))
    return out


def model_request(
    spec: ModelSpec,
    x: ModelInputs,
    info: Mapping[str, Any],
    server: WeightServer,
    *,
    mode: Mode = "once",
    settings: TimingSettings | None = None,
) -> tuple[RunRequest, list[bytes], Any]:
    """The webgpu request of one unpadded batch, its input buffers and its ComputePlan.

    Registers the model's weight tensors with ``server`` so the page can ask for them.
    """
    gpu = info.get("webgpu") or {}
    if not gpu.get("available"):
        why = gpu.get("reason") or gpu.get("error") or "navigator.gpu is missing"
        raise BackendUnavailableError(
            f"The tab has no WebGPU adapter ({why}); run {spec.name} with "
            f"accel_toolkit.embed(..., backend='webgpu') in the headless browser instead."
        )
    from ..backends import _wgsl
    from ..backends.browser._backends import plan_request
    from ..models._blobs import _model_blobs
    from ..models._plan import model_plan, plan_inputs

    plan = model_plan(spec, x.batch, x.seq)
    if gpu.get("limits"):
        _wgsl.check_limits(plan, gpu["limits"])
    folder, manifest = _model_blobs(spec.name)
    server.register(folder, manifest)
    weights = {"model": spec.name, "blobs": [dict(m) for m in manifest if m["name"] in plan.inputs]}
    request, buffers = plan_request(
        plan, plan_inputs(plan, x, weights=False), mode, settings, weights
    )
    return request, buffers, plan


def model_output(plan: Any, reply: RuntimeReply, buffers: Sequence[bytes]) -> np.ndarray:
    """The model's output (``out``) from an ``ok`` reply and its buffers."""
    index = [o.get("index", i) for i, o in enumerate(reply.get("outputs") or [])]
    out: np.ndarray = plan.decode_outputs([buffers[i] for i in index] if index else buffers)["out"]
    return out


def model_timing(reply: RuntimeReply, round_trip_s: float) -> TimingResult:
    """The timing of a ``measure`` reply; ``extra`` says how the page got the weights."""
    samples = np.asarray(reply.get("samples") or [], dtype=float)
    if samples.size == 0:
        raise ParameterError("The tab replied without timing samples to a measure request.")
    keep = ("compile_s", "handle_s", "weights", "pass_s", "upload_bytes", "readbacks")
    r: dict[str, Any] = dict(reply)
    return TimingResult(
        samples=samples,
        inner_loops=int(reply.get("inner_loops") or 1),
        first_run_s=float(reply.get("first_run_s") or 0.0),
        warmup_s=float(reply.get("warmup_s") or 0.0),
        timer=str(reply.get("timer") or "unknown"),
        extra={k: r[k] for k in keep if k in r} | {"round_trip_s": round_trip_s},
    )
