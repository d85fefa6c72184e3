"""What a kernel *is*: parameters, presets, inputs, reference, cost model and tolerances.

A :class:`KernelSpec` is plain data plus a few functions. Backends never compute a
reference or generate inputs themselves; they ask the spec, so that the same seed gives
the same inputs on every backend and every backend is checked against the same numbers.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..exceptions import ParameterError, UnsupportedDtypeError

__all__ = [
    "Arrays",
    "Check",
    "Cost",
    "KernelSpec",
    "Param",
    "Params",
    "Tolerance",
    "array_ops",
    "config_key",
]

DTYPES = ("float32", "float16")

#: resolved parameters of one configuration, e.g. ``{"M": 64, "N": 64, "K": 32}``
Params = Mapping[str, Any]
#: named arrays (numpy, or CuPy on the cuda backend's library path)
Arrays = Mapping[str, Any]


@dataclass(frozen=True)
class Param:
    """One parameter of a kernel.

    Parameters
    ----------
    name : str
        Keyword name, e.g. ``"M"``.
    kind : type
        ``int``, ``bool`` or ``str``.
    default : Any
        Value used when the caller does not give one.
    minimum, maximum : int, optional
        Inclusive bounds for ``int`` parameters. ``maximum`` bounds the property tests
        only when ``test_max`` is not given.
    choices : tuple, optional
        Allowed values for ``str`` (and optionally ``int``) parameters.
    test_max : int, optional
        Largest value the property-based tests draw (keeps emulated backends fast).
    doc : str
        One line for ``list_kernels()``.
    """

    name: str
    kind: type
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[Any, ...] | None = None
    test_max: int | None = None
    doc: str = ""

    def coerce(self, kernel: str, value: Any) -> Any:
        """Return ``value`` converted to this parameter's kind, or raise ParameterError."""
        where = f"{kernel}: parameter {self.name}={value!r}"
        if self.kind is bool:
            if isinstance(value, (bool, np.bool_)):
                out: Any = bool(value)
            elif isinstance(value, str) and value.lower() in {
                "true",
                "1",
                "yes",
                "false",
                "0",
                "no",
            }:
                out = value.lower() in {"true", "1", "yes"}
            elif isinstance(value, (int, np.integer)) and int(value) in (0, 1):
                out = bool(value)
            else:
                raise ParameterError(f"{where} must be true or false.")
        elif self.kind is int:
            if isinstance(value, (bool, np.bool_)):
                raise ParameterError(f"{where} must be an integer, not a boolean.")
            if isinstance(value, str):
                try:
                    value = int(value.strip())
                except ValueError:
                    raise ParameterError(f"{where} must be an integer.") from None
            if isinstance(value, (float, np.floating)) and float(value).is_integer():
                value = int(value)
            if not isinstance(value, (int, np.integer)):
                raise ParameterError(f"{where} must be an integer, got {type(value).__name__}.")
            out = int(value)
            if self.minimum is not None and out < self.minimum:
                raise ParameterError(f"{where} must be >= {self.minimum}.")
            if self.maximum is not None and out > self.maximum:
                raise ParameterError(f"{where} must be <= {self.maximum}.")
        else:
            out = str(value)
        if self.choices is not None and out not in self.choices:
            raise ParameterError(f"{where} must be one of {list(self.choices)}.")
        return out


@dataclass(frozen=True)
class Cost:
    """Work done by one call: floating-point (or integer) operations and bytes moved."""

    flops: float
    bytes: float

    @property
    def intensity(self) -> float:
        """Arithmetic intensity in FLOP per byte."""
        return self.flops / self.bytes if self.bytes else math.inf


@dataclass(frozen=True)
class Tolerance:
    """An output passes when ``|out - ref| <= atol + rtol * |ref|`` everywhere."""

    atol: float
    rtol: float


@dataclass(frozen=True)
class Check:
    """How a backend's outputs compare with the numpy reference."""

    max_abs_err: float
    max_rel_err: float
    atol: float
    rtol: float
    passed: bool
    worst_output: str = ""

    def describe(self) -> str:
        """One line: the verdict, the largest errors and the tolerance."""
        verdict = "ok" if self.passed else "MISMATCH"
        return (
            f"{verdict}: max abs err {self.max_abs_err:.3g}, max rel err {self.max_rel_err:.3g} "
            f"(atol {self.atol:.3g}, rtol {self.rtol:.3g}"
            f"{', worst ' + self.worst_output if self.worst_output else ''})"
        )


