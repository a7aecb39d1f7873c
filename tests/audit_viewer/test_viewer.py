"""The audit log viewer: filters, the chain check in plain words, and that looking is recorded."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from app.audit import services as audit
from app.audit.models import AuditEntry
from app.cases.models import Case
from tests.factories import AdminFactory, LeadFactory, SchoolFactory, StaffFactory
from tests.helpers import sign_in

LONDON = ZoneInfo("Europe/London")
_ADDRESSES = itertools.count(1)


def signed_in(app, user):  # noqa: ANN001, ANN201
    """A client signed in as ``user``, from an address of its own (sign-in is rate limited)."""
    client = app.test_client()
    n = next(_ADDRESSES)
    client.environ_base["REMOTE_ADDR"] = f"10.251.{(n >> 8) & 255}.{n & 255}"
    assert sign_in(client, user).status_code == 302
    return client


def london(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=LONDON)


@dataclass
class Log:
    school: object
    lead: object
    counsellor: object
    case_a: Case
    case_b: Case
    entries: dict[str, AuditEntry]


def _case(session, school, reference: str) -> Case:  # noqa: ANN001
    case = Case(school_id=school.id, reference=reference, response_due_dt=london(4, 1, 9))
    session.add(case)
    session.flush()
    return case


@pytest.fixture
def log(session) -> Log:
    """Entries with known actors, actions, cases and times (London, British Summer Time).

    e1  3 Apr 10:00  counsellor  case.viewed      case A
    e2  4 Apr 10:00  lead        case.assigned    case A
    e3  4 Apr 23:00  counsellor  case.viewed      case B   (22:00 UTC, still 4 Apr)
    e4  5 Apr 00:30  reporter    report.message_received  case B  (23:30 UTC on 4 Apr)
    e5  6 Apr 09:00  lead        dashboard.exported
    The other school's entries are interleaved and must never show.
    """
    school, other = SchoolFactory(timezone="Europe/London"), SchoolFactory()
    lead = LeadFactory(school=school, name="Lee Lead")
    counsellor = StaffFactory(school=school, name="Casey Counsellor")
    other_lead = LeadFactory(school=other, name="Otto Other")
    case_a, case_b = _case(session, school, "AUD-AAAAAA"), _case(session, school, "AUD-BBBBBB")
    other_case = _case(session, other, "AUD-AAAAAA")  # the same reference in another school

    def rec(action, when, actor=None, case=None,  # noqa: ANN001, ANN202
            school_id=school.id, kind="staff"):
        return audit.record(session, action, school_id=school_id, actor_kind=kind,
                            actor_id=actor.id if actor else None,
                            case_id=case.id if case else None, at=when,
                            target=f"case:{case.id}" if case else None)

    entries = {
        "e1": rec("case.viewed", london(4, 3, 10), counsellor, case_a),
        "x1": rec("case.viewed", london(4, 3, 11), other_lead, other_case, other.id),
        "e2": rec("case.assigned", london(4, 4, 10), lead, case_a),
        "e3": rec("case.viewed", london(4, 4, 23), counsellor, case_b),
        "x2": rec("case.assigned", london(4, 4, 23, 30), other_lead, other_case, other.id),
        "e4": rec("report.message_received", london(4, 5, 0, 30), None, case_b, kind="reporter"),
        "e5": rec("dashboard.exported", london(4, 6, 9), lead),
    }
    session.commit()
    return Log(school, lead, counsellor, case_a, case_b, entries)


@pytest.fixture
def viewer(app, log):
    return signed_in(app, log.lead)


def shown(client, **args) -> tuple[list[int], str]:  # noqa: ANN001, ANN003
    response = client.get("/staff/audit/?" + urlencode(args))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:300]
    return [int(i) for i in re.findall(r'<tr data-entry="(\d+)"', page)], page


def ids(log: Log, *names: str) -> list[int]:
    """Entry ids, newest first, as the viewer lists them."""
    return sorted((log.entries[n].id for n in names), reverse=True)


def test_filters_return_the_right_entries(viewer, log):
    assert shown(viewer, who=log.counsellor.id)[0] == ids(log, "e1", "e3")
    assert shown(viewer, what="case.viewed")[0] == ids(log, "e1", "e3")
    assert shown(viewer, who=log.lead.id, what="case.assigned")[0] == ids(log, "e2")
    # by reference, typed in lower case; the other school's case of that reference is not it
    assert shown(viewer, case="aud-aaaaaa")[0] == ids(log, "e1", "e2")
    assert shown(viewer, case="AUD-BBBBBB")[0] == ids(log, "e3", "e4")
    assert shown(viewer, case="AUD-ZZZZZZ")[0] == []
    # the period is in school days: 23:30 UTC on 4 April is 5 April in London
    assert shown(viewer, **{"from": "2025-04-04", "to": "2025-04-04"})[0] == ids(log, "e2", "e3")
    assert shown(viewer, **{"from": "2025-04-05", "to": "2025-04-05"})[0] == ids(log, "e4")
    assert shown(viewer, **{"from": "2025-04-04", "to": "2025-04-05"},
                 case="AUD-BBBBBB")[0] == ids(log, "e3", "e4")
    assert shown(viewer, who=log.counsellor.id, what="dashboard.exported")[0] == []


def test_the_page_names_people_and_cases_never_other_schools(viewer, log):
    _, page = shown(viewer, **{"from": "2025-04-03", "to": "2025-04-06"})
    row = re.search(rf'<tr data-entry="{log.entries["e2"].id}".*?</tr>', page, re.S).group(0)
    assert "Lee Lead" in row and "case.assigned" in row and "AUD-AAAAAA" in row
    row = re.search(rf'<tr data-entry="{log.entries["e4"].id}".*?</tr>', page, re.S).group(0)
    assert "reporter" in row and "AUD-BBBBBB" in row
    for other in ("x1", "x2"):
        assert f'data-entry="{log.entries[other].id}"' not in page
    assert "Otto Other" not in page


def test_the_chain_check_says_intact(viewer, log, session):
    total = session.scalar(select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.school_id == log.school.id))
    _, page = shown(viewer)
    assert 'data-chain="intact"' in page and 'data-chain="broken"' not in page
    assert f"<span data-entries-checked>{total}</span>" in page


def _allow_rewrites(session) -> None:  # noqa: ANN001
    """Switch off the append-only trigger (PostgreSQL), inside this test's transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(
            "ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))


