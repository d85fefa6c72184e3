"""``SpeedModel``: latency and throughput of unmeasured configurations, with intervals.

The prediction is a product of two parts, both fitted in log space of the latency:

1. a **roofline baseline** per (kernel, backend): ``t0 = c0 + c1 * flops + c2 * bytes`` with
   ``c >= 0`` (``bytes`` counting those the implementation moves through intermediates,
   ``KernelSpec.scratch``), fitted by non-negative least squares on relative errors. It
   scales the right way outside the measured range (a matmul twice as big takes about twice
   as long);
2. a **correction** ``log t - log t0`` learned from the features of :func:`featurize` (cache
   effects, shapes that suit the BLAS or not, per-call overhead) by
   :class:`ConformalGPRegressor` (default) or :class:`ConformalBoostingRegressor`, whose
   cross-conformal intervals give every prediction its uncertainty.

A backend with few measurements of a kernel borrows the kernel's baseline pooled over every
backend, scaled by the median ratio of its own points (the "few-shot backend" case).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, NotFittedError, PredictionError
from ._conformal import ConformalBoostingRegressor, ConformalGPRegressor
from ._features import config_frame, config_keys, featurize, gemm_paths, numpy_loops

__all__ = ["STATISTICS", "SpeedModel", "aggregate_repeats", "with_latency"]

FORMAT = "accel_toolkit.SpeedModel"
FORMAT_VERSION = 1
_KEEP = (
    "kernel",
    "params",
    "dtype",
    "backend",
    "venue",
    "device",
    "device_info",
    "flops",
    "bytes",
    "scratch_bytes",
    "median_s",
    "min_s",
    "latency_s",
)

#: Which figure of a measurement the model learns (``statistic``) -> its ``results`` column.
#: ``"median"``: the median per-call time of the run's samples (what ``bench`` reports);
#: ``"min"``: its fastest sample, itself the mean of a calibrated batch of calls (>= 10 ms by
#: default), i.e. the speed of the configuration when nothing else slowed the machine down.
STATISTICS = {"median": "median_s", "min": "min_s"}
_FIX = (
    "Measure more first, e.g. `python benchmarks/predict_eval.py measure --db PATH` or "
    "`accel-toolkit bench --kernels matmul --preset small --db PATH`."
)


def _fit_roofline(work: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Non-negative ``[c0, c1, ...]`` of ``t = c0 + c1 w1 + c2 w2 + ...`` (relative residuals),
    ``work`` holding one column per term (FLOPs, bytes)."""
    from scipy.optimize import nnls

    A = np.column_stack([np.ones_like(t), work]) / t[:, None]
    scale = np.maximum(A.max(axis=0), 1e-300)
    coef, _ = nnls(A / scale, np.ones_like(t))
    coef = coef / scale
    if not np.any(coef > 0):
        coef = np.r_[float(np.median(t)), np.zeros(work.shape[1])]
    return cast(np.ndarray, coef)


def _clearly_better(err: np.ndarray, kept: np.ndarray) -> bool:
    """Whether absolute out-of-fold errors ``err`` beat ``kept`` (the same rows) by more
    than one standard error of their paired difference (the one-standard-error rule): with
    20 rows, which of two GPs cross-validates lower is often chance, and the larger one
    then predicts worse."""
    d = err - kept
    return bool(d.mean() + d.std(ddof=1) / math.sqrt(len(d)) < 0) if len(d) > 1 else False


def _roofline(coef: np.ndarray, work: np.ndarray) -> np.ndarray:
    return cast(np.ndarray, np.maximum(coef[0] + work @ coef[1:], 1e-12))


def with_latency(results: pd.DataFrame, statistic: str = "median") -> pd.DataFrame:
    """A copy of ``results`` with ``latency_s``: the figure of each row the model learns.

    ``statistic`` is a key of :data:`STATISTICS` (``"median"`` or ``"min"``).
    """
    if statistic not in STATISTICS:
        raise ConfigError(f"statistic must be one of {sorted(STATISTICS)}, got {statistic!r}.")
    col = STATISTICS[statistic]
    if col not in results.columns:
        raise PredictionError(
            f"statistic={statistic!r} needs a {col!r} column (rows of Store.results() have it)."
        )
    return results.assign(latency_s=pd.to_numeric(results[col], errors="coerce"))


