"""Who may see the dashboard, what nonsense filters get, and a school with nothing yet."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.dashboard.charts import CHARTS
from app.dashboard.exports import EXPORTS
from tests.dashboard.conftest import PERIOD, figure, signed_in, table_cells, text

LEAD_PAGES = (["/staff/dashboard/", "/staff/dashboard/cases", "/staff/dashboard/governors",
               "/staff/audit/"]
              + [f"/staff/dashboard/chart/{name}.svg" for name in CHARTS]
              + [f"/staff/dashboard/export/{name}.csv" for name in EXPORTS])


def exports_recorded(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action.in_(["dashboard.exported", "audit.viewed"])))


@pytest.mark.parametrize("who", ["counsellor_a", "admin"])
def test_only_leads_get_in(app, session, world, frozen_now, who):
    client = signed_in(app, getattr(world, who))
    for url in LEAD_PAGES:
        response = client.get(url + "?" + urlencode(PERIOD))
        assert response.status_code == 403, url
        assert "Only a safeguarding lead can do this." in text(response), url
        assert "<svg" not in text(response) and "reference," not in text(response)
    assert exports_recorded(session) == 0


def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    for url in LEAD_PAGES:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/staff/login" in response.headers["Location"]


NONSENSE = [
    ({"from": "banana"}, "Enter the from date as YYYY-MM-DD"),
    ({"to": "2025-13-45"}, "Enter the to date as YYYY-MM-DD"),
    ({"from": "2025-05-04", "to": "2025-04-07"}, "The start of the period must be on or before"),
    ({"from": "2015-01-01", "to": "2025-01-01"}, "Choose a period of at most three years."),
    ({"to": "9999-12-31"}, "Enter a to date between 2000 and 2100."),
    ({"from": "0001-01-01"}, "Enter a from date between 2000 and 2100."),
    ({"kind": "nope"}, "Choose a kind of bullying from the list."),
    ({"platform": "myspace"}, "Choose a platform from the list."),
    ({"risk": "extreme"}, "Choose a risk level from the list."),
    ({"year_group": "99"}, "Choose a year group from the list."),
    ({"year_group": "0"}, "Choose a year group from the list."),
    ({"year_group": "seven"}, "Choose a year group from the list."),
]


DRILL_NONSENSE = [
    ({"show": "everything"}, "Choose a list from the dashboard."),
    ({"status": "lost"}, "Choose a status from the list."),
    ({"outcome": "Much happier"}, "Choose an outcome group from the chart."),
    ({"counsellor": "abc"}, "Choose a counsellor from the chart."),
    ({"counsellor": "99999999999999999999"}, "Choose a counsellor from the chart."),
    ({"repeat": "@meanie"}, "Choose a repeat name from the dashboard."),
    ({"repeat": "0" * 33}, "Choose a repeat name from the dashboard."),
    ({"repeat": "0" * 32, "show": "open"}, "Choose the cases of one figure at a time."),
]
AUDIT_NONSENSE = [
    ({"who": "abc"}, "Choose who from the list."),
    ({"who": "12345678901234567890"}, "Choose who from the list."),
    ({"what": "drop table;"}, "Choose what from the list."),
    ({"case": "<script>"}, "That is not a case reference"),
    ({"from": "banana"}, "Enter the from date as YYYY-MM-DD"),
    ({"to": "9999-12-31"}, "Enter a to date between 2000 and 2100."),
    ({"from": "2025-05-04", "to": "2025-04-07"}, "The start of the period must be on or before"),
    ({"before": "x"}, "That page of the log does not exist."),
]


def test_nonsense_filters_get_a_clear_message(empty_lead, session):
    for args, message in NONSENSE:
        for url in ["/staff/dashboard/", "/staff/dashboard/cases", "/staff/dashboard/governors",
                    "/staff/dashboard/chart/weekly-kinds.svg",
                    "/staff/dashboard/export/cases.csv"]:
            response = empty_lead.get(url + "?" + urlencode(args))
            assert response.status_code == 422, (url, args)
            assert message in text(response), (url, args)
    for args, message in DRILL_NONSENSE:
        response = empty_lead.get("/staff/dashboard/cases?" + urlencode(args))
        assert response.status_code == 422, args
        assert message in text(response), args
    for args, message in AUDIT_NONSENSE:
        response = empty_lead.get("/staff/audit/?" + urlencode(args))
        assert response.status_code == 422, args
        assert message in text(response), args
    # a refused export, report or log view is not recorded as made
    assert exports_recorded(session) == 0


def test_unknown_charts_and_exports_are_not_found(empty_lead, session):
    assert empty_lead.get("/staff/dashboard/chart/secrets.svg").status_code == 404
    assert empty_lead.get("/staff/dashboard/export/passwords.csv").status_code == 404
    assert exports_recorded(session) == 0


def test_an_empty_school_shows_zeros_and_empty_charts(empty_lead):
    page = text(empty_lead.get("/staff/dashboard/"))
    for name in ("overdue", "unassigned-urgent", "unread", "escalations", "open-total",
                 "period-total", "sessions-total", "outcome-cases", "deadlines-met"):
        assert figure(page, name) == "0", name
    assert figure(page, "share-met") == "none due yet"
    assert "No student or account appears on more than one case." in page
    assert all(v == 0 for v, _ in table_cells(page, "weekly-kinds").values())
    assert table_cells(page, "year-groups") == {} and table_cells(page, "workload") == {}

    for name in CHARTS:
        response = empty_lead.get(f"/staff/dashboard/chart/{name}.svg")
        assert response.status_code == 200, name
        root = ET.fromstring(text(response))  # a valid SVG document
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "Nothing in this period" in text(response), name
        assert not list(root.iter("{http://www.w3.org/2000/svg}a")), name

    for name in EXPORTS:
        response = empty_lead.get(f"/staff/dashboard/export/{name}.csv")
        assert response.status_code == 200, name
        rows = list(csv.reader(io.StringIO(text(response))))
        assert rows[0], name
        numbers = [cell for row in rows[1:] for cell in row[1:] if re.fullmatch(r"\d+", cell)]
        assert all(n == "0" for n in numbers), name

    governors = text(empty_lead.get("/staff/dashboard/governors"))
    assert re.search(r'data-g="total">fewer than 5<', governors)
    assert text(empty_lead.get("/staff/dashboard/cases")).count("No cases.") == 1
