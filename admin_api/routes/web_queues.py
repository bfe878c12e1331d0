"""The follow-ups page (with its overdue view) and the callback queue page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from admin_api import queues
from admin_api.access import CASE_ROLES, requires, web_principal
from admin_api.auth import Principal
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.params import PathId
from admin_api.routes.api_queues import callback_out
from admin_api.web import render
from core.states import CallbackState
from ivr.callbacks import failure_reason

router = APIRouter(include_in_schema=False)
CaseWorker = Annotated[Principal, Depends(requires(web_principal, *CASE_ROLES))]
WriteSession = Annotated[Session, Depends(write_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]


@router.get("/follow-ups")
def follow_ups_page(
    request: Request, principal: CaseWorker, session: ReadSession, overdue: bool = False
) -> HTMLResponse:
    now = app_context(request).now()
    rows = queues.follow_ups(session, principal, now=now, overdue_only=overdue)
    return render(request, "follow_ups.html", {"rows": rows, "overdue": overdue})


def reason_key(reason: str) -> str:
    """The catalogue key of a reason the callback dialer writes (``no answer``...)."""
    return "callback.reason." + reason.replace(" ", "_")


def _queue_page(
    request: Request, session: Session, principal: Principal, revealed: dict[int, str]
) -> HTMLResponse:
    rows = [callback_out(session, request, r) for r in queues.callback_queue(session, principal)]
    # Why the automatic callbacks failed, in the page's language (busy, no answer...).
    reasons = {
        row.id: reason_key(reason)
        for row in rows
        if row.state is CallbackState.failed
        and (reason := failure_reason(row.last_error)) is not None
    }
    return render(
        request, "callbacks.html", {"rows": rows, "revealed": revealed, "reasons": reasons}
    )


@router.get("/callbacks")
def callbacks_page(request: Request, principal: CaseWorker, session: ReadSession) -> HTMLResponse:
    return _queue_page(request, session, principal, {})


@router.post("/callbacks/{request_id}/done")
def callback_done(
    request: Request, request_id: PathId, principal: CaseWorker, session: WriteSession
) -> RedirectResponse:
    row = queues.load_callback(session, principal, request_id)
    now = app_context(request).now()
    queues.handle_callback(session, principal, row, "done", now=now, source=client_address(request))
    return RedirectResponse("/callbacks", status_code=303)


@router.post("/callbacks/{request_id}/cancel")
def callback_cancel(
    request: Request, request_id: PathId, principal: CaseWorker, session: WriteSession
) -> RedirectResponse:
    row = queues.load_callback(session, principal, request_id)
    now = app_context(request).now()
    queues.handle_callback(
        session, principal, row, "cancelled", now=now, source=client_address(request)
    )
    return RedirectResponse("/callbacks", status_code=303)


@router.post("/callbacks/{request_id}/number")
def callback_number(
    request: Request, request_id: PathId, principal: CaseWorker, session: WriteSession
) -> HTMLResponse:
    """Shows the number in this response only."""
    row = queues.load_callback(session, principal, request_id)
    context = app_context(request)
    number = queues.reveal_callback_number(
        session, principal, row, context.vault, now=context.now(), source=client_address(request)
    )
    return _queue_page(request, session, principal, {row.id: number})
