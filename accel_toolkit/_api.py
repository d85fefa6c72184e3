"""The notebook API: list kernels, run one, benchmark a grid (kernels x params x backends)."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from .backends import Backend, get_backend
from .backends._pool import BackendPool
from .exceptions import ConfigError, UnsupportedKernelError
from .harness import (
    TimingSettings,
    environment,
    environment_id,
    git_commit,
    inputs_or_reason,
    refused_row,
)
from .kernels import Check, KernelSpec, config_key, get_kernel
from .store import Store, check_resume, open_store

__all__ = [
    "RunResult",
    "SweepOptions",
    "SweepPlan",
    "bench",
    "list_kernels",
    "open_run",
    "plan_configs",
    "run",
]


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def list_kernels() -> pd.DataFrame:
    """Every kernel: family, description, parameters with defaults, presets and dtypes."""
    from .kernels import KERNELS

    rows = []
    for spec in KERNELS.values():
        rows.append(
            {
                "kernel": spec.name,
                "family": spec.family,
                "description": spec.description,
                "params": ", ".join(f"{p.name}={p.default}" for p in spec.params),
                "presets": ", ".join(f"{k}:{len(v)}" for k, v in spec.presets.items()),
                "dtypes": ", ".join(spec.tolerances),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class RunResult:
    """Outputs of one kernel run on one backend, with the check against the reference."""

    kernel: str
    backend: str
    params: dict[str, Any]
    dtype: str
    outputs: dict[str, np.ndarray]
    reference: dict[str, np.ndarray] = field(repr=False)
    check: Check
    device: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.check.passed

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.passed else "#cf222e"
        return (
            f"<div><b>{html.escape(self.kernel)}</b> on <b>{html.escape(self.backend)}</b> "
            f"({html.escape(self.dtype)}, {html.escape(json.dumps(self.params))}): "
            f"<span style='color:{color}'>{html.escape(self.check.describe())}</span></div>"
        )


def run(
    kernel: str,
    backend: str | Backend = "cpu",
    *,
    dtype: str = "float32",
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> RunResult:
    """Run ``kernel`` once on ``backend`` and check it against the numpy reference.

    Parameters
    ----------
    kernel : str
        A name from :func:`list_kernels`.
    backend : str or Backend
        ``cpu``, ``wgpu``, ``webgpu``, ``webnn`` or ``cuda`` (or an open backend).
    dtype : str
        ``float32`` or ``float16``.
    seed : int
        Input seed; the same seed gives the same inputs on every backend.
    params, **kwargs
        Kernel parameters; missing ones take their defaults.

    Examples
    --------
    >>> r = run("matmul", "cpu", M=64, N=64, K=32)
    >>> r.check.passed
    True
    """
    spec = get_kernel(kernel)
    p = spec.resolve(params, **kwargs)
    dtype = spec.check_dtype(dtype)
    owned = isinstance(backend, str)
    be = get_backend(backend) if isinstance(backend, str) else backend
    try:
        reason = be.supports(spec, p, dtype)
        if reason:
            raise UnsupportedKernelError(f"{be.name} cannot run {spec.name} ({dtype}): {reason}")
        inputs = spec.make_inputs(p, dtype, seed)
        outputs = be.run(spec, p, dtype, inputs)
        ref = spec.reference(inputs, p)
        return RunResult(
            spec.name,
            be.name,
            p,
            dtype,
            outputs,
            ref,
            spec.check(outputs, ref, p, dtype),
            be.device_info(),
        )
    finally:
        if owned:
            be.close()


def plan_configs(
    kernels: str | Sequence[str],
    *,
    preset: str | None = "tiny",
    grid: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    params: Mapping[str, Any] | None = None,
    dtypes: str | Sequence[str] = "float32",
) -> list[tuple[KernelSpec, dict[str, Any], str]]:
    """The (kernel, parameters, dtype) configurations a sweep will measure, validated up front.

    ``grid`` is a list of parameter dicts (applied to every kernel) or a ``{kernel: [...]}``
    mapping; otherwise ``preset`` is used. ``params`` pins parameters in every configuration
    (for kernels that have them).
    """
    names = _as_list(kernels)
    if not names:
        raise ConfigError("No kernels given; pass e.g. kernels='matmul,softmax'.")
    specs = [get_kernel(n) for n in names]
    out: list[tuple[KernelSpec, dict[str, Any], str]] = []
    seen = set()
    for spec in specs:
        if grid is not None:
            raw = grid.get(spec.name, []) if isinstance(grid, Mapping) else grid
            configs = [dict(c) for c in raw]
        else:
            configs = spec.preset(str(preset))
        for cfg in configs:
            pins = {k: v for k, v in (params or {}).items() if k in spec.param_names}
            p = spec.resolve({**cfg, **pins})
            for dt in _as_list(dtypes):
                dt = spec.check_dtype(dt)
                key = config_key(spec.name, p, dt)
                if key not in seen:
                    seen.add(key)
                    out.append((spec, p, dt))
    if params:
        unknown = [k for k in params if not any(k in s.param_names for s in specs)]
        if unknown:
            raise ConfigError(
                f"Pinned parameter(s) {unknown} belong to none of the kernels {names}."
            )
    return out


def _order_seed(shuffle: bool | int) -> int | None:
    """The seed of a shuffled sweep's order (``None``: the planned order)."""
    if shuffle is False or shuffle is None:
        return None
    if shuffle is True:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(shuffle, int) and shuffle >= 0:
        return int(shuffle)
    raise ConfigError(f"shuffle must be True, False or a non-negative int seed, got {shuffle!r}.")


