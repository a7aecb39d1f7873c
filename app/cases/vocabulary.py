"""The shared vocabulary of reports and cases (../shared/DOMAIN.md)."""

from __future__ import annotations

import enum


class LabelledEnum(enum.StrEnum):
    """A string enum whose members carry a plain-words label."""

    label: str

    def __new__(cls, value: str, label: str) -> "LabelledEnum":
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]


class Risk(LabelledEnum):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"

    @property
    def rank(self) -> int:
        """0 is the most urgent; the queue sorts on it."""
        return list(Risk).index(self)


class CaseStatus(LabelledEnum):
    NEW = "new", "New"
    TRIAGED = "triaged", "Triaged"
    IN_PROGRESS = "in_progress", "In progress"
    AWAITING_FOLLOW_UP = "awaiting_follow_up", "Awaiting follow-up"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"

    @property
    def is_open(self) -> bool:
        return self not in (CaseStatus.RESOLVED, CaseStatus.CLOSED)


OPEN_STATUSES = tuple(s for s in CaseStatus if s.is_open)


class ReporterRole(LabelledEnum):
    TARGET = "target", "It is happening to me"
    BYSTANDER = "bystander", "I am a friend or saw it happen"
    PARENT = "parent", "I am a parent or carer"


class Platform(LabelledEnum):
    INSTAGRAM = "instagram", "Instagram"
    SNAPCHAT = "snapchat", "Snapchat"
    TIKTOK = "tiktok", "TikTok"
    WHATSAPP = "whatsapp", "WhatsApp"
    DISCORD = "discord", "Discord"
    YOUTUBE = "youtube", "YouTube"
    ROBLOX = "roblox", "Roblox"
    GAMING_CHAT = "gaming_chat", "Gaming chat"
    TEXT = "text", "Text / SMS"
    EMAIL = "email", "Email"
    IN_SCHOOL = "in_school", "In school"
    OTHER = "other", "Somewhere else"


class IncidentKind(LabelledEnum):
    HARASSMENT = "harassment", "Harassment or mean messages"
    THREATS = "threats", "Threats"
    EXCLUSION = "exclusion", "Being left out on purpose"
    IMPERSONATION = "impersonation", "Someone pretending to be me"
    RUMOURS = "rumours", "Rumours or lies"
    IMAGE_SHARING = "image_sharing", "Sharing pictures or videos without consent"
    HATE = "hate", "Hate about who I am"
    OTHER = "other", "Something else"


def to_mask(members) -> int:
    """Pack enum members into a bit mask (bit = position in the enum)."""
    mask = 0
    for m in members:
        mask |= 1 << list(type(m)).index(m)
    return mask


def from_mask(enum_cls, mask: int) -> list:
    return [m for i, m in enumerate(enum_cls) if mask & (1 << i)]


def bit_of(member) -> int:
    return 1 << list(type(member)).index(member)
