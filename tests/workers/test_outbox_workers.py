"""Real workers deliver the outbox to a real SMTP server: once, on time, through crashes.

Every test runs ``celery worker`` (and ``celery beat`` where the sweep matters)
as separate processes on this module's own database, with Redis as the broker
(the run's shared Redis under a prefix of its own, or a throwaway ``redis-server``
for the restart test) and an aiosmtpd server on loopback. The test process
writes rows through the same services the web app uses and reads what the
SMTP server received. Measurements are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, text, update

from app.audit.models import AuditEntry
from app.audit.services import verify_chain
from app.cases.models import Case, CaseEvent, EventKind
from app.db import utcnow
from app.extensions import db
from app.notifications.mail import message_id_for
from app.notifications.models import Notification, NotificationStatus
from app.notifications.outbox import queue_notification
from app.notifications.scans import escalate_due, remind_stale, write_digests
from app.reporting.services import reply_to_reporter, set_reply_email, submit_report
from config import load_config
from config.base import PROJECT_ROOT
from tests import factories
from tests.backends import REDIS_URL, RUN_ID
from tests.factories import AdminFactory, LeadFactory, SchoolFactory, StaffFactory, report_input
from tests.notifications.smtp_sink import Received, SmtpSink, free_port
from tests.workers.conftest import BIN, WorkerEnv, log_of, wait_for, worker_args

pytestmark = pytest.mark.worker

#: What each test put in a report that must never reach an inbox (test 8 checks them all).
FORBIDDEN: set[str] = set()
#: Every message any SMTP sink of this module received.
RECEIVED: list[Received] = []


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def outbox_database(backends) -> str:
    """This module's own database, migrated by ``flask db upgrade`` as in production."""
    url = backends.new_database("outbox")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CELERY_", "DATABASE_", "SAFE_REPORT", "FLASK_"))}
    env.update(SAFE_REPORT_ENV="testing", DATABASE_URL=url,
               INSTANCE_PATH=str(backends.tmp / "outbox-migrate"))
    done = subprocess.run([str(BIN / "flask"), "--app", "app", "db", "upgrade"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return url


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        RECEIVED.extend(server.messages())


@pytest.fixture
def redis_broker(backends, tmp_path) -> Iterator[dict[str, str]]:
    """The run's Redis, under a key prefix of this test's own.

    Without Redis (a laptop on the embedded defaults) the serverless filesystem
    broker stands in: the outbox, not the broker, is what these tests are about.
    """
    if not backends.has_redis:
        yield {"CELERY_BROKER_URL": "filesystem://",
               "CELERY_BROKER_FOLDER": str(tmp_path / "broker")}
        return
    import redis

    prefix = f"sr-test-{RUN_ID}-{uuid.uuid4().hex[:6]}:"
    yield {"CELERY_BROKER_URL": REDIS_URL, "CELERY_BROKER_KEY_PREFIX": prefix}
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def make_env(make_worker_env, outbox_database, app) -> Callable[..., WorkerEnv]:
    """Worker settings on this module's database, sharing the test process's data keys."""

    def build(broker: dict[str, str], sink: SmtpSink | None, **extra: str) -> WorkerEnv:
        settings = {
            "DATABASE_URL": outbox_database,
            # The test process encrypts with the app's keys; the workers must read them.
            "SECRET_KEY": app.config["SECRET_KEY"],
            "DATA_ENCRYPTION_KEYS": app.config["DATA_ENCRYPTION_KEYS"],
            "BLIND_INDEX_KEY": app.config["BLIND_INDEX_KEY"],
            "SERVER_BASE_URL": "https://safe-report.example",
            "MAIL_DEFAULT_SENDER": "Safe Report <alerts@safe-report.example>",
            "MAIL_TIMEOUT_SECONDS": "5",
            "NOTIFICATION_LEASE_SECONDS": "3",
            "NOTIFICATION_RETRY_BASE_SECONDS": "1",
            "WORKER_SCAN_INTERVAL_SECONDS": "1",
            "HEARTBEAT_INTERVAL_SECONDS": "1",
        }
        if sink is not None:
            settings.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink.port))
        settings.update(extra)
        env = make_worker_env(broker, **settings)
        # beat keeps its schedule there; nothing else creates it when MAIL_SERVER is set.
        os.makedirs(env.env["INSTANCE_PATH"], exist_ok=True)
        return env

    return build


