"""The database models, one module per concept."""

from .contact import Contact, ForgottenNumber, LocaleSource
from .decision import Decision, DecisionTranslation, Outcome, ReviewState, Topic, item_topic
from .erasure import TwilioErasure, TwilioSearch
from .feedback import Channel, Disposition, FeedbackItem, InboundMedia, InboundMessage, ItemStatus
from .language import MemberLanguage
from .outbox import DeliveryEvent, MessageKind, OutboundMessage, OutboundStatus, WhatsAppTemplate
from .staff import AuditEntry, Role, User
from .translation import MessageOverride, MessageTranslation

__all__ = [
    "AuditEntry",
    "Channel",
    "Contact",
    "Decision",
    "DecisionTranslation",
    "DeliveryEvent",
    "Disposition",
    "FeedbackItem",
    "ForgottenNumber",
    "InboundMedia",
    "InboundMessage",
    "ItemStatus",
    "LocaleSource",
    "MemberLanguage",
    "MessageKind",
    "MessageOverride",
    "MessageTranslation",
    "OutboundMessage",
    "OutboundStatus",
    "Outcome",
    "ReviewState",
    "Role",
    "Topic",
    "TwilioErasure",
    "TwilioSearch",
    "User",
    "WhatsAppTemplate",
    "item_topic",
]