def aggregate_repeats(
    results: pd.DataFrame, how: str = "min", statistic: str = "median"
) -> pd.DataFrame:
    """One row per (configuration, backend, venue, device): repeats merged by ``how``.

    Each row's ``statistic`` (see :data:`STATISTICS`) is merged over the runs that measured
    the configuration into ``latency_s``: ``"min"`` keeps the fastest run's figure
    (interference from other processes only ever slows a run down, so the best of several
    runs is the most repeatable figure on a shared machine); ``"median"`` keeps the median
    over runs. ``repeats`` counts the runs.
    """
    if how not in ("min", "median"):
        raise ConfigError(f"aggregate must be 'min' or 'median', got {how!r}.")
    df = config_frame(with_latency(results, statistic))
    df["_key"] = config_keys(df)
    df["_venue"] = df["venue"].fillna("")
    df["_device"] = df["device"].fillna("")
    idx = df.groupby(["_key", "backend", "_venue", "_device"])["latency_s"]
    pick = idx.idxmin() if how == "min" else idx.apply(lambda s: (s - s.median()).abs().idxmin())
    out = df.loc[pick.to_numpy()].copy()
    out["latency_s"] = idx.transform(how).loc[pick.to_numpy()].to_numpy()
    out["repeats"] = idx.transform("size").loc[pick.to_numpy()].to_numpy()
    return out.drop(columns=["_key", "_venue", "_device"]).reset_index(drop=True)


