"""Import every model module, so the metadata is complete wherever it is needed."""

from app.audit.models import AuditEntry
from app.auth.models import StaffUser
from app.cases.models import Case, CaseEvent
from app.health.models import Heartbeat
from app.reporting.models import Report
from app.schools.models import School

__all__ = ["AuditEntry", "Case", "CaseEvent", "Heartbeat", "Report", "School", "StaffUser"]
