"""The live active-learning loop: measure, refit, suggest, measure again, into the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, PredictionError
from ._model import STATISTICS, SpeedModel
from ._strategies import _check_targets, resolve_strategy, suggest

__all__ = ["ActiveLearningResult", "active_learning"]


@dataclass
class ActiveLearningResult:
    """What :func:`active_learning` measured, and how well each prediction did beforehand.

    ``history`` has one row per measured configuration: ``round, params, pred_s, low_s,
    high_s, measured_s, rel_error, covered, n_train`` (``pred_*`` are NaN for the random
    initial design). The prequential error (each prediction made *before* its measurement) is
    an honest estimate of the model's accuracy on new configurations.
    """

    kernel: str
    backend: str
    run_id: str
    history: pd.DataFrame
    model: SpeedModel | None = field(repr=False, default=None)

    def chart(self) -> Any:
        """Predicted (with interval) vs measured latency of each suggestion, by round."""
        import altair as alt

        h = self.history.dropna(subset=["pred_s"])
        base = alt.Chart(h).encode(
            x=alt.X("measured_s:Q", scale=alt.Scale(type="log"), title="measured (s)")
        )
        bars = base.mark_rule(opacity=0.5).encode(
            y=alt.Y("low_s:Q", scale=alt.Scale(type="log"), title="predicted (s)"), y2="high_s:Q"
        )
        pts = base.mark_circle(size=60).encode(
            y="pred_s:Q", color="round:O", tooltip=["round", "params", "pred_s", "measured_s"]
        )
        return (bars + pts).properties(title=f"active learning: {self.kernel} on {self.backend}")


def active_learning(
    kernel: str,
    backend: str = "cpu",
    candidates: Sequence[Mapping[str, Any]] | None = None,
    budget: int = 20,
    *,
    db: Any = None,
    init: int = 5,
    step: int = 1,
    dtype: str = "float32",
    seed: int = 0,
    time_budget: float | None = 0.2,
    settings: Any = None,
    use_store: bool = False,
    model_params: Mapping[str, Any] | None = None,
    strategy: str = "auto",
    targets: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = True,
    tag: str = "active-learning",
) -> ActiveLearningResult:
    """Measure ``budget`` configurations of ``kernel`` on ``backend``, chosen actively.

    ``init`` random candidates are measured first; then, round after round, the model is
    refitted on everything measured so far and the ``step`` most useful candidates
    (:func:`suggest`) are measured - for real, into the store, as one run tagged ``tag``.

    Parameters
    ----------
    kernel, backend : str
        What to measure.
    candidates : list of parameter dicts, optional
        The pool to choose from; default ``log_uniform_grid(kernel, 200, seed=seed)``.
    budget : int
        Total measurements of this call (including the initial design).
    db : Store or path, optional
        Where the measurements go (default database if None).
    init, step : int
        Size of the random initial design and of each round.
    dtype, seed : str, int
        Configuration dtype and input seed.
    time_budget, settings :
        Timing of each measurement (as in :func:`accel_toolkit.bench`).
    use_store : bool
        Also train on the store's earlier ``ok`` results of this kernel and backend.
    model_params : dict, optional
        :class:`SpeedModel` parameters.
    strategy : str
        How :func:`suggest` picks (default ``"auto"``: variance reduction for a GP model).
    targets : list of parameter dicts, optional
        The shapes whose predictions matter (:func:`suggest`'s ``targets``; variance
        reduction only).
    progress : bool
        Show a tqdm bar.
    """
    from ..backends import check_backend_name
    from ..backends._pool import BackendPool
    from ..harness import TimingSettings, environment, environment_id, git_commit, measure_one
    from ..kernels import config_key, get_kernel
    from ..store import open_store
    from ._candidates import log_uniform_grid

    spec = get_kernel(kernel)
    check_backend_name(backend)
    if budget < 1 or init < 1 or step < 1:
        raise ConfigError("budget, init and step must all be >= 1.")
    params = dict(model_params or {})
    proto = SpeedModel(**params)
    strategy = resolve_strategy(proto, strategy)  # a wrong name fails before measuring
    _check_targets(targets, strategy)
    latency_col = STATISTICS[proto.statistic]  # the figure the model learns, per measurement
    min_cfg = int(proto.min_configs)
    if init < min_cfg and not use_store:
        raise ConfigError(
            f"init={init} is below the model's min_configs={min_cfg}; use "
            f"init >= {min_cfg} or use_store=True."
        )
    pool_cfgs = [spec.resolve(c) for c in (candidates or log_uniform_grid(kernel, 200, seed=seed))]
    if len(pool_cfgs) < budget:
        raise ConfigError(f"Only {len(pool_cfgs)} candidates for a budget of {budget}.")
    timing = settings or TimingSettings.from_budget(time_budget)
    store = open_store(db)
    env = environment()
    env_id = environment_id(env)
    store.add_environment(env, env_id)
    run_id = store.start_run(
        tag=tag,
        env_id=env_id,
        git_commit=git_commit(),
        command=f"active_learning({kernel!r}, {backend!r}, budget={budget})",
        settings={
            **timing.as_dict(),
            "kernels": [kernel],
            "backends": [backend],
            "active_learning": True,
        },
        seed=seed,
        planned=budget,
    )
    prior = (
        store.results(kernels=[kernel], backends=[backend], status="ok")
        if use_store
        else pd.DataFrame()
    )
    rng = np.random.default_rng(seed)
    measured: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    pool = BackendPool()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=budget, desc=f"active {kernel}/{backend}", unit="cfg")
    model: SpeedModel | None = None

    def measure(p: dict[str, Any], rnd: int, pred: Mapping[str, float] | None) -> None:
        inputs = spec.make_inputs(p, dtype, seed)
        reference = spec.reference(inputs, p)
        row, samples = measure_one(pool, backend, spec, p, dtype, seed, inputs, reference, timing)
        row.update(run_id=run_id, env_id=env_id, config_key=config_key(spec.name, p, dtype))
        store.add_result(row, samples)
        if row.get("status") != "ok":
            raise PredictionError(
                f"Measuring {kernel} {p} on {backend} failed "
                f"({row.get('status')}): {row.get('error')}"
            )
        measured.append(row)
        t = float(row[latency_col])
        h = {
            "round": rnd,
            "params": p,
            "measured_s": t,
            "n_train": len(measured) - 1,
            "pred_s": np.nan,
            "low_s": np.nan,
            "high_s": np.nan,
        }
        if pred is not None:
            h.update(pred)
        history.append(h)
        if bar is not None:
            bar.update(1)

    try:
        with store.recording(run_id):
            first = rng.choice(len(pool_cfgs), size=min(init, budget), replace=False)
            for i in first:
                measure(pool_cfgs[int(i)], 0, None)
            rnd = 0
            while len(measured) < budget:
                rnd += 1
                train = pd.concat([prior, pd.DataFrame(measured)], ignore_index=True)
                model = SpeedModel(**params).fit(train)
                picks = suggest(
                    model,
                    pool_cfgs,
                    k=min(step, budget - len(measured)),
                    kernel=kernel,
                    backend=backend,
                    dtype=dtype,
                    strategy=strategy,
                    seed=seed + rnd,
                    targets=targets,
                )
                for r in picks.itertuples(index=False):
                    measure(
                        dict(r.params),
                        rnd,
                        {"pred_s": r.pred_s, "low_s": r.low_s, "high_s": r.high_s},
                    )
            model = SpeedModel(**params).fit(
                pd.concat([prior, pd.DataFrame(measured)], ignore_index=True)
            )
    finally:
        if bar is not None:
            bar.close()
        pool.close()
    hist = pd.DataFrame(history)
    hist["rel_error"] = (hist["pred_s"] - hist["measured_s"]).abs() / hist["measured_s"]
    inside = (hist["measured_s"] >= hist["low_s"]) & (hist["measured_s"] <= hist["high_s"])
    hist["covered"] = np.where(hist["pred_s"].isna(), np.nan, inside.astype(float))
    return ActiveLearningResult(kernel, backend, run_id, hist, model)
