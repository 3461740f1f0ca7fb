"""The audit log: every consequential action, who did it, to what."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from . import clock
from .extensions import db
from .models import AuditEntry


def record(action: str, target: Any = None, **detail: Any) -> AuditEntry:
    """Add an audit entry to the session; it commits with the action it describes."""
    user_id = current_user.id if current_user and current_user.is_authenticated else None
    entry = AuditEntry(
        user_id=user_id,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else None,
        target_id=getattr(target, "id", None),
        detail=detail,
        created_at=clock.now(),
    )
    db.session.add(entry)
    return entry
