"""The quick reader of a posted report agrees with ReportForm (app.reporting.forms).

``quick_report_data`` may only accept a report that ReportForm accepts, and must then
give exactly ReportForm's data; anything else goes to ReportForm for its messages. Both
are run on thousands of generated posts, tidy and garbled, and compared.
"""

from __future__ import annotations

import io
import random

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import Email

from app.reporting import views
from app.reporting.forms import ReportForm, quick_report_data
from app.reporting.models import Report
from tests.helpers import csrf_token
from tests.reporting.conftest import case_key_of, report_for_key, report_form, text

CHOICES = {
    "is_danger": ["yes", "no"],
    "is_self_harm": ["yes", "no"],
    "occurred_period": ["today", "this_week", "this_month", "earlier"],
    "is_ongoing": ["yes", "no", "not_sure"],
    "reporter_role": ["target", "bystander", "parent"],
    "identity": ["anonymous", "confidential"],
    "year_group": ["", "7", "9", "13"],
}
TEXTS = {"details": 10_000, "involved": 10_000, "reporter_name": 200, "contact": 200,
         "reply_email": 254}
ODD_VALUES = ["", " ", "  \t", "maybe", "YES", "0", "None", "\x00"]
HANDLE_KEYS = ["handles-0-platform", "handles-0-handle", "handles-1-handle", "handles-2-platform",
               "handles-01-handle", "handlesX3-handle", "handles-9-handle", "handles-10-handle",
               "handles-x-handle", "handles-4-other", "handles", "handles-\u00b2-handle"]


def _text(rng: random.Random, longest: int) -> str:
    return rng.choice(["Mean comments.", "  padded  ", "", "   ", "a" * longest,
                       "a" * (longest + 1), " " * (longest + 1), "Zoë ✓ ünïcödé"])


def _post(rng: random.Random) -> MultiDict:
    """A report post: mostly as the page sends it, with fields dropped, garbled or repeated."""
    items: list[tuple[str, str]] = []
    for name, choices in CHOICES.items():
        roll = rng.random()
        if roll < 0.1:
            continue  # left out
        value = rng.choice(ODD_VALUES) if roll < 0.2 else rng.choice(choices)
        items.append((name, value))
        if rng.random() < 0.05:
            items.append((name, rng.choice(choices)))  # sent twice
    for name, longest in TEXTS.items():
        if rng.random() < 0.15:
            continue
        items.append((name, _text(rng, longest) if rng.random() < 0.3 else "Some words"))
        if rng.random() < 0.03:
            items.append((name, "again"))
    for name, options in (("kinds", ["harassment", "threats", "bogus"]),
                          ("platforms", ["instagram", "tiktok", "nowhere"])):
        items += [(name, value) for value in rng.sample(options, rng.randint(0, 3))]
    for key in rng.sample(HANDLE_KEYS, rng.randint(0, 5)):
        items.append((key, rng.choice(["tiktok", "@someone", "", "x" * 250])))
        if rng.random() < 0.05:
            items.append((key, "@twice"))
    if rng.random() < 0.05:
        items += [(f"handles-{i}-handle", f"@many{i}") for i in range(12)]
    if rng.random() < 0.1:
        items.append(("unknown_field", "ignored"))
    rng.shuffle(items)
    return MultiDict(items)


def test_the_quick_reader_accepts_only_what_the_form_accepts_and_reads_it_alike(app):
    rng = random.Random(7)
    accepted = refused = 0
    with app.test_request_context(method="POST"):
        for n in range(3000):
            post = _post(rng)
            quick = quick_report_data(post)
            form = ReportForm(formdata=post, meta={"csrf": False})
            valid = form.validate()
            if quick is None:
                refused += 1
                continue
            accepted += 1
            assert valid, (n, post, form.errors)
            assert quick == form.data, (n, post)
    # Both sides were exercised: the comparison above is not vacuous.
    assert accepted > 300 and refused > 300, (accepted, refused)


def test_a_report_as_the_page_sends_it_is_read_without_building_the_form(
        client, school, session, monkeypatch):
    token = csrf_token(client, f"/s/{school.slug}/report")

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ARG001
        raise AssertionError("ReportForm built for a tidy report")

    monkeypatch.setattr(views, "ReportForm", refuse)
    response = client.post(f"/s/{school.slug}/report", data={
        "csrf_token": token, **report_form(identity="confidential", reporter_name="Sam Doe",
                                           year_group="9"),
        "handles-0-platform": "tiktok", "handles-0-handle": "@sam_bully",
        "handles-1-platform": "", "handles-1-handle": "", "handles-2-platform": "",
        "handles-2-handle": ""})

    assert response.status_code == 200, text(response)[:2000]
    report = report_for_key(session, case_key_of(response))
    assert report.reporter_identity == {"name": "Sam Doe", "year_group": 9, "contact": None}
    assert report.handles == [{"platform": "tiktok", "handle": "@sam_bully"}]
    assert report.is_anonymous is False


