"""Encryption at rest: a raw dump holds no plaintext of a report; keys rotate.

These tests build their own app on a database of their own and commit through
it, so a raw dump (pg_dump, or the SQLite file's bytes) sees what a real
deployment would hold. They must not use the rolled-back ``session`` fixture:
it rebinds the shared ``db.session`` to the run's main database.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import LargeBinary, column, select, table
from sqlalchemy.orm import undefer

from app.auth.models import CaseRole, StaffUser
from app.cases.models import CaseEvent
from app.keys import encrypted_columns
from app.reporting import services as reporting
from app.reporting.evidence_models import Evidence, EvidenceBlob
from app.reporting.models import Report
from app.schools.models import School
from app.security import DecryptionError, keyring, new_data_key_spec
from tests.helpers import unique_address
from tests.conftest import other_app
from tests.reporting.conftest import (
    open_with_key,
    post_on_case_page,
    raw_hits,
    submit,
    text,
    upload,
)
from tests.reporting.test_evidence import jpeg_with_gps, pdf

MARK = "QZXMARKER"
_labels = itertools.count(1)


def _full_visit(app, slug: str) -> str:  # noqa: ANN001
    """Commit a report with the marker in every free-text field, a message, evidence, a reply."""
    from app.extensions import db

    with app.app_context():
        school = School(slug=slug, name="Raw Dump School", helplines=[])
        db.session.add(school)
        db.session.flush()
        staff = StaffUser(school_id=school.id, email=f"c@{slug}.example", name="Counsellor",
                          password_hash="not-a-real-hash", case_role=CaseRole.COUNSELLOR,
                          totp_secret=f"{MARK}TOTP")
        db.session.add(staff)
        db.session.commit()
        staff_id = staff.id

    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = unique_address()
    key = submit(client, slug, details=f"{MARK} details of what happened",
                 involved=f"{MARK} people involved", identity="confidential",
                 reporter_name=f"{MARK} Name", contact=f"{MARK} contact", year_group="9",
                 reply_email=f"{MARK.lower()}@example.com",
                 **{"handles-0-platform": "instagram", "handles-0-handle": f"@{MARK}handle"})
    assert open_with_key(client, slug, key).status_code == 303
    assert post_on_case_page(client, slug, "message",
                             {"message": f"{MARK} message from me"}).status_code == 303
    assert upload(client, slug, jpeg_with_gps(MARK), f"{MARK}.jpg").status_code == 303
    assert upload(client, slug, pdf(MARK), f"{MARK}.pdf").status_code == 303

    with app.app_context():
        report = db.session.execute(select(Report).where(
            Report.case_key_digest == keyring().case_key_digest(key))).scalar_one()
        reporting.reply_to_reporter(db.session, db.session.get(StaffUser, staff_id), report.case,
                                    f"{MARK} reply from the school")
        db.session.commit()
    return key


def _search(blob: bytes, what: str) -> bool:
    """True if ``what`` is in ``blob``: as text in any case, or hex-encoded (bytea in a dump)."""
    low = blob.lower()
    return what.lower().encode() in low or what.encode().hex().encode() in low


def test_raw_bytes_of_an_sqlite_database_hold_no_report_plaintext(backends):
    path = backends.tmp / f"rawdump_{next(_labels)}.sqlite"
    with other_app(backends, f"sqlite:///{path}") as app:
        with app.app_context():
            upgrade()
        key = _full_visit(app, "rawdump-sqlite")
        from app.extensions import db

        with app.app_context():
            hits = raw_hits(db.session.connection(), MARK, key)
            db.session.rollback()
            db.engine.dispose()
    assert hits == []
    files = [p for p in Path(path).parent.glob(Path(path).name + "*") if p.is_file()]
    raw = b"".join(p.read_bytes() for p in files)
    assert _search(raw, "rawdump-sqlite")  # the search sees the data that is in clear
    assert _search(raw, "Raw Dump School")
    for secret in (MARK, key, key.replace(" ", "")):
        assert not _search(raw, secret), f"{secret!r} found in the SQLite file"


def test_a_pg_dump_holds_no_report_plaintext(backends):
    if not backends.has_postgres:
        pytest.skip(f"PostgreSQL unavailable ({backends.postgres_error}); SQLite variant runs")
    pg_dump = shutil.which("pg_dump")
    url = backends.new_database(f"rawdump{next(_labels)}")
    with other_app(backends, url) as app:
        with app.app_context():
            upgrade()
        key = _full_visit(app, "rawdump-pg")
        from app.extensions import db

        with app.app_context():
            hits = raw_hits(db.session.connection(), MARK, key)
            db.session.rollback()
    assert hits == []
    if pg_dump is None:
        pytest.skip("pg_dump is not on PATH; the raw rows were searched instead")
    dump = subprocess.run(
        [pg_dump, "--no-owner", url.replace("postgresql+psycopg://", "postgresql://", 1)],
        check=True, capture_output=True, timeout=60).stdout
    assert _search(dump, "rawdump-pg") and _search(dump, "Raw Dump School")
    assert b"COPY public.report " in dump and b"COPY public.evidence_blob " in dump
    for secret in (MARK, key, key.replace(" ", "")):
        assert not _search(dump, secret), f"{secret!r} found in pg_dump output"


# -- key rotation ----------------------------------------------------------------------------
def _key_ids(app) -> dict[str, set[str]]:  # noqa: ANN001
    """The data key id of every stored encrypted value, per column."""
    from app.extensions import db

    found: dict[str, set[str]] = {}
    with app.app_context():
        for enc in encrypted_columns():
            tbl = table(enc.table, column(enc.column, LargeBinary))
            values = db.session.execute(
                select(tbl.c[enc.column]).where(tbl.c[enc.column].isnot(None))).scalars()
            ids = {keyring().key_id_of(bytes(v)) for v in values}
            if ids:
                found[f"{enc.table}.{enc.column}"] = ids
        db.session.rollback()
    return found


def _read_everything(app, key: str) -> dict:  # noqa: ANN001
    from app.extensions import db

    with app.app_context():
        report = db.session.execute(
            select(Report).where(Report.case_key_digest == keyring().case_key_digest(key))
            .options(undefer(Report.details), undefer(Report.involved), undefer(Report.handles),
                     undefer(Report.reporter_identity), undefer(Report.reply_email))
        ).scalar_one()
        bodies = sorted(e.body for e in db.session.execute(
            select(CaseEvent).where(CaseEvent.case_id == report.case_id,
                                    CaseEvent.body.isnot(None))
            .options(undefer(CaseEvent.body))).scalars())
        files = []
        for item in db.session.execute(select(Evidence).where(
                Evidence.report_id == report.id).order_by(Evidence.id)).scalars():
            blob = db.session.execute(select(EvidenceBlob).where(
                EvidenceBlob.key == item.storage_key).options(undefer(EvidenceBlob.data))
            ).scalar_one()
            files.append((item.filename, hashlib.sha256(blob.data).hexdigest() ==
                          item.stored_sha256))
        totp = db.session.execute(select(StaffUser.totp_secret)).scalars().all()
        out = {"details": report.details, "involved": report.involved, "handles": report.handles,
               "identity": report.reporter_identity, "reply_email": report.reply_email,
               "bodies": bodies, "files": files, "totp": totp}
        db.session.rollback()
    return out


def _flask(app, *args: str):  # noqa: ANN001, ANN202
    """Run ``flask <args>`` as the ``flask`` command does (it pushes the app context)."""
    from flask.cli import FlaskGroup

    return app.test_cli_runner().invoke(FlaskGroup(), list(args))


def test_rotate_keys_re_encrypts_everything_under_the_new_key(backends):
    old, new = new_data_key_spec("old"), new_data_key_spec("new")
    common = {"SECRET_KEY": "rotation-test-secret-key-0123456789",
              "BLIND_INDEX_KEY": "rotation-test-blind-index-key-0123456789"}
    url = backends.new_database(f"rotation{next(_labels)}")

    with other_app(backends, url, DATA_ENCRYPTION_KEYS=old, **common) as app:
        with app.app_context():
            upgrade()
        key = _full_visit(app, "rotation")
        before = _key_ids(app)
        expected = _read_everything(app, key)
    assert set(before) >= {"report.details", "report.involved", "report.handles",
                           "report.reporter_identity", "report.reply_email", "case_event.body",
                           "evidence.filename", "evidence_blob.data", "staff_user.totp_secret"}
    assert all(ids == {"old"} for ids in before.values())
    assert expected["details"] == f"{MARK} details of what happened"
    assert len(expected["bodies"]) == 2 and all(ok for _, ok in expected["files"])

    with other_app(backends, url, DATA_ENCRYPTION_KEYS=f"{new},{old}", **common) as app:
        # the old key still reads before rotation
        assert _read_everything(app, key) == expected
        result = _flask(app, "rotate-keys")
        assert result.exit_code == 0, result.output
        assert "Re-encrypting under key 'new'" in result.output
        assert "report.details: 1 re-encrypted" in result.output
        after = _key_ids(app)
        assert set(after) == set(before)
        assert all(ids == {"new"} for ids in after.values()), after
        again = _flask(app, "rotate-keys")
        assert again.exit_code == 0 and "Done: 0 values re-encrypted." in again.output

    with other_app(backends, url, DATA_ENCRYPTION_KEYS=new, **common) as app:
        assert _read_everything(app, key) == expected
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = unique_address()
        assert open_with_key(client, "rotation", key).status_code == 303
        page = text(client.get("/s/rotation/check"))
        assert f"{MARK} reply from the school" in page and f"{MARK} message from me" in page

    with other_app(backends, url, DATA_ENCRYPTION_KEYS=old, **common) as app:
        with pytest.raises(DecryptionError):
            _read_everything(app, key)
