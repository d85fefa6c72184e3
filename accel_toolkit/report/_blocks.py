"""The pieces a report section is made of: text, tables, charts, code, errors.

A section builder returns one block, a list of blocks, or things that become blocks:
a ``str`` (escaped text), a ``DataFrame`` (a table), an Altair chart, or ``None``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Block", "ChartBlock", "Code", "ErrorBlock", "Table", "Text", "to_blocks"]


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text (escaped when rendered); ``muted`` for notes."""

    text: str
    muted: bool = False


@dataclass(frozen=True)
class Table:
    """A DataFrame shown as a table (every cell escaped), with an optional caption."""

    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class ChartBlock:
    """An Altair chart (rendered by Vega-Embed inline, or as inline SVG)."""

    chart: Any
    caption: str = ""


@dataclass(frozen=True)
class Code:
    """A command or snippet shown verbatim (escaped)."""

    code: str
    caption: str = ""


@dataclass(frozen=True)
class ErrorBlock:
    """A section (or part of one) that failed: the error and its traceback."""

    title: str
    error: str
    traceback: str = field(default="", repr=False)

    @classmethod
    def from_exception(cls, title: str, exc: BaseException) -> ErrorBlock:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(title, f"{type(exc).__name__}: {exc}", tb)


Block = Text | Table | ChartBlock | Code | ErrorBlock


def _is_chart(obj: Any) -> bool:
    try:
        import altair as alt
    except ImportError:  # pragma: no cover - altair is a dependency
        return False
    return isinstance(obj, alt.TopLevelMixin)


def to_blocks(value: Any) -> list[Block]:
    """Turn what a section builder returned into a list of blocks."""
    if value is None:
        return []
    if isinstance(value, Text | Table | ChartBlock | Code | ErrorBlock):
        return [value]
    if isinstance(value, str):
        return [Text(value)]
    if isinstance(value, pd.DataFrame):
        return [Table(value)]
    if isinstance(value, pd.Series):
        return [Table(value.reset_index())]
    if _is_chart(value):
        return [ChartBlock(value)]
    if isinstance(value, dict):
        out: list[Block] = []
        for key, item in value.items():
            blocks = to_blocks(item)
            if blocks and isinstance(blocks[0], Table | ChartBlock) and not blocks[0].caption:
                first = blocks[0]
                blocks[0] = type(first)(
                    first.frame if isinstance(first, Table) else first.chart, str(key)
                )
            out.extend(blocks)
        return out
    if hasattr(value, "tables") and hasattr(value, "charts"):
        # a section object of another module: summary text, tables and charts
        out = to_blocks(getattr(value, "summary", None))
        return out + to_blocks(dict(value.tables)) + to_blocks(dict(value.charts))
    if isinstance(value, Iterable):
        return [b for item in value for b in to_blocks(item)]
    raise TypeError(
        f"A report section returned {type(value).__name__}; return text, a DataFrame, an "
        f"Altair chart, a report block, or a list/dict of those."
    )
