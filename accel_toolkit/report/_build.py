"""Selecting results from the store and assembling the report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..exceptions import NotebookError
from ..store import Store, default_db_path
from ._blocks import Block
from ._html import render_page
from ._sections import (
    SECTIONS,
    ReportContext,
    Section,
    build_section,
    kernel_sections,
    plugin_sections,
)

__all__ = ["Report", "build_report", "load_context", "write_report"]


def _no_results(path: Path, what: str) -> NotebookError:
    return NotebookError(
        f"No results in {path}{what}; run `accel-toolkit bench --kernels matmul,softmax "
        f"--db {path}` (or `accel-toolkit notebook run benchmark`) first."
    )


def load_context(
    db: Store | str | os.PathLike[str] | None = None,
    *,
    run_ids: Sequence[str] | None = None,
    tag: str | None = None,
    baseline: str | None = "cpu",
) -> ReportContext:
    """Read the selected results, their runs and environments from the store.

    Raises
    ------
    NotebookError
        The database does not exist or holds no results for the selection.
    """
    if isinstance(db, Store):
        store = db
    else:
        path = Path(db).expanduser() if db is not None else default_db_path()
        if not path.is_file():
            raise _no_results(path, " (the file does not exist)")
        store = Store(path)
    run_ids = [str(r) for r in run_ids] if run_ids else []
    results = store.results(run_ids=run_ids or None, tag=tag)
    if results.empty:
        what = []
        if run_ids:
            what.append(f"run(s) {', '.join(run_ids)}")
        if tag is not None:
            what.append(f"tag {tag!r}")
        raise _no_results(store.path, f" for {' and '.join(what)}" if what else "")
    ids = list(dict.fromkeys(results["run_id"]))
    ph = ", ".join("?" * len(ids))
    runs = store.query(f"SELECT * FROM runs WHERE run_id IN ({ph}) ORDER BY created_at", ids)
    envs = [e for e in dict.fromkeys(results["env_id"].dropna())]
    environments = (
        store.query(
            f"SELECT * FROM environments WHERE env_id IN ({', '.join('?' * len(envs))}) "
            "ORDER BY created_at",
            envs,
        )
        if envs
        else store.environments().iloc[:0]
    )
    if baseline is not None and baseline not in set(results["backend"]):
        baseline = None if len(set(results["backend"])) < 2 else baseline
    return ReportContext(
        store=store,
        results=results,
        runs=runs,
        environments=environments,
        baseline=baseline,
        run_ids=ids,
        tag=tag,
    )


@dataclass
class Report:
    """A built report: its sections (blocks) and the page as HTML.

    Use :meth:`write` to save it; in a notebook, :meth:`display` shows every block with
    the notebook's own renderers (charts as Altair charts, tables as DataFrames).
    """

    title: str
    subtitle: list[str]
    sections: list[tuple[str, str, list[Block]]]
    context: ReportContext = field(repr=False)
    charts: str = "interactive"

    @property
    def html(self) -> str:
        from .._version import __version__

        return render_page(
            self.title,
            self.subtitle,
            self.sections,
            charts=self.charts,
            footer=f"Written by accel_toolkit {__version__} from {self.context.store.path}.",
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the self-contained HTML file and return its path."""
        out = Path(path).expanduser()
        if out.is_dir():
            out = out / "report.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.html, encoding="utf-8")
        return out

    def display(self) -> None:
        """Show the report in a notebook, section by section (for ``report.ipynb``)."""
        from IPython.display import HTML, Markdown, display

        from ._blocks import ChartBlock, Code, ErrorBlock, Table, Text
        from ._html import _Renderer

        html_of = _Renderer("static").block
        for _, title, blocks in self.sections:
            display(Markdown(f"## {title}"))
            for b in blocks:
                if isinstance(b, ChartBlock):
                    display(b.chart)
                elif isinstance(b, Table):
                    display(
                        b.frame.style.hide(axis="index").set_caption(b.caption)
                        if b.caption
                        else b.frame
                    )
                elif isinstance(b, Text | Code | ErrorBlock):
                    display(HTML(html_of(b)))

    def _repr_html_(self) -> str:
        n = sum(len(b) for _, _, b in self.sections)
        return (
            f"<b>{self.title}</b>: {len(self.sections)} sections, {n} blocks "
            f"({len(self.context.results)} results). Use <code>.write(path)</code> or "
            f"<code>.display()</code>."
        )


def build_report(
    db: Store | str | os.PathLike[str] | None = None,
    *,
    run_ids: Sequence[str] | None = None,
    tag: str | None = None,
    baseline: str | None = "cpu",
    title: str | None = None,
    charts: str = "interactive",
    sections: Sequence[Section] | None = None,
    plugins: bool = True,
) -> Report:
    """Build the benchmark report of the selected results.

    Parameters
    ----------
    db : Store or path, optional
        The results database (default :func:`accel_toolkit.default_db_path`).
    run_ids, tag : optional
        Which runs; by default every result in the database.
    baseline : str, optional
        Backend the speedups are relative to (``None``: no speedups).
    title : str, optional
        Page title.
    charts : {"interactive", "static"}
        Vega-Embed in the page (tooltips) or SVG rendered in Python (no JavaScript).
    sections : list of Section, optional
        Extra sections, placed before *Failures*.
    plugins : bool
        Add the sections of other toolkit modules (regressions, predictions); one whose
        module fails to import shows that error.

    Raises
    ------
    NotebookError
        The database is missing or holds no results for the selection.
    """
    ctx = load_context(db, run_ids=run_ids, tag=tag, baseline=baseline)
    builtin = {s.id: s for s in SECTIONS}
    order: list[Section] = [builtin["summary"], builtin["environment"]]
    order += kernel_sections(ctx)
    order.append(builtin["first-run"])
    if plugins:
        order += plugin_sections()
    order += list(sections or [])
    order += [builtin["failures"], builtin["reproduce"]]
    built = [(s.id, s.title, build_section(s, ctx)) for s in order]
    sel = []
    if tag is not None:
        sel.append(f"tag {tag!r}")
    if run_ids:
        sel.append(f"runs {', '.join(ctx.run_ids)}")
    sub = [
        f"{len(ctx.results)} results from {len(ctx.run_ids)} run(s)"
        + (f" ({'; '.join(sel)})" if sel else " (all runs in the database)")
        + (f"; speedups relative to {ctx.baseline}" if ctx.baseline else ""),
        f"Database: {ctx.store.path}",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
    ]
    return Report(title or "accel_toolkit benchmark report", sub, built, ctx, charts)


def write_report(
    out: str | os.PathLike[str],
    db: Store | str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Path:
    """:func:`build_report` and write it to ``out``; return the written path."""
    return build_report(db, **kwargs).write(out)
