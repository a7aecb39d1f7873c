"""The dashboard's cost in SQL statements does not grow with the school's cases (no N+1)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from app.cases.identifier_models import CaseIdentifier, IdentifierKind
from app.dashboard.charts import CHARTS
from tests.dashboard.conftest import PERIOD, add_case, add_session, escalate, london, text, utc
from tests.helpers import StatementCounter

URLS = (["/staff/dashboard/", "/staff/dashboard/cases", "/staff/dashboard/governors",
         "/staff/dashboard/export/cases.csv", "/staff/dashboard/export/workload.csv",
         "/staff/dashboard/cases?show=open", "/staff/audit/"]
        + [f"/staff/dashboard/chart/{name}.svg" for name in CHARTS])


def statements(engine, client) -> dict[str, int]:  # noqa: ANN001
    counts = {}
    for url in URLS:
        joiner = "&" if "?" in url else "?"
        with StatementCounter(engine) as counter:
            response = client.get(url + joiner + urlencode(PERIOD))
        assert response.status_code == 200, (url, text(response)[:300])
        counts[url] = len(counter.statements)
    return counts


def more_cases(session, world, n: int) -> None:  # noqa: ANN001
    """``n`` more cases in the period, each with sessions, an escalation and a repeated name."""
    counsellors = [world.counsellor_a, world.counsellor_b, world.counsellor_d]
    for i in range(n):
        reported = london(4, 7, 9) + timedelta(days=i % 27, hours=i % 8)
        case = add_case(session, world.school, reported=reported, risk="high", status="new",
                        kinds=["harassment", "threats"], platforms=["snapchat"], year=7 + i % 5,
                        first_response=None, due=reported + timedelta(days=1), resolved=None,
                        assignee=None, unread=1)
        # every pair of new cases shares a handle: one more repeat name per pair
        session.add(CaseIdentifier(school_id=world.school.id, case_id=case.id,
                                   kind=IdentifierKind.HANDLE, source="person:9",
                                   digest=f"repeat{i // 2:026d}"))
        add_session(session, case, counsellors[i % 3], reported, "completed", 20)
        add_session(session, case, counsellors[i % 3], reported.replace(hour=18), "completed", 25)
        escalate(session, case, utc(5, 1, i % 24))
    session.commit()


def test_statements_do_not_grow_with_the_number_of_cases(app, engine, session, world,
                                                         lead_client):
    # the hand-counted school: 17 cases (13 in the period)
    before = statements(engine, lead_client)
    more_cases(session, world, 45)  # now 62 cases, 58 in the period, 22 more repeat names
    after = statements(engine, lead_client)

    assert after == before
    # and the figures did change, so the same statements really read more rows
    page = text(lead_client.get("/staff/dashboard/?" + urlencode(PERIOD)))
    assert 'data-figure="period-total">58<' in page
    assert page.count("data-repeat=") == 2 + 22
