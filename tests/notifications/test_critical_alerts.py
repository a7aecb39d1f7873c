"""Critical alerts: every time a case becomes critical, someone who can act hears at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.cases import workflow
from app.cases.vocabulary import Risk
from app.db import utcnow
from app.notifications.models import Notification
from app.reporting import services as reporting
from tests.factories import AdminFactory, LeadFactory, SchoolFactory, StaffFactory, report_input


def _alerts(session, case_id: int) -> list[Notification]:  # noqa: ANN001
    session.flush()
    return list(session.scalars(select(Notification).where(
        Notification.case_id == case_id, Notification.kind == "critical_alert")
        .order_by(Notification.id)))


def test_a_case_that_becomes_critical_again_alerts_the_leads_again(session, staffed):
    lead = staffed.leads[0]
    counsellor = staffed.counsellors[0]
    t0 = utcnow() - timedelta(hours=5)
    case = reporting.submit_report(session, staffed.school, report_input(is_self_harm=True),
                                   now=t0).case
    assert [n.recipient_staff_id for n in _alerts(session, case.id)] == [lead.id]

    workflow.set_risk(session, counsellor, case.id, "medium", reason="Spoke to them: safe now.",
                      version=case.version, now=t0 + timedelta(hours=1))
    assert len(_alerts(session, case.id)) == 1  # lowering the risk alerts nobody
    raised = workflow.set_risk(session, counsellor, case.id, "critical",
                               reason="They wrote that they are thinking of hurting themselves.",
                               version=case.version, now=t0 + timedelta(hours=2))

    alerts = _alerts(session, case.id)
    assert case.risk is Risk.CRITICAL
    assert [n.recipient_staff_id for n in alerts] == [lead.id, lead.id]
    assert len({n.key for n in alerts}) == 2
    assert str(raised.id) in alerts[1].key and str(case.reports[0].id) in alerts[0].key
    assert all(n.data == {"reference": case.reference} for n in alerts)


def test_the_same_occasion_queued_twice_alerts_once(session, staffed):
    case = reporting.submit_report(session, staffed.school, report_input(is_danger=True)).case
    recipients = reporting.critical_alert_recipients(session, staffed.school.id)
    for _ in range(2):  # a retry of the same report's alert
        reporting.queue_critical_alerts(session, staffed.school.id, case.id, case.reference,
                                        recipients, occasion=f"report:{case.reports[0].id}")

    assert [n.recipient_staff_id for n in _alerts(session, case.id)] == [staffed.leads[0].id]


def test_a_school_without_an_enabled_lead_alerts_its_counsellors(session):
    school = SchoolFactory()
    counsellors = [StaffFactory(school=school), StaffFactory(school=school)]
    LeadFactory(school=school, is_enabled=False)
    AdminFactory(school=school)
    StaffFactory(school=SchoolFactory())  # another school's counsellor hears nothing

    case = reporting.submit_report(session, school, report_input(is_danger=True)).case

    assert sorted(n.recipient_staff_id for n in _alerts(session, case.id)) == sorted(
        c.id for c in counsellors)


def test_a_school_with_no_casework_staff_alerts_its_admins(session):
    school = SchoolFactory()
    admin = AdminFactory(school=school)

    case = reporting.submit_report(session, school, report_input(is_self_harm=True)).case

    assert [n.recipient_staff_id for n in _alerts(session, case.id)] == [admin.id]


def test_a_risk_raised_to_critical_without_an_enabled_lead_alerts_the_counsellors(session):
    school = SchoolFactory()
    counsellor, colleague = StaffFactory(school=school), StaffFactory(school=school)
    case = reporting.submit_report(session, school, report_input()).case

    workflow.set_risk(session, counsellor, case.id, "critical", reason="Not safe at home.",
                      version=case.version)

    assert sorted(n.recipient_staff_id for n in _alerts(session, case.id)) == sorted(
        [counsellor.id, colleague.id])
