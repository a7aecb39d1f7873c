"""Forms work over HTTPS although pages ask browsers to send no Referer.

Flask-WTF's "SSL strict" check refuses an HTTPS post without a same-origin
Referer; with ``Referrer-Policy: no-referrer`` a browser sends none, so in
production (always HTTPS) every form was refused with a 400 until the check was
turned off (the CSRF token and SameSite cookies still protect every form).
Found by the bench (bench/README.md), which talks HTTPS-behind-a-proxy.
"""

from __future__ import annotations

from sqlalchemy import func, select

from app.reporting.models import Report
from tests.helpers import _CSRF
from tests.reporting.conftest import case_key_of, report_form

HTTPS = "https://localhost"


def test_report_posted_over_https_without_referer_is_stored(client, school, session):
    before = session.execute(select(func.count()).select_from(Report)).scalar_one()
    page = client.get(f"/s/{school.slug}/report", base_url=HTTPS)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    token = _CSRF.search(page.get_data(as_text=True)).group(1)
    response = client.post(f"/s/{school.slug}/report", base_url=HTTPS,
                           data={"csrf_token": token, **report_form()})
    assert "Referer" not in response.request.headers
    assert response.status_code == 200
    assert case_key_of(response)
    assert session.execute(select(func.count()).select_from(Report)).scalar_one() == before + 1


def test_https_post_with_a_wrong_token_is_still_refused(client, school, session):
    before = session.execute(select(func.count()).select_from(Report)).scalar_one()
    client.get(f"/s/{school.slug}/report", base_url=HTTPS)
    response = client.post(f"/s/{school.slug}/report", base_url=HTTPS,
                           data={"csrf_token": "forged", **report_form()})
    assert response.status_code == 400
    assert session.execute(select(func.count()).select_from(Report)).scalar_one() == before
