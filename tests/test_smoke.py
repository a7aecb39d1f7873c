"""The factory builds, the schema comes from the migrations, the demo counsellor sees a queue."""

from __future__ import annotations

from sqlalchemy import func, select

from app.cases.models import Case
from app.demo import seed_demo_school
from tests.helpers import sign_in


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_demo_counsellor_signs_in_and_sees_the_queue(client, session):
    school = seed_demo_school(session, password="demo password 123", reports=12, seed=1)
    session.commit()
    open_cases = session.execute(
        select(func.count()).select_from(Case).where(Case.school_id == school.id, Case.is_open)
    ).scalar_one()
    assert open_cases > 0

    class Demo:
        email = "counsellor@demo.example"

    response = sign_in(client, Demo, password="demo password 123")
    assert response.status_code == 302
    page = client.get("/staff/cases/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("data-case=") == open_cases
    # most urgent first: the demo's danger report is critical and is the first row
    rows = html.split("<tr data-case=")[1:]
    assert "risk-critical" in rows[0]
    assert all("risk-critical" not in row for row in rows[1:])
