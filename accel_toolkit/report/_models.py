"""The report's Models section: where each forward's time goes, and backends compared.

A plug-in section (see :data:`._sections.PLUGINS`): it reads the ``op_breakdown`` rows of
the model results in the report's selection and draws a stacked per-op chart
(:func:`accel_toolkit.charts.op_breakdown`) and a backend comparison
(:func:`accel_toolkit.charts.model_backends`), with the numbers as tables.
"""

from __future__ import annotations

import pandas as pd

from .. import charts
from ._blocks import Block, Table, Text
from ._sections import ReportContext, _fmt_time, _try_chart

__all__ = ["model_breakdown", "models_section"]


def model_breakdown(ctx: ReportContext) -> pd.DataFrame:
    """The ``op_breakdown`` rows of the newest model results in the report's selection."""
    rows = ctx.latest
    ids = rows.loc[rows["kernel"].astype(str).str.startswith("model:"), "result_id"].tolist()
    if not ids:
        return pd.DataFrame(columns=["result_id", "op", "calls", "seconds", "share", "timer"])
    ph = ", ".join("?" * len(ids))
    return ctx.store.query(
        f"SELECT result_id, op, calls, seconds, share, timer FROM op_breakdown "
        f"WHERE result_id IN ({ph}) ORDER BY result_id, seconds DESC",
        ids,
    )


def models_section(ctx: ReportContext) -> list[Block]:
    """Blocks of the Models section (a muted line when the selection has no model rows)."""
    rows = ctx.latest
    models = rows[rows["kernel"].astype(str).str.startswith("model:")]
    if models.empty:
        return [
            Text(
                "No whole-model results in this selection "
                "(`accel-toolkit bench --models minilm-l6` records some).",
                muted=True,
            )
        ]
    ok = models[models["status"] == "ok"]
    blocks: list[Block] = [
        Text(
            f"{len(models)} model result(s) ({len(ok)} ok) of "
            f"{', '.join(dict.fromkeys(models['kernel']))} on "
            f"{', '.join(dict.fromkeys(models['backend']))}. Each forward's time is split by "
            "op from one timed forward; a backend that exposes no per-op timing shows one "
            "'graph' bar."
        )
    ]
    if len(ok):
        _try_chart(
            blocks,
            "model backends",
            lambda: charts.model_backends(ok),
            "Median time per forward with its 99% CI (log scale), fastest first.",
        )
    ops = model_breakdown(ctx)
    if ops.empty:
        blocks.append(Text("No per-op breakdown stored for these results.", muted=True))
        return blocks
    _try_chart(
        blocks,
        "per-op breakdown",
        lambda: charts.op_breakdown(ops, models),
        "One forward timed op by op, stacked; the timer of each bar is in its tooltip.",
    )
    who = models.set_index("result_id")[["kernel", "backend", "params"]]
    table = ops.join(who, on="result_id")
    blocks.append(
        Table(
            pd.DataFrame(
                {
                    "model": table["kernel"].str.removeprefix("model:"),
                    "backend": table["backend"],
                    "shape": table["params"].map(charts.params_label),
                    "op": table["op"],
                    "calls": table["calls"],
                    "time": table["seconds"].map(_fmt_time),
                    "share": table["share"].map(lambda v: f"{v:.1%}"),
                    "timer": table["timer"],
                }
            ),
            "Where the time goes (one forward, op by op)",
        )
    )
    return blocks
