from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.cases.vocabulary import IncidentKind, Platform, ReporterRole
from app.reporting.services import MAX_MESSAGE, MAX_SHORT, MAX_TEXT, OCCURRED_PERIODS


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class HandleSchema(Strict):
    platform = ma.fields.String(required=True, validate=validate.OneOf([p.value for p in Platform]))
    handle = ma.fields.String(required=True, validate=validate.Length(min=1, max=MAX_SHORT))


class ReporterIdentitySchema(Strict):
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=MAX_SHORT))
    year_group = ma.fields.Integer(validate=validate.Range(min=1, max=14), allow_none=True)
    contact = ma.fields.String(validate=validate.Length(max=MAX_SHORT), allow_none=True)


class ReportCreateSchema(Strict):
    is_danger = ma.fields.Boolean(required=True, metadata={
        "description": "Is anyone in immediate danger?"})
    is_self_harm = ma.fields.Boolean(required=True, metadata={
        "description": "Is anyone thinking of hurting themselves?"})
    details = ma.fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    reporter_role = ma.fields.String(required=True,
                                     validate=validate.OneOf([r.value for r in ReporterRole]))
    kinds = ma.fields.List(ma.fields.String(validate=validate.OneOf([k.value for k in IncidentKind])),
                           load_default=list, validate=validate.Length(max=len(IncidentKind)))
    platforms = ma.fields.List(ma.fields.String(validate=validate.OneOf([p.value for p in Platform])),
                               load_default=list, validate=validate.Length(max=len(Platform)))
    occurred_period = ma.fields.String(validate=validate.OneOf(OCCURRED_PERIODS), allow_none=True)
    is_ongoing = ma.fields.Boolean(load_default=False)
    involved = ma.fields.String(validate=validate.Length(max=MAX_TEXT), allow_none=True)
    handles = ma.fields.List(ma.fields.Nested(HandleSchema), load_default=list,
                             validate=validate.Length(max=20))
    reporter = ma.fields.Nested(ReporterIdentitySchema, allow_none=True, metadata={
        "description": "Give this for a confidential report; leave it out to stay anonymous."})
    reply_email = ma.fields.Email(allow_none=True, validate=validate.Length(max=254), metadata={
        "description": "Used only to say 'you have a reply'; never shown to staff."})


class ReportCreatedSchema(ma.Schema):
    case_key = ma.fields.String(metadata={"description": "Shown once. Keep it safe."})
    reference = ma.fields.String(metadata={"description": "The reference staff see."})
    status = ma.fields.String()
    help_now = ma.fields.Boolean(metadata={
        "description": "True when the reporter should be shown the school's helplines now."})


class MessageSchema(ma.Schema):
    from_school = ma.fields.Boolean()
    body = ma.fields.String()
    created_at = ma.fields.DateTime()


class ReportStatusSchema(ma.Schema):
    reference = ma.fields.String()
    status = ma.fields.String()
    status_text = ma.fields.String()
    messages = ma.fields.List(ma.fields.Nested(MessageSchema))
    evidence_count = ma.fields.Integer()


class MessageCreateSchema(Strict):
    body = ma.fields.String(required=True, validate=validate.Length(min=1, max=MAX_MESSAGE))


class EvidenceCreatedSchema(ma.Schema):
    id = ma.fields.Integer()
    content_type = ma.fields.String()
    sha256 = ma.fields.String(metadata={"description": "SHA-256 of the file as uploaded."})
    metadata_stripped = ma.fields.Boolean()


class EvidenceUploadSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
