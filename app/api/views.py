from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView

from app.api import bp
from app.api.schemas import (EvidenceCreatedSchema, EvidenceUploadSchema, MessageCreateSchema,
                             MessageSchema, ReportCreatedSchema, ReportCreateSchema,
                             ReportStatusSchema)
from app.errors import DomainError
from app.extensions import db, limiter
from app.reporting import services as reporting
from app.reporting.models import Report
from app.reporting.ratelimit import anonymous_client_key

CASE_KEY_SCHEME = "casekey "


class KeyRequired(DomainError):
    status_code = 401
    default_message = ("Send the case key in the header 'Authorization: CaseKey <your key>'. "
                       "We could not find a report with the key given.")


def _report_from_header() -> Report:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith(CASE_KEY_SCHEME):
        raise KeyRequired()
    passphrase = header[len(CASE_KEY_SCHEME):]
    digest_report = reporting.find_report_by_digest(db.session, passphrase)
    if digest_report is None:
        raise KeyRequired()
    return digest_report


def _failed_key(response) -> bool:  # noqa: ANN001
    return response.status_code == 401


key_limit = limiter.limit("10 per minute; 60 per hour", key_func=anonymous_client_key,
                          deduct_when=_failed_key)


@bp.route("/schools/<slug>/reports")
class SchoolReports(MethodView):
    decorators = [limiter.limit("20 per minute; 200 per hour", key_func=anonymous_client_key)]

    @bp.arguments(ReportCreateSchema)
    @bp.response(201, ReportCreatedSchema)
    @bp.alt_response(404, description="No such school")
    @bp.alt_response(422, description="A field is missing or not valid")
    def post(self, data: dict, slug: str):
        """Submit a report; the case key is in the answer, once."""
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
        )
        result = reporting.submit_report(db.session, school, payload)
        if data.get("reply_email"):
            reporting.set_reply_email(db.session, result.report, data["reply_email"])
        db.session.commit()
        return {"case_key": result.case_key, "reference": result.case.reference,
                "status": result.case.status.value,
                "help_now": result.case.risk.value == "critical"}


@bp.route("/report")
class CurrentReport(MethodView):
    decorators = [key_limit]

    @bp.response(200, ReportStatusSchema)
    @bp.alt_response(401, description="Missing or unknown case key")
    @bp.doc(security=[{"CaseKey": []}])
    def get(self):
        """Read the report's status and the messages with the school."""
        report = _report_from_header()
        view = reporting.reporter_view(db.session, report)
        return {
            "reference": report.case.reference,
            "status": report.case.status.value,
            "status_text": view.status_text,
            "messages": [{"from_school": m.is_from_school, "body": m.body,
                          "created_at": m.created_dt} for m in view.messages],
            "evidence_count": view.evidence_count,
        }


@bp.route("/report/messages")
class ReportMessages(MethodView):
    decorators = [key_limit]

    @bp.arguments(MessageCreateSchema)
    @bp.response(201, MessageSchema)
    @bp.alt_response(401, description="Missing or unknown case key")
    @bp.doc(security=[{"CaseKey": []}])
    def post(self, data: dict):
        """Send a message to the school (refused if it contains the case key)."""
        report = _report_from_header()
        event = reporting.send_reporter_message(db.session, report, data["body"])
        db.session.commit()
        return {"from_school": False, "body": event.body, "created_at": event.created_dt}


@bp.route("/report/evidence")
class ReportEvidence(MethodView):
    decorators = [key_limit]

    @bp.arguments(EvidenceUploadSchema, location="files")
    @bp.response(201, EvidenceCreatedSchema)
    @bp.alt_response(401, description="Missing or unknown case key")
    @bp.alt_response(413, description="File too large")
    @bp.doc(security=[{"CaseKey": []}])
    def post(self, files: dict):
        """Add a screenshot (PNG, JPEG, WebP) or PDF; image metadata is removed."""
        report = _report_from_header()
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