Grid = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]]
#: (round, config_key, backend) of the results a resumed run already stored
Done = set[tuple[int, str, str]] | frozenset[tuple[int, str, str]]


@dataclass(frozen=True, kw_only=True)
class SweepOptions:
    """What a sweep measures and how: the keywords :func:`bench` and ``TabRunner.bench`` share.

    Each field is the :func:`bench` argument of the same name, with the same default.
    :meth:`plan` validates them into the configurations to measure.
    """

    kernels: str | Sequence[str]
    backends: str | Sequence[str] = "cpu"
    preset: str | None = "tiny"
    grid: Grid | None = None
    params: Mapping[str, Any] | None = None
    dtypes: str | Sequence[str] = "float32"
    seed: int = 0
    time_budget: float | None = None
    settings: TimingSettings | None = None
    tag: str | None = None
    notebook: str | None = None
    notebook_params: Mapping[str, Any] | None = None
    notebook_output: str | None = None
    command: str | None = None
    resume: str | None = None
    progress: bool = True
    backend_options: Mapping[str, Mapping[str, Any]] | None = None
    shuffle: bool | int = False
    rounds: int = 1

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SweepOptions:
        """Options from keyword arguments; an unknown keyword raises :class:`ConfigError`."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise ConfigError(
                f"Unknown sweep argument(s) {unknown}; the arguments are "
                f"{', '.join(names)} (see accel_toolkit.bench)."
            )
        return cls(**kwargs)

    def as_kwargs(self) -> dict[str, Any]:
        """The options as :func:`bench` keyword arguments."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def plan(self) -> SweepPlan:
        """Validate the options: configurations, backends, timing and order, nothing opened."""
        configs = plan_configs(
            self.kernels, preset=self.preset, grid=self.grid, params=self.params, dtypes=self.dtypes
        )
        names = _as_list(self.backends)
        if not names:
            raise ConfigError("No backends given; pass e.g. backends='cpu,webgpu'.")
        timing = self.settings or TimingSettings.from_budget(self.time_budget)
        if not (isinstance(self.rounds, int) and self.rounds >= 1):
            raise ConfigError(f"rounds must be a positive integer, got {self.rounds!r}.")
        # several rounds are always shuffled, each in its own order
        order_seed = _order_seed(
            True if self.rounds > 1 and self.shuffle is False else self.shuffle
        )
        if order_seed is not None:
            order = np.random.default_rng(order_seed).permutation(len(configs))
            configs = [configs[i] for i in order]
        return SweepPlan(self, configs, names, timing, order_seed)


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the (kernel, parameters, dtype) configurations in the order they are
    measured, the backends, the timing settings and the order's seed (``None``: as planned)."""

    options: SweepOptions
    configs: list[tuple[KernelSpec, dict[str, Any], str]]
    backends: list[str]
    timing: TimingSettings
    order_seed: int | None

    @property
    def total(self) -> int:
        """How many (configuration, backend) pairs the sweep measures, over all rounds."""
        return len(self.configs) * len(self.backends) * self.options.rounds

    def schedule(self) -> Iterator[tuple[int, tuple[KernelSpec, dict[str, Any], str]]]:
        """``(round, configuration)`` in the order they are measured: round 0 in
        :attr:`configs`' order, every later round in its own order drawn from the seed."""
        yield from ((0, c) for c in self.configs)
        for r in range(1, self.options.rounds):
            order = np.random.default_rng([self.order_seed or 0, r]).permutation(len(self.configs))
            yield from ((r, self.configs[i]) for i in order)

    def grid(self) -> dict[str, list[dict[str, Any]]] | None:
        """``{kernel: [parameters]}``: the exact configurations of a ``grid=`` sweep (pins
        applied, each once), which ``bench --grid FILE.json`` measures again; ``None`` for a
        preset sweep."""
        if self.options.grid is None:
            return None
        out: dict[str, list[dict[str, Any]]] = {}
        for spec, p, _dtype in self.configs:
            if p not in out.setdefault(spec.name, []):
                out[spec.name].append(dict(p))
        return out

    def start(self, store: Store, **settings: Any) -> tuple[str, Done, str]:
        """Record the environment and start the run (or reopen ``resume``).

        ``settings`` are stored with the run's settings. Returns the run id, the
        (round, config_key, backend) triples already stored (see :func:`open_run`) and the
        environment id.
        """
        o = self.options
        env = environment()
        env_id = environment_id(env)
        store.add_environment(env, env_id)
        run_id, done = open_run(
            store,
            resume=o.resume,
            tag=o.tag,
            env_id=env_id,
            command=o.command,
            notebook=o.notebook,
            notebook_params=o.notebook_params,
            notebook_output=o.notebook_output,
            settings={
                **self.timing.as_dict(),
                "kernels": _as_list(o.kernels),
                "backends": self.backends,
                "preset": o.preset if o.grid is None else None,
                "grid": self.grid(),
                "params": dict(o.params) if o.params else None,
                "dtypes": _as_list(o.dtypes),
                "order_seed": self.order_seed,
                "rounds": o.rounds,
                **settings,
            },
            seed=o.seed,
            planned=self.total,
        )
        return run_id, done, env_id