@contextmanager
def web_app(env: WorkerEnv, session_app) -> Iterator:  # noqa: ANN001
    """A Flask app configured as the web app would be next to these workers.

    Its commits wake the workers through the same broker. It shares the test
    session's keys, so the process-wide keyring stays what it was.
    """
    from app import create_app

    flask_app = create_app("testing", overrides=load_config("testing", env.env).as_flask_mapping())
    try:
        with flask_app.app_context():
            session = db.session
            # A clean slate for this test: every school's rows go with the school.
            session.execute(text("DELETE FROM notification"))
            session.execute(text("DELETE FROM school"))
            session.commit()
            factories.bind(session)
            try:
                yield flask_app, session
            finally:
                factories.bind(None)
                session.rollback()
                db.engine.dispose()
    finally:
        session_app.extensions["celery"].set_default()


def ready(proc: subprocess.Popen) -> None:
    wait_for(lambda: " ready." in log_of(proc), "worker ready", [proc])


def done_reading(session, value):  # noqa: ANN001, ANN201
    """End the test's read transaction and return ``value``.

    On SQLite every transaction takes the write lock (BEGIN IMMEDIATE), so a read
    left open would stall the workers until it ends.
    """
    session.rollback()
    return value


def statuses(session, ids) -> Counter:  # noqa: ANN001
    session.expire_all()
    rows = session.execute(select(Notification.status).where(Notification.id.in_(list(ids))))
    return done_reading(session, Counter(status for (status,) in rows))


def assert_clean_logs(*procs: subprocess.Popen) -> None:
    for proc in procs:
        log = log_of(proc)
        assert "Traceback" not in log and "IntegrityError" not in log, log[-4000:]


def bulk_notifications(session, school_id: int, staff_id: int, count: int,  # noqa: ANN001
                       tag: str) -> list[int]:
    """Insert due notifications directly (no wake-up calls: only the sweep finds them)."""
    now = utcnow()
    rows = [{"key": f"{tag}:{i}", "kind": "critical_alert", "school_id": school_id,
             "recipient_staff_id": staff_id, "data": {"reference": f"BLK-{i:04d}"},
             "status": NotificationStatus.PENDING, "next_attempt_dt": now, "created_dt": now,
             "attempts": 0, "is_read": False} for i in range(count)]
    session.execute(insert(Notification), rows)
    session.commit()
    return done_reading(session, list(session.scalars(
        select(Notification.id).where(Notification.key.like(f"{tag}:%")))))


def ids_for(session, note_ids) -> set[str]:  # noqa: ANN001
    keys = session.scalars(select(Notification.key).where(Notification.id.in_(list(note_ids))))
    return done_reading(session, {message_id_for(k) for k in keys})


# -- 1. a critical report ------------------------------------------------------------------
def test_a_critical_report_alerts_every_lead_at_once_without_waiting_for_a_sweep(
        app, make_env, redis_broker, sink):
    env = make_env(redis_broker, sink)
    details = "Critical-test: Morgan Ashdown said they will hurt themselves tonight"
    FORBIDDEN.update({details, "Morgan Ashdown"})

    # No beat: nothing sweeps, so only the on-commit task can deliver.
    with env.celery(*worker_args(env), name="worker") as worker, \
         web_app(env, app) as (_, session):
        ready(worker)
        school = SchoolFactory()
        leads = [LeadFactory(school=school), LeadFactory(school=school)]
        StaffFactory(school=school)
        submitted = submit_report(session, school, report_input(details=details,
                                                                is_self_harm=True))
        session.commit()
        committed = time.time()
        FORBIDDEN.add(submitted.case_key)
        expected = {message_id_for(f"critical_alert:case:{submitted.case_id}"
                                   f":report:{submitted.report_id}:staff:{lead.id}")
                    for lead in leads}
        emails = sorted(lead.email for lead in leads)

        wait_for(lambda: sink.count(expected) == 2, "both critical alerts", [worker])
        latency = max(m.at for m in sink.messages()) - committed

    print(f"\n[metrics] critical alert: commit to SMTP in {latency * 1000:.0f} ms (no sweep)")
    assert sorted(m.rcpt[0] for m in sink.messages()) == emails
    assert latency < 10
    assert f"Task workers.tasks.notifications.deliver[" in log_of(worker)
    assert "Task workers.tasks.notifications.deliver_due[" not in log_of(worker)
    assert_clean_logs(worker)


