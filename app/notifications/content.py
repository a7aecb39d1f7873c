"""What each kind of notification says, in email and in the app.

Built from the outbox row's kind and its non-identifying ``data`` only: never a
word of a report, a student's name or a case key. Staff mail says that a case
needs attention, its reference and a link; mail to a reporter says only that
something is waiting, with nothing about the case and no school name in the
subject (a parent may read the inbox).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import render_template

from app.notifications.mail import Rendered

LEVEL_WORDS = {1: "Level 1", 2: "Level 2", 3: "Level 3"}

#: What the in-app list calls each kind.
KIND_LABELS = {
    "critical_alert": "Critical report",
    "reporter_message": "New message from a reporter",
    "escalation": "Escalation",
    "stale_case": "No recent activity",
    "digest": "Morning summary",
    "session_reminder": "Session reminder",
}

#: Kinds sent to a reporter's reply address rather than to a staff member.
REPORTER_KINDS = frozenset({"reply_available", "session_reminder_reporter"})


@dataclass
class EmailContent:
    subject: str
    paragraphs: list[str] = field(default_factory=list)
    link: str | None = None
    link_label: str | None = None


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def case_url(base_url: str, case_id: int | None) -> str:
    return f"{base_url}/staff/cases/{case_id}" if case_id else f"{base_url}/staff/cases/"


def aware_moment(value: object) -> datetime | None:
    """An ISO time with its offset from a notification's data, or None (absent, naive, bad)."""
    try:
        moment = datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _when(value: str | None, tz: ZoneInfo) -> str | None:
    moment = aware_moment(value)
    return moment.astimezone(tz).strftime("%A %d %B at %H:%M").replace(" 0", " ") if moment else None


def staff_content(kind: str, data: dict, *, case_id: int | None, base_url: str,
                  tz: ZoneInfo) -> EmailContent:
    """Return the words of a staff notification."""
    ref = str(data.get("reference") or "")
    on_case = f" {ref}" if ref else ""
    link = case_url(base_url, case_id)
    if kind == "critical_alert":
        return EmailContent(
            f"Urgent: case{on_case} needs attention now",
            ["A report marked critical has just been made. It needs a response straight away.",
             "Open the case in Safe Report to see it."], link, "Open the case")
    if kind == "escalation":
        level = int(data.get("level") or 1)
        return EmailContent(
            f"{LEVEL_WORDS.get(level, 'Escalation')}: case{on_case} is waiting for a first "
            "response",
            ["The first-response deadline for this case has passed and nobody has acted on it yet."
             if level == 1 else
             f"This case has now been escalated to level {level}: its first-response deadline "
             "passed and nobody has acted on it yet.",
             "Open the case in Safe Report to respond or reassign it."], link, "Open the case")
    if kind == "stale_case":
        days = data.get("days")
        idle = f"for {days} school days" if days else "for a while"
        return EmailContent(
            f"Case{on_case} has had no activity {idle}",
            [f"Nothing has been recorded on this case {idle}. "
             "Check in, update it, or close it if it is resolved."], link, "Open the case")
    if kind == "reporter_message":
        return EmailContent(
            f"New message on case{on_case}",
            ["The reporter has sent a new message on a case assigned to you."],
            link, "Open the case")
    if kind == "session_reminder":
        when = _when(data.get("start"), tz)
        return EmailContent(
            f"Reminder: session on case{on_case}" + (f", {when}" if when else ""),
            [f"You have a follow-up session {'on ' + when if when else 'coming up'}."],
            link, "Open the case")
    if kind == "digest":
        counts = [("new", "new, not yet triaged"), ("critical", "critical and open"),
                  ("overdue", "past their first-response deadline"),
                  ("escalated", "escalated and still waiting")]
        return EmailContent(
            "Safe Report morning summary: "
            + ", ".join(f"{int(data.get(k) or 0)} {k}" for k, _ in counts),
            ["Your school's cases this morning:"]
            + [f"{int(data.get(k) or 0)} {words}" for k, words in counts],
            f"{base_url}/staff/cases/", "Open the queue")
    return EmailContent(f"Case{on_case} needs attention",
                        ["Something on this case needs your attention."], link, "Open the case")


def reporter_content(kind: str, data: dict, *, base_url: str, school_slug: str,
                     tz: ZoneInfo) -> EmailContent:
    """Return the words of a message to a reporter: nothing about the case."""
    if kind == "session_reminder_reporter":
        when = _when(data.get("start"), tz)
        return EmailContent(
            "Reminder: your meeting",
            [f"This is a reminder that you have a meeting {'on ' + when if when else 'soon'}.",
             "You get this because you left this address with your report. If you can no "
             "longer make it, let the person you are meeting know."])
    return EmailContent(
        "You have a reply",
        ["There is a new reply waiting for you.",
         "To read it, open the page below and enter your case key. "
         "We never send your case key by email."],
        f"{base_url}/s/{school_slug}/check", "Read your reply")


def render_email(content: EmailContent) -> Rendered:
    """Return the plain-text and HTML versions of ``content``."""
    return Rendered(
        subject=content.subject,
        text=render_template("notifications/email/message.txt", content=content),
        html=render_template("notifications/email/message.html", content=content),
    )
