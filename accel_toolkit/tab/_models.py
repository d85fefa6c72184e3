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
import pandas as pd

from ..exceptions import (
    AccelToolkitError,
    BackendUnavailableError,
    BrowserCrashedError,
    NoFrontendError,
    ParameterError,
)
from ..harness import TimingResult, TimingSettings
from ..models._inputs import ModelInputs
from ..models._spec import ModelSpec
from ..store import Store, open_store
from ._protocols import Mode, RunRequest, RuntimeReply
from ._weights import WeightServer

__all__ = [
    "ModelRun",
    "bench_in_tab",
    "length_groups",
    "model_output",
    "model_request",
    "model_timing",
]


@dataclass
class ModelRun:
    """One measured model forward in the tab: its output, timing and where it ran."""

    output: np.ndarray
    timing: TimingResult
    device: dict[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()  # the op kind of each pass of the plan it ran


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
) -> tuple[RunRequest, list[bytes], Any, tuple[str, ...]]:
    """The webgpu request of one unpadded batch, its input buffers, its ComputePlan and the
    op kind of each of the plan's passes.

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
    from ..models._plan import model_plan_kinds, plan_inputs

    plan, kinds = model_plan_kinds(spec, x.batch, x.seq)
    if gpu.get("limits"):
        _wgsl.check_limits(plan, gpu["limits"])
    folder, manifest = _model_blobs(spec.name)
    server.register(folder, manifest)
    weights = {"model": spec.name, "blobs": [dict(m) for m in manifest if m["name"] in plan.inputs]}
    request, buffers = plan_request(
        plan, plan_inputs(plan, x, weights=False), mode, settings, weights
    )
    return request, buffers, plan, kinds


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


async def bench_in_tab(
    runner: Any,
    model: str,
    *,
    batch: int | Sequence[int],
    seq: int | Sequence[int],
    seed: int,
    time_budget: float | None,
    settings: TimingSettings | None,
    db: Store | str | None,
    tag: str | None,
    breakdown: bool,
    time_limit_s: float,
) -> pd.DataFrame:
    """:meth:`TabRunner.bench_model` in a live tab: ``runner.measure_model`` per batch x
    sequence, each row stored (venue ``tab``) before the next is measured."""
    from ..models._bench import (
        TIMESTAMP_TIMER,
        MeasuredForward,
        _ints,
        model_results,
        model_row,
        model_timing_settings,
        pass_breakdown,
        start_model_run,
        store_breakdown,
        store_forward,
    )
    from ..models._cpu import cpu_forward
    from ..models._inputs import synthetic_inputs
    from ..models._spec import get_model_spec
    from ..models._weights import load_weights

    spec = get_model_spec(model)
    batches, seqs = _ints(batch, "batch"), _ints(seq, "seq")
    timing = model_timing_settings(time_budget, settings)
    store = open_store(db)
    run_id, env_id = start_model_run(
        store,
        spec,
        ["webgpu"],
        batches,
        seqs,
        timing,
        tag=tag,
        command="TabRunner.bench_model",
        seed=seed,
        dtype="float32",
    )
    ids: list[str] = []
    parts: list[pd.DataFrame] = []
    with store.recording(run_id, interrupted=(KeyboardInterrupt, NoFrontendError)):
        for nb in batches:
            for ns in seqs:
                x = synthetic_inputs(spec, nb, ns, seed)
                ref = cpu_forward(spec, load_weights(spec), x, "float64")[0]
                row, extra = model_row(spec, "webgpu", x, timing, run_id, env_id, seed, venue="tab")
                got: MeasuredForward | AccelToolkitError
                try:
                    run: ModelRun = await runner.measure_model(
                        spec.name,
                        batch=nb,
                        seq=ns,
                        seed=seed,
                        settings=timing,
                        time_limit_s=time_limit_s,
                    )
                    got = MeasuredForward(
                        run.output,
                        run.timing,
                        run.timing.first_run_s,
                        0.0,
                        run.device,
                        run.timing.timer,
                    )
                except AccelToolkitError as exc:
                    gone = isinstance(exc, NoFrontendError) or (
                        isinstance(exc, BrowserCrashedError) and not await runner.alive()
                    )
                    if gone:  # stop; what is stored stays
                        raise NoFrontendError(
                            f"Run {run_id} interrupted during {spec.name} batch {nb} seq {ns}: "
                            f"the tab is gone ({exc}). {len(ids)} result(s) are stored. "
                            f"Re-display the runner in an open tab and call "
                            f"runner.bench_model(...) again, or measure headless with "
                            f"accel_toolkit.bench_model(..., backends='webgpu')."
                        ) from exc
                    got = exc
                rid = store_forward(store, row, extra, got, ref)
                ids.append(rid)
                if breakdown and isinstance(got, MeasuredForward):
                    per_op = pass_breakdown(run.kinds, run.timing)
                    timer = TIMESTAMP_TIMER
                    if per_op is None:  # the adapter has no timestamp-query: the chain only
                        med = float(np.median(run.timing.samples))
                        per_op = {"graph": (med, len(run.kinds))}
                        timer = f"whole graph ({got.timer})"
                    parts.append(store_breakdown(store, rid, per_op, timer))
    return model_results(store, ids, parts)