# -- 2. a session an hour away --------------------------------------------------------------
def test_a_session_an_hour_away_sends_exactly_one_one_hour_reminder(app, make_env, redis_broker,
                                                                    sink):
    from app.scheduling.services import ScheduleInput, schedule_session

    env = make_env(redis_broker, sink)
    with web_app(env, app) as (_, session), \
         env.celery(*worker_args(env), name="worker") as worker, \
         env.celery("beat", "--loglevel", "INFO", name="beat") as beat:
        ready(worker)
        school = SchoolFactory()
        counsellor = StaffFactory(school=school)
        submitted = submit_report(session, school, report_input(
            details="Reminder-test: Quinn Halvorsen took my phone", is_anonymous=False,
            reporter_name="Rowan Ellery", year_group=8, contact="8R"))
        FORBIDDEN.update({"Quinn Halvorsen", "Rowan Ellery", submitted.case_key})
        set_reply_email(session, submitted.report, "rowan.reminder@example.net")
        now = utcnow()
        # Through the scheduling service, as a counsellor books it: starting an hour and
        # three seconds from now, so the 1-hour reminder falls due in three seconds.
        fs = schedule_session(session, counsellor, submitted.case.id, ScheduleInput(
            start_local=now + timedelta(hours=1, seconds=3), kind="target_check_in",
            mode="in_person"), now=now)
        session.commit()
        reminders = list(session.scalars(select(Notification).where(
            Notification.kind.like("session_reminder%")).order_by(Notification.kind)))
        # The 24-hour reminder's time has passed: only the 1-hour ones exist.
        assert [(n.kind, n.data["lead"]) for n in reminders] == [
            ("session_reminder", "1h"), ("session_reminder_reporter", "1h")]
        send_at = reminders[0].next_attempt_dt
        staff_id = message_id_for(reminders[0].key)
        reporter_id = message_id_for(reminders[1].key)
        reminder_ids = done_reading(session, [n.id for n in reminders])

        wait_for(lambda: sink.count({staff_id}) and sink.count({reporter_id}),
                   "the 1-hour reminders", [worker, beat])
        time.sleep(2)  # two more sweeps: nothing may come twice
        received = sink.messages()
        assert_clean_logs(worker)

        [staff_mail] = [m for m in received if m.message_id == staff_id]
        [reporter_mail] = [m for m in received if m.message_id == reporter_id]
        assert len(received) == 2
        # Not before its time (same clock), and within a few sweeps of it.
        assert send_at.timestamp() <= staff_mail.at < send_at.timestamp() + 5
        print(f"\n[metrics] 1-hour reminder: sent {staff_mail.at - send_at.timestamp():.2f} s "
              "after its time")
        assert staff_mail.rcpt == (counsellor.email,)
        assert submitted.case.reference in staff_mail.message["Subject"]
        assert reporter_mail.rcpt == ("rowan.reminder@example.net",)
        assert reporter_mail.message["Subject"] == "Reminder: your meeting"
        reporter_text = "\n".join(reporter_mail.texts())
        for secret in (submitted.case.reference, school.name, school.slug):
            assert secret not in reporter_text
        assert statuses(session, reminder_ids) == {NotificationStatus.SENT: 2}
        assert fs.id


