"""One self-contained HTML page: escaped text, tables, and charts that render offline.

Charts are embedded one of two ways, both without any network access:

``interactive`` (default)
    each Vega-Lite spec sits in a ``<script type="application/json">`` and the page inlines
    the Vega / Vega-Lite / Vega-Embed bundle from ``vl-convert-python`` once; charts are
    drawn as SVG in the browser, with tooltips.
``static``
    each chart is rendered to SVG by vl-convert in Python and inlined (no JavaScript).

Every piece of user-supplied text (tags, parameters, error messages) goes through
:func:`html.escape`; JSON inside ``<script>`` has ``<``, ``>`` and ``&`` escaped as
``\\u003c``-style sequences so no string can close the script element.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..charts import enable_theme
from ..exceptions import NotebookError
from ._blocks import Block, ChartBlock, Code, ErrorBlock, Table, Text

__all__ = ["CHART_MODES", "render_page", "script_json"]

CHART_MODES = ("interactive", "static")

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --soft:#f6f8fa;
        --accent:#0969da; --bad:#cf222e; }
* { box-sizing: border-box; }
body { margin:0;
       font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:24px 40px 12px; border-bottom:1px solid var(--line); background:var(--soft); }
header h1 { margin:0 0 4px; font-size:26px; }
header p { margin:2px 0; color:var(--muted); }
nav { padding:8px 40px; border-bottom:1px solid var(--line); font-size:13px; }
nav a { color:var(--accent); text-decoration:none; margin-right:14px; white-space:nowrap; }
main { padding:8px 40px 40px; max-width:1400px; }
section { margin:28px 0 8px; }
h2 { font-size:20px; border-bottom:1px solid var(--line); padding-bottom:4px; }
p.muted { color:var(--muted); }
figure { margin:12px 0 20px; overflow-x:auto; }
figcaption { color:var(--muted); font-size:12.5px; margin-top:4px; }
.chart { min-height:40px; }
.table-wrap { overflow-x:auto; margin:10px 0 18px; }
table.data { border-collapse:collapse; font-size:12.5px; }
table.data caption { text-align:left; font-weight:600; padding:4px 0; color:var(--fg); }
table.data th, table.data td { border:1px solid var(--line); padding:3px 8px; text-align:left;
       vertical-align:top; }
table.data .nw { white-space:nowrap; }
table.data .wrap { min-width:160px; max-width:480px; overflow-wrap:break-word; }
table.data th { background:var(--soft); }
table.data tr:nth-child(even) td { background:#fbfcfd; }
pre { background:var(--soft); border:1px solid var(--line); border-radius:6px; padding:10px 12px;
      overflow-x:auto; font-size:12.5px; white-space:pre-wrap; overflow-wrap:break-word; }
.error { border:1px solid var(--bad); border-left-width:4px; border-radius:6px; padding:8px 12px;
         margin:12px 0; background:#fff5f5; }
.error b { color:var(--bad); }
details summary { cursor:pointer; color:var(--muted); font-size:12.5px; }
footer { padding:16px 40px; color:var(--muted); font-size:12px; border-top:1px solid var(--line); }
"""

EMBED_SCRIPT = """
(function () {
  var nodes = document.querySelectorAll("script.vl-spec");
  var pending = [];
  nodes.forEach(function (node) {
    var target = document.getElementById(node.dataset.target);
    var spec = JSON.parse(node.textContent);
    pending.push(vegaEmbed(target, spec, {renderer: "svg", actions: false})
      .catch(function (err) {
        target.textContent = "This chart could not be drawn: " + err;
        target.className += " error";
        console.error(err);
      }));
  });
  Promise.all(pending).then(function () { document.body.dataset.chartsRendered = "true"; });
})();
"""


