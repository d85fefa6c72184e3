"""Candidate configurations: log-uniform shape grids for training, evaluation and active learning.

Shapes of ML kernels span orders of magnitude, so every integer size is drawn uniformly in
log space between a low and a high bound (the bounds default to the range the kernel's
``tiny``..``medium`` presets cover). A candidate whose cost exceeds ``max_flops`` is
rejected and drawn again, so a grid never asks for a configuration that takes minutes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..exceptions import ConfigError, ParameterError
from ..kernels import KERNELS, KernelSpec, get_kernel

__all__ = ["DEFAULT_RANGES", "log_uniform_grid"]

#: The ranges of every kernel that declares them (``KernelSpec.candidates``), as used by
#: ``benchmarks/predict_eval.py``: sizes as ``(low, high)`` bounds drawn log-uniformly, fixed
#: choices as lists, and ``max_flops`` capping the cost so one configuration takes at most a
#: few tens of milliseconds on a laptop CPU.
DEFAULT_RANGES: dict[str, dict[str, Any]] = {
    name: dict(spec.candidates) for name, spec in KERNELS.items() if spec.candidates
}


def _preset_range(spec: KernelSpec, name: str) -> tuple[int, int]:
    values = [
        c[name]
        for key in ("tiny", "small", "medium")
        for c in spec.presets.get(key, [])
        if name in c
    ]
    param = next(p for p in spec.params if p.name == name)
    if not values:
        return int(param.default), int(param.default)
    return max(1, min(values)), max(values)


def _draw(rng: np.random.Generator, spec: KernelSpec, ranges: Mapping[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for p in spec.params:
        r = ranges.get(p.name)
        if r is None:
            if p.kind is bool:
                r = [False, True] if p.name in ("causal",) else [p.default]
            elif p.kind is int and p.choices is None:
                r = _preset_range(spec, p.name)
            elif p.choices is not None:
                r = list(p.choices)
            else:
                r = [p.default]
        if isinstance(r, tuple):
            lo, hi = (max(1, int(r[0])), int(r[1]))
            if hi < lo:
                raise ConfigError(f"{spec.name}: range for {p.name} has high {hi} < low {lo}.")
            cfg[p.name] = int(round(math.exp(rng.uniform(math.log(lo), math.log(hi + 0.499)))))
            cfg[p.name] = min(max(cfg[p.name], lo), hi)
        else:
            vals = list(r)
            cfg[p.name] = vals[int(rng.integers(len(vals)))]
    return cfg


def log_uniform_grid(
    kernel: str,
    n: int,
    *,
    seed: int = 0,
    ranges: Mapping[str, Any] | None = None,
    max_flops: float | None = None,
    min_flops: float | None = None,
    dtype: str = "float32",
) -> list[dict[str, Any]]:
    """``n`` distinct, valid parameter dicts of ``kernel`` with sizes drawn log-uniformly.

    Parameters
    ----------
    kernel : str
        A kernel name.
    n : int
        How many distinct configurations.
    seed : int
        The draw is deterministic for a seed.
    ranges : dict, optional
        Per parameter: ``(low, high)`` for a log-uniform integer, a list for a uniform choice.
        Defaults to the kernel's ``candidates`` (:data:`DEFAULT_RANGES`), else the span of
        its presets. Parameters the kernel ties to others (``candidate_ties``) follow them
        unless given a range.
        A ``max_flops`` key caps the cost model's FLOPs.
    max_flops : float, optional
        Overrides ``ranges["max_flops"]``.
    min_flops : float, optional
        Skip configurations cheaper than this (microsecond-scale calls time less
        reproducibly from run to run than the model can be expected to predict).
    dtype : str
        The dtype whose item size the cost is computed for.

    Examples
    --------
    >>> grid = log_uniform_grid("matmul", 5, seed=1)
    >>> len(grid), sorted(grid[0])
    (5, ['K', 'M', 'N'])
    """
    spec = get_kernel(kernel)
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}.")
    rng = np.random.default_rng(seed)
    rg = dict(spec.candidates if ranges is None else ranges)
    cap = max_flops if max_flops is not None else rg.pop("max_flops", None)
    rg.pop("max_flops", None)
    itemsize = np.dtype(dtype).itemsize
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200 * n + 1000:
            raise ConfigError(
                f"{spec.name}: could only draw {len(out)} of {n} distinct valid configurations "
                f"from the ranges {rg} (max_flops={cap}, min_flops={min_flops}); widen the ranges "
                f"or ask for fewer."
            )
        cfg = _draw(rng, spec, rg)
        for name, rule in spec.candidate_ties.items():
            if name not in rg:
                cfg[name] = rule(cfg)
        try:
            cfg = spec.resolve(cfg)
        except ParameterError:
            continue
        flops = spec.cost(cfg, itemsize).flops
        if (cap is not None and flops > cap) or (min_flops is not None and flops < min_flops):
            continue
        key = tuple(sorted(cfg.items()))
        if key in seen:
            continue
        seen.add(key)
        out.append(cfg)
    return out
