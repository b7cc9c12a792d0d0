"""summary.md, summary.html and PR.md from the records (jinja2 templates under templates/bulk/).

The HTML page is one static file a reviewer can open from a CI artifact: inline CSS, an inline SVG
chart, no script and no external asset. The chart's geometry and the diff's line classes are
computed here so the templates stay declarative. No I/O beyond loading the templates.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import jinja2

CHART_ROWS = 40  # beyond this the chart stops being readable; the table lists every repository
_BAR_X, _BAR_W, _ROW_H = 260, 620, 24


@cache
def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dockerslim_rewrite", "templates/bulk"),
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = md_cell
    env.filters["mb"] = lambda v: f"{v:,.0f}" if v >= 10 else f"{v:.1f}"
    return env


def md_cell(text: object) -> str:
    """Text safe inside a Markdown table cell (no pipe or newline breaks the row)."""
    return str(text if text is not None else "").replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, text) per diff line: added, removed, hunk header, file header, context."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")) or line.startswith("\\"):
            cls = "meta"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        elif line.startswith("@@"):
            cls = "hunk"
        else:
            cls = "ctx"
        out.append((cls, line))
    return out


def chart(repos: list[dict]) -> dict:
    """Bars for the repositories with an estimate, biggest first: image MB and build-context MB stacked."""
    rows = [(r["key"], r["saving"]["image_mb"], r["saving"]["context_mb"]) for r in repos]
    rows = sorted((row for row in rows if row[1] + row[2] > 0), key=lambda row: (-(row[1] + row[2]), row[0]))
    shown, hidden = rows[:CHART_ROWS], max(0, len(rows) - CHART_ROWS)
    top = max((i + c for _, i, c in shown), default=0.0) or 1.0
    bars = []
    for n, (key, image, context) in enumerate(shown):
        y = 30 + n * _ROW_H
        wi, wc = image / top * _BAR_W, context / top * _BAR_W
        bars.append(
            {
                "label": key if len(key) <= 36 else "…" + key[-35:],
                "y": y,
                "image_w": round(wi, 1),
                "context_x": round(_BAR_X + wi, 1),
                "context_w": round(wc, 1),
                "value_x": round(_BAR_X + wi + wc + 6, 1),
                "image": image,
                "context": context,
            }
        )
    return {
        "bars": bars,
        "hidden": hidden,
        "height": 40 + max(1, len(bars)) * _ROW_H,
        "bar_x": _BAR_X,
        "width": _BAR_X + _BAR_W + 120,
    }


def render_pr(record: dict, title: str, version: str) -> str:
    return _env(False).get_template("PR.md.j2").render(repo=record, title=title, version=version)


def stream_summary_md(summary: dict) -> Iterator[str]:
    return _env(False).get_template("summary.md.j2").generate(s=summary)


def stream_summary_html(summary: dict) -> Iterator[str]:
    return _env(True).get_template("summary.html.j2").generate(s=summary, chart=chart(summary["repos"]), diff_lines=diff_lines)


def render_summary_md(summary: dict) -> str:
    return "".join(stream_summary_md(summary))


def render_summary_html(summary: dict) -> str:
    return "".join(stream_summary_html(summary))