def _erf(x: Any) -> Any:
    """scipy's erf; without scipy (a bare GPU box), ``math.erf`` element by element."""
    try:
        from scipy.special import erf
    except ImportError:
        import math

        a = np.asarray(x)
        out = np.vectorize(math.erf, otypes=[np.float64])(a)
        return out.astype(a.dtype) if np.issubdtype(a.dtype, np.floating) else out
    return erf(x)


def array_ops(xp: Any = np, erf: Callable[[Any], Any] | None = None) -> SimpleNamespace:
    """The array namespace a kernel implementation is written against.

    ``xp`` is numpy (cpu backend and references) or cupy (cuda library path).
    """
    return SimpleNamespace(xp=xp, erf=erf or _erf)


InputsFn = Callable[[Params, np.dtype, np.random.Generator], dict[str, np.ndarray]]
ImplFn = Callable[[SimpleNamespace, Arrays, Params], dict[str, Any]]


@dataclass(frozen=True)
class KernelSpec:
    """A kernel of the library.

    Attributes
    ----------
    name : str
        Registry name.
    family : str
        Coarse group used by the predictor and the report (``"gemm"``, ``"conv"``, ...).
    description : str
        One line.
    params : tuple of Param
        The parameter space.
    presets : dict
        ``{"tiny": [...], "small": [...], "medium": [...], "large": [...]}``: each a list of
        partial parameter dicts, completed with defaults.
    inputs : callable
        ``inputs(params, dtype, rng) -> {name: array}``; the order of the dict is the binding
        order every backend uses.
    impl : callable
        ``impl(ops, inputs, params) -> {name: array}`` written against ``ops.xp``. Run on float64
        numpy inputs it is the reference; run on the dtype's inputs it is the cpu backend.
    cost : callable
        ``cost(params, itemsize) -> Cost``.
    tolerances : dict
        ``{dtype: Tolerance}`` for a reduction length of 1.
    reduction : callable, optional
        ``reduction(params) -> int``: length of the longest sum behind one output; ``atol`` grows
        with its square root.
    validate : callable, optional
        Cross-parameter checks (e.g. conv2d kernel larger than the padded input); raises
        ParameterError.
    output_dtypes : dict, optional
        Outputs whose dtype does not follow the float dtype (e.g. ``{"q": "int8"}``).
    output_tolerances : dict, optional
        ``{output: {dtype: Tolerance}}`` for outputs that need their own tolerance (an int8
        output may be off by one rounding step; its float scales may not).
    scratch : callable, optional
        ``scratch(params, itemsize) -> bytes`` that ``impl`` (the cpu backend, and the cuda
        backend's CuPy path) writes to intermediate arrays and reads back, beyond the cost
        model's ``bytes`` (the least any implementation must move): conv2d's im2col matrix.
        The speed predictor counts it in the bytes it learns from; ``cost`` stays the
        algorithm's figure, so GB/s stay comparable across backends.
    gemm : callable, optional
        ``gemm(params) -> (calls, M, N, K)``: the BLAS GEMMs (``calls`` of them, each
        ``M x K`` by ``K x N``, neither operand transposed) in ``impl``'s work on the cpu
        backend. The speed predictor models how numpy and OpenBLAS run them
        (:func:`accel_toolkit.predict.gemm_paths`): the operands OpenBLAS copies into
        panels above its small-matrix limit, the FLOPs numpy computes in its own loop.
        Declared by matmul, batched_matmul, linear_gelu and conv2d (its im2col GEMM);
        attention's first product has a transposed operand, so it declares none.
    row_reductions : callable, optional
        ``row_reductions(params) -> rows``: how many rows ``impl`` reduces along its last
        axis on the cpu backend, summed over its reductions. numpy runs a reduction's inner
        loop once per row, at 20-60 ns a call whatever the row's length, so 1000 rows of 8
        take as long as 60 rows of 1000; the speed predictor gives the roofline a term for
        it (:func:`accel_toolkit.predict.numpy_loops`). Declared by softmax (a max and
        a sum per row), layernorm (two means), quantize_int8, reduce and attention.
    ufunc_elements : callable, optional
        ``ufunc_elements(params) -> elements``: the elements of the intermediates ``impl``
        passes through numpy's elementwise functions between its BLAS calls on the cpu
        backend, counted once per function: attention's ``batch*heads*seq**2`` scores are
        scaled, shifted, exponentiated and divided (and masked by ``where`` when causal), at
        about half a nanosecond an element each while its GEMMs run a FLOP in 10-20 ps. The cost
        model counts both as FLOPs; the speed predictor gives these their own term
        (:func:`accel_toolkit.predict.numpy_loops`). A kernel whose work is all elementwise
        needs none: its FLOPs term is that rate.
    edge_cases : tuple of dict, optional
        Odd and edge sizes beyond the ``tiny`` preset (partial dicts, completed with
        defaults) that reach every code path of the backends' implementations: vector
        widths, partial tiles, the warp, block and looped row kernels, loop tails. The cuda
        and wgpu tests and ``scripts/device_check.py`` run them, so keep them small enough
        for the CPU emulation of the CUDA sources (a few thousand elements).
    candidates : dict, optional
        The ranges the speed predictor's candidate grids draw from
        (:func:`accel_toolkit.predict.log_uniform_grid`): per parameter ``(low, high)``,
        drawn log-uniformly, or a list to choose from, and an optional ``max_flops`` cap on
        the cost model's FLOPs. Empty: the span of the ``tiny`` to ``medium`` presets.
    candidate_ties : dict, optional
        ``{parameter: rule(config) -> value}``: parameters a candidate takes from the others
        unless the grid is given a range for them (conv2d: ``W = H``, ``padding = kernel // 2``).
    """

    name: str
    family: str
    description: str
    params: tuple[Param, ...]
    presets: Mapping[str, list[dict[str, Any]]]
    inputs: InputsFn
    impl: ImplFn
    cost: Callable[[Mapping[str, Any], int], Cost]
    tolerances: Mapping[str, Tolerance]
    reduction: Callable[[Mapping[str, Any]], int] | None = None
    validate: Callable[[Mapping[str, Any]], None] | None = None
    output_dtypes: Mapping[str, str] = field(default_factory=dict)
    output_tolerances: Mapping[str, Mapping[str, Tolerance]] = field(default_factory=dict)
    scratch: Callable[[Mapping[str, Any], int], float] | None = None
    gemm: Callable[[Mapping[str, Any]], tuple[int, int, int, int]] | None = None
    row_reductions: Callable[[Mapping[str, Any]], int] | None = None
    ufunc_elements: Callable[[Mapping[str, Any]], int] | None = None
    edge_cases: tuple[Mapping[str, Any], ...] = ()
    candidates: Mapping[str, Any] = field(default_factory=dict)
    candidate_ties: Mapping[str, Callable[[Mapping[str, Any]], Any]] = field(default_factory=dict)

    # -- parameters -------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        """The names of the parameters, in order."""
        return tuple(p.name for p in self.params)

    def resolve(self, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any]:
        """Complete, coerce and validate parameters; raise ParameterError with a fix."""
        given = {**(params or {}), **kwargs}
        known = {p.name: p for p in self.params}
        extra = [k for k in given if k not in known]
        if extra:
            hints = []
            for k in extra:
                lower = {n.lower(): n for n in known}
                close = (
                    [lower[k.lower()]]
                    if k.lower() in lower
                    else difflib.get_close_matches(k, list(known), n=1)
                )
                hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ParameterError(
                f"{self.name}: unknown parameter(s) {', '.join(hints)}. "
                f"Valid parameters: {', '.join(known)}."
            )
        out = {name: p.coerce(self.name, given.get(name, p.default)) for name, p in known.items()}
        if self.validate is not None:
            self.validate(out)
        return out

    def preset(self, name: str) -> list[dict[str, Any]]:
        """The resolved configurations of a preset (``tiny``, ``small``, ``medium``, ``large``)."""
        if name not in self.presets:
            close = difflib.get_close_matches(name, list(self.presets), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(
                f"{self.name}: no preset {name!r}.{hint} Presets: {', '.join(self.presets)}."
            )
        return [self.resolve(p) for p in self.presets[name]]

    def edge_configs(self) -> list[dict[str, Any]]:
        """The resolved :attr:`edge_cases` (odd and edge sizes beyond the ``tiny`` preset)."""
        return [self.resolve(p) for p in self.edge_cases]

    def check_dtype(self, dtype: str) -> str:
        """``dtype`` by its canonical name; UnsupportedDtypeError if the kernel lacks it."""
        dtype = str(np.dtype(dtype)) if dtype in ("f4", "f2", "float", "half") else str(dtype)
        if dtype not in self.tolerances:
            raise UnsupportedDtypeError(
                f"{self.name}: dtype {dtype!r} is not supported; use one of "
                f"{', '.join(self.tolerances)}."
            )
        return dtype

    # -- data ---------------------------------------------------------------------------
    def make_inputs(
        self, params: Mapping[str, Any], dtype: str = "float32", seed: int = 0
    ) -> dict[str, np.ndarray]:
        """Deterministic inputs: the same (params, dtype, seed) gives the same arrays."""
        dtype = self.check_dtype(dtype)
        rng = np.random.default_rng(seed)
        arrays = self.inputs(params, np.dtype(dtype), rng)
        return {k: np.ascontiguousarray(v) for k, v in arrays.items()}

    def reference(
        self, inputs: Mapping[str, np.ndarray], params: Mapping[str, Any]
    ) -> dict[str, np.ndarray]:
        """The float64 numpy reference (integer inputs stay integer)."""
        up = {
            k: v.astype(np.float64) if np.issubdtype(v.dtype, np.floating) else v
            for k, v in inputs.items()
        }
        out = self.impl(array_ops(np), up, params)
        return {k: np.asarray(v) for k, v in out.items()}

    def output_dtype(self, name: str, dtype: str) -> str:
        """The dtype of output ``name`` when the kernel runs in ``dtype``."""
        return self.output_dtypes.get(name, dtype)

    def tolerance(
        self, params: Mapping[str, Any], dtype: str, output: str | None = None
    ) -> Tolerance:
        """The stated tolerance for one output (or the kernel's default)."""
        dtype = self.check_dtype(dtype)
        base = self.output_tolerances.get(output or "", {}).get(dtype) or self.tolerances[dtype]
        n = self.reduction(params) if self.reduction else 1
        return Tolerance(atol=base.atol * max(1.0, math.sqrt(n)), rtol=base.rtol)

    def check(
        self,
        outputs: Mapping[str, Any],
        reference: Mapping[str, np.ndarray],
        params: Mapping[str, Any],
        dtype: str,
    ) -> Check:
        """Compare a backend's outputs with the reference within the stated tolerance."""
        tol = self.tolerance(params, dtype)
        max_abs = max_rel = 0.0
        passed = True
        worst = ""
        for name, ref in reference.items():
            tol = self.tolerance(params, dtype, name)
            if name not in outputs:
                return Check(math.inf, math.inf, tol.atol, tol.rtol, False, f"{name} missing")
            got = np.asarray(outputs[name]).astype(np.float64)
            ref64 = np.asarray(ref).astype(np.float64)
            if got.shape != ref64.shape:
                if got.size == ref64.size:
                    got = got.reshape(ref64.shape)
                else:
                    return Check(
                        math.inf,
                        math.inf,
                        tol.atol,
                        tol.rtol,
                        False,
                        f"{name} shape {got.shape} != {ref64.shape}",
                    )
            if not np.all(np.isfinite(got) | ~np.isfinite(ref64)):
                return Check(math.inf, math.inf, tol.atol, tol.rtol, False, f"{name} non-finite")
            err = np.abs(got - ref64)
            abs_e = float(err.max()) if err.size else 0.0
            rel_e = float((err / np.maximum(np.abs(ref64), 1e-30)).max()) if err.size else 0.0
            ok = bool(np.all(err <= tol.atol + tol.rtol * np.abs(ref64)))
            if abs_e >= max_abs:
                worst = name
            max_abs, max_rel = max(max_abs, abs_e), max(max_rel, rel_e)
            passed = passed and ok
        return Check(max_abs, max_rel, tol.atol, tol.rtol, passed, worst)


def config_key(kernel: str, params: Mapping[str, Any], dtype: str) -> str:
    """A stable identifier of one configuration (kernel, parameters, dtype)."""
    blob = json.dumps({"k": kernel, "p": dict(sorted(params.items())), "d": dtype}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]
