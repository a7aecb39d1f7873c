"""Service timings inside one process, without HTTP: ``python -m bench.inproc NAME``.

Run by bench.run as a subprocess per database (one app per process), it prints
one JSON document. Every figure calls the same service functions the views and
tasks call. The scans run in a transaction that is rolled back, so every run
starts from the same data: the cases made due, the notifications written and
the audit entries appended all vanish afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select, text

from bench import common, seed
from workers.tasks.scans import ESCALATION_BATCH

#: Every timing loop stops after this long, whatever its count.
LOOP_BUDGET_SECONDS = 60


def _app(url: str):  # noqa: ANN202
    os.environ.update(common.server_env(url))
    from app import create_app

    return create_app("production")


def timings(fn: Callable[[], Any], *, count: int, warmup: int = 3,
            budget: float = LOOP_BUDGET_SECONDS) -> list[float]:
    """Milliseconds of ``count`` calls of ``fn`` (after ``warmup`` untimed ones)."""
    for _ in range(warmup):
        fn()
    out = []
    stop_at = time.perf_counter() + budget
    for _ in range(count):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
        if time.perf_counter() > stop_at:
            break
    return out


def _latency(values: list[float]) -> dict[str, Any]:
    return {"p50_ms": round(common.percentile(values, 50) or 0, 2),
            "p95_ms": round(common.percentile(values, 95) or 0, 2), "n": len(values)}


def _school() -> int:
    """The school the bench signs in at: one of the largest, if there are that many."""
    from app.extensions import db

    schools = db.session.execute(text("SELECT count(*) FROM school")).scalar_one()
    return min(seed.BIG_SCHOOL, schools)


def queue_and_search(count: int) -> dict[str, Any]:
    from app.auth.models import StaffUser
    from app.cases.services import QueueFilters, triage_queue
    from app.extensions import db
    from app.policy import scope_to_school

    school = _school()
    email = seed.staff_email(school, "counsellor1")
    user_id = db.session.execute(select(StaffUser.id).where(StaffUser.email == email)).scalar_one()
    pool = seed.handle_pool(school)
    raw = db.engine.raw_connection()
    try:
        common_handle = seed.handle_named_about(raw.driver_connection, school)
    finally:
        raw.close()

    def page(filters: QueueFilters) -> Callable[[], int]:
        def run() -> int:
            # As a request: a fresh session, scoped to the user's school, user loaded first.
            session = db.session
            user = session.get(StaffUser, user_id)
            scope_to_school(session, user.school_id)
            started = time.perf_counter()
            rows = len(triage_queue(session, user, filters).cases)
            run.service_ms.append((time.perf_counter() - started) * 1000)  # type: ignore[attr-defined]
            db.session.remove()
            return rows

        run.service_ms = []  # type: ignore[attr-defined]
        return run

    out = {}
    for label, filters in (("queue_first_page", QueueFilters()),
                           ("search_common_handle", QueueFilters(search=common_handle)),
                           ("search_rare_handle", QueueFilters(search=pool[1500][1]))):
        run = page(filters)
        timings(run, count=count)
        values = run.service_ms[3:]  # type: ignore[attr-defined]
        out[label] = {**_latency(values), "rows": run()}
    return out


def dashboard(count: int) -> dict[str, Any]:
    from app.auth.models import StaffUser
    from app.dashboard import services as dash
    from app.db import utcnow
    from app.extensions import db
    from app.policy import scope_to_school

    email = seed.staff_email(_school(), "lead")
    user_id = db.session.execute(select(StaffUser.id).where(StaffUser.email == email)).scalar_one()
    parts: dict[str, list[float]] = {"now_figures": [], "trends": [], "repeat_names": [],
                                     "total": []}

    def run() -> None:
        session = db.session
        user = session.get(StaffUser, user_id)
        scope_to_school(session, user.school_id)
        now = utcnow()
        filters = dash.DashboardFilters.parse({}, today=now.astimezone(user.school.tz).date())
        t0 = time.perf_counter()
        dash.now_figures(session, user, now=now)
        t1 = time.perf_counter()
        trends = dash.trends(session, user, filters, now=now)
        t2 = time.perf_counter()
        dash.repeat_names(session, user)
        t3 = time.perf_counter()
        for name, a, b in (("now_figures", t0, t1), ("trends", t1, t2),
                           ("repeat_names", t2, t3), ("total", t0, t3)):
            parts[name].append((b - a) * 1000)
        run.cases = trends.total  # type: ignore[attr-defined]
        db.session.remove()

    timings(run, count=count, warmup=2)
    out = {name: _latency(values[2:]) for name, values in parts.items()}
    out["cases_in_period"] = run.cases  # type: ignore[attr-defined]
    return out


# -- scans -----------------------------------------------------------------------------------
def _make_escalations_due(session, due: int, now: datetime) -> int:  # noqa: ANN001
    """Make exactly ``due`` cases due for their first escalation level (in this transaction)."""
    # Cases that have fallen due since the data was seeded would be counted too: stop them.
    session.execute(text("UPDATE case_file SET next_escalation_dt = NULL"
                         " WHERE next_escalation_dt <= :now"), {"now": now})
    result = session.execute(text(
        "WITH pick AS (SELECT id FROM case_file ORDER BY id % 97, id LIMIT :due)"
        " UPDATE case_file c SET status = 'new', is_open = true, first_response_dt = NULL,"
        " escalation_level = 0, deadline_start_dt = :start, response_due_dt = :due_at,"
        " next_escalation_dt = :due_at FROM pick WHERE c.id = pick.id"),
        {"due": due, "start": now - timedelta(days=3), "due_at": now - timedelta(minutes=5)})
    return result.rowcount


def escalation_scan(session, due: int, now: datetime, batch: int) -> dict[str, Any]:  # noqa: ANN001
    """Time the escalation task's loop (batches of ``batch``) over ``due`` due cases."""
    from app.notifications import scans
    from app.notifications.models import Notification

    made = _make_escalations_due(session, due, now)
    before = session.execute(select(func.count()).select_from(Notification)).scalar_one()
    session.flush()
    started = time.perf_counter()
    seen = 0
    stop_at = started + 300
    while time.perf_counter() < stop_at:
        n = scans.escalate_due(session, now=now, limit=batch)
        seen += n
        if n < batch:
            break
    seconds = time.perf_counter() - started
    after = session.execute(select(func.count()).select_from(Notification)).scalar_one()
    return {"due": made, "cases_escalated": seen, "notifications_written": after - before,
            "seconds": round(seconds, 3)}


