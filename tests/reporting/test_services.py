"""The reporting services on their own: case keys, the key-in-message check, uploads, limits."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import date, datetime, timedelta, timezone

import pytest
from PIL import Image
from xkcdpass import xkcd_password

from app.errors import ValidationFailed
from app.reporting import ratelimit
from app.reporting.case_keys import CASE_KEY_WORDS, case_key_bits, new_case_key
from app.reporting.evidence import FileTooLarge, clean_upload, size_words, sniff_type
from app.reporting.services import contains_case_key, find_report_by_key, submit_report
from app.security import keyring
from tests.factories import report_input


def test_case_keys_are_seven_random_eff_words_worth_about_90_bits():
    with open(xkcd_password.locate_wordfile("eff-long")) as f:
        eff = {line.strip() for line in f}
    keys = [new_case_key() for _ in range(300)]
    assert len(set(keys)) == len(keys)
    for key in keys:
        words = key.split(" ")
        assert len(words) == CASE_KEY_WORDS == 7
        assert set(words) <= eff
        assert all(w.isalpha() and w.islower() for w in words)
    assert case_key_bits() >= 90
    # the draw uses (nearly) the whole list: not a few favourite words
    assert len({w for k in keys for w in k.split()}) > 1500


@pytest.mark.parametrize("text, expected", [
    ("{key}", True),
    ("my key: {key}!", True),
    ("{upper}", True),
    ("«{key}»", True),
    ("{hyphens}", True),
    ("{newlines}", True),
    ("I said {first} and then {rest}", False),  # another word between: not the key
    ("{six}", False),
    ("nothing to see here", False),
    ("", False),
])
def test_contains_case_key(app, text, expected):
    with app.app_context():
        key = new_case_key()
        words = key.split()
        filled = text.format(key=key, upper=key.upper(), hyphens="-".join(words),
                             newlines="\n".join(words), first=words[0],
                             rest=" ".join(words[1:]), six=" ".join(words[:6]))
        assert contains_case_key(filled, keyring().case_key_digest(key)) is expected


@pytest.mark.parametrize("fields, message", [
    ({"details": "bad \x00 byte"}, "What happened contains characters we cannot store."),
    ({"kinds": ["pranks"]}, "Choose what kind of bullying from the list."),
    ({"handles": [{"platform": "instagram", "handle": "x" * 201}]},
     "The account name is too long: keep it under 200 characters."),
    ({"is_anonymous": False, "reporter_name": None}, "Please tell us your name."),
    ({"is_anonymous": False, "reporter_name": "A", "year_group": 30},
     "Choose your year group from the list."),
])
def test_submit_report_refuses_bad_input_before_storing_anything(session, school, fields,
                                                                 message):
    from tests.reporting.conftest import row_counts

    before = row_counts(session)
    with pytest.raises(ValidationFailed) as caught:
        submit_report(session, school, report_input(**fields))
    assert caught.value.message == message
    assert row_counts(session) == before


def test_submit_report_sets_a_one_hour_deadline_for_a_critical_report(session, school):
    now = datetime(2025, 3, 8, 23, 30, tzinfo=timezone.utc)  # a Saturday night
    result = submit_report(session, school, report_input(is_self_harm=True), now=now)
    assert result.case.response_due_dt == now + timedelta(hours=1)
    assert find_report_by_key(session, school, result.case_key.upper()) is result.report


def test_the_rate_limit_key_is_a_daily_hmac_of_the_address(app, monkeypatch):
    def key_for(address: str) -> str:
        with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
            return ratelimit.anonymous_client_key()

    first = key_for("203.0.113.5")
    assert first == key_for("203.0.113.5")
    assert first != key_for("203.0.113.6")
    assert "203" not in first and "113" not in first
    assert re.fullmatch(r"c:[0-9a-f]{24}", first)

    class Tomorrow(date):
        @classmethod
        def today(cls):  # noqa: ANN206
            return date(2999, 1, 2)

    monkeypatch.setattr(ratelimit, "date", Tomorrow)
    assert key_for("203.0.113.5") != first  # yesterday's counters cannot be linked


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    # rewrite the IHDR chunk's size (and its CRC) to claim a huge picture
    ihdr = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


@pytest.mark.parametrize("data, message", [
    (_png(10_000, 5_000), "That picture is too big; send a screenshot."),
    (_png(60_000, 60_000), "We could not read that picture. Try another screenshot."),
    (b"\xff\xd8\xff" + b"\x00" * 50, "We could not read that picture. Try another screenshot."),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 30,
     "We could not read that picture. Try another screenshot."),
    (b"", "That file is empty."),
    (b"MZ\x90\x00", "Add a screenshot (PNG, JPEG or WebP) or a PDF."),
])
def test_clean_upload_refuses_what_it_cannot_safely_read(data, message):
    with pytest.raises(ValidationFailed) as caught:
        clean_upload(data, max_bytes=10 * 1024 * 1024)
    assert caught.value.message == message and caught.value.field == "file"


def test_clean_upload_says_the_limit_in_plain_words():
    with pytest.raises(FileTooLarge) as caught:
        clean_upload(b"%PDF-" + b"x" * 20, max_bytes=10)
    assert caught.value.status_code == 413
    assert [size_words(n) for n in (10 * 1024 * 1024, 1536 * 1024, 500 * 1024, 10)] == [
        "10 MB", "1.5 MB", "500 KB", "1 KB"]


def test_sniff_type_reads_the_content_not_the_name():
    assert sniff_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_type(b"  \n%PDF-1.7") == "application/pdf"
    assert sniff_type(b"GIF89a") is None
    assert sniff_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
