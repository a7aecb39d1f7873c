"""Fuzz of the reporter API: no input, however odd, gets a 5xx.

Two halves, both in process and inside the test's rolled-back transaction:

- schemathesis generates requests from /api/v1/openapi.json (valid and invalid
  bodies, headers, path values, multipart files); extra draws steer part of
  them past the front door with the real case key and the real school;
- hand-made hypothesis strategies send what a schema-driven generator never
  does: JSON the standard decoder chokes on, NUL and lone surrogates in text
  and addresses, any Authorization header, broken pictures under any name.

Runs are derandomised (the same examples each time) so CI is stable; set
``API_FUZZ_EXAMPLES`` for a longer, random hunt.
"""

from __future__ import annotations

import io
import json
import os
from urllib.parse import quote

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_headers_conformance,
                                               status_code_conformance)

from app.reporting import services as reporting
from tests.api.conftest import png_bytes
from tests.factories import report_input
from tests.helpers import unique_address

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance]


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 120, 40)).save(out, format="JPEG")
    return out.getvalue()


def _broken(data: bytes) -> st.SearchStrategy[bytes]:
    """A real file cut short, with bytes flipped, or with junk appended."""
    return st.one_of(
        st.integers(1, len(data) - 1).map(lambda n: data[:n]),
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), min_size=1,
                 max_size=8).map(lambda flips: _flip(data, flips)),
        st.binary(max_size=256).map(lambda junk: data + junk),
    )


def _flip(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, value in flips:
        out[position] = value
    return bytes(out)


FILES = st.one_of(st.none(), st.sampled_from([png_bytes(), _jpeg()]), _broken(png_bytes()),
                  _broken(_jpeg()), st.binary(max_size=64).map(lambda b: b"%PDF-1.4\n" + b))


# -- schemathesis --------------------------------------------------------------------------
# Its pytest integration (``schemathesis.pytest.from_fixture``) fails under pytest 9.2
# ("'Function' object has no attribute '_nodeid'"), so each operation's strategy is
# driven by hypothesis here, inside an ordinary test that has the fixtures.
OPERATIONS = ["POST /api/v1/schools/{slug}/reports", "GET /api/v1/report",
              "POST /api/v1/report/messages", "POST /api/v1/report/evidence"]
#: Examples per test; raise it for a longer hunt (``API_FUZZ_EXAMPLES=2000``), then random.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES") or 30)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=lambda m: m.value)
@pytest.mark.parametrize("label", OPERATIONS)
def test_schema_driven_requests_get_no_server_error(app, session, client, school, label, mode):
    case_key = reporting.submit_report(session, school, report_input()).case_key
    session.commit()
    # Loaded from the app itself: the document under test is the one the code generates.
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app) \
        .find_operation_by_label(label)
    assert operation is not None, label

    @given(case=operation.as_strategy(mode), key=st.sampled_from(["right", "loose", "generated"]),
           own_school=st.sampled_from([True, False]), upload=FILES)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              derandomize="API_FUZZ_EXAMPLES" not in os.environ,
              suppress_health_check=list(HealthCheck))
    def check(case, key, own_school, upload):  # noqa: ANN001
        if key != "generated" and operation.path.startswith("/api/v1/report"):
            typed = case_key if key == "right" else "-".join(case_key.upper().split())
            case.headers = {**(case.headers or {}), "Authorization": f"CaseKey {typed}"}
        if own_school and "slug" in (case.path_parameters or {}):
            case.path_parameters = {**case.path_parameters, "slug": school.slug}
        if upload is not None and operation.path.endswith("/evidence") and isinstance(
                case.body, dict):
            case.body = {**case.body, "file": upload}

        # A fresh address for each request, so the rate limiter never hides a handler.
        response = case.call(session=client, environ_base={"REMOTE_ADDR": unique_address()})

        case.validate_response(response, checks=CHECKS)

    check()


# -- hand-made hypothesis strategies, for what a schema-driven generator never sends -----
#: Text as JSON can carry it: NUL, lone surrogates, bidi overrides, byte-order marks.
ODD = st.sampled_from(["\x00", "\ud800", "\udfff", "\u202e", "\ufeff", "\r\n", "<script>", "'"])


