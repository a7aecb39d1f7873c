"""Encryption at rest, keyed hashes and passwords (app.security), and what really reaches the disk."""

from __future__ import annotations

import base64
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from app.security import (
    DecryptionError,
    KeyConfigurationError,
    Keyring,
    hash_password,
    keyring,
    new_data_key_spec,
    verify_password,
)

INDEX_KEY = "blind-index-key-for-tests-0123456789"
OLD = new_data_key_spec("old")
NEW = new_data_key_spec("new")


@pytest.fixture
def ring() -> Keyring:
    return Keyring(NEW, INDEX_KEY)


# -- encryption -----------------------------------------------------------------------
def test_encrypt_round_trips_and_hides_the_plaintext(ring):
    secret = "She said she would share the photo with everyone".encode()
    blob = ring.encrypt(secret, "report.details")
    assert secret not in blob
    assert b"photo" not in blob
    assert ring.decrypt(blob, "report.details") == secret
    assert ring.key_id_of(blob) == "new"


def test_encrypting_twice_gives_different_ciphertexts(ring):
    # a fresh nonce each time: equal values must not be recognisable as equal
    assert ring.encrypt(b"same", "p") != ring.encrypt(b"same", "p")


@pytest.mark.parametrize("value, kwargs", [
    ("text with ünïcödé", {}),
    ({"name": "Sam", "year_group": 9, "contact": None}, {"json": True}),
    ([{"platform": "tiktok", "handle": "@someone"}], {"json": True}),
    (b"\x00\xff raw bytes", {"raw": True}),
])
def test_encrypt_value_round_trips_each_kind(ring, value, kwargs):
    opts = {"json": False, "raw": False, **kwargs}
    blob = ring.encrypt_value(value, "purpose", **opts)
    assert ring.decrypt_value(blob, "purpose", **opts) == value


def test_a_value_encrypted_for_one_purpose_does_not_decrypt_for_another(ring):
    blob = ring.encrypt(b"who was involved", "report.involved")
    with pytest.raises(DecryptionError, match="failed authentication"):
        ring.decrypt(blob, "report.details")


@pytest.mark.parametrize("position", [0, 1, 2, 10, -1, -20])
def test_tampering_with_any_byte_is_detected(ring, position):
    blob = bytearray(ring.encrypt(b"what happened at lunch", "report.details"))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(blob), "report.details")


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_a_truncated_ciphertext_fails_clearly(ring, cut):
    blob = ring.encrypt(b"", "p")
    with pytest.raises(DecryptionError, match="truncated|version"):
        ring.decrypt(blob[:cut], "p")


def test_an_unknown_key_id_fails_naming_the_key(ring):
    blob = Keyring(OLD, INDEX_KEY).encrypt(b"secret", "p")
    with pytest.raises(DecryptionError, match="no data key with id 'old'"):
        ring.decrypt(blob, "p")


def test_a_key_with_the_right_id_but_other_bytes_does_not_decrypt():
    blob = Keyring(OLD, INDEX_KEY).encrypt(b"secret", "p")
    impostor = Keyring(new_data_key_spec("old"), INDEX_KEY)
    with pytest.raises(DecryptionError, match="failed authentication"):
        impostor.decrypt(blob, "p")


def test_key_rotation_reads_old_values_and_writes_under_the_new_key():
    written_before = Keyring(OLD, INDEX_KEY).encrypt(b"written last year", "report.details")
    rotated = Keyring(f"{NEW}, {OLD}", INDEX_KEY)
    assert rotated.decrypt(written_before, "report.details") == b"written last year"
    written_now = rotated.encrypt(b"written today", "report.details")
    assert rotated.key_id_of(written_now) == "new"
    assert Keyring(NEW, INDEX_KEY).decrypt(written_now, "report.details") == b"written today"
    with pytest.raises(DecryptionError):
        Keyring(OLD, INDEX_KEY).decrypt(written_now, "report.details")


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(b"k" * n).decode()


@pytest.mark.parametrize("spec, message", [
    ("", "holds no key"),
    (" , ", "holds no key"),
    (_b64(32), "id:base64key"),
    (f":{_b64(32)}", "id:base64key"),
    (f"bad id:{_b64(32)}", "id:base64key"),
    (f"{'x' * 33}:{_b64(32)}", "id:base64key"),
    ("k1:", "32 bytes"),
    (f"k1:{_b64(16)}", "32 bytes"),
    (f"k1:{_b64(33)}", "32 bytes"),
    ("k1:A", "not valid base64"),
    (f"k1:{_b64(32)},k1:{_b64(32)}", "repeats a key id"),
])
def test_malformed_data_key_specs_are_refused(spec, message):
    with pytest.raises(KeyConfigurationError, match=message):
        Keyring(spec, INDEX_KEY)


@pytest.mark.parametrize("index_key", ["", "short", "x" * 15])
def test_a_missing_or_weak_blind_index_key_is_refused(index_key):
    with pytest.raises(KeyConfigurationError, match="BLIND_INDEX_KEY"):
        Keyring(NEW, index_key)