def bench(
    kernels: str | Sequence[str],
    backends: str | Sequence[str] = "cpu",
    *,
    preset: str | None = "tiny",
    grid: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    params: Mapping[str, Any] | None = None,
    dtypes: str | Sequence[str] = "float32",
    seed: int = 0,
    time_budget: float | None = None,
    settings: TimingSettings | None = None,
    db: Store | str | None = None,
    tag: str | None = None,
    notebook: str | None = None,
    notebook_params: Mapping[str, Any] | None = None,
    notebook_output: str | None = None,
    command: str | None = None,
    resume: str | None = None,
    progress: bool = True,
    backend_options: Mapping[str, Mapping[str, Any]] | None = None,
    pool: BackendPool | None = None,
    shuffle: bool | int = False,
    rounds: int = 1,
    cluster: str | None = None,
    client: Any = None,
    parallel: int | None = None,
    where: str = "any",
    browsers: int | None = None,
) -> pd.DataFrame:
    """Benchmark kernels x configurations x backends; store every result; return them.

    Every configuration is committed to the database as soon as it is measured, so an
    interrupted sweep (Ctrl-C, a crash) keeps what it measured; ``resume=run_id`` measures
    only what that run has not stored yet. A configuration that fails (an error, a mismatch
    with the reference, an unsupported kernel) is stored with its ``status`` and ``error``
    and the sweep continues.

    Parameters
    ----------
    kernels, backends : str or list of str
        Comma-separated names or lists.
    preset, grid, params, dtypes
        Which configurations (see :func:`plan_configs`).
    seed : int
        Input seed (same seed, same inputs on every backend).
    time_budget : float, optional
        Seconds of sampling per configuration (``TimingSettings.from_budget``).
    settings : TimingSettings, optional
        Full control over the timing loop (overrides ``time_budget``).
    db : Store or path, optional
        The results database (default: :func:`accel_toolkit.store.default_db_path`).
    tag : str, optional
        A label for the run (e.g. a branch name); ``compare``/``check`` select runs by tag.
    notebook, notebook_params, notebook_output, command
        Provenance recorded with the run.
    resume : str, optional
        A ``run_id`` to continue.
    progress : bool
        Show a tqdm progress bar.
    backend_options : dict, optional
        ``{backend: {option: value}}`` passed to the backend constructors.
    pool : BackendPool, optional
        Already-open backends to use (e.g. one browser across several sweeps); the caller
        closes it.
    shuffle : bool or int
        Measure the configurations in a random order (an int seeds it; ``True`` draws a
        seed, recorded in the run's settings as ``order_seed``). A machine whose speed drifts
        during a sweep (thermal state, other tenants of a shared VM) then biases no group of
        configurations; repeated sweeps with different orders interleave them, as asv's
        ``--interleave-rounds`` does.
    rounds : int
        Measure every configuration this many times, in as many rounds, each round in its own
        shuffled order and each measurement calibrated afresh; every row records its
        ``round``. The spread of a configuration across rounds (``round_spread`` in the
        results view) says how well its figure reproduces on this machine, which a
        within-round CI does not; ``check`` compares runs with rounds round by round
        (:mod:`accel_toolkit.analysis._blocks`).
    cluster, client, parallel
        Measure on a Dask cluster: a scheduler address (``"tcp://HOST:8786"``), a
        ``distributed.Client``, or ``parallel=N`` worker processes of a LocalCluster on this
        machine. Every configuration x backend is a task sent to a worker that offers the
        backend; the results are written here, once each (see docs/distributed.md).
    where : {"any", "all"}
        On a cluster: each configuration on any one machine offering its backend
        (throughput), or on every such machine (rows tell machines apart by ``env_id``).
    browsers : int, optional
        Browsers per pool (in this process, or per worker of a LocalCluster); the default
        is what the machine's cores can feed (``doctor`` states it).

    Returns
    -------
    pandas.DataFrame
        The run's rows of the ``results`` view.
    """
    options = SweepOptions(
        kernels=kernels,
        backends=backends,
        preset=preset,
        grid=grid,
        params=params,
        dtypes=dtypes,
        seed=seed,
        time_budget=time_budget,
        settings=settings,
        tag=tag,
        notebook=notebook,
        notebook_params=notebook_params,
        notebook_output=notebook_output,
        command=command,
        resume=resume,
        progress=progress,
        backend_options=backend_options,
        shuffle=shuffle,
        rounds=rounds,
    )
    plan = options.plan()
    from .backends import check_backend_name

    for n in plan.backends:
        if pool is None or n not in pool:
            check_backend_name(n)  # unknown names fail before anything runs
    store = open_store(db)
    if cluster is not None or client is not None or parallel is not None:
        from .distributed import bench_on_cluster

        run_id = bench_on_cluster(
            plan,
            store,
            cluster=cluster,
            client=client,
            parallel=parallel,
            where=where,
            browsers=browsers,
        )
        return store.results(run_ids=[run_id])
    own_pool = pool is None
    pool = pool or BackendPool(backend_options, browsers=browsers or 1)
    if browsers is not None and browsers > 1:  # several browsers: threads measure, one writes
        from .distributed._local import bench_in_threads

        try:
            run_id = bench_in_threads(plan, store, pool, browsers)
        finally:
            if own_pool:
                pool.close()
        return store.results(run_ids=[run_id])
    run_id, done, env_id = plan.start(store)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=plan.total, desc="accel_toolkit", unit="cfg", leave=True)
    try:
        with store.recording(run_id):
            for rnd, (spec, p, dtype) in plan.schedule():
                measure_and_store(
                    store, pool, plan, run_id, env_id, rnd, spec, p, dtype, done=done, bar=bar
                )
    finally:
        if bar is not None:
            bar.close()
        if own_pool:
            pool.close()
    return store.results(run_ids=[run_id])


