"""CSV exports and the governors' report: right figures, nothing identifying, every one audited."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.cases.models import CaseEvent, EventKind
from app.cases.people import PersonInput, record_person
from app.cases.workflow import add_note
from app.dashboard.exports import EXPORTS
from app.reporting.services import send_reporter_message, submit_report
from tests.dashboard.conftest import PERIOD, WEEKS, add_session, london, text
from tests.factories import StaffFactory, report_input

#: Written out here, so the test does not trust the code's own header.
CASES_HEADER = ["reference", "reported", "risk", "status", "first_response", "response_due",
                "resolved", "kinds", "platforms", "year_group"]



def export(client, name: str, **args) -> list[list[str]]:  # noqa: ANN001, ANN003
    response = client.get(f"/staff/dashboard/export/{name}.csv?" + urlencode({**PERIOD, **args}))
    assert response.status_code == 200, text(response)[:300]
    assert response.mimetype == "text/csv"
    assert f'filename="safe-report-{name}-' in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    return list(csv.reader(io.StringIO(text(response))))


def exported(session, user) -> list[dict]:  # noqa: ANN001
    session.expire_all()
    return [e.detail for e in session.execute(
        select(AuditEntry).where(AuditEntry.action == "dashboard.exported",
                                 AuditEntry.actor_id == user.id).order_by(AuditEntry.id)).scalars()]


def test_case_list_export(lead_client, world):
    rows = export(lead_client, "cases")

    assert rows[0] == CASES_HEADER
    by_ref = {r[0]: dict(zip(CASES_HEADER, r, strict=True)) for r in rows[1:]}
    assert sorted(by_ref) == world.ref(*[f"c{i}" for i in range(1, 14)])
    c3 = by_ref[world.cases["c3"].reference]
    assert c3 == {
        "reference": world.cases["c3"].reference,
        "reported": "2025-04-13T23:30:00+00:00", "risk": "critical", "status": "closed",
        "first_response": "2025-04-14T00:00:00+00:00", "response_due": "2025-04-14T00:30:00+00:00",
        "resolved": "2025-04-16T23:30:00+00:00", "kinds": "threats", "platforms": "snapchat",
        "year_group": "9"}
    c6 = by_ref[world.cases["c6"].reference]
    assert (c6["kinds"], c6["platforms"], c6["resolved"]) == ("threats;hate", "tiktok;discord", "")
    assert by_ref[world.cases["c4"].reference]["year_group"] == ""

    # a filter narrows the list as it narrows the figures
    rows = export(lead_client, "cases", year_group="none")
    assert sorted(r[0] for r in rows[1:]) == world.ref("c4", "c9")


def test_aggregate_exports(lead_client, world):
    now = dict(export(lead_client, "now")[1:])
    assert now == {
        "overdue": "4", "unassigned_critical_or_high": "5", "unread_reporter_messages": "4",
        "escalations_last_7_days": "6", "open_critical": "3", "open_high": "3",
        "open_medium": "4", "open_low": "2", "status_new": "6", "status_triaged": "1",
        "status_in_progress": "4", "status_awaiting_follow_up": "1"}

    kinds = export(lead_client, "weekly-kinds")
    assert kinds[0] == ["week", "harassment", "threats", "exclusion", "impersonation", "rumours",
                        "image_sharing", "hate", "other", "reports"]
    assert kinds[1:] == [
        [WEEKS[0], "2", "0", "0", "0", "1", "0", "0", "0", "2"],
        [WEEKS[1], "0", "1", "1", "0", "0", "1", "0", "0", "3"],
        [WEEKS[2], "1", "1", "0", "1", "0", "0", "1", "0", "3"],
        [WEEKS[3], "1", "1", "1", "0", "1", "0", "0", "1", "5"]]

    platforms = export(lead_client, "weekly-platforms")
    assert platforms[0][:3] == ["week", "instagram", "snapchat"] and platforms[0][-1] == "reports"
    assert [r[1] for r in platforms[1:]] == ["2", "0", "1", "0"]  # instagram
    assert [r[3] for r in platforms[1:]] == ["0", "0", "2", "0"]  # tiktok
    assert [r[-1] for r in platforms[1:]] == ["2", "3", "3", "5"]

    assert dict(export(lead_client, "kinds")[1:]) == {
        "harassment": "4", "threats": "3", "exclusion": "2", "impersonation": "1",
        "rumours": "2", "image_sharing": "1", "hate": "1", "other": "1"}
    assert dict(export(lead_client, "platforms")[1:])["instagram"] == "3"
    assert export(lead_client, "year-groups") == [
        ["year_group", "reports"], ["Year 7", "3"], ["Year 8", "3"], ["Year 9", "3"],
        ["Year 10", "1"], ["Year 11", "1"], ["Not given", "2"]]
    assert export(lead_client, "timing") == [
        ["risk", "cases", "responded", "deadlines_judged", "deadlines_met",
         "median_first_response_hours", "median_resolution_days", "deadline"],
        ["critical", "3", "2", "3", "1", "2.5", "3.0", "1 hour"],
        ["high", "4", "2", "3", "1", "26.0", "10.0", "1 school day"],
        ["medium", "4", "3", "3", "3", "12.0", "6.0", "3 school days"],
        ["low", "2", "1", "2", "1", "24.0", "", "5 school days"]]
    assert export(lead_client, "workload") == [
        ["counsellor", "sessions"], ["Casey Counsellor", "8"],
        [f"Robin Colleague ({world.counsellor_b.email})", "5"],
        [f"Robin Colleague ({world.counsellor_d.email})", "1"]]
    assert export(lead_client, "outcomes") == [
        ["change", "cases"], ["Worse by 5 or more", "1"], ["Worse by 1 to 4", "1"],
        ["No change", "1"], ["Better by 1 to 4", "0"], ["Better by 5 to 9", "1"],
        ["Better by 10 or more", "1"]]


def test_every_export_is_audited_with_its_name(lead_client, session, world):
    for name in EXPORTS:
        export(lead_client, name, kind="harassment")

    details = exported(session, world.lead)
    assert [d["export"] for d in details] == list(EXPORTS)
    assert all(d["kind"] == "harassment" and d["from"] == PERIOD["from"] for d in details)
    entry = session.execute(select(AuditEntry).where(
        AuditEntry.action == "dashboard.exported").order_by(AuditEntry.id.desc())).scalars().first()
    assert (entry.school_id, entry.actor_kind, entry.target) == (
        world.school.id, "staff", "export:outcomes")


def test_a_cell_a_spreadsheet_would_run_is_defused(lead_client, session, world):
    sly = StaffFactory(school=world.school, name="=HYPERLINK(\"http://x\")")
    add_session(session, world.cases["c12"], sly, london(5, 3, 12), "completed", None)
    session.commit()

    rows = export(lead_client, "workload")
    assert ["'=HYPERLINK(\"http://x\")", "1"] in rows


# -- nothing identifying leaves the school --------------------------------------------------
SECRETS = {
    "details": "ZQXDETAILS lunch queue",
    "involved": "ZQXINVOLVED from 9B",
    "handle": "@zqxhandle",
    "reporter_name": "Zqxreporter Person",
    "contact": "zqxcontact@example.org",
    "message": "ZQXMESSAGE it happened again",
    "note": "ZQXNOTE spoke to parents",
    "person_name": "Zqxstudent Named",
    "person_handle": "@zqxperson",
    "session_notes": "ZQXSESSIONNOTES",
    "strategies": "ZQXSTRATEGIES",
    "location": "ZQXROOM",
}


@pytest.fixture
def secret_case(session, world):
    """A confidential case in the period with a distinctive string in every free-text field."""
    submitted = submit_report(session, world.school, report_input(
        details=SECRETS["details"], involved=SECRETS["involved"],
        handles=[{"platform": "snapchat", "handle": SECRETS["handle"]}], is_anonymous=False,
        reporter_name=SECRETS["reporter_name"], contact=SECRETS["contact"], year_group=8),
        now=london(4, 16, 9))
    case = submitted.case
    send_reporter_message(session, submitted.report, SECRETS["message"], now=london(4, 16, 10))
    add_note(session, world.lead, case.id, SECRETS["note"], is_restricted=False,
             version=case.version, now=london(4, 16, 11))
    record_person(session, world.lead, case.id, PersonInput(
        kind="student", role="target", name=SECRETS["person_name"], year_group=8),
        version=case.version, now=london(4, 16, 11))
    record_person(session, world.lead, case.id, PersonInput(
        kind="online_account", role="student_who_bullied", platform="tiktok",
        handle=SECRETS["person_handle"]), version=case.version, now=london(4, 16, 11))
    row = add_session(session, case, world.counsellor_a, london(4, 18, 9), "completed", 20)
    row.notes, row.strategies, row.location = (SECRETS["session_notes"], SECRETS["strategies"],
                                               SECRETS["location"])
    session.commit()
    # the strings really are stored, so their absence below means something
    assert session.scalar(select(CaseEvent.body).where(
        CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.NOTE)) == SECRETS["note"]
    return case


def test_no_export_contains_a_name_a_handle_or_any_text(lead_client, world, secret_case):
    outputs = {name: lead_client.get(f"/staff/dashboard/export/{name}.csv?" + urlencode(PERIOD))
               for name in EXPORTS}
    outputs["governors"] = lead_client.get("/staff/dashboard/governors?" + urlencode(PERIOD))
    outputs["dashboard"] = lead_client.get("/staff/dashboard/?" + urlencode(PERIOD))
    outputs["cases"] = lead_client.get("/staff/dashboard/cases?" + urlencode(PERIOD))
    for name, response in outputs.items():
        body = text(response).lower()
        assert response.status_code == 200, name
        for field, secret in SECRETS.items():
            assert secret.lower() not in body, (name, field)
    # the secret case is in the list, by its reference only
    rows = export(lead_client, "cases")
    [mine] = [r for r in rows if r[0] == secret_case.reference]
    assert (mine[1], mine[2], mine[7], mine[8], mine[9]) == (
        "2025-04-16T08:00:00+00:00", "medium", "harassment", "instagram", "8")
    # and no internal id: every column is one of the header's, none an id
    assert rows[0] == CASES_HEADER


# -- the governors' report ------------------------------------------------------------------
def governors(client, **args) -> dict[str, str]:  # noqa: ANN001, ANN003
    response = client.get("/staff/dashboard/governors?" + urlencode({**PERIOD, **args}))
    assert response.status_code == 200
    return dict(re.findall(r'data-g="([^"]+)">([^<]*)<', text(response)))


def test_governors_report_suppresses_counts_under_five(lead_client, session, world):
    g = governors(lead_client)

    assert g["total"] == "13"
    assert g["met"] == "6" and g["judged"] == "11"
    assert g["sessions"] == "14"
    assert g["kind-harassment"] == "fewer than 5"  # 4
    assert g["kind-threats"] == "fewer than 5"  # 3
    assert g["kind-hate"] == "fewer than 5"  # 1
    assert g["platform-youtube"] == "fewer than 5"  # 0
    assert g["year-7"] == "fewer than 5" and g["year-none"] == "fewer than 5"
    assert g["risk-high"] == "fewer than 5" and g["risk-critical"] == "fewer than 5"
    assert g["met-medium"] == "fewer than 5 of fewer than 5"
    # no number under 5 anywhere
    for key, value in g.items():
        for number in re.findall(r"\d+", value.replace("fewer than 5", "")):
            assert int(number) >= 5, (key, value)

    # exactly 5 is shown as 5: W4 holds c9 c10 c11 c12 c13
    g = governors(lead_client, **{"from": "2025-04-28"})
    assert g["total"] == "5"

    # the report is audited as an export, with its period
    assert [d["export"] for d in exported(session, world.lead)] == ["governors", "governors"]
    assert exported(session, world.lead)[1]["from"] == "2025-04-28"


def test_governors_report_is_printable(lead_client, world):
    page = text(lead_client.get("/staff/dashboard/governors?" + urlencode(PERIOD)))
    assert "data-print" in page and 'class="no-print"' in page
    assert "Hand Counted High" in page and "07 April 2025 to 04 May 2025" in page
    assert not any(c.reference in page for c in world.cases.values())