def texts(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Plain text half the time; otherwise text salted with the odd characters."""
    return st.one_of(st.text(min_size=min_size, max_size=max_size),
                     st.lists(st.one_of(st.characters(), ODD), min_size=min_size,
                              max_size=max_size).map("".join))


TEXT = texts()
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
                    allow_infinity=False), TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)

REQUIRED = {
    "is_danger": st.booleans(), "is_self_harm": st.booleans(),
    "details": texts(min_size=1, max_size=60),
    "reporter_role": st.sampled_from(["target", "bystander", "parent"]),
}
OPTIONAL = {
    "kinds": st.lists(st.sampled_from(["harassment", "threats", "other"]), max_size=3),
    "platforms": st.lists(st.sampled_from(["instagram", "in_school", "other"]), max_size=3),
    "occurred_period": st.sampled_from(["today", "earlier", None]),
    "is_ongoing": st.booleans(), "involved": st.one_of(st.none(), TEXT),
    "handles": st.lists(st.fixed_dictionaries({"platform": st.sampled_from(["tiktok", "other"]),
                                               "handle": TEXT}), max_size=3),
    "reporter": st.one_of(st.none(), st.fixed_dictionaries(
        {"name": TEXT}, optional={"year_group": st.integers(-5, 20), "contact": TEXT})),
    "reply_email": st.one_of(st.none(), TEXT, st.emails()),
}
#: Reports that pass the schema's types, with odd text in every free-text field.
REPORTS = st.fixed_dictionaries(REQUIRED, optional=OPTIONAL)


@st.composite
def mutated_reports(draw) -> dict:  # noqa: ANN001
    """A report with one field, or an unknown one, set to any JSON value at all."""
    report = draw(REPORTS)
    report[draw(st.one_of(st.sampled_from(sorted(REQUIRED) + sorted(OPTIONAL)), TEXT))] = draw(JSON)
    return report


#: Bodies the standard JSON decoder chokes on in ways webargs does not expect.
HOSTILE_BODIES = st.one_of(
    st.integers(900, 20_000).map(lambda n: "[" * n),
    st.integers(900, 20_000).map(lambda n: '{"a":' * n),
    st.integers(4_301, 6_000).map(lambda n: '{"details": ' + "7" * n + "}"),
    st.sampled_from(['{"is_danger": NaN}', '{"is_danger": -Infinity}', "\ufeff{}", "", "null"]),
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
)


def one_of_evenly(*strategies: st.SearchStrategy) -> st.SearchStrategy:
    """Like ``st.one_of``, but each branch is drawn about as often as the others."""
    return st.sampled_from(strategies).flatmap(lambda chosen: chosen)


REPORT_BODIES = one_of_evenly(REPORTS.map(json.dumps), REPORTS.map(json.dumps),
                              mutated_reports().map(json.dumps), JSON.map(json.dumps),
                              HOSTILE_BODIES)
MESSAGE_BODIES = one_of_evenly(st.fixed_dictionaries({"body": texts(max_size=80)}).map(json.dumps),
                               JSON.map(json.dumps), HOSTILE_BODIES)
#: Header values as WSGI can carry them (latin-1, no line breaks).
HEADER_TEXT = st.text(st.characters(min_codepoint=1, max_codepoint=255,
                                    exclude_characters="\r\n"), max_size=60)
SLUGS = one_of_evenly(st.just("own"), st.sampled_from(["%00", "own%00", "%ED%A0%80", "%FF", "..",
                                                       "%2F", "own%20", "x" * 300]),
                      texts(min_size=1, max_size=30).map(
                          lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")))
CONTENT_TYPES = one_of_evenly(st.just("application/json"), st.sampled_from(
    ["application/json; charset=latin-1", "text/plain", None]))


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@st.composite
def requests(draw, target: str, school_slug: str, case_key: str) -> dict:  # noqa: ANN001
    """Arguments for one ``client.open`` call at ``target``."""
    authorization = draw(one_of_evenly(
        st.just(f"CaseKey {case_key}"),
        st.just("casekey " + "-".join(case_key.upper().split())),
        st.tuples(st.sampled_from(["CaseKey ", "Bearer ", "", "CaseKey"]), HEADER_TEXT)
        .map("".join)))
    call: dict = {"headers": {"Authorization": authorization},
                  "environ_base": {"REMOTE_ADDR": unique_address()}}
    if target == "report":
        slug = draw(SLUGS).replace("own", school_slug)
        call.update(method="POST", path=f"/api/v1/schools/{slug}"
                    "/reports", data=_utf8(draw(REPORT_BODIES)), content_type=draw(CONTENT_TYPES))
    elif target == "status":
        call.update(method="GET", path="/api/v1/report")
    elif target == "message":
        call.update(method="POST", path="/api/v1/report/messages",
                    data=_utf8(draw(MESSAGE_BODIES)), content_type=draw(CONTENT_TYPES))
    else:
        payload = draw(one_of_evenly(FILES.filter(lambda f: f is not None), st.binary(max_size=200)))
        filename = draw(st.text(st.characters(exclude_categories=["Cs"]), max_size=40))
        form = {draw(st.sampled_from(["file", "file", "files"])): (io.BytesIO(payload), filename),
                **draw(st.dictionaries(st.sampled_from(["note", "file"]), HEADER_TEXT, max_size=2))}
        call.update(method="POST", path="/api/v1/report/evidence", data=form,
                    content_type="multipart/form-data")
    return call


@pytest.mark.parametrize("target", ["report", "status", "message", "evidence"])
def test_hostile_input_never_gets_a_server_error(session, client, school, target):
    case_key = reporting.submit_report(session, school, report_input()).case_key
    session.commit()

    @given(call=requests(target, school.slug, case_key))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              derandomize="API_FUZZ_EXAMPLES" not in os.environ,
              suppress_health_check=list(HealthCheck))
    def check(call: dict) -> None:
        response = client.open(**call)

        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json"

    check()
