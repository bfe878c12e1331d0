"""The audit log of the web pages and API: who did what to which object, when, from where.

Details hold identifiers, states and field names only: never a phone number, a
transcript, a note or any other text a caller said.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from admin_api.auth import Principal
from core.models import AuditEvent


def record(
    session: Session,
    principal: Principal,
    action: str,
    *,
    now: datetime,
    source: str,
    object_type: str = "",
    object_id: int | str = "",
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            at=now,
            actor_user_id=principal.user_id,
            actor_kind="user",
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            source=source[:64],
            details={"via": principal.via, **(details or {})},
        )
    )
