"""``flask rotate-keys`` on a live service never undoes a change made while it runs.

Regression: rotation read a value, decrypted it and wrote it back under the new
key by primary key alone; a value the app changed in between (already under the
new key) was overwritten with the old plaintext.
"""

from __future__ import annotations

import itertools

from flask_migrate import upgrade
from sqlalchemy import update

from app import keys
from app.reporting import services as reporting
from app.reporting.models import Report
from app.schools.models import School
from app.security import new_data_key_spec
from tests.factories import report_input
from tests.conftest import other_app

_labels = itertools.count(1)
COMMON = {"SECRET_KEY": "rotation-race-secret-key-0123456789",
          "BLIND_INDEX_KEY": "rotation-race-blind-index-key-0123456789"}


def test_a_value_changed_during_rotation_keeps_its_new_content(backends, monkeypatch):
    from app.extensions import db

    old, new = new_data_key_spec("old"), new_data_key_spec("new")
    url = backends.new_database(f"rotationrace{next(_labels)}")
    with other_app(backends, url, DATA_ENCRYPTION_KEYS=old, **COMMON) as app:
        with app.app_context():
            upgrade()
            school = School(slug="race", name="Race School", helplines=[])
            db.session.add(school)
            db.session.flush()
            first = reporting.submit_report(db.session, school, report_input(details="first"))
            second = reporting.submit_report(db.session, school, report_input(details="second"))
            db.session.commit()
            changed_id, untouched_id = first.report.id, second.report.id

    with other_app(backends, url, DATA_ENCRYPTION_KEYS=f"{new},{old}", **COMMON) as app:
        with app.app_context():
            ring = keys.keyring()
            real_decrypt = ring.decrypt

            def decrypt_while_a_counsellor_edits(blob: bytes, purpose: str) -> bytes:
                plain = real_decrypt(blob, purpose)
                if purpose == "report.details" and plain == b"first":
                    # The app writes a new value (under the new key) between the
                    # rotation's read and its write.
                    db.session.execute(update(Report).where(Report.id == changed_id)
                                       .values(details="changed while rotating"))
                return plain

            monkeypatch.setattr(ring, "decrypt", decrypt_while_a_counsellor_edits)
            counts = keys.rotate(db.session)
            monkeypatch.undo()
            db.session.expire_all()
            details = dict(db.session.execute(db.select(Report.id, Report.details)).all())
            # the concurrent change survives; the row nobody touched was rotated
            assert details == {changed_id: "changed while rotating", untouched_id: "second"}
            assert counts["report.details"] == 1
            blobs = dict(db.session.execute(db.text("SELECT id, details FROM report")).all())
            assert all(keys.keyring().key_id_of(bytes(b)) == "new" for b in blobs.values())