def store_row(
    store: Store,
    row: dict[str, Any],
    samples: Any,
    run_id: str,
    env_id: str,
    key: str,
    rnd: int,
) -> dict[str, Any]:
    """Stamp ``row`` with its run, environment, configuration key and round; store it."""
    row.update(
        run_id=run_id,
        env_id=env_id,
        config_key=key,
        extra={**(row.get("extra") or {}), "round": rnd},
    )
    store.add_result(row, samples)
    return row


def measure_and_store(
    store: Store,
    pool: BackendPool,
    plan: SweepPlan,
    run_id: str,
    env_id: str,
    rnd: int,
    spec: KernelSpec,
    p: dict[str, Any],
    dtype: str,
    *,
    backends: Sequence[str] | None = None,
    done: Done = frozenset(),
    bar: Any = None,
) -> list[dict[str, Any]]:
    """Measure one configuration of round ``rnd`` on ``backends`` (default: the plan's, less
    those ``done`` in this round) and store each row as it comes; return the rows."""
    seed = plan.options.seed
    key = config_key(spec.name, p, dtype)
    wanted = list(backends or plan.backends)
    names = [n for n in wanted if (rnd, key, n) not in done]
    if bar is not None and len(names) < len(wanted):
        bar.update(len(wanted) - len(names))
    if not names:
        return []
    rows: list[dict[str, Any]] = []
    made = inputs_or_reason(spec, p, dtype, seed)
    if isinstance(made, str):  # refused before allocating, or out of memory
        for name in names:
            row = refused_row(name, spec, p, dtype, seed, made, venue=pool.venue_of(name))
            rows.append(store_row(store, row, None, run_id, env_id, key, rnd))
            if bar is not None:
                bar.update(1)
        return rows
    inputs, reference = made
    for name in names:
        if bar is not None:
            bar.set_postfix_str(f"{spec.name} {name}", refresh=False)
        row, samples = pool.measure(name, spec, p, dtype, seed, inputs, reference, plan.timing)
        rows.append(store_row(store, row, samples, run_id, env_id, key, rnd))
        if bar is not None:
            bar.update(1)
    return rows


def open_run(
    store: Store,
    *,
    resume: str | None = None,
    planned: int | None = None,
    **run_fields: Any,
) -> tuple[str, Done]:
    """Start a run (or reopen ``resume``); return its id and the (round, config_key, backend)
    triples already stored with a final status, which a resumed sweep skips.

    ``run_fields`` are :meth:`Store.start_run` keywords (``tag``, ``env_id``, ``settings``, ...).
    Shared by :func:`bench` and the live-tab sweep (:mod:`accel_toolkit.tab`).
    """
    if not resume:
        return store.start_run(git_commit=git_commit(), planned=planned, **run_fields), set()
    check_resume(store, resume, run_fields.get("settings"), run_fields.get("seed"))
    done = {(rnd, key, backend) for rnd, key, backend, _env in store.finished(resume)}
    with store.connect() as con:
        con.execute(
            "UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?", [resume]
        )
    return resume, done
