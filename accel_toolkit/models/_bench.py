"""Benchmarking whole models: rows like a kernel's, plus a per-op breakdown.

:func:`bench_model` stores one ``measurements`` row per model x backend x batch x sequence
(``kernel = 'model:minilm-l6'``, ``params = {"batch": 1, "seq": 32}``, ``family = 'model'``),
with the first run (loading the weights or uploading them, compiling, the first forward) in
``first_run_s`` apart from the steady-state samples, and one ``op_breakdown`` row per op kind
of a timed forward, linked by ``result_id``. Where the time goes::

    SELECT r.backend, b.op, b.seconds, b.share
    FROM results r JOIN op_breakdown b USING (result_id)
    WHERE r.kernel = 'model:minilm-l6' ORDER BY r.backend, b.seconds DESC
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import AccelToolkitError, ConfigError, UnsupportedKernelError
from ..harness import (
    TimingResult,
    TimingSettings,
    environment,
    environment_id,
    git_commit,
    status_of,
    summarize,
    time_callable,
)
from ..store import Store, open_store
from ._cpu import cpu_forward
from ._embed import MODEL_BACKENDS, _check_backend
from ._inputs import ModelInputs, synthetic_inputs
from ._spec import ModelSpec, get_model_spec
from ._weights import load_weights

__all__ = [
    "bench_model",
    "bench_models_command",
    "check_model_flags",
    "model_cost",
    "store_breakdown",
]

#: the least cosine similarity to the float64 forward for a row to be ``ok``, per dtype
MIN_COSINE = 0.9999
MIN_COSINE_BY_DTYPE = {"float32": MIN_COSINE, "float16": 0.999}


def _float16_unsupported(backend: str, device: Mapping[str, Any] | None = None) -> str:
    """Why ``backend`` cannot run a model in float16 (webnn and wgpu can)."""
    if backend == "webgpu":
        feats = set((device or {}).get("features") or [])
        if "shader-f16" not in feats:
            return (
                f"float16 on webgpu needs the WebGPU feature 'shader-f16', which this "
                f"adapter ({(device or {}).get('name', 'unknown')}) lacks; SwiftShader has "
                "none. Use dtype='float32', or backend 'webnn' or 'wgpu' for float16."
            )
        return (
            "float16 on webgpu: the page's weight cache holds float32 tensors only, so the "
            "float16 model plan is not sent to the browser yet. Use dtype='float32', or "
            "backend 'webnn' or 'wgpu' for float16."
        )
    why = {
        "cpu": "numpy has no float16 BLAS",
        "cuda": "the CuPy forward is float32 only so far",
        "reference": "it is the float64 check",
    }.get(backend, "the ONNX graph is float32")
    return (
        f"float16 on {backend}: not supported ({why}). Use dtype='float32', or backend "
        "'webnn' or 'wgpu' for float16."
    )


def _ints(values: int | Sequence[int] | str, name: str) -> list[int]:
    try:
        if isinstance(values, str):
            out = [int(v) for v in values.split(",") if v.strip()]
        elif isinstance(values, int):
            out = [values]
        else:
            out = [int(v) for v in values]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        raise ConfigError(f"{name} takes positive integers, e.g. {name}=[1, 8]; got {values!r}.")
    return out


def model_cost(
    spec: ModelSpec, batch: int, seq: int, dtype: str = "float32"
) -> tuple[float, float]:
    """FLOPs of one forward and bytes of the projection weights it reads in ``dtype``."""
    h, f, t = spec.hidden, spec.ffn, batch * seq
    flops = spec.layers * (2.0 * t * h * (4 * h + 2 * f) + 4.0 * batch * seq * seq * h)
    if spec.front == "patch":
        flops += 2.0 * batch * (seq - 1) * spec.channels * spec.patch**2 * h
    elif spec.front == "conv":
        flops += 2.0 * batch * seq * (2 * 3 * spec.channels + 3 * h) * h
    params = spec.layers * (4 * h * h + 2 * h * f)
    return flops, float(np.dtype(dtype).itemsize * params)


def _cosine_min(out: np.ndarray, ref: np.ndarray) -> float:
    a = np.asarray(out, np.float64).reshape(out.shape[0], -1)
    b = np.asarray(ref, np.float64).reshape(ref.shape[0], -1)
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


class _Runner:
    """One backend's forward of one model: first run, steady call, sync and breakdown."""

    def __init__(
        self, backend: str, spec: ModelSpec, x: ModelInputs, dtype: str = "float32"
    ) -> None:
        self.backend, self.spec, self.x, self.dtype = backend, spec, x, dtype
        if dtype == "float16" and backend not in ("webnn", "webgpu", "wgpu"):
            raise UnsupportedKernelError(_float16_unsupported(backend))
        self.sync: Callable[[], Any] | None = None
        self.timer = "perf_counter"
        self.model: Any = None  # a WgpuModel or CudaModel, for the per-op breakdown
        t0 = time.perf_counter()
        if backend == "cpu":
            w = load_weights(spec)
            self.call: Callable[[], np.ndarray] = lambda: cpu_forward(spec, w, x)[0]
            self.device: dict[str, Any] = {"name": "numpy", "numpy": np.__version__}
        elif backend == "onnxruntime":
            from ._onnx import ort_feeds, ort_session

            sess, feeds = ort_session(spec.name), ort_feeds(x)
            self.call = lambda: np.asarray(sess.run(["embeddings"], feeds)[0])
            import onnxruntime

            self.device = {
                "name": "onnxruntime CPUExecutionProvider",
                "onnxruntime": onnxruntime.__version__,
            }
        elif backend == "wgpu":
            from ._wgpu import WgpuModel

            m = WgpuModel.shared(spec.name, dtype)
            self.model = m
            self.call = lambda: m.forward(x)
            self.device = {"name": m.adapter, "api": "wgpu-py"}
        elif backend == "cuda":
            from ._cuda import CudaModel

            cm = CudaModel.shared(spec.name)
            self.model = cm
            self.call = lambda: cm.forward(x)
            self.sync = cm.synchronize
            self.timer = "cuda sync + perf_counter"
            self.device = {"name": "cuda (CuPy)", "api": "cupy"}
        elif backend == "webgpu":
            from ._blobs import cached_weights
            from ._embed import webgpu_backend
            from ._plan import model_gemm, plan_inputs, record_plan

            be = webgpu_backend()
            if dtype == "float16":
                raise UnsupportedKernelError(_float16_unsupported(backend, be.device_info()))
            gemm = model_gemm(be, spec, x.batch, x.seq)
            self.plan, self.kinds = record_plan(spec, x.batch, x.seq, gemm)
            self.plan_inputs = plan_inputs(self.plan, x, weights=False)
            self.weights = cached_weights(be, spec.name, self.plan.inputs)
            self.browser = be
            self.call = lambda: be.run_plan(self.plan, self.plan_inputs, weights=self.weights)[0][
                "out"
            ]
            info = be.device_info()
            self.device = {"name": info.get("name", "webgpu"), **info}
        elif backend == "webnn":
            from ._embed import webnn_backend
            from ._webnn import minilm_graph, webnn_forward

            nn = webnn_backend()
            self.graph_ops = len(minilm_graph(spec, x.batch, x.seq, dtype).ops)
            self.browser = nn
            self.call = lambda: webnn_forward(nn, spec, x, dtype)
            self.device = nn.device_info()
        else:
            raise ConfigError(
                f"bench_model measures {', '.join(MODEL_BACKENDS[:-1])}, not {backend!r}."
            )
        self.setup_s = time.perf_counter() - t0

    def measure(self, settings: TimingSettings) -> tuple[np.ndarray, TimingResult]:
        """The first run's output and the steady-state timing.

        In the browser the whole plan goes in one request: weights uploaded and pipelines
        compiled once (the runtime's first run), then the chain timed by the page's timer.
        """
        if self.backend == "webgpu":
            outs, res = self.browser.run_plan(
                self.plan, self.plan_inputs, settings=settings, weights=self.weights
            )
            self.last = res
            return outs["out"], res
        if self.backend == "webnn":
            from ._webnn import webnn_run

            out, res = webnn_run(self.browser, self.spec, self.x, settings, self.dtype)
            self.last = res
            return out, res
        out = self.call()
        return out, time_callable(self.call, settings, sync=self.sync)

    def breakdown(self) -> tuple[dict[str, tuple[float, int]], str]:
        if self.backend == "cpu":
            return cpu_forward(self.spec, load_weights(self.spec), self.x, timed=True)[
                1
            ], "perf_counter per op"
        if self.backend == "wgpu":
            return self.model.forward_timed(self.x)[1], "submit-and-wait per dispatch"
        if self.backend == "cuda":
            return self.model.forward_timed(self.x)[1], "CUDA events per op"
        if self.backend == "webgpu":
            per_pass = pass_breakdown(self.kinds, self.last)
            if per_pass is not None:
                return per_pass, TIMESTAMP_TIMER
        if self.backend in ("webgpu", "webnn"):  # the page times the whole chain or graph
            med = float(np.median(self.last.samples))
            n = len(self.plan.passes) if self.backend == "webgpu" else self.graph_ops
            return {"graph": (med, n)}, f"whole graph ({self.last.timer})"
        t0 = time.perf_counter()
        self.call()
        return {"graph": (time.perf_counter() - t0, 1)}, "whole graph"


