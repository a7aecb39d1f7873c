from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request
from flask.views import MethodView

from app.api import PROBLEM_JSON, ProblemSchema, bp
from app.api.schemas import (EvidenceCreatedSchema, EvidenceUploadSchema, MessageCreateSchema,
                             MessageSchema, ReportCreatedSchema, ReportCreateSchema,
                             ReportStatusSchema)
from app.cases.vocabulary import Risk
from app.errors import DomainError, NotFound
from app.extensions import db, limiter
from app.reporting import services as reporting
from app.reporting.models import Report
from app.reporting.ratelimit import WRONG_KEY_LIMITS, anonymous_client_key

CASE_KEY_SCHEME = "casekey "


class KeyRequired(DomainError):
    status_code = 401
    default_message = ("Send the case key in the header 'Authorization: CaseKey <your key>'. "
                       "We could not find a report with the key given.")


def _report_from_header() -> Report:
    header = request.headers.get("Authorization", "")
    passphrase = header[len(CASE_KEY_SCHEME):]
    if not header.lower().startswith(CASE_KEY_SCHEME) or not passphrase.strip():
        raise KeyRequired()  # no key at all: the same answer, but not a wrong key
    digest_report = reporting.find_report_by_digest(db.session, passphrase)
    if digest_report is None:
        g.wrong_case_key = True
        raise KeyRequired()
    return digest_report


def case_key_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Find the report the case key opens before the body is read; pass it as ``report``."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # A wrong key gets its 401 (and is counted) whatever else is wrong with the request.
        return view(*args, report=_report_from_header(), **kwargs)

    return wrapper


def _failed_key(response) -> bool:  # noqa: ANN001
    """Count only a case key that opened nothing (not a request that sent none)."""
    return response.status_code == 401 and g.get("wrong_case_key", False)


# One bucket for all three key endpoints: guesses spread over them count together.
key_limit = limiter.shared_limit(WRONG_KEY_LIMITS, scope="api-case-key",
                                 key_func=anonymous_client_key, deduct_when=_failed_key)


def problem(status: int, description: str, **kwargs: Any) -> Callable[..., Any]:
    """Document an error answer, sent as problem+json by :mod:`app.errors`."""
    return bp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_JSON,
                           description=description, **kwargs)


def key_problems(view: Callable[..., Any]) -> Callable[..., Any]:
    """Document the answers every case-key endpoint may give."""
    view = problem(401, "Missing or unknown case key (always the same answer)", headers={
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": "CaseKey"}})(view)
    view = problem(429, "Too many wrong case keys from this address; wait and try again",
                   headers={"Retry-After": {"schema": {"type": "integer"},
                                            "description": "Seconds to wait"}})(view)
    return bp.doc(security=[{"CaseKey": []}])(view)


@bp.route("/schools/<slug>/reports")
class SchoolReports(MethodView):
    decorators = [limiter.limit("20 per minute; 200 per hour", key_func=anonymous_client_key)]

    @bp.arguments(ReportCreateSchema())  # an instance: a class would be instantiated per request
    @bp.response(201, ReportCreatedSchema)
    @problem(400, "The body is not valid JSON")
    @problem(404, "No such school")
    @problem(422, "A field is missing or not valid; `errors` names each one")
    @problem(429, "Too many reports from this address; wait and try again")
    def post(self, data: dict, slug: str):
        """Submit a report; the case key is in the answer, once."""
        if "\x00" in slug:
            # PostgreSQL refuses NUL in text; no school's address holds one.
            raise NotFound("We could not find that school. Check the address you were given.")
        school = reporting.get_school(db.session, slug)
        identity = data.get("reporter")
        payload = reporting.ReportInput(
            details=data["details"], reporter_role=data["reporter_role"],
            is_danger=data["is_danger"], is_self_harm=data["is_self_harm"],
            kinds=data["kinds"], platforms=data["platforms"],
            occurred_period=data.get("occurred_period"), is_ongoing=data["is_ongoing"],
            involved=data.get("involved"), handles=data["handles"],
            is_anonymous=identity is None,
            reporter_name=identity["name"] if identity else None,
            year_group=identity.get("year_group") if identity else None,
            contact=identity.get("contact") if identity else None,
            reply_email=data.get("reply_email") or None,
        )
        result = reporting.submit_report(db.session, school, payload)
        db.session.commit()
        return {"case_key": result.case_key, "reference": result.reference,
                "status": result.status.value, "help_now": result.risk is Risk.CRITICAL}


@bp.route("/report")
class CurrentReport(MethodView):
    decorators = [key_limit]

    @case_key_required
    @bp.response(200, ReportStatusSchema)
    @key_problems
    def get(self, report: Report):
        """Read the report's status and the messages with the school."""
        view = reporting.reporter_view(db.session, report)
        return {
            # The one this reporter was given, not that of a case theirs was merged into.
            "reference": reporting.submitted_reference(db.session, report),
            "status": report.case.status.value,
            "status_text": view.status_text,
            "messages": [{"from_school": m.is_from_school, "body": m.body,
                          "created_at": m.created_dt} for m in view.messages],
            "evidence_count": view.evidence_count,
        }


@bp.route("/report/messages")
class ReportMessages(MethodView):
    decorators = [key_limit]

    @case_key_required
    @bp.arguments(MessageCreateSchema())
    @bp.response(201, MessageSchema)
    @problem(400, "The body is not valid JSON")
    @problem(422, "Empty, too long, or holding the case key; `errors` names the field")
    @key_problems
    def post(self, data: dict, report: Report):
        """Send a message to the school (refused if it contains the case key)."""
        event = reporting.send_reporter_message(db.session, report, data["body"])
        db.session.commit()
        return {"from_school": False, "body": event.body, "created_at": event.created_dt}


@bp.route("/report/evidence")
class ReportEvidence(MethodView):
    decorators = [key_limit]

    @case_key_required
    @bp.arguments(EvidenceUploadSchema, location="files")
    @bp.response(201, EvidenceCreatedSchema)
    @problem(413, "The file is over the size limit")
    @problem(422, "Not a PNG, JPEG, WebP or PDF, unreadable, too complex to check or locked "
                  "with a password, or the report has all the files it may have")
    @key_problems
    def post(self, files: dict, report: Report):
        """Add a screenshot (PNG, JPEG, WebP) or PDF; its hidden metadata is removed."""
        upload = files["file"]
        config = current_app.config
        evidence = reporting.add_evidence(
            db.session, report, filename=getattr(upload, "filename", None),
            data=upload.read(config["EVIDENCE_MAX_BYTES"] + 1),
            max_bytes=config["EVIDENCE_MAX_BYTES"], max_files=config["EVIDENCE_MAX_FILES"])
        db.session.commit()
        return {"id": evidence.id, "content_type": evidence.content_type,
                "sha256": evidence.original_sha256,
                "metadata_stripped": evidence.is_metadata_stripped}
