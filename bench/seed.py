"""Seed a bench database with realistic data, fast: ``python -m bench.seed``.

    python -m bench.seed --schools 50 --cases 1000000 [--database-url URL | --name NAME]

The schema comes from ``flask db upgrade`` (the migrations own it); the rows are
generated here and bulk-loaded with PostgreSQL ``COPY`` in one transaction, so a
database is either fully seeded or empty. Content is encrypted with the app's
own :class:`~app.security.Keyring` under the purposes of the models' Encrypted
columns; blind indexes and case-key digests use the same keyed hashes as the
services; the audit log is a valid hash chain per school, hashed by
:func:`app.audit.services.compute_hash` itself.

Foreign keys are not checked row by row while loading (``session_replication_role
= replica`` switches their triggers off for this session only): the generator
makes them consistent by construction, and ``--check`` counts orphans afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import queue
import random
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg

from bench import common

#: Cases loaded per batch of COPY statements.
CHUNK = 5_000
#: REFERENCE_CASES cases span YEARS years; other sizes come at the same rate (see seed()).
YEARS = 3
REFERENCE_CASES = 1_000_000
STAFF_PER_SCHOOL = (("lead", "lead", True), ("admin", None, True),
                    ("counsellor1", "counsellor", False), ("counsellor2", "counsellor", False),
                    ("counsellor3", "counsellor", False), ("counsellor4", "counsellor", False))
#: Schools get different sizes (weights 1 to 7); the bench signs in at this one, a largest.
BIG_SCHOOL = 7
HANDLES_PER_SCHOOL = 2_000
NAMES_PER_SCHOOL = 1_500
KINDS = ("harassment", "threats", "exclusion", "impersonation", "rumours", "image_sharing",
         "hate", "other")
PLATFORMS = ("instagram", "snapchat", "tiktok", "whatsapp", "discord", "youtube", "roblox",
             "gaming_chat", "text", "email", "in_school", "other")
RISKS = (("critical", 0, 0.03), ("high", 1, 0.20), ("medium", 2, 0.60), ("low", 3, 0.17))
OPEN = {"new", "triaged", "in_progress", "awaiting_follow_up"}
PATH = ("new", "triaged", "in_progress", "awaiting_follow_up", "resolved", "closed")
SENTENCES = (
    "A group chat was made about me and they post screenshots of my messages to laugh at me.",
    "Someone made a fake account with my name and photo and is messaging people as me.",
    "They keep saying they will get me after school by the bus stop.",
    "People are spreading a rumour about me that is not true and now nobody sits with me.",
    "A photo of me was shared in a server without my permission.",
    "In a game some kids keep following me and calling me names.",
    "They post stories about parties and say I am not allowed to come.",
    "I get messages from a number I don't know saying nobody likes me.",
    "It has been going on since the start of term and it is getting worse.",
    "I told a teacher once but it started again the week after.",
    "My friend saw it too and she is scared to say anything.",
    "I don't want my parents to find out yet.",
    "It happens mostly in the evenings and at weekends.",
    "They left comments under my videos about how I look.",
)
FIRST = ("Sam", "Alex", "Jordan", "Taylor", "Casey", "Riley", "Morgan", "Jamie", "Charlie",
         "Avery", "Quinn", "Rowan", "Skye", "Robin", "Frankie", "Elliot", "Harper", "Remy")
LAST = ("Smith", "Jones", "Patel", "Khan", "Brown", "Taylor", "Wilson", "Evans", "Thomas",
        "Roberts", "Walker", "Wright", "Hall", "Green", "Hughes", "Edwards", "Clarke", "Ali")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# -- deterministic pools (the bench regenerates them to search by plaintext) ---------------
def slug_of(school_index: int) -> str:
    return f"bench-{school_index:03d}"


def handle_pool(school_index: int) -> list[tuple[str, str]]:
    """(platform, handle) pairs named in one school's reports, most frequent first."""
    rng = random.Random(f"handles:{school_index}")
    pool = []
    for i in range(HANDLES_PER_SCHOOL):
        stem = rng.choice(("night", "shadow", "memes", "toxic", "gamer", "xx", "real", "not"))
        pool.append((rng.choice(PLATFORMS[:8]), f"@{stem}_{rng.randrange(10**6):06d}_{i}"))
    return pool


#: What the "handle search" figure lists at every size: the most common handle of the
#: largest school at 10,000 cases is named in about this many of its cases. A handle named
#: this often is picked at each size, so that the pages compared differ only in what lies
#: under them (the 1M database's most common handle fills every page: 50 rows, not 16).
SEARCH_MATCHES = 16


def handle_named_about(conn: psycopg.Connection, school_index: int,
                       wanted: int = SEARCH_MATCHES) -> str:
    """The pool handle named in the number of the school's cases closest to ``wanted``."""
    from app.security import Keyring

    ring = Keyring(common.DATA_ENCRYPTION_KEYS, common.BLIND_INDEX_KEY)
    counts = dict(conn.execute(
        "SELECT digest, count(DISTINCT case_id) FROM case_identifier"
        " WHERE school_id = %s AND kind = 'handle' GROUP BY digest", (school_index,)).fetchall())
    best, best_gap = None, None
    for _, handle in handle_pool(school_index):  # most frequent first: ties go to those
        named = sum(counts.get(ring.blind_index(f"handle:{platform}", handle), 0)
                    for platform in PLATFORMS)
        if best_gap is None or abs(named - wanted) < best_gap:
            best, best_gap = handle, abs(named - wanted)
    return best