def test_an_edited_entry_breaks_the_chain_from_that_entry(viewer, log, session):
    _allow_rewrites(session)
    e2 = log.entries["e2"]
    session.execute(sa.update(AuditEntry).where(AuditEntry.id == e2.id)
                    .values(action="case.viewed"))  # hide an assignment as a mere view
    session.commit()

    _, page = shown(viewer)
    assert 'data-chain="broken"' in page and 'data-chain="intact"' not in page
    assert f'data-broken-at="{e2.id}"' in page
    assert "its contents were changed" in page


def test_a_deleted_entry_breaks_the_chain_at_the_next_one(viewer, log, session):
    _allow_rewrites(session)
    session.execute(sa.delete(AuditEntry).where(AuditEntry.id == log.entries["e3"].id))
    session.commit()

    _, page = shown(viewer)
    assert 'data-chain="broken"' in page
    # e4 is the school's next entry (the other school's x2 came in between)
    assert f'data-broken-at="{log.entries["e4"].id}"' in page
    assert "an entry before it was removed or changed" in page
    # later views are recorded after the break and do not mend it
    _, page = shown(viewer)
    assert f'data-broken-at="{log.entries["e4"].id}"' in page


def test_viewing_the_log_is_itself_audited(viewer, log, session):
    shown(viewer, who=log.counsellor.id, case="aud-aaaaaa")

    session.expire_all()
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "audit.viewed")
                            .order_by(AuditEntry.id.desc())).scalars().first()
    assert (entry.school_id, entry.actor_id, entry.actor_kind) == (
        log.school.id, log.lead.id, "staff")
    assert entry.detail == {"who": str(log.counsellor.id), "case": "AUD-AAAAAA"}
    # and the next view lists it
    ids_now, _ = shown(viewer, what="audit.viewed")
    assert entry.id in ids_now


def test_older_entries_are_paged(viewer, log, monkeypatch):
    monkeypatch.setattr(audit, "PAGE_SIZE", 2)
    period = {"from": "2025-04-03", "to": "2025-04-06"}
    pages = []
    args = dict(period)
    while True:
        found, page = shown(viewer, **args)
        pages.append(found)
        link = re.search(r'href="/staff/audit/\?([^"]+)">Older entries', page)
        if not link:
            break
        args = dict(pair.split("=", 1) for pair in html.unescape(link.group(1)).split("&"))
        assert args["from"] == period["from"] and args["to"] == period["to"]
    assert pages == [ids(log, "e4", "e5"), ids(log, "e2", "e3"), ids(log, "e1")]