#: the ``op_breakdown.timer`` of a webgpu forward timed by a timestamp pair around every pass
TIMESTAMP_TIMER = "timestamp-query per dispatch"


def pass_breakdown(
    kinds: Sequence[str], timing: TimingResult
) -> dict[str, tuple[float, int]] | None:
    """Seconds and dispatches per op kind from a webgpu reply's per-pass timestamps
    (``timing.extra["pass_s"]``); None where the page did not time every pass."""
    pass_s = timing.extra.get("pass_s")
    if not pass_s or len(pass_s) != len(kinds):
        return None
    per_op: dict[str, tuple[float, int]] = {}
    for kind, sec in zip(kinds, pass_s, strict=True):
        s, n = per_op.get(kind, (0.0, 0))
        per_op[kind] = (s + float(sec), n + 1)
    return per_op


def store_breakdown(
    store: Store, result_id: str, per_op: dict[str, tuple[float, int]], timer: str
) -> pd.DataFrame:
    """Insert one forward's per-op seconds as ``op_breakdown`` rows of ``result_id``."""
    total = sum(s for s, _ in per_op.values()) or 1.0
    df = pd.DataFrame(
        [
            {
                "result_id": result_id,
                "op": op,
                "calls": int(n),
                "seconds": float(s),
                "share": float(s) / total,
                "timer": timer,
            }
            for op, (s, n) in per_op.items()
        ]
    )
    with store.connect() as con:
        con.register("_new_ops", df)
        con.execute(
            "INSERT INTO op_breakdown (result_id, op, calls, seconds, share, timer) "
            "SELECT result_id, op, calls, seconds, share, timer FROM _new_ops"
        )
        con.unregister("_new_ops")
    return df


