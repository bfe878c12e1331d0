"""The audit log, for admins (auditors): who did what to which object, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_api.access import api_principal, requires, web_principal
from admin_api.auth import Principal
from admin_api.context import read_tx
from admin_api.params import QueryId
from admin_api.web import render
from core.models import AuditEvent, User
from core.states import UserRole

web = APIRouter(include_in_schema=False)
api = APIRouter(tags=["audit"])
WebAdmin = Annotated[Principal, Depends(requires(web_principal, UserRole.admin))]
ApiAdmin = Annotated[Principal, Depends(requires(api_principal, UserRole.admin))]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_user_id: int | None
    actor_kind: str
    action: str
    object_type: str
    object_id: str
    source: str
    details: dict[str, Any]


def _events(
    session: Session,
    *,
    action: str,
    object_type: str,
    object_id: str,
    user_id: int | None,
    before_id: int | None,
    limit: int = 200,
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    if user_id is not None:
        query = query.where(AuditEvent.actor_user_id == user_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(session.scalars(query))


Text = Annotated[str, Query(max_length=64)]


@api.get("/audit")
def audit_json(
    principal: ApiAdmin,
    session: ReadSession,
    action: Text = "",
    object_type: Text = "",
    object_id: Text = "",
    user_id: QueryId = None,
    before_id: QueryId = None,
) -> list[AuditOut]:
    """The newest 200 events (``before_id`` pages back); ``action`` matches a prefix."""
    rows = _events(
        session,
        action=action,
        object_type=object_type,
        object_id=object_id,
        user_id=user_id,
        before_id=before_id,
    )
    return [
        AuditOut(
            id=e.id,
            at=e.at,
            actor_user_id=e.actor_user_id,
            actor_kind=e.actor_kind,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            source=e.source,
            details=dict(e.details),
        )
        for e in rows
    ]


@web.get("/audit")
def audit_page(
    request: Request,
    principal: WebAdmin,
    session: ReadSession,
    action: Text = "",
    object_type: Text = "",
    object_id: Text = "",
    user_id: QueryId = None,
    before_id: QueryId = None,
) -> HTMLResponse:
    rows = _events(
        session,
        action=action,
        object_type=object_type,
        object_id=object_id,
        user_id=user_id,
        before_id=before_id,
    )
    users = {u.id: u.username for u in session.scalars(select(User))}
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "users": users,
            "filters": {"action": action, "object_type": object_type, "object_id": object_id},
        },
    )
