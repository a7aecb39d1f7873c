from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.cases.vocabulary import IncidentKind, Platform, ReporterRole
from app.reporting.services import MAX_MESSAGE, MAX_SHORT, MAX_TEXT, OCCURRED_PERIODS


class Text(ma.fields.String):
    """A string that can be stored: no NUL characters, no lone UTF-16 surrogates.

    JSON can spell both (``"\\u0000"``, ``"\\ud800"``); PostgreSQL text and UTF-8
    encryption cannot take them, so they are refused here, naming the field.
    """

    default_error_messages = {"unstorable": "Contains characters that cannot be stored."}

    def _deserialize(self, value, attr, data, **kwargs):  # noqa: ANN001, ANN003
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("unstorable") from None
        if "\x00" in text:
            raise self.make_error("unstorable")
        return text


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class HandleSchema(Strict):
    platform = ma.fields.String(required=True, validate=validate.OneOf([p.value for p in Platform]))
    handle = Text(required=True, validate=validate.Length(min=1, max=MAX_SHORT))


class ReporterIdentitySchema(Strict):
    name = Text(required=True, validate=validate.Length(min=1, max=MAX_SHORT))
    year_group = ma.fields.Integer(validate=validate.Range(min=1, max=14), allow_none=True)
    contact = Text(validate=validate.Length(max=MAX_SHORT), allow_none=True)


class ReportCreateSchema(Strict):
    is_danger = ma.fields.Boolean(required=True, metadata={
        "description": "Is anyone in immediate danger?"})
    is_self_harm = ma.fields.Boolean(required=True, metadata={
        "description": "Is anyone thinking of hurting themselves?"})
    details = Text(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    reporter_role = ma.fields.String(required=True,
                                     validate=validate.OneOf([r.value for r in ReporterRole]))
    kinds = ma.fields.List(ma.fields.String(validate=validate.OneOf([k.value for k in IncidentKind])),
                           load_default=list, validate=validate.Length(max=len(IncidentKind)))
    platforms = ma.fields.List(ma.fields.String(validate=validate.OneOf([p.value for p in Platform])),
                               load_default=list, validate=validate.Length(max=len(Platform)))
    occurred_period = ma.fields.String(validate=validate.OneOf(OCCURRED_PERIODS), allow_none=True)
    is_ongoing = ma.fields.Boolean(load_default=False)
    involved = Text(validate=validate.Length(max=MAX_TEXT), allow_none=True)
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
    reference = ma.fields.String(metadata={
        "description": "The reference given when the report was sent; it stays the same when "
                       "staff join the report to another case."})
    status = ma.fields.String()
    status_text = ma.fields.String()
    messages = ma.fields.List(ma.fields.Nested(MessageSchema))
    evidence_count = ma.fields.Integer()


class MessageCreateSchema(Strict):
    body = Text(required=True, validate=validate.Length(min=1, max=MAX_MESSAGE))


class EvidenceCreatedSchema(ma.Schema):
    id = ma.fields.Integer()
    content_type = ma.fields.String()
    sha256 = ma.fields.String(metadata={"description": "SHA-256 of the file as uploaded."})
    metadata_stripped = ma.fields.Boolean()


class EvidenceUploadSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