def script_json(value: Any) -> str:
    """JSON safe to put inside a ``<script>`` element (cannot close it or open a comment)."""
    text = json.dumps(value, default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _vl_version() -> str | None:
    import altair as alt
    import vl_convert as vlc

    want = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return want if want in vlc.get_vegalite_versions() else None


@functools.lru_cache(maxsize=1)
def _bundle() -> str:
    vlc = _vl_convert()
    js: str = vlc.javascript_bundle(vl_version=_vl_version())
    return js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def _vl_convert() -> Any:
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover - part of the [notebooks] extra
        raise NotebookError(
            "Writing a report needs vl-convert-python (it provides the offline Vega bundle): "
            "pip install 'accel-toolkit[notebooks]'."
        ) from exc
    return vl_convert


def chart_spec(chart: Any) -> dict[str, Any]:
    """The chart's Vega-Lite spec with its data inlined (no row limit), in the toolkit's
    theme (:func:`accel_toolkit.charts.enable_theme`)."""
    import altair as alt

    with alt.data_transformers.disable_max_rows(), enable_theme():
        spec: dict[str, Any] = chart.to_dict()
        return spec


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if isinstance(v, float):
        return format(v, ".4g")
    return str(v)


def _table(block: Table) -> str:
    df = block.frame if isinstance(block.frame, pd.DataFrame) else pd.DataFrame(block.frame)
    caption = html.escape(block.caption)
    if df.empty:
        what = f" ({caption})" if caption else ""
        return f'<p class="muted">No rows{what}.</p>'
    cells = [[_cell(v) for v in col] for _, col in df.items()]
    # short columns never wrap; long text wraps at word boundaries
    wrap = [max(len(c) for c in col) > 48 for col in cells]
    head = "".join(
        f'<th class="{"wrap" if w else "nw"}">{html.escape(str(c))}</th>'
        for c, w in zip(df.columns, wrap, strict=True)
    )
    rows = []
    for i in range(len(df)):
        rows.append(
            "<tr>"
            + "".join(
                f'<td class="{"wrap" if w else "nw"}">{html.escape(col[i])}</td>'
                for col, w in zip(cells, wrap, strict=True)
            )
            + "</tr>"
        )
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table class="data">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


class _Renderer:
    def __init__(self, mode: str):
        if mode not in CHART_MODES:
            raise NotebookError(f"charts must be one of {CHART_MODES}, got {mode!r}.")
        self.mode = mode
        self.n_charts = 0

    def chart(self, block: ChartBlock) -> str:
        self.n_charts += 1
        cid = f"chart-{self.n_charts}"
        caption = f"<figcaption>{html.escape(block.caption)}</figcaption>" if block.caption else ""
        spec = chart_spec(block.chart)
        if self.mode == "static":
            svg = _vl_convert().vegalite_to_svg(spec, vl_version=_vl_version())
            return f'<figure><div class="chart" id="{cid}">{svg}</div>{caption}</figure>'
        return (
            f'<figure><div class="chart" id="{cid}"></div>'
            f'<script type="application/json" class="vl-spec" data-target="{cid}">'
            f"{script_json(spec)}</script>{caption}</figure>"
        )

    def block(self, block: Block) -> str:
        if isinstance(block, Text):
            cls = ' class="muted"' if block.muted else ""
            return f"<p{cls}>{html.escape(block.text)}</p>"
        if isinstance(block, Table):
            return _table(block)
        if isinstance(block, ChartBlock):
            try:
                return self.chart(block)
            except Exception as exc:
                return self.block(ErrorBlock.from_exception("A chart could not be embedded", exc))
        if isinstance(block, Code):
            cap = f"<figcaption>{html.escape(block.caption)}</figcaption>" if block.caption else ""
            return f"<figure>{cap}<pre><code>{html.escape(block.code)}</code></pre></figure>"
        if isinstance(block, ErrorBlock):
            tb = (
                f"<details><summary>traceback</summary><pre>{html.escape(block.traceback)}"
                f"</pre></details>"
                if block.traceback
                else ""
            )
            return (
                f'<div class="error"><b>{html.escape(block.title)}</b>'
                f"<pre>{html.escape(block.error)}</pre>{tb}</div>"
            )
        raise TypeError(f"not a report block: {type(block).__name__}")


def render_page(
    title: str,
    subtitle: Sequence[str],
    sections: Sequence[tuple[str, str, Sequence[Block]]],
    *,
    charts: str = "interactive",
    footer: str = "",
) -> str:
    """The whole page as one HTML string (``sections``: ``(id, title, blocks)``)."""
    r = _Renderer(charts)
    nav = "\n".join(f'<a href="#{html.escape(sid)}">{html.escape(t)}</a>' for sid, t, _ in sections)
    body = []
    for sid, t, blocks in sections:
        inner = "\n".join(r.block(b) for b in blocks)
        body.append(
            f'<section id="{html.escape(sid)}"><h2>{html.escape(t)}</h2>\n{inner}</section>'
        )
    scripts = ""
    if r.mode == "interactive" and r.n_charts:
        scripts = f"<script>{_bundle()}</script>\n<script>{EMBED_SCRIPT}</script>"
    sub = "".join(f"<p>{html.escape(s)}</p>" for s in subtitle)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1>{sub}</header><nav>{nav}</nav>"
        f"<main>{''.join(body)}</main>"
        f"<footer>{html.escape(footer)}</footer>{scripts}</body></html>\n"
    )
