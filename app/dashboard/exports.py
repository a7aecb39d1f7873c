"""What leaves the school: CSV exports and small-number suppression for the governors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import StaffUser
from app.cases.vocabulary import IncidentKind, Platform
from app.dashboard.services import (DashboardFilters, case_rows, now_figures,
                                    outcome_distribution, trends, year_label)
from app.db import utcnow
from app.errors import ValidationFailed
from app.policy import require_lead

#: Counts under this are shown as "fewer than 5" in anything that leaves the school.
SUPPRESS_BELOW = 5
EXPORTS = ("cases", "now", "weekly-kinds", "weekly-platforms", "kinds", "platforms",
           "year-groups", "timing", "workload", "outcomes")
CASES_HEADER = ["reference", "reported", "risk", "status", "first_response", "response_due",
                "resolved", "kinds", "platforms", "year_group"]


def suppress(count: int) -> str:
    """Show small counts as "fewer than 5", so no child can be singled out."""
    return "fewer than 5" if count < SUPPRESS_BELOW else str(count)


def _number(value: float | None) -> float | str:
    return "" if value is None else value


def export_table(session: Session, user: StaffUser, filters: DashboardFilters, name: str,
                 *, now: datetime | None = None) -> list[list[Any]]:
    """One CSV table: an aggregate, or the pseudonymised case list (no names, no text)."""
    require_lead(user)
    now = now or utcnow()
    if name not in EXPORTS:
        raise ValidationFailed("There is no such export.", field="name")
    if name == "cases":
        # The reference is the only handle on a case: no id, no name, no text.
        return [CASES_HEADER] + [[
            r.reference, r.created_dt.isoformat(), r.risk.value, r.status.value,
            r.first_response_dt.isoformat() if r.first_response_dt else "",
            r.response_due_dt.isoformat(), r.resolved_dt.isoformat() if r.resolved_dt else "",
            ";".join(k.value for k in r.kinds), ";".join(p.value for p in r.platforms),
            r.year_group or ""] for r in case_rows(session, user, filters)]
    if name == "now":
        figures = now_figures(session, user, now=now)
        return ([["figure", "value"], ["overdue", figures.overdue],
                 ["unassigned_critical_or_high", figures.unassigned_urgent],
                 ["unread_reporter_messages", figures.unread_messages],
                 ["escalations_last_7_days", figures.escalations_7d]]
                + [[f"open_{r.value}", n] for r, n in figures.open_by_risk.items()]
                + [[f"status_{s.value}", n] for s, n in figures.open_by_status.items()])
    t = trends(session, user, filters, now=now)
    if name == "weekly-kinds":
        return [["week"] + [k.value for k in IncidentKind] + ["reports"]] + [
            [w.isoformat()] + [t.by_week_kind[k][i] for k in IncidentKind] + [t.by_week_total[i]]
            for i, w in enumerate(t.weeks)]
    if name == "weekly-platforms":
        return [["week"] + [p.value for p in Platform] + ["reports"]] + [
            [w.isoformat()] + [t.by_week_platform[p][i] for p in Platform] + [t.by_week_total[i]]
            for i, w in enumerate(t.weeks)]
    if name == "kinds":
        return [["kind", "reports"]] + [[k.value, n] for k, n in t.by_kind.items()]
    if name == "platforms":
        return [["platform", "reports"]] + [[p.value, n] for p, n in t.by_platform.items()]
    if name == "year-groups":
        return [["year_group", "reports"]] + [[year_label(y), n]
                                              for y, n in t.by_year_group.items()]
    if name == "timing":
        return [["risk", "cases", "responded", "deadlines_judged", "deadlines_met",
                 "median_first_response_hours", "median_resolution_days", "deadline"]] + [
            [r.risk.value, r.cases, r.responded, r.judged, r.met,
             _number(r.median_first_response_hours), _number(r.median_resolution_days),
             r.deadline] for r in t.timing]
    if name == "workload":
        return [["counsellor", "sessions"]] + [[c.name, c.sessions]
                                               for c in t.sessions_by_counsellor]
    return [["change", "cases"]] + [list(row) for row in outcome_distribution(t.outcome_changes)]
