"""Sum or max over one axis of a 2-D array."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ._spec import Arrays, Cost, KernelSpec, Param, Params, Tolerance
from ._util import uniform


def _reduce(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    xp = ops.xp
    v = x["x"]
    if p["op"] == "max":
        return {"y": xp.max(v, axis=p["axis"])}
    # float16 sums accumulate in float32, as every serious implementation does.
    wide = xp.float32 if v.dtype == xp.float16 else v.dtype
    return {"y": xp.sum(v, axis=p["axis"], dtype=wide).astype(v.dtype)}


REDUCE = KernelSpec(
    name="reduce",
    family="reduce",
    description="Y = sum or max of X[rows, cols] over axis 0 or 1",
    params=(
        Param("rows", int, 256, minimum=1, maximum=1 << 24, test_max=40, doc="rows"),
        Param("cols", int, 256, minimum=1, maximum=1 << 24, test_max=300, doc="columns"),
        Param("op", str, "sum", choices=("sum", "max"), doc="reduction"),
        Param("axis", int, 1, choices=(0, 1), doc="axis reduced away"),
    ),
    presets={
        "tiny": [
            {"rows": 8, "cols": 100, "op": "sum", "axis": 1},
            {"rows": 9, "cols": 33, "op": "max", "axis": 0},
        ],
        "small": [
            {"rows": 256, "cols": 1024, "op": o, "axis": a} for o in ("sum", "max") for a in (0, 1)
        ],
        "medium": [{"rows": 4096, "cols": 4096, "op": o, "axis": 1} for o in ("sum", "max")],
        "large": [{"rows": 16384, "cols": 8192, "op": o, "axis": 1} for o in ("sum", "max")],
    },
    inputs=lambda p, dtype, rng: {"x": uniform(rng, (p["rows"], p["cols"]), dtype)},
    impl=_reduce,
    cost=lambda p, itemsize: Cost(
        flops=1.0 * p["rows"] * p["cols"],
        bytes=float(
            (p["rows"] * p["cols"] + (p["rows"] if p["axis"] == 1 else p["cols"])) * itemsize
        ),
    ),
    tolerances={
        "float32": Tolerance(atol=1e-6, rtol=1e-5),
        "float16": Tolerance(atol=2e-3, rtol=1e-2),
    },
    reduction=lambda p: p["cols"] if p["axis"] == 1 else p["rows"],
    # either axis: numpy's inner loop runs once per row (along it, or adding it in)
    row_reductions=lambda p: p["rows"],
    # a block-wide row with vector width 2; columns over several blocks; width-1 rows
    edge_cases=(
        {"rows": 3, "cols": 2050, "op": "max", "axis": 1},
        {"rows": 40, "cols": 70, "op": "sum", "axis": 0},
        {"rows": 5, "cols": 7, "op": "sum", "axis": 1},
    ),
)
