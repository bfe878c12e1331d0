"""Her own account: change her password, see her sessions and tokens, end them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_api import audit, auth
from admin_api.access import web_principal
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.errors import NotFound
from admin_api.params import PathId
from admin_api.web import render
from core.models import ApiToken, User, WebSession
from core.security import hash_password, verify_password
from core.users import end_access

router = APIRouter(include_in_schema=False)
Me = Annotated[auth.Principal, Depends(web_principal)]
WriteSession = Annotated[Session, Depends(write_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]
MIN_PASSWORD = 12


def _page(
    request: Request, session: Session, principal: auth.Principal, done: str = "", error: str = ""
) -> HTMLResponse:
    now = app_context(request).now()
    sessions = session.scalars(
        select(WebSession)
        .where(
            WebSession.user_id == principal.user_id,
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
        )
        .order_by(WebSession.last_seen_at.desc())
    ).all()
    tokens = session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == principal.user_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.id)
    ).all()
    current = auth.session_hash(principal.session_token)
    return render(
        request,
        "account.html",
        {
            "sessions": sessions,
            "tokens": tokens,
            "current": current,
            "done": done,
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get("/account")
def account_page(
    request: Request, principal: Me, session: ReadSession, done: str = ""
) -> HTMLResponse:
    return _page(request, session, principal, done=done if done.isalpha() else "")


@router.post("/account/password")
def change_password(
    request: Request,
    principal: Me,
    session: WriteSession,
    current: Annotated[str, Form(max_length=256)],
    new: Annotated[str, Form(max_length=256)],
    again: Annotated[str, Form(max_length=256)],
) -> Response:
    """Her new password; every other session of hers ends."""
    user = session.get(User, principal.user_id)
    if user is None:
        raise NotFound("no such user")
    if not verify_password(user.password_hash, current):
        return _page(request, session, principal, error="account.wrong_current")
    if new != again:
        return _page(request, session, principal, error="account.mismatch")
    if len(new) < MIN_PASSWORD:
        return _page(request, session, principal, error="account.too_short")
    now = app_context(request).now()
    user.password_hash = hash_password(new)
    _end_other_sessions(session, principal, now)
    audit.record(
        session,
        principal,
        "user.change_own_password",
        now=now,
        source=client_address(request),
        object_type="user",
        object_id=principal.user_id,
    )
    return RedirectResponse("/account?done=password", status_code=303)


def _end_other_sessions(session: Session, principal: auth.Principal, now: datetime) -> None:
    """Her other browser sessions end; her API tokens stay (she revokes them here too)."""
    keep = auth.session_hash(principal.session_token)
    end_access(session, principal.user_id, now=now, keep=keep, tokens=False)


@router.post("/account/sessions/end-others")
def end_other_sessions(request: Request, principal: Me, session: WriteSession) -> Response:
    now = app_context(request).now()
    _end_other_sessions(session, principal, now)
    audit.record(
        session,
        principal,
        "auth.end_other_sessions",
        now=now,
        source=client_address(request),
        object_type="user",
        object_id=principal.user_id,
    )
    return RedirectResponse("/account?done=sessions", status_code=303)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: PathId, principal: Me, session: WriteSession
) -> Response:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound(f"no token {token_id}")
    now = app_context(request).now()
    if row.revoked_at is None:
        row.revoked_at = now
    audit.record(
        session,
        principal,
        "auth.token_revoke",
        now=now,
        source=client_address(request),
        object_type="api_token",
        object_id=token_id,
        details={"owner": row.user_id},
    )
    return RedirectResponse("/account?done=token", status_code=303)
