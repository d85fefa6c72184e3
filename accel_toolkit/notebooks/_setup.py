"""Small helpers the notebooks call: chart renderer, backend availability table."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..exceptions import ParameterError

__all__ = ["availability", "use_renderer"]

RENDERERS = ("svg", "png", "default", "html", "jupyter", "mimetype")


def use_renderer(name: str = "svg") -> str:
    """Choose how Altair charts show in the notebook.

    ``svg`` (default) renders with vl-convert inside the kernel, so the executed notebook
    (papermill output, GitHub, nbviewer) shows every chart offline; ``default`` or
    ``jupyter`` give interactive charts in JupyterLab.
    """
    import altair as alt

    if name not in RENDERERS:
        raise ParameterError(f"chart_renderer must be one of {', '.join(RENDERERS)}, got {name!r}.")
    alt.renderers.enable(name)
    return name


def availability(backends: Sequence[str] | None = None) -> pd.DataFrame:
    """``doctor()`` as a table: backend, available, device, reason."""
    from ..backends import doctor

    rows = [
        {
            "backend": a.name,
            "available": a.available,
            "device": (a.device or {}).get("name", ""),
            "reason": a.reason,
        }
        for a in doctor(list(backends) if backends else None)
    ]
    return pd.DataFrame(rows)