def bench_model(
    model: str = "minilm-l6",
    backends: str | Sequence[str] = "cpu",
    *,
    batch: int | Sequence[int] = 1,
    seq: int | Sequence[int] = 32,
    seed: int = 0,
    time_budget: float | None = 2.0,
    settings: TimingSettings | None = None,
    db: Store | str | None = None,
    tag: str | None = None,
    command: str | None = None,
    breakdown: bool = True,
    dtype: str = "float32",
) -> pd.DataFrame:
    """Benchmark a whole model on backends x batch sizes x sequence lengths; store the rows.

    Parameters
    ----------
    model : str
        ``"minilm-l6"`` (real weights), ``"vit-b16"`` or ``"whisper-tiny-encoder"`` (random
        weights, labelled so in each row's ``extra``).
    backends : str or list of str
        ``cpu``, ``wgpu``, ``webgpu`` and ``webnn`` (headless Chromium) and ``onnxruntime``
        (comma-separated or a list).
    batch, seq : int or list of int
        Batch sizes and sequence lengths (tokens the encoder sees; ViT: ``1 + n*n``).
    time_budget : float, optional
        Seconds of steady-state sampling per row; ``settings`` overrides it.
    db : Store or str, optional
        The results database (default: :func:`accel_toolkit.default_db_path`).
    breakdown : bool
        Also time one forward op by op and store it in ``op_breakdown``.
    dtype : {"float32", "float16"}
        float16 runs on ``webnn`` and ``wgpu`` (an adapter with ``shader-f16``); on the
        other backends its rows are ``unsupported`` with the reason. A float16 row is
        ``ok`` at cosine >= 0.999 to the float64 forward.

    Returns
    -------
    pandas.DataFrame
        The stored rows of the ``results`` view; ``df.attrs["breakdown"]`` holds the per-op
        rows (``result_id, op, calls, seconds, share, timer``).
    """
    spec = get_model_spec(model)
    names = (
        [b.strip() for b in backends.split(",")] if isinstance(backends, str) else list(backends)
    )
    for name in names:
        if _check_backend(name) == "reference":
            raise ConfigError(
                f"bench_model measures {', '.join(MODEL_BACKENDS[:-1])}; "
                f"'reference' is the float64 check, not a backend to time."
            )
    if dtype not in MIN_COSINE_BY_DTYPE:
        raise ConfigError(f"bench_model dtype is 'float32' or 'float16', not {dtype!r}.")
    batches, seqs = _ints(batch, "batch"), _ints(seq, "seq")
    timing = model_timing_settings(time_budget, settings)
    store = open_store(db)
    run_id, env_id = start_model_run(
        store, spec, names, batches, seqs, timing, tag=tag, command=command, seed=seed, dtype=dtype
    )
    ids, parts = [], []
    with store.recording(run_id):
        for nb in batches:
            for ns in seqs:
                x = synthetic_inputs(spec, nb, ns, seed)
                ref = cpu_forward(spec, load_weights(spec), x, "float64")[0]
                for name in names:
                    rid, ops = _measure(
                        store, spec, name, x, ref, timing, run_id, env_id, seed, breakdown, dtype
                    )
                    ids.append(rid)
                    if ops is not None:
                        parts.append(ops)
    return model_results(store, ids, parts)