class SpeedModel:
    """Predict the latency (and throughput) of kernel configurations, with intervals.

    A roofline baseline per (kernel, backend) times a learned correction in log space,
    with cross-conformal intervals (see the module docstring). Fit it on ``ok`` rows of the
    ``results`` view (:meth:`fit`, :meth:`from_store`), then :meth:`predict` any
    configuration. How each default was chosen, and what it measured, is in
    ``docs/predict.md``.

    Parameters
    ----------
    coverage : float
        Nominal coverage of the prediction intervals (0.8 = 80% intervals).
    per_kernel : bool
        One correction model per kernel (True) or one shared by all kernels (False).
    per_backend : bool
        A (kernel, backend) with at least ``min_group_configs`` distinct configurations gets
        its own correction model; smaller ones use the model of their kernel fitted on every
        backend (how a backend with few points borrows from the others).
    min_group_configs : int
        See ``per_backend``.
    min_configs : int
        Fewest distinct configurations of a kernel the model accepts for training.
    min_backend_configs : int
        A (kernel, backend) with fewer distinct configurations borrows the kernel's pooled
        baseline instead of fitting its own.
    regressor : {"gp", "boosting"}
        The correction model: a Gaussian process (:class:`ConformalGPRegressor`, default;
        best from few points) or gradient boosting (:class:`ConformalBoostingRegressor`;
        scales to many thousands of rows).
    n_folds :
        Cross-conformal folds of either regressor.
    loss, n_estimators, learning_rate, max_depth, min_samples_leaf :
        Passed to :class:`ConformalBoostingRegressor` (``regressor="boosting"``).
    statistic : {"median", "min"}
        Which figure of each measurement to learn and predict (:data:`STATISTICS`): the
        run's median per-call time (default, what ``bench`` reports) or its fastest
        calibrated sample, the repeatable one on a shared machine whose speed switches
        between modes.
    aggregate : {"min", "median", None}
        Merge repeat measurements of a configuration before fitting (see
        :func:`aggregate_repeats`). The default ``"min"`` keeps the fastest run's figure, so
        a run slowed down by another process does not pull the model away. ``None`` fits
        every row.
    caches : dict, optional
        Cache sizes for the working-set features (default: this machine's, from sysfs).
    length_scales : dict, optional
        GP length scales to reuse instead of fitting them (``regressor="gp"`` only):
        :attr:`length_scales_` of a model fitted earlier on more shapes of the same kernels,
        ``{group: {feature: length scale}}``. A group takes the entry of the same group,
        else one of the same kernel; only the amplitude and noise of its GP are then
        fitted. A group whose varying features the entry does not cover is fitted as usual,
        with a warning.
    alignment_features : {"auto", True, False}
        Whether the GP sees the alignment features of :func:`featurize` (``M%8``: the share
        of padded work when a size is processed in blocks of 8). ``"auto"`` (default) fits
        each GP group with and without them and keeps the larger one only where its
        out-of-fold errors are lower by more than one standard error. Reused
        ``length_scales`` keep the columns they were learned on; ``regressor="boosting"``
        always sees them all.
    noise_floor : float or None
        Smallest measurement-noise standard deviation (in log latency, 0.02 = 2%) the GP
        may assume, so that a few shapes cannot be explained exactly by absurd length
        scales. None: no floor.
    scratch : bool
        Count the bytes a kernel's implementation moves through intermediates
        (``KernelSpec.scratch``: conv2d's im2col matrix) in the roofline's bytes and the
        byte features (default).
    gemm_paths : bool
        Give the roofline a term for each way a GEMM of the cpu backend leaves the plain
        FLOPs-and-bytes law (:func:`gemm_paths`; default): the bytes OpenBLAS copies into
        panels for calls with ``M*N*K`` above :data:`OPENBLAS_SMALL_GEMM`, and the FLOPs
        numpy computes in its own loop instead of BLAS (``K == 1``, float16).
    numpy_loops : bool
        Give the roofline a term for each kind of work numpy does at its own rate on the
        cpu backend (:func:`numpy_loops`; default): the rows a kernel reduces one at a time,
        and the elements of intermediates it passes through elementwise functions between
        BLAS calls.
    random_state : int
        Seed; the same data and seed give the same model.

    Attributes
    ----------
    training_ : DataFrame
        The successful measurements the model was fitted on.
    baselines_ : dict
        ``{(kernel, backend): [c0, c1, c2, ...]}`` roofline coefficients: per call, per
        FLOP, per byte, with ``gemm_paths`` per byte OpenBLAS packs and per FLOP numpy
        runs outside BLAS, and with ``numpy_loops`` per row numpy reduces and per element
        it passes through elementwise functions.
    regressors_ : dict
        ``{group: ConformalGPRegressor or ConformalBoostingRegressor}``; the group is
        ``kernel@backend``, the kernel, or ``"*"``.
    feature_names_ : dict
        ``{group: [column, ...]}``.
    length_scales_ : dict
        ``{group: {column: length scale}}`` of the GP groups, in raw feature units: what the
        ``length_scales`` parameter of a later model takes.

    Examples
    --------
    >>> model = SpeedModel.from_store(  # doctest: +SKIP
    ...     "data/predict_cpu.duckdb", kernels=["matmul"]
    ... )
    >>> model.predict(  # doctest: +SKIP
    ...     [{"kernel": "matmul", "backend": "cpu", "params": {"M": 300, "N": 200, "K": 100}}]
    ... )
    """

    def __init__(
        self,
        *,
        coverage: float = 0.8,
        per_kernel: bool = True,
        per_backend: bool = True,
        min_group_configs: int = 20,
        min_configs: int = 5,
        min_backend_configs: int = 6,
        regressor: str = "gp",
        n_folds: int = 5,
        loss: str = "squared_error",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_samples_leaf: int = 2,
        statistic: str = "median",
        aggregate: str | None = "min",
        caches: Mapping[str, int] | None = None,
        length_scales: Mapping[str, Mapping[str, float]] | None = None,
        alignment_features: str | bool = "auto",
        noise_floor: float | None = 0.02,
        scratch: bool = True,
        gemm_paths: bool = True,
        numpy_loops: bool = True,
        random_state: int = 0,
    ) -> None:
        self.coverage = coverage
        self.per_kernel = per_kernel
        self.per_backend = per_backend
        self.min_group_configs = min_group_configs
        self.min_configs = min_configs
        self.min_backend_configs = min_backend_configs
        self.regressor = regressor
        self.n_folds = n_folds
        self.loss = loss
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.statistic = statistic
        self.aggregate = aggregate
        self.caches = caches
        self.length_scales = length_scales
        self.alignment_features = alignment_features
        self.noise_floor = noise_floor
        self.scratch = scratch
        self.gemm_paths = gemm_paths
        self.numpy_loops = numpy_loops
        self.random_state = random_state

    _PARAMS = (
        "coverage",
        "per_kernel",
        "per_backend",
        "min_group_configs",
        "min_configs",
        "min_backend_configs",
        "regressor",
        "n_folds",
        "loss",
        "n_estimators",
        "learning_rate",
        "max_depth",
        "min_samples_leaf",
        "statistic",
        "aggregate",
        "caches",
        "length_scales",
        "alignment_features",
        "noise_floor",
        "scratch",
        "gemm_paths",
        "numpy_loops",
        "random_state",
    )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params: Any) -> SpeedModel:
        for k, v in params.items():
            if k not in self._PARAMS:
                raise ConfigError(f"SpeedModel has no parameter {k!r}; use one of {self._PARAMS}.")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != type(self)().get_params()[k]}
        state = "fitted" if hasattr(self, "training_") else "not fitted"

        def short(k: str, v: Any) -> str:  # length scales: dozens of numbers per group
            return f"{{{', '.join(map(repr, v))}: ...}}" if k == "length_scales" else repr(v)

        args = ", ".join(f"{k}={short(k, v)}" for k, v in changed.items())
        return f"SpeedModel({args}) [{state}]"

    # -- training ---------------------------------------------------------------------
    @classmethod
    def from_store(
        cls,
        store: Any,
        *,
        kernels: Sequence[str] | None = None,
        backends: Sequence[str] | None = None,
        tag: str | None = None,
        **params: Any,
    ) -> SpeedModel:
        """Fit on the successful results of a store (a :class:`Store` or a path)."""
        from ..store import open_store

        st = open_store(store)
        df = st.results(
            kernels=list(kernels) if kernels else None,
            backends=list(backends) if backends else None,
            tag=tag,
            status="ok",
        )
        if df.empty:
            what = f" for kernels {list(kernels)}" if kernels else ""
            what += f" on backends {list(backends)}" if backends else ""
            raise PredictionError(f"{st.path} holds no successful measurements{what}. {_FIX}")
        return cls(**params).fit(df)

    def _clean(self, results: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        df = results.copy() if isinstance(results, pd.DataFrame) else pd.DataFrame(list(results))
        if df.empty:
            raise PredictionError(f"No measurements to train on. {_FIX}")
        df = with_latency(df, self.statistic)  # says which column is missing, if one is
        if "status" in df.columns:
            df = df[df["status"] == "ok"]
        df = df[np.isfinite(df["latency_s"]) & (df["latency_s"] > 0)]
        if df.empty:
            raise PredictionError(f"No successful measurements (status 'ok') to train on. {_FIX}")
        if self.aggregate:
            df = aggregate_repeats(df, self.aggregate, self.statistic)
        else:
            df = config_frame(df)
        keep = [c for c in _KEEP if c in df.columns]
        out = df[keep].copy()
        out["_key"] = config_keys(out)
        counts = out.groupby("kernel")["_key"].nunique()
        few = counts[counts < self.min_configs]
        if len(few):
            detail = ", ".join(f"{k}: {n}" for k, n in few.items())
            raise PredictionError(
                f"Too few distinct configurations to learn from ({detail}); the model needs at "
                f"least {self.min_configs} per kernel (20+ predicts well). {_FIX}"
            )
        return out.reset_index(drop=True)

    def fit(self, results: pd.DataFrame | Iterable[Mapping[str, Any]]) -> SpeedModel:
        """Fit on measured rows (``Store.results()``, or dicts with ``median_s`` / ``min_s``
        as ``statistic`` needs); return self."""
        if not 0.0 < float(self.coverage) < 1.0:
            raise ConfigError(f"coverage must be in (0, 1), got {self.coverage!r}.")
        self._new_regressor()  # an unknown regressor fails before any fitting
        alignment = self._alignment_choice()
        df = self._clean(results)
        t = df["latency_s"].to_numpy(float)
        work = self._work(df)
        self.kernel_baselines_: dict[str, list[float]] = {}
        self.baselines_: dict[tuple[str, str], list[float]] = {}
        self.backend_scales_: dict[tuple[str, str], float] = {}
        for kernel, idx in df.groupby("kernel").indices.items():
            pooled = _fit_roofline(work[idx], t[idx])
            self.kernel_baselines_[kernel] = pooled.tolist()
            sub = df.iloc[idx]
            for backend, bidx in sub.groupby("backend").indices.items():
                rows = idx[bidx]
                n_cfg = df["_key"].iloc[rows].nunique()
                if n_cfg >= self.min_backend_configs or sub["backend"].nunique() == 1:
                    coef = _fit_roofline(work[rows], t[rows])
                else:
                    ratio = np.median(np.log(t[rows] / _roofline(pooled, work[rows])))
                    coef = pooled * math.exp(float(ratio))
                self.baselines_[(kernel, backend)] = coef.tolist()
        X, base = self._design(df, work)
        y = np.log(t) - np.log(base)
        self._pair_sizes = {
            k: int(v) for k, v in df.groupby(["kernel", "backend"])["_key"].nunique().items()
        }
        self.training_ = df.drop(columns="_key")
        self.regressors_: dict[str, Any] = {}
        self.feature_names_: dict[str, list[str]] = {}
        self._varying: dict[str, list[str]] = {}
        own, shared = self._groups(df)
        fits: dict[str, np.ndarray] = {}
        for group, gidx in own.groupby(own).indices.items():
            fits[str(group)] = gidx
        # a (kernel, backend) too small for its own model is predicted by the model of its
        # kernel (or of everything) fitted on all the rows of that kernel; where every
        # backend of a kernel has its own model, that shared model would go unused
        for group in sorted(set(shared[own != shared]) & set(own)):
            fits[str(group)] = np.flatnonzero((shared == group).to_numpy())
        for group, gidx in fits.items():
            Xg = X.iloc[gidx]
            # a feature constant in the training rows tells the model nothing (and would put
            # any row that differs in it, e.g. one naming no device, far from all the data)
            varying = [c for c in Xg.columns if Xg[c].nunique() > 1]
            cols = varying or [c for c in Xg.columns if (Xg[c] != 0).any()]
            best: tuple[np.ndarray, Any, list[str]] | None = None
            for use in self._column_sets(group, cols, varying, alignment):
                reg = self._new_regressor()
                reg_ls = self._reused_length_scale(group, use, [c for c in varying if c in use])
                if reg_ls is not None:
                    reg.set_params(length_scale=reg_ls)
                if "log_flops" in use:  # larger shapes than any measured get wider intervals
                    reg.set_params(extrapolation_feature=use.index("log_flops"))
                reg.fit(Xg[use].to_numpy(), y[gidx])
                # the same folds for every column set, simplest first: a larger one must
                # beat the kept one's out-of-fold error by more than chance
                err = np.abs(reg.oof_residuals_)
                if best is None or _clearly_better(err, best[0]):
                    best = (err, reg, use)
            assert best is not None
            _, reg, use = best
            self.regressors_[group] = reg
            self.feature_names_[group] = use
            self._varying[group] = [c for c in varying if c in use]
        return self

    def _length_scale_entry(self, group: str) -> dict[str, float] | None:
        """The ``length_scales`` entry for ``group``: its own, else its kernel's."""
        if not self.length_scales:
            return None
        kernel = group.split("@")[0]
        known = {str(g): dict(v) for g, v in self.length_scales.items()}
        return known.get(group) or next(
            (known[g] for g in sorted(known) if g.split("@")[0] == kernel), None
        )

    def _alignment_choice(self) -> str | bool:
        """``alignment_features`` checked: ``"auto"``, True or False."""
        choice = self.alignment_features
        if isinstance(choice, np.bool_):
            choice = bool(choice)
        if not (isinstance(choice, bool) or (isinstance(choice, str) and choice == "auto")):
            raise ConfigError(f"alignment_features must be 'auto', True or False, got {choice!r}.")
        return choice

    def _column_sets(
        self, group: str, cols: list[str], varying: list[str], choice: str | bool
    ) -> list[list[str]]:
        """The feature columns to try for ``group`` (the fit keeps the one that
        cross-validates best): with and/or without the alignment (``%w``) features, as
        ``choice`` (the checked ``alignment_features``) says."""
        plain = [c for c in cols if "%" not in c]
        if choice is False or plain == cols:
            return [plain]
        if choice is True or self.regressor != "gp":  # trees pick their features themselves
            return [cols]
        entry = self._length_scale_entry(group)
        if entry is not None:  # reused length scales: the columns they were learned on
            if all(c in entry for c in varying) or not all(
                c in entry for c in varying if "%" not in c
            ):
                return [cols]
            return [plain]
        return [plain, cols]

    def _reused_length_scale(
        self, group: str, cols: list[str], varying: list[str]
    ) -> list[float] | None:
        """The ``length_scales`` entry for ``group`` over its feature columns ``cols``
        (``varying``: those not constant in its training rows); None: fit them."""
        entry = self._length_scale_entry(group)
        if entry is None:
            return None
        missing = [c for c in varying if c not in entry]
        if missing:
            warnings.warn(
                f"length_scales has no entry for the feature(s) {missing} of group "
                f"{group!r}; its length scales are fitted instead.",
                UserWarning,
                stacklevel=3,
            )
            return None
        # a feature constant in this data does not change the kernel: any scale will do
        return [float(entry.get(c, 1.0)) for c in cols]

    @property
    def length_scales_(self) -> dict[str, dict[str, float]]:
        """``{group: {feature: length scale}}`` of the fitted GP groups, in raw feature units
        (a short one: the latency changes fast along that feature). Features constant in the
        group's training data are left out: the data says nothing about them."""
        self._check_fitted()
        out = {}
        for group, reg in self.regressors_.items():
            if isinstance(reg, ConformalGPRegressor):
                scales = dict(
                    zip(
                        self.feature_names_[group],
                        (float(v) for v in reg.length_scale_),
                        strict=True,
                    )
                )
                out[group] = {c: scales[c] for c in self._varying[group]}
        return out

    def _new_regressor(self) -> Any:
        if self.length_scales and self.regressor != "gp":
            raise ConfigError(f"length_scales needs regressor='gp', not {self.regressor!r}.")
        if self.regressor == "gp":
            return ConformalGPRegressor(
                coverage=self.coverage,
                n_folds=self.n_folds,
                noise_floor=self.noise_floor,
                random_state=self.random_state,
            )
        if self.regressor == "boosting":
            return ConformalBoostingRegressor(
                coverage=self.coverage,
                n_folds=self.n_folds,
                loss=self.loss,
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                max_depth=self.max_depth,
                min_samples_leaf=self.min_samples_leaf,
                random_state=self.random_state,
            )
        raise ConfigError(f"regressor must be 'gp' or 'boosting', got {self.regressor!r}.")

    def _groups(self, df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Each row's own model group and the shared group of its kernel."""
        shared = df["kernel"] if self.per_kernel else pd.Series("*", index=df.index)
        own = shared.copy()
        if self.per_backend:
            sizes = self._pair_sizes if hasattr(self, "_pair_sizes") else {}
            big = [
                sizes.get((k, b), 0) >= self.min_group_configs
                for k, b in zip(df["kernel"], df["backend"], strict=False)
            ]
            own = own.where(~np.asarray(big), df["kernel"] + "@" + df["backend"])
        return own.astype(str), shared.astype(str)

    # -- prediction -------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "regressors_"):
            raise NotFittedError(
                "This SpeedModel is not fitted yet; call fit(results) or "
                "SpeedModel.from_store(store) first."
            )

    def _baseline(self, df: pd.DataFrame, work: np.ndarray | None = None) -> np.ndarray:
        """The roofline's latency of each row (``work``: its :meth:`_work`, if known)."""
        out = np.empty(len(df))
        work = self._work(df) if work is None else work
        for (kernel, backend), idx in df.groupby(["kernel", "backend"]).indices.items():
            coef = self.baselines_.get((kernel, backend))
            if coef is None:
                trained = sorted(b for k, b in self.baselines_ if k == kernel)
                if not trained:
                    raise PredictionError(
                        f"The model was not trained on kernel {kernel!r}; it knows "
                        f"{sorted(self.kernel_baselines_)}. Measure {kernel} and refit."
                    )
                raise PredictionError(
                    f"The model was not trained on backend {backend!r} for {kernel}; it knows "
                    f"{trained}. Measure a few {kernel} configurations on {backend} and refit."
                )
            out[idx] = _roofline(np.asarray(coef), work[idx])
        return out

    def _work(self, df: pd.DataFrame) -> np.ndarray:
        """The roofline's terms of each row: FLOPs, bytes (with the scratch bytes when
        ``scratch``), the two terms of :func:`gemm_paths` when ``gemm_paths`` and the
        two of :func:`numpy_loops` when ``numpy_loops``."""
        nbytes = df["bytes"].to_numpy(float)
        if self.scratch:
            nbytes = nbytes + df["scratch_bytes"].to_numpy(float)
        terms = [df["flops"].to_numpy(float), nbytes]
        if self.gemm_paths:
            terms.extend(gemm_paths(df).to_numpy().T)
        if self.numpy_loops:
            terms.extend(numpy_loops(df).to_numpy().T)
        return np.column_stack(terms)

    @property
    def kernels_(self) -> list[str]:
        self._check_fitted()
        return sorted(self.kernel_baselines_)

    @property
    def backends_(self) -> dict[str, list[str]]:
        """``{kernel: [backends it was trained on]}``."""
        self._check_fitted()
        out: dict[str, list[str]] = {}
        for k, b in sorted(self.baselines_):
            out.setdefault(k, []).append(b)
        return out

    def _design(
        self, df: pd.DataFrame, work: np.ndarray | None = None
    ) -> tuple[pd.DataFrame, np.ndarray]:
        base = self._baseline(df, work)
        X = featurize(df, caches=self.caches, scratch=self.scratch)
        X["log_base"] = np.log(base)
        return X, base

    def _fill_environment(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows that name no device run where the training rows of their backend ran, when
        those all ran on one device (a plain parameter dict means "on the machine I
        measured"); otherwise they stay unknown."""
        missing = df["device"].isna().to_numpy()
        if not missing.any():
            return df
        df = df.copy()
        df["device_info"] = df["device_info"].astype(object)
        train = self.training_
        for backend in pd.unique(df.loc[missing, "backend"]):
            seen = train[(train["backend"] == backend) & train["device"].notna()]
            if seen["device"].nunique() != 1:
                continue
            first = seen.iloc[0]
            for i in np.flatnonzero(missing & (df["backend"] == backend).to_numpy()):
                df.at[i, "device"] = first["device"]
                df.at[i, "device_info"] = first["device_info"]
        return df

    def _configs(self, configs: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        """Configurations to predict: a :func:`config_frame`, devices filled in."""
        return self._fill_environment(config_frame(configs))

    def _inputs(self, df: pd.DataFrame) -> Iterator[tuple[np.ndarray, np.ndarray, Any, np.ndarray]]:
        """``(rows, X, regressor, baseline)`` for each model group among the rows of ``df``
        (a :meth:`_configs` frame)."""
        X, base = self._design(df)
        own, shared = self._groups(df)
        groups = own.where(own.isin(list(self.regressors_)), shared)
        for group, idx in groups.groupby(groups).indices.items():
            cols = self.feature_names_[str(group)]
            Xg = X.iloc[idx].reindex(columns=cols, fill_value=0.0).to_numpy()
            yield idx, Xg, self.regressors_[str(group)], base[idx]

    def posterior_cov(
        self, configs: pd.DataFrame | Iterable[Mapping[str, Any]]
    ) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """The model's joint uncertainty about ``configs``, for choosing what to measure.

        Returns
        -------
        list of (rows, cov, noise)
            One entry per model group among the configurations: the row positions, the GP
            posterior covariance of their log latency (without measurement noise) and the
            group's fitted noise variance (how far one measurement strays from the latent
            speed). Configurations in different groups are independent.

        Raises
        ------
        PredictionError
            If the model is not a GP (``regressor="boosting"`` has no covariance).
        """
        self._check_fitted()
        if self.regressor != "gp":
            raise PredictionError(
                f"posterior_cov needs regressor='gp', not "
                f"{self.regressor!r}; use strategy='uncertainty-diversity'."
            )
        return [
            (idx, reg.predict_cov(Xg), reg.noise_variance_)
            for idx, Xg, reg, _ in self._inputs(self._configs(configs))
        ]

    def predict(self, configs: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        """Predicted latency (the model's ``statistic``) and throughput of each
        configuration, with intervals.

        Parameters
        ----------
        configs : DataFrame or iterable of dict
            ``{"kernel", "backend", "params", "dtype" (default float32), "venue"?, "device"?}``;
            rows of ``Store.results()`` work too (their measured columns are kept).

        Returns
        -------
        pandas.DataFrame
            The input columns plus ``pred_s, low_s, high_s`` (seconds; ``[low, high]`` is the
            ``coverage`` interval), ``pred_gflops, gflops_low, gflops_high`` and ``coverage``.
        """
        self._check_fitted()
        df = self._configs(configs)
        unknown = sorted(set(df["kernel"]) - set(self.kernel_baselines_))
        if unknown:
            raise PredictionError(
                f"The model was not trained on kernel(s) {unknown}; it knows "
                f"{sorted(self.kernel_baselines_)}. Measure them and refit."
            )
        mid = np.empty(len(df))
        lo = np.empty(len(df))
        hi = np.empty(len(df))
        base = np.empty(len(df))
        for idx, Xg, reg, group_base in self._inputs(df):
            base[idx] = group_base
            mid[idx] = reg.predict(Xg)
            iv = reg.predict_interval(Xg)
            lo[idx], hi[idx] = iv[:, 0], iv[:, 1]
        out = df.copy()
        out["pred_s"] = base * np.exp(mid)
        out["low_s"] = base * np.exp(lo)
        out["high_s"] = base * np.exp(hi)
        flops = out["flops"].to_numpy(float)
        out["pred_gflops"] = flops / out["pred_s"] / 1e9
        out["gflops_low"] = flops / out["high_s"] / 1e9
        out["gflops_high"] = flops / out["low_s"] / 1e9
        out["coverage"] = float(self.coverage)
        return out

    def predict_one(
        self, kernel: str, backend: str = "cpu", *, dtype: str = "float32", **params: Any
    ) -> dict[str, float]:
        """One configuration: ``{"pred_s", "low_s", "high_s", "pred_gflops", ...}``."""
        row = self.predict(
            [{"kernel": kernel, "backend": backend, "dtype": dtype, "params": params}]
        ).iloc[0]
        keys = ("pred_s", "low_s", "high_s", "pred_gflops", "gflops_low", "gflops_high")
        return {k: float(row[k]) for k in keys}

    # -- persistence ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Parameters and training data as plain JSON types (what :meth:`save` writes)."""
        self._check_fitted()
        import sklearn

        rows = []
        for r in self.training_.to_dict(orient="records"):
            rows.append(
                {
                    k: (json.loads(v) if k == "device_info" and isinstance(v, str) else v)
                    for k, v in r.items()
                    if not (isinstance(v, float) and math.isnan(v))
                }
            )
        check = self.predict(self.training_.head(5))["pred_s"].tolist()
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": self.get_params(),
            "sklearn": sklearn.__version__,
            "training": rows,
            "check_pred_s": check,
        }

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (parameters + training data; :meth:`load` refits).

        JSON cannot run code when it is loaded, unlike pickle; the refit is deterministic for
        the same scikit-learn version and seed.
        """
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), default=str))
        return p

    @classmethod
    def load(cls, path: str | Path) -> SpeedModel:
        """Read a model written by :meth:`save` and refit it; check it predicts as before."""
        p = Path(path)
        try:
            blob = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise PredictionError(
                f"Cannot read a SpeedModel from {p}: {exc}. Pass a file "
                f"written by SpeedModel.save()."
            ) from exc
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise PredictionError(f"{p} is not a SpeedModel file (written by SpeedModel.save()).")
        if int(blob.get("version", 0)) > FORMAT_VERSION:
            raise PredictionError(f"{p} was written by a newer accel_toolkit; upgrade to load it.")
        # files written before these parameters existed were fitted with every alignment
        # feature, no noise floor, the cost model's bytes alone, no GEMM paths and no numpy
        # loops: refit them that way
        params = {
            "alignment_features": True,
            "noise_floor": None,
            "scratch": False,
            "gemm_paths": False,
            "numpy_loops": False,
            **blob["params"],
        }
        model = cls(**params).fit(pd.DataFrame(blob["training"]))
        got = model.predict(model.training_.head(5))["pred_s"].to_numpy()
        want = np.asarray(blob.get("check_pred_s", got), dtype=float)
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6):
            warnings.warn(
                f"The model refitted from {p} predicts differently from the saved one (scikit-"
                f"learn {blob.get('sklearn')} then, another version now); results may differ "
                f"slightly.",
                UserWarning,
                stacklevel=2,
            )
        return model