def name_pool(school_index: int) -> list[str]:
    rng = random.Random(f"names:{school_index}")
    return [f"{rng.choice(FIRST)} {rng.choice(LAST)}-{i}" for i in range(NAMES_PER_SCHOOL)]


def skewed(rng: random.Random, n: int) -> int:
    """An index in ``range(n)``, low ones far more often (a few handles recur a lot)."""
    return min(n - 1, int(n * rng.random() ** 3))


def totp_secret(email: str) -> str:
    """The seeded TOTP secret of an account, so the bench can compute its codes."""
    import base64

    return base64.b32encode(hashlib.sha256(b"bench totp " + email.encode()).digest()[:20]).decode()


def staff_email(school_index: int, local: str) -> str:
    return f"{local}@{slug_of(school_index)}.bench.invalid"


# -- audit chain --------------------------------------------------------------------------
@dataclass(slots=True)
class _Entry:
    """Duck-typed AuditEntry: the attributes compute_hash reads."""

    school_id: int | None
    created_dt: datetime
    actor_kind: str
    actor_id: int | None
    action: str
    case_id: int | None
    target: str | None
    detail: dict[str, Any]
    prev_hash: str


@dataclass
class Loader:
    """Generates rows and writes them with COPY, keeping ids and the audit chains."""

    writer: "CopyWriter"
    ring: Any
    now: datetime
    rng: random.Random
    next_id: dict[str, int] = field(default_factory=lambda: {
        "case_event": 1, "case_identifier": 1, "case_person": 1, "follow_up_session": 1,
        "notification": 1, "audit_entry": 1})
    rows: dict[str, list[tuple]] = field(default_factory=dict)
    chain: dict[int, str] = field(default_factory=dict)
    #: Audit entries not yet written, by time: the chain follows the clock.
    pending_audit: list[tuple] = field(default_factory=list)
    audit_seq: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    digest_cache: dict[tuple[str, str], str] = field(default_factory=dict)

    def take(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def add(self, table: str, row: tuple) -> None:
        self.rows.setdefault(table, []).append(row)

    def audit(self, at: datetime, school_id: int, action: str, *, actor_kind: str = "staff",
              actor_id: int | None = None, case_id: int | None = None,
              target: str | None = None, detail: dict[str, Any] | None = None) -> None:
        self.audit_seq += 1
        heapq.heappush(self.pending_audit, (at, self.audit_seq, school_id, actor_kind, actor_id,
                                            action, case_id, target, detail or {}))

    def release_audit(self, until: datetime | None) -> None:
        """Chain and queue every pending audit entry up to ``until`` (all when None)."""
        from app.audit.services import GENESIS, compute_hash

        heap = self.pending_audit
        while heap and (until is None or heap[0][0] <= until):
            at, _, school_id, actor_kind, actor_id, action, case_id, target, detail = heapq.heappop(heap)
            entry = _Entry(school_id, at, actor_kind, actor_id, action, case_id, target, detail,
                           self.chain.get(school_id, GENESIS))
            entry_hash = compute_hash(entry)
            self.chain[school_id] = entry_hash
            self.add("audit_entry", (self.take("audit_entry"), school_id, at, actor_kind, actor_id,
                                     action, case_id, target, json.dumps(detail),
                                     entry.prev_hash, entry_hash))

    def encrypt(self, value: Any, purpose: str, *, json_: bool = False) -> bytes:
        return self.ring.encrypt_value(value, purpose, json=json_, raw=False)

    def blind(self, purpose: str, value: str) -> str:
        key = (purpose, value)
        digest = self.digest_cache.get(key)
        if digest is None:
            digest = self.digest_cache[key] = self.ring.blind_index(purpose, value)
        return digest

    def flush(self) -> None:
        """Hand the rows made so far to the writer thread (which COPYs while we go on)."""
        batch, self.rows = self.rows, {}
        for table, rows in batch.items():
            self.counts[table] = self.counts.get(table, 0) + len(rows)
        self.writer.put(batch)


class CopyWriter(threading.Thread):
    """Writes batches of rows with COPY on its own connection use, overlapping generation.

    PostgreSQL works through one batch while the main thread generates the next;
    the queue is short, so memory stays bounded.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        super().__init__(name="copy-writer", daemon=True)
        self.conn = conn
        self.queue: queue.Queue[dict[str, list[tuple]] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.busy_seconds = 0.0

    def put(self, batch: dict[str, list[tuple]]) -> None:
        if self.error is not None:
            raise RuntimeError("COPY failed") from self.error
        self.queue.put(batch)

    def run(self) -> None:
        while (batch := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain, so the producer never blocks
            started = time.perf_counter()
            try:
                self._copy(batch)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                self.error = exc
            self.busy_seconds += time.perf_counter() - started

    def _copy(self, batch: dict[str, list[tuple]]) -> None:
        with self.conn.cursor() as cur:
            for table in TABLE_ORDER:
                rows = batch.get(table)
                if not rows:
                    continue
                columns = ", ".join(COLUMNS[table])
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

    def finish(self) -> None:
        self.queue.put(None)
        self.join()
        if self.error is not None:
            raise RuntimeError(f"COPY failed: {self.error}") from self.error


COLUMNS = {
    "school": ("id", "slug", "name", "timezone", "term_calendar", "weekend_days", "helplines",
               "emergency_number", "admin_contact_email", "critical_response_hours",
               "high_response_days", "medium_response_days", "low_response_days",
               "stale_after_days", "retention_years", "created_dt", "outcome_labels",
               "session_labels", "outcome_cutoff", "session_cutoff"),
    "staff_user": ("id", "school_id", "email", "name", "password_hash", "case_role", "is_admin",
                   "is_enabled", "must_change_password", "totp_secret", "is_totp_enabled",
                   "failed_logins", "session_nonce", "created_dt"),
    "case_file": ("id", "school_id", "reference", "status", "is_open", "risk", "risk_rank",
                  "assignee_id", "version", "created_dt", "deadline_start_dt", "response_due_dt",
                  "first_response_dt", "last_activity_dt", "resolved_dt", "closed_dt",
                  "kinds_mask", "platforms_mask", "year_group", "escalation_level",
                  "unread_reporter_messages", "is_purged", "next_escalation_dt"),
    "report": ("id", "school_id", "case_id", "created_dt", "case_key_digest", "is_anonymous",
               "reporter_role", "is_danger", "is_self_harm", "is_ongoing", "kinds", "platforms",
               "occurred_period", "year_group", "details", "involved", "handles",
               "reporter_identity", "reply_email"),
    "case_event": ("id", "school_id", "case_id", "kind", "created_dt", "actor_id", "body", "data",
                   "is_restricted", "report_id"),
    "case_identifier": ("id", "school_id", "case_id", "kind", "digest", "source", "created_dt"),
    "case_person": ("id", "school_id", "case_id", "role", "kind", "name", "year_group",
                    "platform", "handle", "created_dt", "created_by_id"),
    "follow_up_session": ("id", "school_id", "case_id", "counsellor_id", "start_dt",
                          "duration_minutes", "end_dt", "kind", "mode", "location", "status",
                          "created_dt", "completed_dt", "notes", "strategies", "outcome_scores",
                          "session_scores", "outcome_total", "session_total"),
    "notification": ("id", "school_id", "key", "kind", "created_dt", "recipient_staff_id",
                     "recipient_report_id", "case_id", "data", "status", "next_attempt_dt",
                     "attempts", "sent_dt", "is_read"),
    "audit_entry": ("id", "school_id", "created_dt", "actor_kind", "actor_id", "action", "case_id",
                    "target", "detail", "prev_hash", "entry_hash"),
}
TABLE_ORDER = ("school", "staff_user", "case_file", "report", "case_event", "case_identifier",
               "case_person", "follow_up_session", "notification", "audit_entry")


# -- small helpers ------------------------------------------------------------------------
def add_weekdays(start: datetime, days: int) -> datetime:
    """``days`` weekdays after ``start`` (holidays are ignored: close enough for load)."""
    moment = start
    while days > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


def _reference(rng: random.Random, taken: set[str]) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    while True:
        ref = "BEN-" + "".join(rng.choices(alphabet, k=6))
        if ref not in taken:
            taken.add(ref)
            return ref


def _mask(values: list[str], vocabulary: tuple[str, ...]) -> int:
    mask = 0
    for v in values:
        mask |= 1 << vocabulary.index(v)
    return mask


def _status_for(rng: random.Random, age_days: float) -> str:
    r = rng.random()
    if age_days > 120:
        return "closed" if r < 0.79 else "resolved" if r < 0.99 else rng.choice(
            ("in_progress", "awaiting_follow_up"))
    if age_days > 14:
        for status, share in (("closed", 0.40), ("resolved", 0.65), ("in_progress", 0.80),
                              ("awaiting_follow_up", 0.95)):
            if r < share:
                return status
        return "triaged"
    for status, share in (("new", 0.30), ("triaged", 0.55), ("in_progress", 0.85),
                          ("awaiting_follow_up", 0.95)):
        if r < share:
            return status
    return "resolved"


def _details(rng: random.Random) -> str:
    return " ".join(rng.sample(SENTENCES, rng.randint(2, 6)))


# -- the generator --------------------------------------------------------------------------
@dataclass
class SchoolInfo:
    id: int
    index: int
    lead: int
    admin: int
    counsellors: list[int]
    handles: list[tuple[str, str]]
    names: list[str]
    references: set[str] = field(default_factory=set)


def seed(url: str, *, schools: int, cases: int, rng_seed: int = 7, progress: bool = True,
         now: datetime | None = None) -> dict[str, Any]:
    """Fill an empty, migrated database; return row counts and timings."""
    from tqdm import tqdm

    from app.auth.services import hash_password
    from app.security import Keyring, install_keyring

    started = time.perf_counter()
    ring = Keyring(common.DATA_ENCRYPTION_KEYS, common.BLIND_INDEX_KEY)
    install_keyring(ring)
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    rng = random.Random(rng_seed)
    # Reports come at one rate at every size, the million's (three years of 50 schools):
    # a smaller database is the same schools' most recent weeks, not quieter schools. So
    # the open cases the queue lists are alike at every size, and the table grows by
    # history, as a deployment does over the years.
    start = now - timedelta(days=365 * YEARS * cases / REFERENCE_CASES)
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT count(*) FROM case_file").fetchone()[0]:
            raise SystemExit("this database already has cases; seed only a fresh, migrated one")
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        writer = CopyWriter(conn)
        writer.start()
        load = Loader(writer, ring, now, rng)
        infos = _schools_and_staff(load, schools, start, hash_password(common.STAFF_PASSWORD))
        load.flush()
        from app.reporting.case_keys import _wordlist

        words = list(_wordlist())
        bar = tqdm(total=cases, unit="case", disable=not progress, smoothing=0.05,
                   desc=f"seeding {common.name_of(url)}")
        span = (now - timedelta(hours=2) - start).total_seconds()
        weights = [1 + (i % 7) for i in range(schools)]  # schools of different sizes
        for first in range(1, cases + 1, CHUNK):
            last = min(cases, first + CHUNK - 1)
            moment = start
            for case_id in range(first, last + 1):
                moment = start + timedelta(seconds=span * (case_id - rng.random()) / cases)
                info = infos[rng.choices(range(schools), weights)[0]]
                _case(load, info, case_id, moment, words)
            load.release_audit(moment)
            load.flush()
            bar.update(last - first + 1)
        bar.close()
        load.release_audit(None)
        _digests(load, infos, start)
        load.flush()
        writer.finish()
        # Each school's chain head, as the app's appends leave it (app.audit.models.AuditChain).
        conn.cursor().executemany("INSERT INTO audit_chain (chain_key, head_hash) VALUES (%s, %s)",
                                  sorted(load.chain.items()))
        for table in ("school", "staff_user", "case_file", "report", "case_event",
                      "case_identifier", "case_person", "follow_up_session", "notification",
                      "audit_entry"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                         f" GREATEST((SELECT max(id) FROM {table}), 1))")
        conn.commit()
    loaded = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # As autovacuum would leave it: statistics and the visibility map (index-only scans).
        conn.execute("VACUUM (ANALYZE)")
    done = time.perf_counter()
    return {"counts": load.counts, "load_seconds": round(loaded - started, 1),
            "copy_busy_seconds": round(writer.busy_seconds, 1),
            "vacuum_analyze_seconds": round(done - loaded, 1),
            "total_seconds": round(done - started, 1), "now": now.isoformat()}


def _schools_and_staff(load: Loader, schools: int, start: datetime,
                       password_hash: str) -> list[SchoolInfo]:
    infos = []
    staff_id = 1
    created = start - timedelta(days=30)
    holidays = []
    for year in range(start.year, start.year + YEARS + 2):
        holidays += [{"name": "Christmas", "start": f"{year}-12-20", "end": f"{year + 1}-01-03"},
                     {"name": "Summer", "start": f"{year}-07-22", "end": f"{year}-09-02"},
                     {"name": "Half term", "start": f"{year}-10-27", "end": f"{year}-10-31"}]
    helplines = [{"name": "Childline", "phone": "0800 1111", "hours": "any time"}]
    for index in range(1, schools + 1):
        slug = slug_of(index)
        load.add("school", (
            index, slug, f"Bench School {index}", "Europe/London", json.dumps(holidays),
            "[5, 6]", json.dumps(helplines), "999", f"office@{slug}.bench.invalid", 1, 1, 3, 5,
            10, 6, created,
            json.dumps(["How I am doing myself", "How things are at home",
                        "How things are at school", "How things are overall"]),
            json.dumps(["I felt listened to", "We talked about what I wanted to",
                        "The way we worked suited me", "Overall, today was right for me"]),
            32, 36))
        ids = {}
        for local, role, totp in STAFF_PER_SCHOOL:
            email = staff_email(index, local)
            is_admin = local == "admin"
            load.add("staff_user", (
                staff_id, index, email, f"{local.title()} of school {index}", password_hash,
                role, is_admin, True, False,
                load.encrypt(totp_secret(email), "staff_user.totp_secret") if totp else None,
                totp, 0, secrets.token_urlsafe(12), created))
            label = {"lead": "Safeguarding lead", "counsellor": "Counsellor"}.get(role or "", "")
            label = " and ".join(x for x in (label, "Admin" if is_admin else "") if x)
            load.audit(created, index, "staff.created", actor_kind="system",
                       target=f"staff_user:{staff_id}", detail={"role": label})
            if totp:
                load.audit(created + timedelta(minutes=5), index, "auth.two_factor.enabled",
                           actor_id=staff_id)
            ids[local] = staff_id
            staff_id += 1
        infos.append(SchoolInfo(index, index, ids["lead"], ids["admin"],
                                [ids[f"counsellor{k}"] for k in range(1, 5)],
                                handle_pool(index), name_pool(index)))
    return infos


def _case(load: Loader, info: SchoolInfo, case_id: int, created: datetime,
          words: list[str]) -> None:
    rng, now, sid = load.rng, load.now, info.id
    created = created.replace(microsecond=rng.randrange(10**6))
    r = rng.random()
    for risk, rank, share in RISKS:
        r -= share
        if r < 0:
            break
    age_days = (now - created).total_seconds() / 86400
    status = _status_for(rng, age_days)
    if risk == "critical":
        due = created + timedelta(hours=1)
    else:
        due = add_weekdays(created, {"high": 1, "medium": 3, "low": 5}[risk])
    window = due - created
    kinds = rng.sample(KINDS, rng.randint(1, 3))
    platforms = rng.sample(PLATFORMS, rng.randint(0, 3))
    anonymous = rng.random() < 0.7
    role = rng.choices(("target", "bystander", "parent"), (50, 35, 15))[0]
    year = None if anonymous else rng.randint(7, 13)
    handles = [dict(zip(("platform", "handle"), info.handles[skewed(rng, HANDLES_PER_SCHOOL)]))
               for _ in range(rng.choice((0, 0, 0, 1, 1, 2)))]
    identity = None if anonymous else {
        "name": info.names[skewed(rng, NAMES_PER_SCHOOL)], "year_group": year,
        "contact": "form tutor" if rng.random() < 0.5 else None}
    reply_email = f"student{case_id}@mail.bench.invalid" if rng.random() < 0.1 else None

    # The case's life: who acted when.
    staff = info.counsellors + [info.lead]
    assignee = None
    first_response = None
    resolved = closed = None
    level, next_escalation = 0, None
    events: list[tuple] = []  # (time, kind, actor, body, data, restricted, report_id, action, detail)
    if status == "new":
        ladder = (due, due + window * 0.5, due + window * 1.5)
        level = sum(1 for moment in ladder if moment <= now)
        next_escalation = ladder[level] if level < 3 else None
        for lvl in range(1, level + 1):
            events.append((ladder[lvl - 1], "escalation", None, None,
                           {"level": lvl, "recipients": 4 if lvl == 1 else 1 if lvl == 2 else 2},
                           False, None, "case.escalated", {"level": lvl}))
    else:
        late = rng.random() < 0.15
        lag = window * (rng.uniform(1.1, 2.0) if late else rng.uniform(0.1, 0.9))
        first_response = min(created + lag, now - timedelta(minutes=1))
        assignee = rng.choice(staff)
        if first_response > due:
            level = 1
            events.append((due, "escalation", None, None, {"level": 1, "recipients": 4}, False,
                           None, "case.escalated", {"level": 1}))
        events.append((first_response, "assigned", assignee, None,
                       {"from": None, "to": assignee, "to_name": f"Staff {assignee}",
                        "taken": True}, False, None, "case.assigned", {"to": assignee}))
        final = PATH.index(status)
        end = min(now - timedelta(minutes=1), first_response + timedelta(days=rng.uniform(3, 60)))
        # Not every case passes through every status: keep the last one, and each
        # intermediate one half the time.
        steps = [s for s in PATH[1:final] if rng.random() < 0.5] + [PATH[final]]
        previous = "new"
        for i, target in enumerate(steps):
            moment = first_response + (end - first_response) * ((i + 1) / len(steps)) if i else first_response
            moment += timedelta(seconds=i)
            reason = "Spoke to the student and agreed next steps." if rng.random() < 0.3 else None
            events.append((moment, "status_changed", assignee, reason,
                           {"from": previous, "to": target, "reopened": False}, False, None,
                           "case.status_changed", {"from": previous, "to": target}))
            if target == "resolved":
                resolved = moment
            if target == "closed":
                closed = moment
            previous = target
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            moment = first_response + (end - first_response) * rng.random()
            restricted = rng.random() < 0.1
            events.append((moment, "note", info.lead if restricted else assignee,
                           "Checked in with the form tutor; no further incidents seen.", {},
                           restricted, None, "case.note_added", {"restricted": restricted}))
        for _ in range(rng.choice((0, 0, 0, 0, 1, 1, 2))):
            moment = created + (end - created) * rng.random()
            events.append((moment, "message_from_reporter", None,
                           "It happened again today at lunch.", {}, False, case_id,
                           "report.message_received", None))
            reply_at = min(now - timedelta(seconds=1), moment + timedelta(hours=rng.uniform(1, 30)))
            events.append((reply_at, "message_to_reporter", assignee,
                           "Thank you for telling us. We will talk to you tomorrow.", {},
                           False, case_id, "case.reply_sent", None))
    events.sort(key=lambda e: e[0])
    last_activity = max([created] + [e[0] for e in events if e[1] != "escalation"])
    unread = 1 if (status in OPEN and events and events[-1][1] == "message_from_reporter") else 0
    if unread == 0 and status in OPEN and rng.random() < 0.05:
        moment = now - timedelta(hours=rng.uniform(1, 48))
        if moment > last_activity:
            events.append((moment, "message_from_reporter", None, "Can someone reply please?", {},
                           False, case_id, "report.message_received", None))
            last_activity, unread = moment, 1

    reference = _reference(rng, info.references)
    load.add("case_file", (
        case_id, sid, reference, status, status in OPEN, risk, rank, assignee,
        1 + len(events), created, created, due, first_response, last_activity, resolved, closed,
        _mask(kinds, KINDS), _mask(platforms, PLATFORMS), year, level, unread, False,
        next_escalation))
    key = " ".join(rng.choices(words, k=7))
    load.add("report", (
        case_id, sid, case_id, created, load.ring.case_key_digest(key), anonymous, role,
        risk == "critical" and rng.random() < 0.6, risk == "critical" and rng.random() < 0.4,
        risk == "high", json.dumps(kinds), json.dumps(platforms),
        rng.choice(("today", "this_week", "this_month", "earlier", None)), year,
        load.encrypt(_details(rng), "report.details"),
        load.encrypt("Two students in my form.", "report.involved") if rng.random() < 0.5 else None,
        load.encrypt(handles, "report.handles", json_=True),
        load.encrypt(identity, "report.reporter_identity", json_=True) if identity else None,
        load.encrypt(reply_email, "report.reply_email") if reply_email else None))
    load.add("case_event", (load.take("case_event"), sid, case_id, "report_submitted", created,
                            None, None, json.dumps({"report_id": case_id, "risk": risk}),
                            False, None))
    load.audit(created, sid, "report.submitted", actor_kind="reporter", case_id=case_id,
               target=f"report:{case_id}", detail={"risk": risk, "anonymous": anonymous})
    seen: set[str] = set()
    for item in handles:
        digest = load.blind(f"handle:{item['platform']}", item["handle"])
        if digest not in seen:
            seen.add(digest)
            load.add("case_identifier", (load.take("case_identifier"), sid, case_id, "handle",
                                         digest, f"report:{case_id}", created))
    if identity:
        digest = load.blind("student_name", identity["name"])
        if digest not in seen:
            load.add("case_identifier", (load.take("case_identifier"), sid, case_id,
                                         "student_name", digest, f"report:{case_id}", created))
    if risk == "critical":
        # Keyed by the report that made the case critical (its id is the case's here).
        _note(load, sid, f"critical_alert:case:{case_id}:report:{case_id}:staff:{info.lead}",
              "critical_alert", created, info.lead, None, case_id, {"reference": reference})

    for moment, kind, actor, body, data, restricted, report_id, action, detail in events:
        event_id = load.take("case_event")
        load.add("case_event", (event_id, sid, case_id, kind, moment, actor,
                                load.encrypt(body, "case_event.body") if body else None,
                                json.dumps(data), restricted, report_id))
        if kind == "escalation":
            lvl = data["level"]
            recipients = (([assignee] if assignee else info.counsellors) if lvl == 1
                          else [info.lead] if lvl == 2 else [info.lead, info.admin])
            stamp = int(due.timestamp())
            for staff_id in recipients:
                _note(load, sid, f"escalation:{case_id}:L{lvl}:{stamp}:staff:{staff_id}",
                      "escalation", moment, staff_id, None, case_id,
                      {"reference": reference, "level": lvl})
            load.audit(moment, sid, action, actor_kind="system", case_id=case_id,
                       target=f"case:{case_id}", detail={**detail, "recipients": len(recipients)})
        elif kind == "message_from_reporter":
            load.audit(moment, sid, action, actor_kind="reporter", case_id=case_id,
                       target=f"case_event:{event_id}")
            if assignee:
                _note(load, sid, f"reporter_message:{event_id}:staff:{assignee}",
                      "reporter_message", moment, assignee, None, case_id,
                      {"reference": reference})
        else:
            load.audit(moment, sid, action, actor_id=actor, case_id=case_id,
                       target=f"case_event:{event_id}", detail=detail)
            if kind == "message_to_reporter" and reply_email:
                _note(load, sid, f"reply_available:{event_id}", "reply_available", moment, None,
                      case_id, case_id, {})
    if first_response is not None:
        for _ in range(rng.choice((1, 1, 1, 2))):
            load.audit(first_response - timedelta(seconds=rng.randint(1, 600)), sid, "case.viewed",
                       actor_id=assignee, case_id=case_id)
        if rng.random() < 0.2:
            _person(load, info, case_id, assignee, first_response + timedelta(hours=2))
        if status != "triaged" and rng.random() < 0.15:
            _sessions(load, info, case_id, reference, assignee, first_response, status,
                      reply_email is not None and not anonymous)
    if status in OPEN and assignee and (now - last_activity).days > 14:
        moment = last_activity + timedelta(days=14)
        _note(load, sid, f"stale:{case_id}:{last_activity:%Y-%m-%d}:{int(last_activity.timestamp())}"
              f":staff:{assignee}", "stale_case", moment, assignee, None, case_id,
              {"reference": reference, "days": 10})


def _note(load: Loader, sid: int, key: str, kind: str, at: datetime, staff: int | None,
          report: int | None, case_id: int, data: dict[str, Any], *,
          send_at: datetime | None = None) -> None:
    pending = send_at is not None and send_at > load.now
    load.add("notification", (
        load.take("notification"), sid, key, kind, at, staff, report, case_id, json.dumps(data),
        "pending" if pending else "sent", send_at if pending else at, 0 if pending else 1,
        None if pending else (send_at or at) + timedelta(seconds=2),
        not pending and staff is not None and load.rng.random() < 0.8))


def _person(load: Loader, info: SchoolInfo, case_id: int, actor: int, at: datetime) -> None:
    rng, sid = load.rng, info.id
    person_id = load.take("case_person")
    role = rng.choice(("target", "student_who_bullied", "witness"))
    if rng.random() < 0.6:
        name = info.names[skewed(rng, NAMES_PER_SCHOOL)]
        load.add("case_person", (person_id, sid, case_id, role, "student",
                                 load.encrypt(name, "case_person.name"), rng.randint(7, 13), None,
                                 None, at, actor))
        digest, kind = load.blind("student_name", name), "student_name"
        detail_kind, platform = "student", None
    else:
        platform, handle = info.handles[skewed(rng, HANDLES_PER_SCHOOL)]
        load.add("case_person", (person_id, sid, case_id, role, "online_account", None, None,
                                 platform, load.encrypt(handle, "case_person.handle"), at, actor))
        digest, kind = load.blind(f"handle:{platform}", handle), "handle"
        detail_kind = "online_account"
    load.add("case_identifier", (load.take("case_identifier"), sid, case_id, kind, digest,
                                 f"person:{person_id}", at))
    event_id = load.take("case_event")
    load.add("case_event", (event_id, sid, case_id, "person_recorded", at, actor,
                            load.encrypt("Recorded a person involved.", "case_event.body"),
                            json.dumps({"person_id": person_id, "kind": detail_kind, "role": role,
                                        "platform": platform}), False, None))
    load.audit(at, sid, "case.person_recorded", actor_id=actor, case_id=case_id,
               target=f"case_person:{person_id}", detail={"kind": detail_kind, "role": role})


def _sessions(load: Loader, info: SchoolInfo, case_id: int, reference: str, counsellor: int,
              first_response: datetime, status: str, reporter_reminders: bool) -> None:
    rng, now, sid = load.rng, load.now, info.id
    moment = (first_response + timedelta(days=2)).replace(hour=10, minute=0, second=0,
                                                           microsecond=0)
    first_outcome = rng.randint(12, 30)
    for n in range(rng.randint(1, 4)):
        start = moment + timedelta(days=7 * n)
        session_id = load.take("follow_up_session")
        booked = first_response + timedelta(hours=1 + n)
        kind = rng.choice(("target_check_in", "target_check_in", "perpetrator_support",
                           "restorative", "parent"))
        if start < now:
            outcome = [max(0, min(10, (first_outcome + 3 * n) // 4 + rng.randint(-1, 1)))
                       for _ in range(4)]
            scores = [rng.randint(7, 10) for _ in range(4)]
            load.add("follow_up_session", (
                session_id, sid, case_id, counsellor, start, 45, start + timedelta(minutes=45),
                kind, "in_person", "Room 12", "completed", booked, start + timedelta(minutes=50),
                load.encrypt("Talked through what happened and what helps.",
                             "follow_up_session.notes"),
                load.encrypt("Safe adult at lunch; blocking and reporting.",
                             "follow_up_session.strategies"),
                json.dumps(outcome), json.dumps(scores), sum(outcome), sum(scores)))
            load.audit(start + timedelta(minutes=50), sid, "session.completed", actor_id=counsellor,
                       case_id=case_id, target=f"session:{session_id}",
                       detail={"start": start.isoformat()})
        else:
            if status not in OPEN:
                break
            load.add("follow_up_session", (
                session_id, sid, case_id, counsellor, start, 45, start + timedelta(minutes=45),
                kind, "in_person", "Room 12", "scheduled", booked, None, None, None, None, None,
                None, None))
            for lead, before in (("24h", timedelta(hours=24)), ("1h", timedelta(hours=1))):
                stamp = int(start.timestamp())
                _note(load, sid, f"session_reminder:{session_id}:{lead}:{stamp}",
                      "session_reminder", booked, counsellor, None, case_id,
                      {"reference": reference, "session_id": session_id,
                       "start": start.isoformat(), "lead": lead}, send_at=start - before)
        load.audit(booked, sid, "session.scheduled", actor_id=counsellor, case_id=case_id,
                   target=f"session:{session_id}", detail={"start": start.isoformat()})


def _digests(load: Loader, infos: list[SchoolInfo], start: datetime) -> None:
    """One morning digest per lead per day, as the daily scan leaves them."""
    day = start.date()
    while day < load.now.date():
        at = datetime.combine(day, datetime.min.time(), timezone.utc) + timedelta(hours=6)
        for info in infos:
            _note(load, info.id, f"digest:{info.id}:{day.isoformat()}:staff:{info.lead}", "digest",
                  at, info.lead, None, None,  # type: ignore[arg-type]
                  {"new": 2, "critical": 0, "overdue": 1, "escalated": 0,
                   "date": day.isoformat()})
        day += timedelta(days=1)


# -- orchestration ------------------------------------------------------------------------
def check(url: str) -> dict[str, int]:
    """Count rows that break a foreign key (all must be 0) and verify two audit chains."""
    probes = {
        "case_file.school": "SELECT count(*) FROM case_file c LEFT JOIN school s ON s.id = c.school_id WHERE s.id IS NULL",
        "case_file.assignee": "SELECT count(*) FROM case_file c LEFT JOIN staff_user s ON s.id = c.assignee_id WHERE c.assignee_id IS NOT NULL AND s.id IS NULL",
        "report.case": "SELECT count(*) FROM report r LEFT JOIN case_file c ON c.id = r.case_id WHERE c.id IS NULL OR c.school_id <> r.school_id",
        "case_event.case": "SELECT count(*) FROM case_event e LEFT JOIN case_file c ON c.id = e.case_id WHERE c.id IS NULL OR c.school_id <> e.school_id",
        "case_event.report": "SELECT count(*) FROM case_event e LEFT JOIN report r ON r.id = e.report_id WHERE e.report_id IS NOT NULL AND r.id IS NULL",
        "case_identifier.case": "SELECT count(*) FROM case_identifier i LEFT JOIN case_file c ON c.id = i.case_id WHERE c.id IS NULL OR c.school_id <> i.school_id",
        "session.case": "SELECT count(*) FROM follow_up_session f LEFT JOIN case_file c ON c.id = f.case_id WHERE c.id IS NULL",
        "notification.case": "SELECT count(*) FROM notification n LEFT JOIN case_file c ON c.id = n.case_id WHERE n.case_id IS NOT NULL AND c.id IS NULL",
    }
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchone()[0] for name, query in probes.items()}


def verify_chains(url: str, school_ids: list[int]) -> dict[int, bool]:
    """Walk the audit chains of some schools with the app's own verifier."""
    from app import create_app
    from app.audit.services import verify_chain
    from app.extensions import db

    import os

    os.environ.update(common.server_env(url))
    app = create_app("production")
    with app.app_context():
        return {sid: verify_chain(db.session, sid).is_intact for sid in school_ids}


def count_cases(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return (conn.execute("SELECT count(*) FROM case_file").fetchone()[0],
                conn.execute("SELECT count(*) FROM school").fetchone()[0])


def ensure_seeded(name: str, *, schools: int, cases: int, progress: bool = True,
                  log=print) -> dict[str, Any]:  # noqa: ANN001
    """Reuse database ``name`` if it holds exactly these counts, else create and seed it."""
    url = common.database_url(name)
    if common.database_exists(name):
        common.migrate(url)  # a newer migration than the seed: upgrade in place
        have_cases, have_schools = count_cases(url)
        if (have_cases, have_schools) == (cases, schools):
            log(f"{name}: reusing ({cases:,} cases in {schools} schools)")
            return {"reused": True}
        log(f"{name}: has {have_cases:,} cases in {have_schools} schools; seeding afresh")
    common.create_database(name)
    common.migrate(url)
    result = seed(url, schools=schools, cases=cases, progress=progress)
    log(f"{name}: seeded {cases:,} cases in {result['total_seconds']} s (generate and load "
        f"{result['load_seconds']} s, of which PostgreSQL busy with COPY "
        f"{result['copy_busy_seconds']} s; vacuum/analyze {result['vacuum_analyze_seconds']} s)")
    return {"reused": False, **result}


def default_name(cases: int) -> str:
    if cases % 1_000_000 == 0:
        return f"{common.DB_PREFIX}{cases // 1_000_000}m"
    if cases % 1_000 == 0:
        return f"{common.DB_PREFIX}{cases // 1_000}k"
    return f"{common.DB_PREFIX}{cases}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__.split("\n")[0])
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--name", help=f"database name (default {common.DB_PREFIX}<size>)")
    parser.add_argument("--database-url", help="an existing, empty, migrated database to fill")
    parser.add_argument("--force", action="store_true", help="drop and seed even if it exists")
    parser.add_argument("--check", action="store_true",
                        help="afterwards, count foreign-key orphans and verify two audit chains")
    args = parser.parse_args(argv)
    if args.schools < 1 or args.cases < args.schools:
        parser.error("need at least one school and at least one case per school")
    started = time.perf_counter()
    if args.database_url:
        common.migrate(args.database_url)
        result = seed(args.database_url, schools=args.schools, cases=args.cases)
        url = args.database_url
    else:
        name = args.name or default_name(args.cases)
        if args.force and common.database_exists(name):
            common.drop_database(name)
        result = ensure_seeded(name, schools=args.schools, cases=args.cases)
        url = common.database_url(name)
    if result.get("counts"):
        for table, count in result["counts"].items():
            print(f"  {table:18} {count:>12,}")
    print(f"Done in {time.perf_counter() - started:.1f} s.")
    if args.check:
        orphans = check(url)
        print("orphans:", orphans)
        chains = verify_chains(url, [1, args.schools])
        print("audit chains intact:", chains)
        if any(orphans.values()) or not all(chains.values()):
            sys.exit(1)


if __name__ == "__main__":
    main()