def model_timing_settings(
    time_budget: float | None, settings: TimingSettings | None
) -> TimingSettings:
    """The timing of a model row: ``settings``, else ``time_budget`` seconds, 3+ samples."""
    return settings or TimingSettings.from_budget(time_budget).with_(min_samples=3)


def start_model_run(
    store: Store,
    spec: ModelSpec,
    backends: Sequence[str],
    batches: Sequence[int],
    seqs: Sequence[int],
    timing: TimingSettings,
    *,
    tag: str | None,
    command: str | None,
    seed: int,
    dtype: str,
) -> tuple[str, str]:
    """Record this machine and start a model run in ``store``: ``(run_id, env_id)``."""
    env = environment()
    env_id = store.add_environment(env, environment_id(env))
    run_id = store.start_run(
        tag=tag,
        env_id=env_id,
        git_commit=git_commit(),
        command=command,
        seed=seed,
        planned=len(backends) * len(batches) * len(seqs),
        settings={
            "models": [spec.name],
            "backends": list(backends),
            "batch": list(batches),
            "seq": list(seqs),
            "dtype": dtype,
            **timing.as_dict(),
        },
    )
    return run_id, env_id


def model_results(store: Store, ids: Sequence[str], parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The ``results`` rows of ``ids`` in the order they were stored, with the per-op rows
    in ``attrs["breakdown"]``."""
    marks = ", ".join("?" * len(ids))
    df = store.query(
        f"SELECT * FROM results WHERE result_id IN ({marks}) ORDER BY created_at", list(ids)
    )
    df.attrs["breakdown"] = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["result_id", "op", "calls", "seconds", "share", "timer"])
    )
    return df


@dataclass
class MeasuredForward:
    """One backend's measured forward of one configuration, ready to be stored."""

    output: np.ndarray
    timing: TimingResult
    first_run_s: float  # loading or uploading the weights, compiling, the first forward
    setup_s: float  # the part of first_run_s before the first forward was started
    device: dict[str, Any]
    timer: str


def model_row(
    spec: ModelSpec,
    backend: str,
    x: ModelInputs,
    timing: TimingSettings,
    run_id: str,
    env_id: str,
    seed: int,
    dtype: str = "float32",
    venue: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``measurements`` row of one model configuration before it is measured, and its
    ``extra``. ``venue`` defaults to where ``backend`` runs outside the tab."""
    flops, nbytes = model_cost(spec, x.batch, x.seq, dtype)
    row: dict[str, Any] = {
        "run_id": run_id,
        "env_id": env_id,
        "kernel": f"model:{spec.name}",
        "family": "model",
        "params": {"batch": x.batch, "seq": x.seq},
        "dtype": dtype,
        "seed": seed,
        "backend": backend,
        "venue": venue or ("headless" if backend in ("webgpu", "webnn") else "process"),
        "flops": flops,
        "bytes": nbytes,
        "config_key": f"model:{spec.name}|batch={x.batch},seq={x.seq}|{dtype}",
    }
    extra: dict[str, Any] = {
        "model": spec.label,
        "random_weights": spec.random_weights,
        "settings": timing.as_dict(),
    }
    return row, extra


def store_forward(
    store: Store,
    row: dict[str, Any],
    extra: dict[str, Any],
    got: MeasuredForward | AccelToolkitError,
    ref: np.ndarray,
) -> str:
    """Store one configuration's row and samples; return its ``result_id``.

    ``ok`` when the output's least cosine to the float64 forward ``ref`` reaches the dtype's
    minimum, else ``mismatch``; an error is stored with its status and message.
    """
    samples: np.ndarray | None = None
    if isinstance(got, AccelToolkitError):
        status, error = status_of(got)
        row.update(status=status, error=error)
    else:
        out, res = got.output, got.timing
        cos = _cosine_min(out, ref)
        s = summarize(res.samples)
        least = MIN_COSINE_BY_DTYPE[row["dtype"]]
        ok = cos >= least
        row.update(
            device=got.device["name"],
            device_info=got.device,
            timer=got.timer,
            median_s=s.median,
            ci_low_s=s.ci_low,
            ci_high_s=s.ci_high,
            ci_level=s.ci_level,
            iqr_s=s.iqr,
            mean_s=s.mean,
            std_s=s.std,
            min_s=s.min,
            max_s=s.max,
            n_samples=s.n,
            inner_loops=res.inner_loops,
            first_run_s=got.first_run_s,
            warmup_s=res.warmup_s,
            max_abs_err=float(np.abs(out - ref).max()),
            status="ok" if ok else "mismatch",
            error=None if ok else f"cosine to the float64 forward {cos:.6f} < {least}",
        )
        extra.update(
            cosine_min=cos, setup_s=got.setup_s, first_forward_s=got.first_run_s - got.setup_s
        )
        if "weights" in res.extra:  # how the page loaded the weights (IndexedDB cache)
            extra["weight_cache"] = res.extra["weights"]
        samples = res.samples
    row["extra"] = extra
    return store.add_result(row, samples)


def _measure(
    store: Store,
    spec: ModelSpec,
    name: str,
    x: ModelInputs,
    ref: np.ndarray,
    timing: TimingSettings,
    run_id: str,
    env_id: str,
    seed: int,
    breakdown: bool,
    dtype: str = "float32",
) -> tuple[str, pd.DataFrame | None]:
    row, extra = model_row(spec, name, x, timing, run_id, env_id, seed, dtype)
    got: MeasuredForward | AccelToolkitError
    r: _Runner | None = None
    try:
        t0 = time.perf_counter()
        r = _Runner(name, spec, x, dtype)
        if name in ("webgpu", "webnn"):
            out, res = r.measure(timing)
            first = r.setup_s + res.first_run_s
            r.timer = res.timer
        else:
            out = r.call()
            first = time.perf_counter() - t0
            res = time_callable(r.call, timing, sync=r.sync)
        got = MeasuredForward(out, res, first, r.setup_s, r.device, r.timer)
    except AccelToolkitError as exc:
        got, r = exc, None
    rid = store_forward(store, row, extra, got, ref)
    if r is None or not breakdown:
        return rid, None
    per_op, timer = r.breakdown()
    return rid, store_breakdown(store, rid, per_op, timer)


def bench_models_command(
    models: str,
    backends: str | None,
    batch: str | None,
    seq: str | None,
    *,
    db: str | None,
    tag: str | None,
    command: str,
    time_budget: float | None,
    seed: int | None,
    as_json: bool,
    dtype: str | None = None,
) -> int:
    """``accel-toolkit bench --models ...``: run :func:`bench_model`, print rows and breakdown.

    Returns the exit status: 1 when a row is an error or a mismatch, else 0.
    """
    frames = []
    dtypes = [d.strip() for d in (dtype or "float32").split(",") if d.strip()]
    for name in [m.strip() for m in models.split(",") if m.strip()]:
        for dt in dtypes:
            frames.append(
                bench_model(
                    name,
                    backends or "cpu",
                    batch=_ints(batch or "1", "--batch"),
                    seq=_ints(seq or "32", "--seq"),
                    seed=0 if seed is None else seed,
                    time_budget=2.0 if time_budget is None else time_budget,
                    db=db,
                    tag=tag,
                    command=command,
                    dtype=dt,
                )
            )
    ops = pd.concat([f.attrs.pop("breakdown") for f in frames], ignore_index=True)
    df = pd.concat(frames, ignore_index=True)  # (pandas compares attrs holding frames: drop)
    if as_json:
        print(df.to_json(orient="records", date_format="iso", default_handler=str))
    else:
        cols = [
            "kernel",
            "backend",
            "params",
            "dtype",
            "median_s",
            "first_run_s",
            "n_samples",
            "status",
        ]
        print(df[cols].to_string(index=False))
        if len(ops):
            who = df.set_index("result_id")[["kernel", "backend", "params"]]
            table = ops.join(who, on="result_id")
            table["ms"] = table["seconds"] * 1e3
            print("\nwhere the time goes (one forward timed op by op):")
            print(
                table[["kernel", "backend", "params", "op", "calls", "ms", "share", "timer"]]
                .sort_values(["kernel", "backend", "params", "ms"], ascending=[1, 1, 1, 0])
                .to_string(index=False, float_format=lambda v: f"{v:.3f}")
            )
        print(
            f"\n{len(df)} model results stored in {open_store(db).path} "
            f"(run {df['run_id'].iloc[0]})"
        )
    return 1 if df["status"].isin(["error", "mismatch"]).any() else 0


#: ``bench`` options that mean the same for models; the others belong to kernel sweeps
_MODEL_OPTIONS = {
    "command",
    "models",
    "batch",
    "seq",
    "backends",
    "seed",
    "time_budget",
    "tag",
    "dtype",
    "json",
    "db",
    "func",
    "argv",
}


def check_model_flags(options: Mapping[str, Any]) -> None:
    """Refuse ``bench`` options that do not go with ``--models`` (or ``--batch``/``--seq``
    without it), instead of ignoring them."""
    if not options.get("models"):
        if options.get("batch") or options.get("seq"):
            raise ConfigError(
                "--batch and --seq go with --models (e.g. --models minilm-l6 "
                "--seq 32,128); a kernel's sizes are --param K=V."
            )
        return
    from ..cli import build_parser

    defaults = vars(build_parser().parse_args(["bench", "--models", "x"]))
    given = sorted(
        k
        for k, v in options.items()
        if k not in _MODEL_OPTIONS and k in defaults and v != defaults[k]
    )
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(
            f"{flags} do not apply to --models (they configure kernel sweeps); "
            f"drop them, or measure the kernels in a bench of their own."
        )
