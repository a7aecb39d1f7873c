"""Repeat names: the same student or handle on other cases of the school, via the blind index."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.cases import people
from app.cases.identifier_models import CaseIdentifier, IdentifierKind
from app.cases.people import PersonInput, record_person, repeat_names
from app.reporting.services import handle_digest
from app.security import Keyring
from tests.cases.conftest import text
from tests.factories import make_case


def _account(session, user, case, platform: str, handle: str, role: str = "student_who_bullied"):  # noqa: ANN001, ANN201
    return record_person(session, user, case.id,
                         PersonInput(kind="online_account", role=role, platform=platform,
                                     handle=handle), version=case.version)


def test_the_same_handle_in_other_capitals_or_with_an_at_links_two_cases(session, world):
    first = make_case(session, world.school,
                      handles=[{"platform": "instagram", "handle": "@Sneaky.Fox"}])
    second = make_case(session, world.school, details="Another student, same account.")
    unrelated = make_case(session, world.school,
                          handles=[{"platform": "instagram", "handle": "someone.else"}])
    assert repeat_names(session, world.counsellor, second) == []

    person = _account(session, world.counsellor, second, "instagram", "  sneaky.fox ")

    identifier = session.scalars(select(CaseIdentifier).where(
        CaseIdentifier.source == f"person:{person.id}")).one()
    assert identifier.case_id == second.id and identifier.kind is IdentifierKind.HANDLE
    assert identifier.digest == handle_digest("instagram", "@SNEAKY.FOX")
    matches = repeat_names(session, world.counsellor, second)
    assert [(m.case_id, m.reference) for m in matches] == [(first.id, first.reference)]
    assert matches[0].names == ["sneaky.fox on Instagram"]  # this case's own words
    back = repeat_names(session, world.lead, first)
    assert [m.case_id for m in back] == [second.id]
    assert back[0].names == ["@Sneaky.Fox on Instagram"]
    assert repeat_names(session, world.counsellor, unrelated) == []


def test_student_names_match_exactly_after_folding_case_and_spaces(session, world):
    first, second, third = (make_case(session, world.school) for _ in range(3))
    for case, name in ((first, "Jo  Bloggs"), (second, "jo bloggs"), (third, "Jo Blogs")):
        record_person(session, world.counsellor, case.id,
                      PersonInput(kind="student", role="target", name=name, year_group="8"),
                      version=case.version)
    assert [m.case_id for m in repeat_names(session, world.counsellor, first)] == [second.id]
    # a near miss is not a match: matching is exact, never fuzzy
    assert repeat_names(session, world.counsellor, third) == []


def test_another_schools_case_with_the_same_handle_is_not_linked(session, world):
    ours = make_case(session, world.school,
                     handles=[{"platform": "tiktok", "handle": "@the_watcher"}])
    make_case(session, world.other_school,
              handles=[{"platform": "tiktok", "handle": "@the_watcher"}])
    assert repeat_names(session, world.counsellor, ours) == []


def test_the_same_handle_on_another_platform_is_another_account(session, world):
    ours = make_case(session, world.school, handles=[{"platform": "tiktok", "handle": "fox"}])
    make_case(session, world.school, handles=[{"platform": "snapchat", "handle": "fox"}])
    assert repeat_names(session, world.counsellor, ours) == []


def test_matching_never_decrypts_the_other_case(session, world, monkeypatch):
    other = make_case(session, world.school, details="Only the other case says this.",
                      involved="Names only the other case knows",
                      handles=[{"platform": "discord", "handle": "shared#0001"},
                               {"platform": "discord", "handle": "only-on-the-other"}])
    ours = make_case(session, world.school,
                     handles=[{"platform": "discord", "handle": "Shared#0001"}])
    session.flush()
    session.expunge_all()  # nothing of either case left decrypted in memory
    decrypted: list[object] = []
    original = Keyring.decrypt_value

    def spy(self, blob, purpose, **kwargs):  # noqa: ANN001, ANN202
        value = original(self, blob, purpose, **kwargs)
        decrypted.append(value)
        return value

    monkeypatch.setattr(Keyring, "decrypt_value", spy)
    from app.cases.models import Case

    ours = session.get(Case, ours.id)
    matches = people.repeat_names(session, world.counsellor, ours)
    assert [m.case_id for m in matches] == [other.id]
    seen = repr(decrypted)
    assert "Shared#0001" in seen  # the spy works: our own handle was read for its label
    assert "only-on-the-other" not in seen and "Only the other case" not in seen
    assert "Names only the other case" not in seen


@pytest.mark.parametrize("who", ["counsellor", "lead"])
def test_the_case_page_links_the_other_cases(session, world, new_case, as_staff, who):
    first = new_case(handles=[{"platform": "snapchat", "handle": "Ghost_Acct"}])
    second = new_case()
    staff = as_staff(getattr(world, who))
    response = staff.post(second, "people/account", "account",
                          {"platform": "snapchat", "handle": "@ghost_acct",
                           "role": "student_who_bullied"})
    assert response.status_code == 302
    page = text(staff.get(f"/staff/cases/{second.id}"))
    assert f'data-repeat-case="{first.reference}"' in page
    assert f'href="/staff/cases/{first.id}"' in page
    assert "@ghost_acct on Snapchat" in page
    # and the other way round
    page = text(staff.get(f"/staff/cases/{first.id}"))
    assert f'data-repeat-case="{second.reference}"' in page


def test_a_confidential_reporters_own_name_links_no_case_either_way(session, world):
    """Their name is stored for merging and retention, never matched: only the reveal says it."""
    reported = make_case(session, world.school, is_anonymous=False, reporter_name="Sam Smith",
                         year_group=9, contact="form 9B")
    named = make_case(session, world.school)
    record_person(session, world.counsellor, named.id,
                  PersonInput(kind="student", role="target", name="sam  smith"),
                  version=named.version)
    also_reported = make_case(session, world.school, is_anonymous=False,
                              reporter_name="SAM SMITH", year_group=9, contact="form 9B")
    stored = session.scalars(select(CaseIdentifier.case_id).where(
        CaseIdentifier.kind == IdentifierKind.STUDENT_NAME,
        CaseIdentifier.source.startswith("report:"))).all()
    assert sorted(stored) == sorted([reported.id, also_reported.id])  # still stored

    for who in (world.counsellor, world.lead):
        assert repeat_names(session, who, reported) == []
        assert repeat_names(session, who, named) == []
        assert repeat_names(session, who, also_reported) == []


def test_the_case_page_never_says_who_reported_another_case(session, world, new_case,
                                                            as_staff):
    reported = new_case(is_anonymous=False, reporter_name="Sam Smith", year_group=9,
                        contact="form 9B",
                        handles=[{"platform": "snapchat", "handle": "ghost_acct"}])
    reported.assignee_id = world.colleague.id  # the counsellor may read it, not work it
    named = new_case()
    session.commit()
    staff = as_staff(world.counsellor)
    assert staff.post(named, "people/student", "student",
                      {"name": "Sam Smith", "role": "target"}).status_code == 302
    assert staff.post(named, "people/account", "account",
                      {"platform": "snapchat", "handle": "Ghost_Acct",
                       "role": "student_who_bullied"}).status_code == 302

    page = text(staff.get(f"/staff/cases/{reported.id}"))
    assert f'data-repeat-case="{named.reference}"' in page  # the handle still links them
    panel = page[page.index("data-repeats"):page.index("</section>", page.index("data-repeats"))]
    assert "reporter" not in panel and "confidential" not in panel
    assert "ghost_acct on Snapchat" in panel
    page = text(staff.get(f"/staff/cases/{named.id}"))
    panel = page[page.index("data-repeats"):page.index("</section>", page.index("data-repeats"))]
    assert "Sam Smith" not in panel and "Ghost_Acct on Snapchat" in panel