def _make_stale(session, due: int, now: datetime) -> int:  # noqa: ANN001
    result = session.execute(text(
        "WITH pick AS (SELECT id FROM case_file WHERE assignee_id IS NOT NULL"
        " ORDER BY id % 89, id LIMIT :due)"
        " UPDATE case_file c SET status = 'in_progress', is_open = true,"
        " last_activity_dt = :idle FROM pick WHERE c.id = pick.id"),
        {"due": due, "idle": now - timedelta(days=40)})
    return result.rowcount


def stale_scan(session, due: int, now: datetime) -> dict[str, Any]:  # noqa: ANN001
    from app.notifications import scans

    # Catch up first with what became stale since seeding, so only ``due`` are new.
    caught_up = scans.remind_stale(session, now=now, limit=100_000)
    made = _make_stale(session, due, now)
    session.flush()
    started = time.perf_counter()
    written = scans.remind_stale(session, now=now, limit=100_000)
    seconds = time.perf_counter() - started
    return {"due": made, "caught_up_first": caught_up, "notifications_written": written,
            "seconds": round(seconds, 3)}


def digest_scan(session, now: datetime) -> dict[str, Any]:  # noqa: ANN001
    from app.notifications import scans

    started = time.perf_counter()
    written = scans.write_digests(session, now=now)
    return {"notifications_written": written, "seconds": round(time.perf_counter() - started, 3)}


def scans_for(escalation_due: list[int], stale_due: list[int], runs: int,
              batch: int) -> dict[str, Any]:
    from app.extensions import db

    now = datetime.now(timezone.utc)
    out: dict[str, Any] = {"escalation": {}, "stale": {}, "digest": []}

    def rolled_back(fn: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        session = db.session
        try:
            return fn(session)
        finally:
            session.rollback()
            db.session.remove()

    for due in escalation_due:
        out["escalation"][str(due)] = [rolled_back(lambda s: escalation_scan(s, due, now, batch))
                                       for _ in range(runs)]
    for due in stale_due:
        out["stale"][str(due)] = [rolled_back(lambda s: stale_scan(s, due, now))
                                  for _ in range(runs)]
    out["digest"] = [rolled_back(lambda s: digest_scan(s, now)) for _ in range(runs)]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inproc")
    parser.add_argument("name", help="a seeded bench database")
    parser.add_argument("--count", type=int, default=200, help="timed calls per figure")
    parser.add_argument("--dashboard-count", type=int, default=20)
    parser.add_argument("--escalation-due", default="1000", help="comma-separated counts")
    parser.add_argument("--stale-due", default="1000")
    parser.add_argument("--runs", type=int, default=3, help="runs of each scan")
    parser.add_argument("--batch", type=int, default=ESCALATION_BATCH,
                        help="cases per escalation batch (default: the task's ESCALATION_BATCH)")
    parser.add_argument("--only", choices=("queue", "dashboard", "scans"), action="append")
    args = parser.parse_args(argv)
    app = _app(common.database_url(args.name))
    parts = set(args.only or ("queue", "dashboard", "scans"))
    result: dict[str, Any] = {"database": args.name}
    with app.app_context():
        from app.extensions import db

        result["cases"] = db.session.execute(text("SELECT count(*) FROM case_file")).scalar_one()
        if "queue" in parts:
            result["queue"] = queue_and_search(args.count)
        if "dashboard" in parts:
            result["dashboard"] = dashboard(args.dashboard_count)
        if "scans" in parts:
            counts = lambda s: [int(x) for x in s.split(",") if x.strip()]  # noqa: E731
            result["scans"] = scans_for(counts(args.escalation_due), counts(args.stale_due),
                                        args.runs, args.batch)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
