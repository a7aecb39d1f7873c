"""Submissions in parallel on PostgreSQL: every report stored once, the audit chain unforked.

A submission takes the school's audit chain (locks its head row and reads it) with its
ids, and writes every row in one statement that moves the head (app.inserts). Writers in
one school queue on the head row; a reference clash must still write nothing but the retry.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.audit import services as audit
from app.audit.models import AuditEntry
from app.cases.models import Case, CaseEvent
from app.reporting import services as reporting
from app.reporting.models import Report
from app.schools.models import School
from tests.factories import report_input
from tests.helpers import all_at_once

WRITERS = 4
EACH = 8


def test_parallel_submissions_in_one_school_are_each_stored_once_in_one_chain(backends):
    if not backends.has_postgres:
        pytest.skip("needs PostgreSQL: SQLite has one writer at a time anyway")
    from sqlalchemy.orm import Session

    from app.extensions import db
    from tests.conftest import throwaway_app

    with throwaway_app(backends, "submission_concurrency"):
        engine = db.engine
        with Session(engine) as s:
            school = School(slug="parallel", name="Parallel Academy")
            s.add(school)
            s.commit()
            school_id = school.id
        submitted: list[tuple[int, int, str]] = []

        def submit(writer: int) -> None:
            for i in range(EACH):
                with Session(engine) as s:
                    school = s.get(School, school_id)
                    result = reporting.submit_report(
                        s, school, report_input(details=f"writer {writer} report {i}",
                                                handles=[{"platform": "tiktok",
                                                          "handle": f"@w{writer}"}]))
                    s.commit()
                    submitted.append((result.case_id, result.report_id, result.reference))

        assert all_at_once(submit, WRITERS) == []
        total = WRITERS * EACH
        assert len({case_id for case_id, _, _ in submitted}) == total
        with Session(engine) as s:
            for model in (Case, Report, CaseEvent, AuditEntry):
                count = s.scalar(select(func.count()).select_from(model)
                                 .where(model.school_id == school_id))
                assert count == total, model
            pairs = {tuple(row) for row in s.execute(select(Report.case_id, Report.id))}
            assert pairs == {(case_id, report_id) for case_id, report_id, _ in submitted}
            details = sorted(s.scalars(select(Report.details)))
            assert details == sorted(f"writer {w} report {i}"
                                     for w in range(WRITERS) for i in range(EACH))
            check = audit.verify_chain(s, school_id)
            assert check.is_intact and check.entries_checked == total, check
            targets = set(s.scalars(select(AuditEntry.target)))
            assert targets == {f"report:{report_id}" for _, report_id, _ in submitted}
