"""The nightly retention job purges content and keeps anonymous counts."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from PIL import Image
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.audit.services import verify_chain
from app.cases.identifier_models import CaseIdentifier
from app.cases.models import CaseEvent, EventKind
from app.cases.people_models import CasePerson, PersonKind, PersonRole
from app.cases.retention import purge_expired, retention_cutoff
from app.cases.vocabulary import CaseStatus
from app.reporting.evidence_models import Evidence, EvidenceBlob
from app.reporting.models import Report
from app.reporting.services import (
    add_evidence,
    find_report_by_digest,
    send_reporter_message,
    set_reply_email,
    submit_report,
)
from app.scheduling.models import FollowUpSession, SessionKind, SessionMode, SessionStatus
from tests.factories import SchoolFactory, StaffFactory, report_input

NOW = datetime(2026, 3, 1, 2, 30, tzinfo=timezone.utc)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="PNG")
    return out.getvalue()


def _full_case(session, school, counsellor, *, closed_at: datetime | None):  # noqa: ANN001
    submitted = submit_report(session, school, report_input(
        details="Sam Whitlock said he would hurt me after school", involved="Sam Whitlock",
        handles=[{"platform": "instagram", "handle": "@sam.whit"}], is_anonymous=False,
        reporter_name="Alex Reporter", year_group=8, contact="tutor group 8C",
        kinds=["threats"], platforms=["instagram"]), now=closed_at or NOW)
    case, report = submitted.case, submitted.report
    set_reply_email(session, report, "alex@example.net")
    send_reporter_message(session, report, "He did it again today")
    add_evidence(session, report, filename="alex-screenshot.png", data=_png(),
                 max_bytes=10_000_000, max_files=5)
    session.add(CasePerson(school_id=school.id, case_id=case.id, role=PersonRole.TARGET,
                           kind=PersonKind.STUDENT, name="Alex Reporter", year_group=8))
    fs = FollowUpSession(school_id=school.id, case_id=case.id, counsellor_id=counsellor.id,
                         kind=SessionKind.TARGET_CHECK_IN, mode=SessionMode.IN_PERSON,
                         status=SessionStatus.COMPLETED, notes="Alex talked about Sam",
                         strategies="Walk home with a friend", outcome_scores=[5, 6, 4, 5],
                         outcome_total=20)
    fs.set_time((closed_at or NOW) - timedelta(days=3), 60)
    session.add(fs)
    if closed_at is not None:
        case.set_status(CaseStatus.CLOSED)
        case.closed_dt = closed_at
    session.flush()
    return submitted


def test_cases_closed_longer_than_the_retention_period_lose_their_content(session):
    school = SchoolFactory(retention_years=6)
    counsellor = StaffFactory(school=school)
    old = _full_case(session, school, counsellor, closed_at=NOW - timedelta(days=6 * 365 + 5))
    recent = _full_case(session, school, counsellor, closed_at=NOW - timedelta(days=5 * 365))
    still_open = _full_case(session, school, counsellor, closed_at=None)
    case = old.case
    blob_keys = list(session.scalars(select(Evidence.storage_key)
                                     .where(Evidence.case_id == case.id)))

    assert purge_expired(session, now=NOW) == 1
    assert purge_expired(session, now=NOW) == 0  # already done: nothing twice
    session.expire_all()

    report = session.get(Report, old.report.id)
    assert report.details == "" and report.involved is None and report.handles is None
    assert report.reporter_identity is None and report.reply_email is None
    # The case key no longer opens anything.
    assert find_report_by_digest(session, old.case_key) is None
    events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)))
    assert events and all(e.body is None for e in events)
    assert {e.kind for e in events} >= {EventKind.REPORT_SUBMITTED,
                                        EventKind.MESSAGE_FROM_REPORTER}
    assert session.scalars(select(Evidence).where(Evidence.case_id == case.id)).all() == []
    assert all(session.get(EvidenceBlob, key) is None for key in blob_keys)
    [person] = session.scalars(select(CasePerson).where(CasePerson.case_id == case.id)).all()
    assert person.name is None and person.year_group == 8
    [fs] = session.scalars(select(FollowUpSession).where(FollowUpSession.case_id == case.id)).all()
    assert fs.notes is None and fs.strategies is None and fs.outcome_total == 20
    assert session.execute(select(func.count()).select_from(CaseIdentifier)
                           .where(CaseIdentifier.case_id == case.id)).scalar_one() == 0
    # What counts remain: categories, risk, dates.
    case = session.get(type(case), case.id)
    assert case.is_purged and case.kinds_mask and case.platforms_mask and case.closed_dt
    assert report.kinds == ["threats"] and report.year_group == 8
    # Audited with ids and counts only.
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.case_id == case.id,
                                                       AuditEntry.action == "case.purged")).all()
    assert entry.actor_kind == "system"
    assert entry.detail == {"reports": 1, "events": len(events), "evidence": 1, "people": 1,
                            "sessions": 1, "identifiers": 2}
    assert "Sam" not in str(entry.detail) and verify_chain(session, school.id).is_intact

    # The others keep everything.
    for kept in (recent, still_open):
        report = session.get(Report, kept.report.id)
        assert "Sam Whitlock" in report.details and report.reply_email == "alex@example.net"
        assert not session.get(type(case), kept.case.id).is_purged
        assert find_report_by_digest(session, kept.case_key) is not None


def test_each_school_keeps_cases_for_its_own_period():
    assert retention_cutoff(NOW, 6) == datetime(2020, 3, 1, 2, 30, tzinfo=timezone.utc)
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc)
    assert retention_cutoff(leap, 1) == datetime(2027, 2, 28, 12, 0, tzinfo=timezone.utc)


def test_a_school_with_a_shorter_period_purges_sooner(session):
    school = SchoolFactory(retention_years=1)
    counsellor = StaffFactory(school=school)
    closed = _full_case(session, school, counsellor, closed_at=NOW - timedelta(days=400))

    assert purge_expired(session, now=NOW) >= 1
    session.expire_all()
    assert session.get(Report, closed.report.id).details == ""