# -- 3. SIGKILL in the middle of a batch ----------------------------------------------------
def test_a_worker_killed_mid_batch_delivers_everything_after_a_restart(app, make_env,
                                                                       redis_broker, sink):
    env = make_env(redis_broker, sink, NOTIFICATION_BATCH_SIZE="20")
    with web_app(env, app) as (_, session):
        school = SchoolFactory()
        lead = LeadFactory(school=school)
        ids = bulk_notifications(session, school.id, lead.id, 500, f"kill-{uuid.uuid4().hex[:6]}")
        expected = ids_for(session, ids)

        with env.celery("beat", "--loglevel", "INFO", name="beat") as beat:
            with env.celery(*worker_args(env), name="worker") as worker:
                started = time.time()
                wait_for(lambda: sink.count(expected) >= 150, "150 messages", [worker, beat])
                # SIGKILL the whole worker (its own process group), mid-batch.
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
                at_kill = sink.messages()
            # What the SMTP server took but the outbox still holds as unsent: in flight.
            received_ids = {m.message_id for m in at_kill}
            session.expire_all()
            sent_ids = ids_for(session, session.scalars(select(Notification.id).where(
                Notification.id.in_(ids), Notification.status == NotificationStatus.SENT)))
            in_flight = len(received_ids - sent_ids)
            claimed = done_reading(session, session.execute(
                select(func.count()).select_from(Notification).where(
                    Notification.id.in_(ids), Notification.status == NotificationStatus.PENDING,
                    Notification.attempts > 0)).scalar_one())

            with env.celery(*worker_args(env), name="worker-restarted") as again:
                wait_for(lambda: len({i for i in sink.ids() if i in expected}) == 500,
                           "all 500 messages after the restart", [again, beat])
                finished = time.time()
                # Once every row is recorded as sent, nothing can be sent again: the count
                # of repeats is final.
                wait_for(lambda: statuses(session, ids) == {NotificationStatus.SENT: 500},
                           "every row recorded as sent", [again, beat])
                time.sleep(0.5)
                assert_clean_logs(again)
        final = statuses(session, ids)

    counts = Counter(i for i in sink.ids() if i in expected)
    repeats = sum(counts.values()) - len(counts)
    rate = len(at_kill) / max(0.001, at_kill[-1].at - at_kill[0].at)
    print(f"\n[metrics] SIGKILL at {len(at_kill)}/500 received: {in_flight} in flight, "
          f"{claimed} claimed but unsent; {repeats} repeat(s) after restart; "
          f"~{rate:.0f} messages/s; all 500 in {finished - started:.1f} s")
    assert len(counts) == 500
    # Only a message the server took but the dead worker had not recorded can come twice;
    # one process sending one message at a time has at most one such message.
    assert repeats <= in_flight <= 1
    assert final == {NotificationStatus.SENT: 500}


