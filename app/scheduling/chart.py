"""The outcome chart: both totals across completed sessions, with the school's cut-off lines.

Rendered on the server as SVG with pygal and shown through an ``<img>``: an
image cannot run scripts, and the page's Content-Security-Policy stays strict.
The case page carries the same numbers as a table for screen readers.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pygal
from pygal.style import Style

from app.scheduling.services import CaseSessions
from app.svg import without_scripts

MAX_TOTAL = 40
OUTCOME_COLOUR = "#1d70b8"
SESSION_COLOUR = "#b35900"

_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#0b0c0c",
    foreground_strong="#0b0c0c",
    foreground_subtle="#505a5f",
    font_family="Arial, Helvetica, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    title_font_size=16,
    colors=(OUTCOME_COLOUR, SESSION_COLOUR, OUTCOME_COLOUR, SESSION_COLOUR),
    opacity="1",
    opacity_hover="1",
    stroke_opacity="1",
    stroke_opacity_hover="1",
    stroke_width="3",
    guide_stroke_color="#b1b4b6",
    major_guide_stroke_color="#505a5f",
    guide_stroke_dasharray="2,6",
)


def render_outcome_chart(data: CaseSessions, tz: ZoneInfo) -> bytes:
    """Return the chart as an SVG document, without scripts."""
    dates = [p.start_dt.astimezone(tz).strftime("%d %b %Y") for p in data.points]
    count = len(dates)

    def x_label(x: float) -> str:
        return dates[int(x) - 1] if float(x).is_integer() and 1 <= x <= count else ""

    config = pygal.Config(js=[])
    chart = pygal.XY(
        config,
        style=_STYLE,
        title="Progress across completed sessions",
        x_title="Session date",
        y_title=f"Total (of {MAX_TOTAL})",
        range=(0, MAX_TOTAL),
        xrange=(0.5, max(count, 1) + 0.5),
        x_labels=list(range(1, count + 1)),
        x_value_formatter=x_label,
        y_labels=[0, 10, 20, 30, 40],
        show_x_guides=False,
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        truncate_legend=-1,
        truncate_label=-1,
        dots_size=5,
        stroke_style={"width": 3},
        width=800,
        height=420,
        no_data_text="No completed sessions yet",
        disable_xml_declaration=False,
    )
    if count:
        chart.add("Outcome total", [(i, p.outcome_total) for i, p in enumerate(data.points, 1)])
        chart.add("Session total", [(i, p.session_total) for i, p in enumerate(data.points, 1)])
        # A cut-off is a line across the whole plot, so it spans the x range, not the points.
        edges = (0.5, count + 0.5)
        chart.add(f"Outcome cut-off ({data.outcome_cutoff})",
                  [(x, data.outcome_cutoff) for x in edges], show_dots=False,
                  stroke_style={"width": 2, "dasharray": "8, 6"})
        chart.add(f"Session cut-off ({data.session_cutoff})",
                  [(x, data.session_cutoff) for x in edges], show_dots=False,
                  stroke_style={"width": 2, "dasharray": "2, 4"})
    return without_scripts(chart.render()).encode()