@pytest.mark.parametrize("factory", [StaffFactory, AdminFactory])
def test_only_leads_may_read_it(app, session, log, factory):
    client = signed_in(app, factory(school=log.school))
    response = client.get("/staff/audit/")
    assert response.status_code == 403
    assert "AUD-AAAAAA" not in response.get_data(as_text=True)
    assert not session.scalar(select(AuditEntry.id).where(AuditEntry.action == "audit.viewed",
                                                          AuditEntry.school_id == log.school.id))


def test_after_the_nightly_check_a_view_walks_only_newer_entries(viewer, log, session, engine):
    from app.audit.models import AuditCheckpoint
    from app.db import utcnow
    from tests.helpers import StatementCounter

    counts = audit.checkpoint_chains(session, now=utcnow())
    session.commit()
    assert counts["broken"] == 0 and counts["intact"] >= 2
    point = session.get(AuditCheckpoint, log.school.id)
    total = session.scalar(select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.school_id == log.school.id))
    assert point.entries == total

    with StatementCounter(engine) as counter:
        check = audit.check_chain(session, log.school.id)
    walked = [s for s in counter.statements if "prev_hash" in s]
    # the same answer as a full walk, from a walk of what came after the checkpoint
    assert check.is_intact and check.entries_checked == total
    assert check.checkpoint_dt == point.checked_dt
    assert walked and all("audit_entry.id >" in s for s in walked)
    _, page = shown(viewer)
    assert 'data-chain="intact"' in page and "data-checkpoint" in page


def test_an_entry_changed_after_the_checkpoint_is_found_by_the_next_view(viewer, log, session):
    from app.db import utcnow

    audit.checkpoint_chains(session, now=utcnow())
    session.commit()
    shown(viewer)  # a view adds an entry after the checkpoint
    _allow_rewrites(session)
    newest = session.scalars(select(AuditEntry).where(AuditEntry.school_id == log.school.id)
                             .order_by(AuditEntry.id.desc())).first()
    session.execute(sa.update(AuditEntry).where(AuditEntry.id == newest.id)
                    .values(actor_kind="system"))
    session.commit()

    _, page = shown(viewer)
    assert f'data-broken-at="{newest.id}"' in page


def test_an_old_entry_changed_is_found_by_the_nightly_check_which_drops_the_checkpoint(
        viewer, log, session):
    from app.audit.models import AuditCheckpoint
    from app.db import utcnow

    audit.checkpoint_chains(session, now=utcnow())
    session.commit()
    _allow_rewrites(session)
    e2 = log.entries["e2"]
    session.execute(sa.update(AuditEntry).where(AuditEntry.id == e2.id)
                    .values(action="case.viewed"))
    session.commit()

    counts = audit.checkpoint_chains(session, now=utcnow())
    session.commit()

    assert counts["broken"] == 1
    assert session.get(AuditCheckpoint, log.school.id) is None
    _, page = shown(viewer)
    assert f'data-broken-at="{e2.id}"' in page and "its contents were changed" in page


def _school_entries(session, school_id) -> list[AuditEntry]:  # noqa: ANN001
    return list(session.scalars(select(AuditEntry).where(AuditEntry.school_id == school_id)
                                .order_by(AuditEntry.id)))


def test_the_newest_entries_removed_break_the_chain(viewer, log, session):
    """No entry is out of place after a cut at the end: the chain's head row shows it."""
    _allow_rewrites(session)
    kept = _school_entries(session, log.school.id)[:-2]
    session.execute(sa.delete(AuditEntry).where(
        AuditEntry.school_id == log.school.id, AuditEntry.id > kept[-1].id))
    session.commit()

    check = audit.check_chain(session, log.school.id)
    assert not check.is_intact
    assert check.reason == f"the entries after entry {kept[-1].id} were removed"
    _, page = shown(viewer)
    assert 'data-chain="broken"' in page and 'data-chain="intact"' not in page


def test_entries_cut_back_past_the_checkpoint_with_the_head_rolled_back_still_break_it(
        log, session):
    from app.audit.models import AuditChain
    from app.db import utcnow

    audit.checkpoint_chains(session, now=utcnow())
    session.commit()
    _allow_rewrites(session)
    entries = _school_entries(session, log.school.id)
    # The newest two go, and the head is pointed at what is left: the hashes all agree.
    session.execute(sa.delete(AuditEntry).where(AuditEntry.id.in_([e.id for e in entries[-2:]])))
    session.execute(sa.update(AuditChain).where(AuditChain.chain_key == log.school.id)
                    .values(head_hash=entries[-3].entry_hash))
    session.commit()
    assert audit.verify_chain(session, log.school.id).is_intact  # a full walk cannot tell

    check = audit.check_chain(session, log.school.id)
    assert not check.is_intact
    assert f"entry {entries[-1].id}, checked intact by the nightly check" in check.reason