# -- 4. the SMTP server down for a while ----------------------------------------------------
def test_mail_server_down_then_back_delivers_everything_once(app, make_env, redis_broker):
    sink = SmtpSink()  # not started: the port refuses connections
    env = make_env(redis_broker, sink)
    try:
        with web_app(env, app) as (_, session), \
             env.celery(*worker_args(env), name="worker") as worker, \
             env.celery("beat", "--loglevel", "INFO", name="beat") as beat:
            ready(worker)
            school = SchoolFactory()
            lead = LeadFactory(school=school)
            notes = [queue_notification(session, key=f"down:{i}", kind="critical_alert",
                                        school_id=school.id, recipient_staff_id=lead.id,
                                        data={"reference": f"DWN-{i}"}) for i in range(30)]
            session.commit()
            ids = done_reading(session, [n.id for n in notes])

            def all_retried() -> bool:
                session.expire_all()
                return done_reading(session, session.execute(select(func.min(
                    Notification.attempts)).where(Notification.id.in_(ids))).scalar_one()) >= 2

            wait_for(all_retried, "a second failed attempt at every message", [worker, beat])
            session.expire_all()
            errors = done_reading(session, set(session.scalars(
                select(Notification.last_error).where(Notification.id.in_(ids)))))
            down_for = time.time()
            sink.start()
            expected = ids_for(session, ids)
            wait_for(lambda: len(set(sink.ids()) & expected) == 30, "all 30 after the outage",
                       [worker, beat])
            back_in = time.time() - down_for
            wait_for(lambda: statuses(session, ids) == {NotificationStatus.SENT: 30},
                       "every row recorded as sent", [worker, beat])
            time.sleep(1)  # a sweep more: nothing may come twice
            assert_clean_logs(worker)
            final = statuses(session, ids)
            session.expire_all()
            attempts = done_reading(session, list(session.scalars(
                select(Notification.attempts).where(Notification.id.in_(ids)))))
    finally:
        sink.stop()
        RECEIVED.extend(sink.messages())

    print(f"\n[metrics] SMTP outage: all 30 delivered {back_in:.1f} s after the server came "
          f"back; attempts per message {min(attempts)}-{max(attempts)}")
    assert errors == {"ConnectionRefusedError: could not reach the mail server"}
    assert sorted(sink.ids()) == sorted(expected)  # each exactly once
    assert final == {NotificationStatus.SENT: 30}


