"""The toolkit's palette and its Altair theme: the one place that names colors.

Every chart takes its fixed colors (verdicts, regression and improvement, the reference
rule, the phases of a first run) from :data:`PALETTE`. The same palette styles whole specs
as the Altair theme :data:`THEME`, registered the way Altair registers its own themes;
:func:`enable_theme` turns it on (for the session, or inside a ``with`` block). Charts are
returned unthemed: enabling the theme changes their look, never their data.

>>> from accel_toolkit import charts
>>> with charts.enable_theme():  # doctest: +SKIP
...     spec = charts.latency(df).to_dict()
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

__all__ = ["KIND_COLORS", "PALETTE", "THEME", "VERDICT_COLORS", "enable_theme", "theme"]

#: the theme's name in Altair's registry
THEME = "accel_toolkit"

#: named colors (GitHub Primer), each with one meaning across every chart
PALETTE: MappingProxyType[str, str] = MappingProxyType(
    {
        "regression": "#cf222e",  # slower, a step up in time
        "improvement": "#1a7f37",  # faster, a step down
        "ambiguous": "#bf8700",
        "neutral": "#8c959f",  # same; connecting rules
        "missing": "#d0d7de",
        "band": "#eaeef2",  # the no-change band of a comparison
        "reference": "#57606a",  # the 1x rule
        "ink": "#24292f",  # text, fitted levels
        "series": "#0969da",  # one series' medians; the steady state
        "first-run": "#e36209",
    }
)

#: a comparison's verdicts, in legend order
VERDICT_COLORS: MappingProxyType[str, str] = MappingProxyType(
    {
        "slower": PALETTE["regression"],
        "faster": PALETTE["improvement"],
        "same": PALETTE["neutral"],
        "ambiguous": PALETTE["ambiguous"],
        "missing": PALETTE["missing"],
    }
)

#: the kinds of a detected step
KIND_COLORS: MappingProxyType[str, str] = MappingProxyType(
    {
        "regression": PALETTE["regression"],
        "improvement": PALETTE["improvement"],
    }
)


def theme() -> dict[str, Any]:
    """The theme's Vega-Lite config: categorical and diverging schemes, ink and rules."""
    ink, rule = PALETTE["ink"], PALETTE["reference"]
    return {
        "config": {
            "range": {"category": {"scheme": "tableau10"}, "diverging": {"scheme": "redblue"}},
            "axis": {
                "domainColor": rule,
                "tickColor": rule,
                "gridColor": PALETTE["band"],
                "labelColor": ink,
                "titleColor": ink,
            },
            "legend": {"labelColor": ink, "titleColor": ink},
            "title": {"anchor": "start", "color": ink, "subtitleColor": rule},
            "view": {"stroke": PALETTE["missing"]},
        }
    }


def _register() -> Any:
    """Register :func:`theme` under :data:`THEME`; return the registry (Altair >= 5.5:
    ``alt.theme``, before: ``alt.themes``)."""
    import altair as alt

    registry = getattr(alt, "theme", None)
    if registry is not None and hasattr(registry, "register"):
        if THEME not in registry.names():
            registry.register(THEME, enable=False)(theme)
        return registry
    themes = alt.themes
    if THEME not in themes.names():
        themes.register(THEME, theme)
    return themes


def enable_theme() -> Any:
    """Register and enable the toolkit's theme; usable as ``with charts.enable_theme():``.

    Returns
    -------
    Altair's plug-in enabler: as a context manager it restores the previous theme on exit.
    """
    return _register().enable(THEME)
