"""Validating the parameters of the benchmark and report notebooks (their first cell).

Papermill injects whatever ``-p`` gives it, strings included; these functions turn the
values into what :func:`accel_toolkit.bench` wants, or raise the toolkit's error naming
the parameter, so a bad run fails in the notebook's first cell with a clear message.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import ConfigError, ParameterError

__all__ = ["BenchmarkParams", "ReportParams", "benchmark_params", "report_params"]

BENCHMARK_NOTEBOOK = "benchmark.ipynb"


def _names(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        out = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        out = [v.strip() for v in value]
    else:
        raise ParameterError(
            f"{what} must be a comma-separated string or a list of names (e.g. "
            f"{what}='matmul,softmax'), got {value!r} ({type(value).__name__})."
        )
    if not out:
        raise ParameterError(f"{what} is empty; give at least one name.")
    return out


def _opt_str(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, Path):
        return str(value)
    raise ParameterError(
        f"{what} must be a string or None, got {value!r} ({type(value).__name__})."
    )


def _number(value: Any, what: str, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ParameterError(
                    f"{what} must be a number of seconds (e.g. {what}=0.5), got {value!r}."
                ) from None
        else:
            raise ParameterError(
                f"{what} must be a number of seconds (e.g. {what}=0.5), got {value!r} "
                f"({type(value).__name__})."
            )
    if positive and not value > 0:
        raise ParameterError(f"{what} must be > 0, got {value!r}.")
    return float(value)


def _grid(value: Any) -> list[dict[str, Any]] | dict[str, list[dict[str, Any]]] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ParameterError(
                f"grid must be a list of parameter dicts or a {{kernel: [...]}} mapping (JSON "
                f"text works too: '[{{\"M\": 64}}]'), got {value!r}."
            ) from None
    if isinstance(value, Mapping):
        if not all(
            isinstance(v, Sequence) and all(isinstance(c, Mapping) for c in v)
            for v in value.values()
        ):
            raise ParameterError("grid as a mapping must be {kernel: [ {param: value}, ... ]}.")
        return {str(k): [dict(c) for c in v] for k, v in value.items()}
    if isinstance(value, Sequence) and all(isinstance(c, Mapping) for c in value):
        return [dict(c) for c in value]
    raise ParameterError(
        f"grid must be a list of parameter dicts or a {{kernel: [...]}} mapping, got {value!r}."
    )


@dataclass(frozen=True)
class BenchmarkParams:
    """The validated parameters of ``benchmark.ipynb``."""

    kernels: list[str]
    backends: list[str]
    preset: str | None
    grid: Any
    dtypes: list[str]
    time_budget: float
    seed: int
    db_path: str | None
    tag: str | None
    venue: str
    notebook_output: str | None
    configs: list[tuple[str, dict[str, Any], str]] = field(repr=False, default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The parameters as recorded with the run (``runs.notebook_params``)."""
        d = asdict(self)
        d.pop("configs")
        return d

    def bench_kwargs(self, *, progress: bool = True) -> dict[str, Any]:
        """Keyword arguments for :func:`accel_toolkit.bench` (provenance included)."""
        options = {
            b: {"venue": self.venue}
            for b in self.backends
            if b in ("webgpu", "webnn") and _accepts_venue(b)
        }
        return {
            "kernels": self.kernels,
            "backends": self.backends,
            "preset": self.preset,
            "grid": self.grid,
            "dtypes": self.dtypes,
            "seed": self.seed,
            "time_budget": self.time_budget,
            "db": self.db_path,
            "tag": self.tag,
            "notebook": f"notebooks/{BENCHMARK_NOTEBOOK}",
            "notebook_params": self.as_dict(),
            "notebook_output": self.notebook_output,
            "progress": progress,
            "backend_options": options or None,
        }

    def planned(self) -> pd.DataFrame:
        """The configurations the sweep will measure on each backend."""
        from ..charts import params_label

        return pd.DataFrame(
            [{"kernel": k, "params": params_label(p), "dtype": d} for k, p, d in self.configs]
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(repr(v))}</td></tr>"
            for k, v in self.as_dict().items()
        )
        n = len(self.configs)
        return (
            f"<table>{rows}</table><p>{n} configuration(s) x {len(self.backends)} "
            f"backend(s) = {n * len(self.backends)} measurements planned.</p>"
        )


