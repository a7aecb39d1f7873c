"""What a student wrote and their case key never show in a repr() (a log line, a debugger)."""

from __future__ import annotations

from app.reporting import services as reporting
from tests.factories import report_input


def test_a_submission_and_its_input_keep_their_words_and_key_out_of_repr(session, school):
    data = report_input(details="MARKER-DETAILS they took my phone", reporter_name="Sam Marker",
                        is_anonymous=False, reply_email="marker@example.com")
    result = reporting.submit_report(session, school, data)
    session.rollback()

    shown = repr(data) + repr(result)
    for secret in ("MARKER-DETAILS", "Sam Marker", "marker@example.com", result.case_key):
        assert secret not in shown
    assert str(result.case_id) in repr(result)  # the ids are still there to debug with
