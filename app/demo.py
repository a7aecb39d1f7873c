"""Demo data: a school, its staff, and believable reports across every status."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy.orm import Session

from app.auth import services as auth
from app.auth.models import CaseRole
from app.cases.models import CaseEvent, EventKind
from app.cases.vocabulary import CaseStatus, ReporterRole
from app.db import utcnow
from app.reporting.services import ReportInput, submit_report
from app.schools.models import School

STORIES = [
    ("A group chat was made about me and they post screenshots of my messages to laugh at me.",
     ["harassment", "exclusion"], ["whatsapp"]),
    ("Someone made a fake account with my name and photo and is messaging people as me.",
     ["impersonation"], ["instagram"]),
    ("A boy in my year keeps saying he will beat me up after school.",
     ["threats"], ["in_school", "snapchat"]),
    ("People are spreading a rumour that I stole from the changing rooms. It's not true.",
     ["rumours"], ["in_school", "tiktok"]),
    ("A photo of me was shared in a Discord server without my permission.",
     ["image_sharing"], ["discord"]),
    ("In a Roblox game some kids keep following me and calling me names about my religion.",
     ["hate", "harassment"], ["roblox", "gaming_chat"]),
    ("My friend is being left out of everything and they post stories about parties she can't come to.",
     ["exclusion"], ["instagram", "snapchat"]),
    ("I get texts from a number I don't know saying nobody likes me.",
     ["harassment"], ["text"]),
    ("Comments under my YouTube videos from people at school saying I'm ugly.",
     ["harassment"], ["youtube"]),
    ("My son is being sent horrible emails from an account pretending to be a teacher.",
     ["impersonation", "harassment"], ["email"]),
]
HANDLES = ["@night_owl_77", "@xx.shadow.xx", "@fake_acc_2026", "@memes4days", "@t0xic_jay"]
MOVES = {
    CaseStatus.NEW: [],
    CaseStatus.TRIAGED: [CaseStatus.TRIAGED],
    CaseStatus.IN_PROGRESS: [CaseStatus.TRIAGED, CaseStatus.IN_PROGRESS],
    CaseStatus.AWAITING_FOLLOW_UP: [CaseStatus.TRIAGED, CaseStatus.IN_PROGRESS,
                                    CaseStatus.AWAITING_FOLLOW_UP],
    CaseStatus.RESOLVED: [CaseStatus.TRIAGED, CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED],
    CaseStatus.CLOSED: [CaseStatus.TRIAGED, CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED,
                        CaseStatus.CLOSED],
}


def seed_demo_school(session: Session, *, password: str, reports: int = 36,
                     seed: int | None = None) -> School:
    rng = random.Random(seed)
    school = School(
        slug="demo", name="Demo High School", timezone="Europe/London",
        emergency_number="999", admin_contact_email="admin@demo.example",
        helplines=[
            {"name": "Childline", "phone": "0800 1111", "hours": "any time",
             "text": "Free, private, 24 hours", "url": "https://www.childline.org.uk"},
            {"name": "Shout", "phone": "Text SHOUT to 85258", "hours": "any time",
             "text": "Free text support", "url": "https://giveusashout.org"},
        ],
    )
    session.add(school)
    session.flush()
    counsellor = auth.create_staff_user(session, school_id=school.id, email="counsellor@demo.example",
                                        name="Casey Counsellor", password=password,
                                        case_role=CaseRole.COUNSELLOR)
    lead = auth.create_staff_user(session, school_id=school.id, email="lead@demo.example",
                                  name="Lee Lead", password=password, case_role=CaseRole.LEAD)
    auth.create_staff_user(session, school_id=school.id, email="admin@demo.example",
                           name="Ash Admin", password=password, case_role=None, is_admin=True)
    statuses = list(CaseStatus)
    now = utcnow()
    for i in range(reports):
        details, kinds, platforms = STORIES[i % len(STORIES)]
        when = now - timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
        status = statuses[i % len(statuses)] if i >= 4 else CaseStatus.NEW
        anonymous = rng.random() < 0.6
        data = ReportInput(
            details=details,
            reporter_role=rng.choice(list(ReporterRole)).value,
            is_danger=i == 0,
            is_self_harm=False,
            kinds=kinds, platforms=platforms,
            occurred_period=rng.choice(["today", "this_week", "this_month", "earlier"]),
            is_ongoing=rng.random() < 0.5,
            involved="Some people in my year" if rng.random() < 0.5 else None,
            handles=[{"platform": platforms[0], "handle": rng.choice(HANDLES)}]
            if rng.random() < 0.5 else [],
            is_anonymous=anonymous,
            reporter_name=None if anonymous else f"Student {i + 1}",
            year_group=None if anonymous else rng.randint(7, 13),
            contact=None if anonymous else "Tutor group notes",
        )
        result = submit_report(session, school, data, now=when if status is not CaseStatus.NEW else now - timedelta(hours=i + 1))
        case = result.case
        staff = lead if i % 5 == 0 else counsellor
        at = case.created_dt
        for move in MOVES[status]:
            at = at + timedelta(hours=rng.randint(1, 30))
            if move is CaseStatus.TRIAGED:
                case.assignee_id = staff.id
                case.first_response_dt = at
                case.next_escalation_dt = None
            session.add(CaseEvent(school_id=school.id, case_id=case.id, kind=EventKind.STATUS_CHANGED,
                                  actor_id=staff.id, created_dt=at,
                                  data={"from": case.status.value, "to": move.value}))
            case.set_status(move)
            if move is CaseStatus.RESOLVED:
                case.resolved_dt = at
            if move is CaseStatus.CLOSED:
                case.closed_dt = at
            case.last_activity_dt = at
    session.flush()
    return school

