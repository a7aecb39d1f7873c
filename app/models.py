"""Import every model module, so the metadata is complete wherever it is needed."""

from app.audit.models import AuditEntry
from app.auth.models import StaffUser
from app.cases.identifier_models import CaseIdentifier
from app.cases.models import Case, CaseEvent
from app.cases.people_models import CasePerson
from app.health.models import Heartbeat
from app.notifications.models import Notification
from app.reporting.evidence_models import Evidence, EvidenceBlob
from app.reporting.models import Report
from app.scheduling.models import FollowUpSession
from app.schools.models import School

__all__ = [  # noqa: RUF022
    "AuditEntry", "Case", "CaseEvent", "CaseIdentifier",
    "CasePerson", "Evidence",
    "FollowUpSession", "EvidenceBlob",
    "Heartbeat", "Notification", "Report", "School", "StaffUser"]