def _accepts_venue(backend: str) -> bool:
    import inspect

    from ..backends import backend_class

    try:
        sig = inspect.signature(backend_class(backend).__init__)
    except Exception:
        return False
    return "venue" in sig.parameters or any(
        p.kind is p.VAR_KEYWORD for p in sig.parameters.values()
    )


def benchmark_params(
    *,
    kernels: Any,
    backends: Any = "cpu",
    preset: Any = "tiny",
    grid: Any = None,
    dtypes: Any = "float32",
    time_budget: Any = 0.5,
    seed: Any = 0,
    db_path: Any = None,
    tag: Any = None,
    venue: Any = "headless",
    notebook_output: Any = None,
) -> BenchmarkParams:
    """Check every parameter of ``benchmark.ipynb`` and plan the sweep.

    Raises
    ------
    ParameterError
        A value of the wrong type or out of range.
    UnknownKernelError, UnknownBackendError, UnsupportedDtypeError
        A name the toolkit does not know (the message suggests the nearest one).
    """
    from .._api import plan_configs
    from ..backends import check_backend_name
    from ..kernels import PRESETS

    kernel_list = _names(kernels, "kernels")
    backend_list = _names(backends, "backends")
    for b in backend_list:
        check_backend_name(b)
    dtype_list = _names(dtypes, "dtypes")
    g = _grid(grid)
    if g is None:
        if not isinstance(preset, str) or preset not in PRESETS:
            raise ParameterError(
                f"preset must be one of {', '.join(PRESETS)} (or give grid=...), got {preset!r}."
            )
    elif preset is not None and not isinstance(preset, str):
        raise ParameterError(f"preset must be a string or None, got {preset!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        if isinstance(seed, str) and seed.strip().lstrip("-").isdigit():
            seed = int(seed)
        else:
            raise ParameterError(f"seed must be an integer, got {seed!r} ({type(seed).__name__}).")
    budget = _number(time_budget, "time_budget")
    if venue not in ("headless", "tab", "auto"):
        raise ParameterError(f"venue must be 'headless', 'tab' or 'auto', got {venue!r}.")
    db = _opt_str(db_path, "db_path")
    if db is not None:
        db = str(Path(db).expanduser().resolve())
    planned = plan_configs(
        kernel_list, preset=preset if g is None else None, grid=g, dtypes=dtype_list
    )
    if not planned:
        raise ConfigError(f"The grid gives no configuration for {kernel_list}; check its keys.")
    return BenchmarkParams(
        kernels=kernel_list,
        backends=backend_list,
        preset=preset if g is None else None,
        grid=g,
        dtypes=dtype_list,
        time_budget=budget,
        seed=int(seed),
        db_path=db,
        tag=_opt_str(tag, "tag"),
        venue=venue,
        notebook_output=_opt_str(notebook_output, "notebook_output"),
        configs=[(s.name, dict(p), d) for s, p, d in planned],
    )


@dataclass(frozen=True)
class ReportParams:
    """The validated parameters of ``report.ipynb``."""

    db_path: str | None
    run_ids: list[str] | None
    tag: str | None
    baseline: str | None
    out_html: str | None

    def report_kwargs(self) -> dict[str, Any]:
        return {
            "db": self.db_path,
            "run_ids": self.run_ids,
            "tag": self.tag,
            "baseline": self.baseline,
        }


def report_params(
    *,
    db_path: Any = None,
    run_ids: Any = None,
    tag: Any = None,
    baseline: Any = "cpu",
    out_html: Any = None,
) -> ReportParams:
    """Check the parameters of ``report.ipynb``."""
    from ..backends import check_backend_name

    ids = None if run_ids in (None, "", []) else _names(run_ids, "run_ids")
    base = _opt_str(baseline, "baseline")
    if base is not None:
        check_backend_name(base)
    return ReportParams(
        db_path=_opt_str(db_path, "db_path"),
        run_ids=ids,
        tag=_opt_str(tag, "tag"),
        baseline=base,
        out_html=_opt_str(out_html, "out_html"),
    )