# -- 5. Redis restarted under the worker and beat --------------------------------------------
class RedisServer:
    """A throwaway redis-server on a free port (never the shared one on 6379)."""

    def __init__(self, tmp) -> None:  # noqa: ANN001
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def test_redis_restarted_under_the_worker_and_beat_loses_nothing(app, make_env, sink, tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    env = make_env({"CELERY_BROKER_URL": server.url}, sink)
    try:
        with web_app(env, app) as (_, session), \
             env.celery(*worker_args(env), name="worker") as worker, \
             env.celery("beat", "--loglevel", "INFO", name="beat") as beat:
            ready(worker)
            school = SchoolFactory()
            lead = LeadFactory(school=school)

            def queue(tag: str) -> list[int]:
                notes = [queue_notification(session, key=f"{tag}:{i}", kind="critical_alert",
                                            school_id=school.id, recipient_staff_id=lead.id,
                                            data={"reference": f"RDS-{i}"}) for i in range(20)]
                session.commit()
                return done_reading(session, [n.id for n in notes])

            before = queue("before")
            first = ids_for(session, before)
            wait_for(lambda: len(set(sink.ids()) & first) == 20, "mail before the restart",
                       [worker, beat])

            server.kill()
            committing = time.monotonic()
            during = queue("during")  # the wake-up calls fail: the rows stay in the outbox
            commit_took = time.monotonic() - committing
            time.sleep(2)
            restarted = utcnow()
            server.start()

            expected = first | ids_for(session, during)
            wait_for(lambda: len(set(sink.ids()) & expected) == 40, "mail after the restart",
                       [worker, beat])
            # beat ticks again and a worker runs what it sends.
            wait_for(lambda: (hb := env.heartbeat("beat")) and hb.last_seen_dt > restarted,
                       "a heartbeat after the restart", [worker, beat])
            recovered = time.time()
            time.sleep(2)
            assert worker.poll() is None and beat.poll() is None
            # They really lost the broker (and came back by themselves).
            assert "Connection refused" in log_of(beat) + log_of(worker)
            final = statuses(session, before + during)
    finally:
        server.kill()

    print(f"\n[metrics] Redis restart: commits with Redis down took {commit_took * 1000:.0f} ms; "
          f"mail and heartbeat back {recovered - restarted.timestamp():.1f} s after restart")
    assert commit_took < 5
    assert Counter(i for i in sink.ids() if i in expected) == Counter(
        {i: 1 for i in expected})
    assert final == {NotificationStatus.SENT: 40}


# -- 6. two workers at once (PostgreSQL) ----------------------------------------------------
@pytest.fixture
def postgres(backends) -> None:
    if not backends.has_postgres:
        pytest.skip("row claiming with SKIP LOCKED is a PostgreSQL test")


def test_two_workers_sweeping_at_once_never_send_the_same_row(app, postgres, make_env,
                                                              redis_broker, sink):
    sink.delay = 0.004  # a little SMTP latency, so the two sweeps surely overlap
    env = make_env(redis_broker, sink, NOTIFICATION_BATCH_SIZE="10")
    with web_app(env, app) as (_, session):
        school = SchoolFactory()
        lead = LeadFactory(school=school)
        ids = bulk_notifications(session, school.id, lead.id, 300, "pair")
        expected = ids_for(session, ids)
        with env.celery(*worker_args(env), name="worker-a") as a, \
             env.celery(*worker_args(env), name="worker-b") as b:
            ready(a)
            ready(b)
            sender = env.sender()
            try:
                for _ in range(2):
                    sender.send_task("workers.tasks.notifications.deliver_due", queue=env.queue)
            finally:
                sender.close()
            wait_for(lambda: len(set(sink.ids()) & expected) == 300, "300 messages", [a, b])
            time.sleep(1)
            assert_clean_logs(a, b)
        final = statuses(session, ids)

    per_connection = Counter(m.peer_port for m in sink.messages())
    print(f"\n[metrics] two sweeping workers: {sorted(per_connection.values())} messages "
          "per SMTP connection, no repeats")
    assert sorted(sink.ids()) == sorted(expected)
    # Both workers sent (one SMTP connection each), so the claims really did interleave.
    assert len(per_connection) == 2 and min(per_connection.values()) > 0
    assert final == {NotificationStatus.SENT: 300}


def test_two_workers_escalating_at_once_send_each_level_once(app, postgres, make_env,
                                                             redis_broker, sink):
    env = make_env(redis_broker, sink)
    with web_app(env, app) as (_, session):
        school = SchoolFactory()
        counsellors = [StaffFactory(school=school), StaffFactory(school=school)]
        LeadFactory(school=school)
        # Critical, made 65 minutes ago: level 1 is 5 minutes overdue, level 2 is 25 away.
        made = utcnow() - timedelta(minutes=65)
        cases = [submit_report(session, school, report_input(
            details=f"Escalation-test {i}: Casey Brightwater", is_danger=True), now=made).case
            for i in range(40)]
        FORBIDDEN.add("Casey Brightwater")
        session.commit()
        case_ids = [c.id for c in cases]

        with env.celery(*worker_args(env), name="worker-a") as a, \
             env.celery(*worker_args(env), name="worker-b") as b:
            ready(a)
            ready(b)
            sender = env.sender()
            try:
                for _ in range(2):
                    sender.send_task("workers.tasks.scans.escalate", queue=env.queue)
            finally:
                sender.close()

            def escalated() -> bool:
                session.expire_all()
                return session.execute(select(func.count()).select_from(Case).where(
                    Case.id.in_(case_ids), Case.escalation_level == 1)).scalar_one() == 40

            wait_for(escalated, "level 1 on all 40 cases", [a, b])
            session.expire_all()
            notes = list(session.scalars(select(Notification).where(
                Notification.kind == "escalation", Notification.case_id.in_(case_ids))))
            expected = {message_id_for(n.key) for n in notes}
            wait_for(lambda: len(set(sink.ids()) & expected) == len(expected),
                       "every escalation email", [a, b])
            time.sleep(1)
            assert_clean_logs(a, b)
            logs = log_of(a) + log_of(b)

        events = Counter(session.scalars(select(CaseEvent.case_id).where(
            CaseEvent.case_id.in_(case_ids), CaseEvent.kind == EventKind.ESCALATION)))
        audits = Counter(session.scalars(select(AuditEntry.case_id).where(
            AuditEntry.case_id.in_(case_ids), AuditEntry.action == "case.escalated")))
        assert events == Counter({i: 1 for i in case_ids})
        assert audits == Counter({i: 1 for i in case_ids})
        assert sorted((n.case_id, n.recipient_staff_id) for n in notes) == sorted(
            (i, c.id) for i in case_ids for c in counsellors)
        assert verify_chain(session, school.id).is_intact
    assert Counter(i for i in sink.ids() if i in expected) == Counter({i: 1 for i in expected})
    # Each worker ran one scan; between them they took each case once (SKIP LOCKED).
    split = [int(n) for n in re.findall(r"escalation scan cases=(\d+)", logs)]
    print(f"\n[metrics] two escalating workers took {split} cases")
    assert logs.count("Task workers.tasks.scans.escalate[") == 4  # received + succeeded, twice
    assert sum(split) == 40


# -- 8. nothing from a report ever reaches an inbox -----------------------------------------
def test_no_email_contains_report_text_names_or_case_keys(app, make_env, redis_broker, sink):
    """Every kind of mail, and everything every test of this module sent, checked for content."""
    details = "Pii-test: Harriet Quennell shared my private photos on Snapchat"
    reporter = "Imogen Castellano"
    FORBIDDEN.update({details, "Harriet Quennell", "Tobias Fenwick-Lowe", "@tobias.f.lowe",
                      reporter, "private photos", "We will talk to"})
    env = make_env(redis_broker, sink)
    with web_app(env, app) as (_, session), \
         env.celery(*worker_args(env), name="worker") as worker:
        ready(worker)
        school = SchoolFactory(stale_after_days=1)
        counsellor = StaffFactory(school=school)
        LeadFactory(school=school)
        AdminFactory(school=school)
        submitted = submit_report(session, school, report_input(
            details=details, involved="Harriet Quennell and Tobias Fenwick-Lowe",
            is_danger=True, is_anonymous=False, reporter_name=reporter, year_group=10,
            contact="10Q", handles=[{"platform": "snapchat", "handle": "@tobias.f.lowe"}]),
            now=utcnow() - timedelta(days=6))
        FORBIDDEN.add(submitted.case_key)
        set_reply_email(session, submitted.report, "imogen.pii@example.net")
        case = submitted.case
        case.assignee_id = counsellor.id
        session.commit()
        # Critical alerts (above); all three escalation levels; a stale-case reminder; the
        # leads' digest; then a reply, which tells the reporter by email.
        for _ in range(3):
            escalate_due(session, now=utcnow())
            session.commit()
        remind_stale(session, now=utcnow())
        write_digests(session, now=utcnow().replace(hour=12))
        reply_to_reporter(session, counsellor, session.get(Case, case.id),
                          "We will talk to Harriet Quennell today.")
        session.commit()
        # Reminders and retries included: everything the outbox holds is due now.
        session.execute(update(Notification).where(
            Notification.status == NotificationStatus.PENDING).values(next_attempt_dt=utcnow()))
        session.commit()
        kinds = done_reading(session, Counter(session.scalars(select(Notification.kind))))
        sender = env.sender()
        try:
            sender.send_task("workers.tasks.notifications.deliver_due", queue=env.queue)
        finally:
            sender.close()
        wait_for(lambda: not statuses(session, session.scalars(select(Notification.id)))
                   .get(NotificationStatus.PENDING), "every notification sent", [worker])
        final = statuses(session, session.scalars(select(Notification.id)))

    assert {"critical_alert", "escalation", "stale_case", "digest", "reply_available"} <= set(kinds)
    assert final == {NotificationStatus.SENT: sum(kinds.values())}
    everything = RECEIVED + sink.messages()
    for received in everything:
        seen = "\n".join(received.texts())
        for secret in FORBIDDEN:
            assert secret not in seen, (secret, received.message["Subject"])
        # A reporter's address appears only as the recipient of their own mail.
        body = "\n".join(part.get_content() for part in received.message.walk()
                         if part.get_content_maintype() == "text")
        assert "imogen.pii@" not in body and "rowan.reminder@" not in body
    mine = [m for m in everything if m.rcpt == ("imogen.pii@example.net",)]
    assert [m.message["Subject"] for m in mine] == ["You have a reply"]
    print(f"\n[metrics] {len(everything)} messages from this module checked against "
          f"{len(FORBIDDEN)} report texts, names and case keys")