@pytest.mark.parametrize("change, message", [
    ({"is_danger": None}, "Tell us if anyone is in danger right now."),
    ({"is_self_harm": "perhaps"}, "Choose one of the answers shown."),
    ({"details": "   "}, "Tell us what happened."),
    ({"details": "x" * 10_001}, "Keep it under 10,000 characters."),
    ({"reporter_role": ["target", "parent"], "is_ongoing": "sometimes"},
     "Choose one of the answers shown."),
])
def test_a_report_the_quick_reader_refuses_gets_the_forms_message_and_stores_nothing(
        client, school, session, change, message):
    token = csrf_token(client, f"/s/{school.slug}/report")
    before = session.scalar(select(func.count()).select_from(Report))
    response = client.post(f"/s/{school.slug}/report",
                           data={"csrf_token": token, **report_form(**change)})

    assert response.status_code == 422
    assert message in text(response)
    assert session.scalar(select(func.count()).select_from(Report)) == before


def test_a_forged_token_is_refused_before_the_quick_reader(client, school, session):
    csrf_token(client, f"/s/{school.slug}/report")
    before = session.scalar(select(func.count()).select_from(Report))
    response = client.post(f"/s/{school.slug}/report",
                           data={"csrf_token": "forged", **report_form()})

    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(Report)) == before


@pytest.mark.parametrize("quick", [True, False])
def test_a_handle_row_numbered_with_another_digit_is_ignored_not_a_crash(
        client, school, session, monkeypatch, quick):
    """WTForms took "²" for a row number and failed on int(): a 500 before this fix."""
    if not quick:  # the form itself, as for any report the quick reader refuses
        monkeypatch.setattr(views, "quick_report_data", lambda formdata: None)
    token = csrf_token(client, f"/s/{school.slug}/report")
    response = client.post(f"/s/{school.slug}/report", data={
        "csrf_token": token, **report_form(), "handles-\u00b2-handle": "@odd",
        "handles-0-platform": "tiktok", "handles-0-handle": "@kept"})

    assert response.status_code == 200, text(response)[:2000]
    report = report_for_key(session, case_key_of(response))
    assert report.handles == [{"platform": "tiktok", "handle": "@kept"}]


@pytest.mark.parametrize("quick", [True, False])
def test_a_file_part_named_like_a_field_does_not_stand_in_for_it(
        client, school, session, monkeypatch, quick):
    """The form has no file field: a file part is ignored by both readers (it was a 500
    when ReportForm read files and form fields together)."""
    if not quick:
        monkeypatch.setattr(views, "quick_report_data", lambda formdata: None)
    url = f"/s/{school.slug}/report"
    before = session.scalar(select(func.count()).select_from(Report))
    refused = client.post(url, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, url), **report_form(details=None),
        "details": (io.BytesIO(b"from a file"), "details.txt")})
    stored = client.post(url, content_type="multipart/form-data", data=MultiDict([
        ("csrf_token", csrf_token(client, url)), *MultiDict(report_form()).items(multi=True),
        ("is_danger", (io.BytesIO(b"yes"), "is_danger.txt"))]))

    assert refused.status_code == 422 and "Tell us what happened." in text(refused)
    assert stored.status_code == 200, text(stored)[:2000]
    report = report_for_key(session, case_key_of(stored))
    assert report.is_danger is False  # the form's own answer, "no"
    assert session.scalar(select(func.count()).select_from(Report)) == before + 1


@pytest.mark.parametrize("field", [
    IntegerField("Age"),
    SelectField("Year", choices=[("7", "Year 7")], coerce=int),
    StringField("Name", filters=[str.strip]),
    StringField("Email", validators=[Email()]),
])
def test_a_field_the_quick_reader_cannot_read_alike_stops_the_app_from_starting(field):
    """A rule added to ReportForm that the quick reader does not know must fail loudly at
    import, not let through what the form would refuse."""
    from app.reporting.forms import _Rule

    with pytest.raises(TypeError):
        _Rule(field)