# -- keyed hashes ---------------------------------------------------------------------
def test_case_key_digest_ignores_how_the_key_is_typed(ring):
    digest = ring.case_key_digest("apple banana cherry")
    assert len(digest) == 64
    for typed in ("Apple  banana-Cherry", " APPLE-BANANA-CHERRY ", "apple\tbanana\ncherry",
                  "apple_banana.cherry"):
        assert ring.case_key_digest(typed) == digest, typed


def test_case_key_digest_depends_on_the_words_and_the_key(ring):
    digest = ring.case_key_digest("apple banana cherry")
    assert ring.case_key_digest("apple banana cherries") != digest
    assert ring.case_key_digest("banana apple cherry") != digest
    # a keyed hash: another deployment's key gives another digest
    other = Keyring(NEW, "another-blind-index-key-0123456789")
    assert other.case_key_digest("apple banana cherry") != digest
    # the data keys play no part, so rotating them keeps every case key working
    assert Keyring(f"{OLD},{NEW}", INDEX_KEY).case_key_digest("apple banana cherry") == digest
    import hashlib

    assert hashlib.sha256(b"apple banana cherry").hexdigest() != digest


def test_blind_index_normalises_case_space_and_leading_at(ring):
    index = ring.blind_index("handle", "some.one")
    for typed in ("@Some.One", "  SOME.ONE ", "@@some.one"):
        assert ring.blind_index("handle", typed) == index, typed
    assert ring.blind_index("name", "Sam  Smith") == ring.blind_index("name", "sam smith")
    assert ring.blind_index("handle", "some.one2") != index


def test_blind_index_is_separated_by_purpose_and_key(ring):
    assert ring.blind_index("handle", "sam") != ring.blind_index("name", "sam")
    other = Keyring(NEW, "another-blind-index-key-0123456789")
    assert other.blind_index("handle", "sam") != ring.blind_index("handle", "sam")
    assert Keyring(OLD, INDEX_KEY).blind_index("handle", "sam") == ring.blind_index("handle", "sam")


# -- passwords ------------------------------------------------------------------------
def test_passwords_hash_with_argon2_and_verify():
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_password(hashed, "correct horse battery staple") is True
    assert verify_password(hashed, "correct horse battery stapler") is False
    assert verify_password(hashed, "") is False


def test_verify_password_without_an_account_or_with_a_broken_hash_is_false():
    assert verify_password(None, "anything") is False
    assert verify_password("", "anything") is False
    assert verify_password("not-an-argon2-hash", "anything") is False


# -- what is stored -------------------------------------------------------------------
def _raw_values(session):
    """Yield (table, column, text) for every column of every row of every table."""
    conn = session.connection()
    tables = sa.inspect(conn).get_table_names()
    assert "report" in tables
    for table in tables:
        result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))
        for row in result:
            for column, value in zip(result.keys(), row):
                if isinstance(value, (bytes, bytearray, memoryview)):
                    text = bytes(value).decode("latin-1")
                else:
                    text = str(value)
                yield table, column, text


def _where(session, marker: str) -> list[tuple[str, str]]:
    marker = marker.lower()
    return [(t, c) for t, c, text in _raw_values(session) if marker in text.lower()]


def test_report_content_is_never_stored_in_clear(session):
    from app.reporting.models import Report
    from tests.factories import SchoolFactory, make_case

    marker = f"zqx{uuid.uuid4().hex[:12]}"
    control = f"ctl{uuid.uuid4().hex[:12]}"
    school = SchoolFactory(name=f"School {control}")
    case = make_case(
        session, school,
        details=f"They keep posting about me. {marker}-details",
        involved=f"A boy called {marker}-involved in year 9",
        handles=[{"platform": "instagram", "handle": f"@{marker}_handle"}],
        is_anonymous=False,
        reporter_name=f"Sam {marker}-name",
        year_group=9,
        contact=f"{marker}@example.org",
    )
    session.commit()
    report_id = case.reports[0].id

    # the scan does see clear text that is stored in clear
    assert ("school", "name") in _where(session, control)
    assert _where(session, marker) == []

    raw = session.connection().execute(
        sa.text("SELECT details, involved, handles, reporter_identity FROM report WHERE id = :id"),
        {"id": report_id},
    ).one()
    key_id = keyring().current.key_id.encode()
    for blob in raw:
        blob = bytes(blob)
        assert blob[0] == 1 and blob[2 : 2 + blob[1]] == key_id

    session.expunge_all()
    report = session.execute(select(Report).where(Report.id == report_id)).scalar_one()
    assert report.details == f"They keep posting about me. {marker}-details"
    assert report.involved == f"A boy called {marker}-involved in year 9"
    assert report.handles == [{"platform": "instagram", "handle": f"@{marker}_handle"}]
    assert report.reporter_identity == {"name": f"Sam {marker}-name", "year_group": 9,
                                        "contact": f"{marker}@example.org"}


def test_a_ciphertext_copied_into_another_column_does_not_decrypt(session):
    from app.reporting.models import Report
    from tests.factories import SchoolFactory, make_case

    case = make_case(session, SchoolFactory(), details="what happened", involved="who")
    session.commit()
    report_id = case.reports[0].id
    session.connection().execute(
        sa.text("UPDATE report SET involved = details WHERE id = :id"), {"id": report_id}
    )
    session.expunge_all()
    report = session.get(Report, report_id)
    assert report.details == "what happened"
    with pytest.raises(DecryptionError):
        report.involved  # noqa: B018
