"""Dashboard charts: SVG drawn server-side by pygal, each bar a link to its cases.

The SVG is served as its own document and shown in an <iframe>, so its links
work and its inline styles stay inside it (the app's pages allow no inline
style). No script runs in it: its own CSP is ``default-src 'none'``.

A chart is described once as :class:`ChartData` (labels, series, and the link
behind every value); the SVG and the page's data table are both drawn from it,
so the table is a true alternative to the picture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pygal
from pygal.style import Style

from app.cases.vocabulary import IncidentKind, Platform
from app.dashboard.services import (YEAR_NOT_GIVEN, DashboardFilters, Trends,
                                    outcome_distribution, year_label)
from app.svg import without_scripts

STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#1b1b1b",
    foreground_strong="#1b1b1b", foreground_subtle="#4a4a4a", opacity=".9",
    opacity_hover="1", transition="0s",
    colors=("#1d4ed8", "#b3261e", "#00703c", "#f47738", "#4b2a7b", "#7a5c00", "#0b7285",
            "#5c5c5c", "#d4351c", "#2b8cc4", "#85994b", "#912b88"),
    font_family="system-ui, Arial, sans-serif", label_font_size=13, major_label_font_size=13,
    value_font_size=12, legend_font_size=13, title_font_size=16, no_data_font_size=24,
)

#: Weekly charts label every fourth week once they hold more than this many.
MANY_WEEKS = 16


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int]
    #: The list of cases behind each value, in the order of the labels.
    links: list[str]


@dataclass(frozen=True)
class ChartData:
    name: str
    title: str
    #: What the labels are, for the table's first column ("Week of", "Year group").
    label_heading: str
    labels: list[str]
    series: list[Series]
    horizontal: bool = False
    stacked: bool = False
    #: Said under the chart and in the table's caption.
    note: str = ""

    @property
    def is_empty(self) -> bool:
        return not any(v for s in self.series for v in s.values)


def _config(**kwargs) -> pygal.Config:  # noqa: ANN003
    config = pygal.Config(js=[], style=STYLE, disable_xml_declaration=True, print_values=False,
                          show_legend=True, legend_at_bottom=True, truncate_label=-1,
                          truncate_legend=-1, width=900, height=420, margin=20,
                          show_y_guides=True, no_data_text="Nothing in this period")
    for key, value in kwargs.items():
        setattr(config, key, value)
    return config


def _count_ticks(chart: ChartData) -> list[int]:
    """Whole-number ticks for the value axis: these are counts of cases."""
    if chart.stacked:
        top = max((sum(v) for v in zip(*(s.values for s in chart.series))), default=0)
    else:
        top = max((v for s in chart.series for v in s.values), default=0)
    step = 1
    while top / step > 10:  # 1, 2, 5, 10, 20, 50, ...
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    return list(range(0, max(top, 1) + step, step))


def render(chart: ChartData) -> str:
    """Draw the chart as an SVG document whose every bar links to the cases behind it."""
    if chart.horizontal:
        cls = pygal.HorizontalBar
    else:
        cls = pygal.StackedBar if chart.stacked else pygal.Bar
    many = len(chart.labels) > MANY_WEEKS and not chart.horizontal
    svg = cls(_config(title=chart.title, x_label_rotation=0 if chart.horizontal else 45,
                      show_legend=chart.stacked, y_labels=_count_ticks(chart),
                      x_labels_major_every=4 if many else None, show_minor_x_labels=not many))
    svg.x_labels = list(chart.labels)
    drawn = [s for s in chart.series if any(s.values)]
    for series in drawn:
        # A zero draws no bar, so it has no link; the data table still links it.
        svg.add(series.name, [
            {"value": v, "xlink": {"href": href, "target": "_top"}} if v else None
            for v, href in zip(series.values, series.links, strict=True)
        ])
    if not drawn:
        svg.add(chart.title, [])
    return without_scripts(svg.render(is_unicode=True))


# -- the dashboard's charts ------------------------------------------------------------------
CHARTS = ("weekly-kinds", "weekly-platforms", "kinds", "platforms", "year-groups", "workload",
          "outcomes")
_SEVERAL = ("A report can be of several kinds and on several platforms, so the bars of a "
            "week may add up to more than its reports.")


def build(trends: Trends, filters: DashboardFilters, link: Callable[..., str], *,
          only: str | None = None) -> dict[str, ChartData]:
    """Describe every chart of the dashboard (or ``only`` the one named).

    ``link(filters, **drill)`` gives the address of the cases behind a value. When
    the dashboard is filtered to one kind (or platform), the charts by kind (or
    platform) show only that one: the others would count cases having both, which a
    bar linked to one kind could not list.
    """
    kinds = [filters.kind] if filters.kind else list(IncidentKind)
    platforms = [filters.platform] if filters.platform else list(Platform)

    def weekly(name: str, title: str, members: list, counts: dict, field: str) -> ChartData:
        weeks = [filters.narrowed(start=max(w, filters.start),
                                  end=min(w + timedelta(days=6), filters.end))
                 for w in trends.weeks]
        return ChartData(name, title, "Week of", [w.isoformat() for w in trends.weeks], [
            Series(m.label, counts[m], [link(f.narrowed(**{field: m})) for f in weeks])
            for m in members], stacked=True, note=_SEVERAL)

    def totals(name: str, title: str, heading: str, members: list, counts: dict,
               field: str) -> ChartData:
        return ChartData(name, title, heading, [m.label for m in members], [
            Series("Reports", [counts[m] for m in members],
                   [link(filters.narrowed(**{field: m})) for m in members])], horizontal=True)

    def year_groups() -> ChartData:
        years = list(trends.by_year_group)
        return ChartData("year-groups", "Reports by year group", "Year group",
                         [year_label(y) for y in years], [
            Series("Reports", [trends.by_year_group[y] for y in years],
                   [link(filters.narrowed(year_group=y or YEAR_NOT_GIVEN)) for y in years])],
            horizontal=True)

    def workload() -> ChartData:
        loads = trends.sessions_by_counsellor
        return ChartData("workload", "Sessions held per counsellor", "Counsellor",
                         [c.name for c in loads], [
            Series("Sessions", [c.sessions for c in loads],
                   [link(filters, counsellor=str(c.counsellor_id)) for c in loads])],
            horizontal=True, note="Completed sessions held in the period.")

    def outcomes() -> ChartData:
        rows = outcome_distribution(trends.outcome_changes)
        return ChartData("outcomes", "Change in outcome score, first to latest session",
                         "Change", [label for label, _ in rows], [
            Series("Cases", [n for _, n in rows],
                   [link(filters, outcome=label) for label, _ in rows])],
            horizontal=True, note="Cases with at least two scored sessions in the period.")

    builders = {
        "weekly-kinds": lambda: weekly("weekly-kinds", "Reports per week by kind", kinds,
                                       trends.by_week_kind, "kind"),
        "weekly-platforms": lambda: weekly("weekly-platforms", "Reports per week by platform",
                                           platforms, trends.by_week_platform, "platform"),
        "kinds": lambda: totals("kinds", "Reports by kind", "Kind", kinds, trends.by_kind,
                                "kind"),
        "platforms": lambda: totals("platforms", "Reports by platform", "Platform", platforms,
                                    trends.by_platform, "platform"),
        "year-groups": year_groups,
        "workload": workload,
        "outcomes": outcomes,
    }
    return {name: builders[name]() for name in CHARTS if only in (None, name)}
