"""The database models, one module per concept."""

from .contact import Contact, LocaleSource
from .feedback import Channel, Disposition, FeedbackItem, InboundMedia, InboundMessage, ItemStatus
from .outbox import DeliveryEvent, MessageKind, OutboundMessage, OutboundStatus

__all__ = [
    "Channel",
    "Contact",
    "DeliveryEvent",
    "Disposition",
    "FeedbackItem",
    "InboundMedia",
    "InboundMessage",
    "ItemStatus",
    "LocaleSource",
    "MessageKind",
    "OutboundMessage",
    "OutboundStatus",
]
