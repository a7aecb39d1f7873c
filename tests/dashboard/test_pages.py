"""The dashboard as a lead sees it: figures, charts, their tables, and the cases behind them."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from app.dashboard.charts import CHARTS
from tests.dashboard.conftest import PERIOD, figure, listed, table_cells, text

XLINK = "{http://www.w3.org/1999/xlink}href"
SVG = "{http://www.w3.org/2000/svg}"


def dashboard_url(**args) -> str:  # noqa: ANN003
    return "/staff/dashboard/?" + urlencode({**PERIOD, **args})


def chart_bars(svg: str) -> set[tuple[str, int]]:
    """(link, value) of every bar of a pygal SVG."""
    root = ET.fromstring(svg)
    bars = set()
    for link in root.iter(f"{SVG}a"):
        value = next(d.text for d in link.iter(f"{SVG}desc") if d.get("class") == "value")
        bars.add((link.get(XLINK), int(value)))
    return bars


@pytest.fixture
def dash_page(lead_client) -> str:
    response = lead_client.get(dashboard_url())
    assert response.status_code == 200
    return text(response)


def test_the_page_shows_the_hand_counted_figures(dash_page, world):
    assert figure(dash_page, "overdue") == "4"
    assert figure(dash_page, "unassigned-urgent") == "5"
    assert figure(dash_page, "unread") == "4"
    assert figure(dash_page, "escalations") == "6"
    assert figure(dash_page, "escalated-cases") == "3"
    assert figure(dash_page, "open-total") == "12"
    assert [figure(dash_page, f"open-risk-{r}") for r in ("critical", "high", "medium", "low")] == [
        "3", "3", "4", "2"]
    assert [figure(dash_page, f"open-status-{s}") for s in ("new", "triaged", "in_progress",
                                                         "awaiting_follow_up")] == [
        "6", "1", "4", "1"]
    assert figure(dash_page, "period-total") == "13"
    assert figure(dash_page, "share-met") == "55%"
    assert figure(dash_page, "deadlines-met") == "6"
    assert figure(dash_page, "deadlines-judged") == "11"
    assert figure(dash_page, "sessions-total") == "14"
    assert figure(dash_page, "outcome-cases") == "5"
    timing = dict(re.findall(r'data-timing="(\w+)">.*?data-timing-response="([^"]*)"', dash_page,
                             re.S))
    assert timing == {"critical": "2.5", "high": "26.0", "medium": "12.0", "low": "24.0"}
    met = re.findall(r'data-timing-met="(\d+)" data-timing-judged="(\d+)"', dash_page)
    assert met == [("1", "3"), ("1", "3"), ("3", "3"), ("1", "2")]
    # repeat names: references only, never the name or the handle
    repeats = re.findall(r'data-repeat="(\w+)" data-repeat-cases="([^"]*)"', dash_page)
    assert [(kind, sorted(refs.split())) for kind, refs in repeats] == [
        ("handle", world.ref("c1", "c2", "c8")), ("student_name", world.ref("c4", "c9"))]
    assert "@meanie" not in dash_page and "Jordan" not in dash_page
    # nothing of the other school
    assert not any(c.reference in dash_page for c in world.other_cases.values())


def test_every_chart_has_a_data_table_with_the_same_figures(dash_page, world):
    frames = re.findall(r'<iframe src="([^"]+)"[^>]*data-chart="([^"]+)"', dash_page)
    assert sorted(name for _, name in frames) == sorted(CHARTS)
    for name in CHARTS:
        assert f'<table data-table-for="{name}">' in dash_page
    weekly = table_cells(dash_page, "weekly-kinds")
    assert weekly[("Harassment or mean messages", "2025-04-07")][0] == 2
    assert weekly[("Threats", "2025-04-14")][0] == 1
    assert sum(v for (s, _), (v, _) in weekly.items() if s == "Threats") == 3
    assert {label: v for (_, label), (v, _) in table_cells(dash_page, "year-groups").items()} == {
        "Year 7": 3, "Year 8": 3, "Year 9": 3, "Year 10": 1, "Year 11": 1, "Not given": 2}
    assert [(label, v) for (_, label), (v, _) in table_cells(dash_page, "workload").items()] == [
        ("Casey Counsellor", 8), (f"Robin Colleague ({world.counsellor_b.email})", 5),
        (f"Robin Colleague ({world.counsellor_d.email})", 1)]
    outcomes = {label: v for (_, label), (v, _) in table_cells(dash_page, "outcomes").items()}
    assert outcomes == {"Worse by 5 or more": 1, "Worse by 1 to 4": 1, "No change": 1,
                        "Better by 1 to 4": 0, "Better by 5 to 9": 1, "Better by 10 or more": 1}
    platforms = {label: v for (_, label), (v, _) in table_cells(dash_page, "platforms").items()}
    assert platforms["Instagram"] == 3 and platforms["YouTube"] == 0


def test_each_chart_is_an_svg_whose_bars_link_to_their_cases(lead_client, dash_page):
    for name in CHARTS:
        response = lead_client.get(f"/staff/dashboard/chart/{name}.svg?" + urlencode(PERIOD))

        assert response.status_code == 200, name
        assert response.mimetype == "image/svg+xml", name
        csp = response.headers["Content-Security-Policy"]
        assert csp.startswith("default-src 'none'"), name
        assert "frame-ancestors 'self'" in csp and "script-src" not in csp, name
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN", name
        svg = text(response)
        assert "<script" not in svg, name
        bars = chart_bars(svg)
        # the chart's bars are exactly the table's non-zero cells: same value, same link
        cells = {(href, v) for v, href in table_cells(dash_page, name).values() if v}
        assert bars == cells and bars, name
        for href, _ in bars:
            assert urlsplit(href).path == "/staff/dashboard/cases", name


def test_following_any_number_lists_that_many_cases(lead_client, dash_page):
    # (the workload chart counts sessions, not cases: its links are checked below)
    for name in (c for c in CHARTS if c != "workload"):
        for (series, label), (value, href) in table_cells(dash_page, name).items():
            assert len(listed(lead_client.get(href))) == value, (name, series, label)


def test_following_a_bar_lists_exactly_the_cases_behind_it(lead_client, dash_page, world):
    def follow(chart: str, series: str, label: str) -> list[str]:
        return listed(lead_client.get(table_cells(dash_page, chart)[(series, label)][1]))

    assert follow("weekly-kinds", "Harassment or mean messages", "2025-04-07") == world.ref(
        "c1", "c2")
    # c3 was reported at 23:30 UTC on Sunday: Monday in London
    assert follow("weekly-kinds", "Threats", "2025-04-14") == world.ref("c3")
    assert follow("weekly-platforms", "TikTok", "2025-04-21") == world.ref("c6", "c7")
    assert follow("kinds", "Reports", "Rumours or lies") == world.ref("c2", "c11")
    assert follow("year-groups", "Reports", "Not given") == world.ref("c4", "c9")
    assert follow("year-groups", "Reports", "Year 9") == world.ref("c3", "c8", "c13")
    workload = table_cells(dash_page, "workload")
    casey = next(href for (_, label), (_, href) in workload.items() if label == "Casey Counsellor")
    # sessions in the period: on o1 too, reported the day before it began
    assert listed(lead_client.get(casey)) == world.ref("c2", "c6", "c9", "o1")
    assert follow("outcomes", "Cases", "Worse by 5 or more") == world.ref("o1")
    assert follow("outcomes", "Cases", "Better by 10 or more") == world.ref("c1")


def test_now_figures_link_to_their_cases(lead_client, dash_page, world):
    def follow(name: str) -> list[str]:
        href = re.search(rf'<a href="([^"]+)"><span class="stat__value" data-figure="{name}"',
                         dash_page).group(1)
        return listed(lead_client.get(html.unescape(href)))

    assert follow("overdue") == world.ref("c5", "c8", "c10", "o2")
    assert follow("unassigned-urgent") == world.ref("c4", "c8", "c10", "c13", "o2")
    assert follow("unread") == world.ref("c2", "c4", "c7")
    assert follow("escalations") == world.ref("c8", "c10", "o2")
    risk = re.search(r'data-figure="open-risk-high"><a href="([^"]+)"', dash_page).group(1)
    assert listed(lead_client.get(html.unescape(risk))) == world.ref("c4", "c8", "c13")
    status = re.search(r'data-figure="open-status-in_progress"><a href="([^"]+)"',
                       dash_page).group(1)
    assert listed(lead_client.get(html.unescape(status))) == world.ref("c2", "c9", "c11", "o1")


def test_each_repeat_name_links_to_every_live_case_naming_it(lead_client, dash_page, world):
    links = re.findall(r'data-repeat="(\w+)"[^>]*>[^<]* on <a href="([^"]+)" data-repeat-total>'
                       r'(\d+) cases</a>', dash_page)
    assert [(kind, int(total)) for kind, _, total in links] == [("handle", 3), ("student_name", 2)]
    lists = [listed(lead_client.get(html.unescape(href))) for _, href, _ in links]
    # @meanie: not the other school's b1; Jordan Pupil: c4 and c9, whenever reported.
    assert lists == [world.ref("c1", "c2", "c8"), world.ref("c4", "c9")]
    page = text(lead_client.get(html.unescape(links[0][1])))
    assert "Cases naming the same online account" in page
    assert "@meanie" not in page


def test_filters_change_what_the_page_shows(lead_client, world):
    page = text(lead_client.get(dashboard_url(kind="harassment")))
    assert figure(page, "period-total") == "4"
    # filtered to one kind, the kind charts show only that kind
    assert {s for s, _ in table_cells(page, "weekly-kinds")} == {"Harassment or mean messages"}
    assert 'value="harassment" selected' in page

    page = text(lead_client.get(dashboard_url(year_group="none", platform="whatsapp")))
    assert figure(page, "period-total") == "2"  # c4 c9
    assert 'value="none" selected' in page and 'value="whatsapp" selected' in page
    cells = table_cells(page, "year-groups")
    assert list(cells) == [("Reports", "Not given")]
    assert listed(lead_client.get(cells[("Reports", "Not given")][1])) == world.ref("c4", "c9")

    page = text(lead_client.get(dashboard_url(risk="critical", **{"from": "2025-04-14"})))
    assert figure(page, "period-total") == "3"  # c3 c6 c10 (not o2: the day after the period)
