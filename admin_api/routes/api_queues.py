"""The follow-up and callback queues in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from admin_api import queues, schemas
from admin_api.access import CASE_ROLES, api_principal, requires
from admin_api.auth import Principal
from admin_api.case_view import masked_number
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.params import PathId
from core.models import CallbackRequest, Caller
from core.states import CallbackSource, CallbackState

router = APIRouter(tags=["queues"])
CaseWorker = Annotated[Principal, Depends(requires(api_principal, *CASE_ROLES))]
WriteSession = Annotated[Session, Depends(write_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]


class CallbackOut(BaseModel):
    id: int
    source: CallbackSource
    state: CallbackState
    masked_number: str
    preferred_time: str
    language: str
    attempts: int
    last_error: str | None
    created_at: datetime
    handled_at: datetime | None
    handled_outcome: str | None


def callback_out(session: Session, request: Request, row: CallbackRequest) -> CallbackOut:
    caller = session.get(Caller, row.caller_id)
    vault = app_context(request).vault
    return CallbackOut(
        id=row.id,
        source=row.source,
        state=row.state,
        masked_number=masked_number(vault, caller.phone_encrypted) if caller else "•••",
        preferred_time=row.preferred_time,
        language=row.language,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        handled_at=row.handled_at,
        handled_outcome=row.handled_outcome,
    )


@router.get("/follow-ups")
def list_follow_ups(
    request: Request, principal: CaseWorker, session: ReadSession, overdue: bool = False
) -> list[schemas.FollowUpOut]:
    """Open follow-ups of your cases, soonest first; ``overdue=true`` for those past due."""
    now = app_context(request).now()
    rows = queues.follow_ups(session, principal, now=now, overdue_only=overdue)
    return [schemas.follow_up_out(row, now) for row in rows]


@router.get("/callbacks")
def list_callbacks(
    request: Request, principal: CaseWorker, session: ReadSession
) -> list[CallbackOut]:
    """Callers waiting for a person to call back, oldest first."""
    return [callback_out(session, request, r) for r in queues.callback_queue(session, principal)]


@router.post("/callbacks/{request_id}/done", responses={404: {}, 409: {}})
def callback_done(
    request: Request, request_id: PathId, principal: CaseWorker, session: WriteSession
) -> CallbackOut:
    """You called her back: the request leaves the queue."""
    row = queues.load_callback(session, principal, request_id)
    context = app_context(request)
    queues.handle_callback(
        session, principal, row, "done", now=context.now(), source=client_address(request)
    )
    return callback_out(session, request, row)


@router.post("/callbacks/{request_id}/cancel", responses={404: {}, 409: {}})
def callback_cancel(
    request: Request, request_id: PathId, principal: CaseWorker, session: WriteSession
) -> CallbackOut:
    """Nobody will call back (reached another way, or a wrong number)."""
    row = queues.load_callback(session, principal, request_id)
    context = app_context(request)
    queues.handle_callback(
        session, principal, row, "cancelled", now=context.now(), source=client_address(request)
    )
    return callback_out(session, request, row)


@router.post("/callbacks/{request_id}/number", responses={404: {}})
def callback_number(
    request: Request, request_id: PathId, principal: CaseWorker, session: WriteSession
) -> schemas.NumberOut:
    """The number to call, in clear; the reveal is audited."""
    row = queues.load_callback(session, principal, request_id)
    context = app_context(request)
    number = queues.reveal_callback_number(
        session, principal, row, context.vault, now=context.now(), source=client_address(request)
    )
    return schemas.NumberOut(number=number)
