"""Logging in and out of the web pages."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from admin_api import audit, auth
from admin_api.access import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    OptionalPrincipal,
    web_principal,
)
from admin_api.context import app_context, client_address
from admin_api.errors import AccountLocked, CsrfFailed, NotAuthenticated, TooManyAttempts
from admin_api.web import render
from core.states import UserRole

router = APIRouter(include_in_schema=False)


def safe_next(target: str) -> str:
    """Only a path on this site: never ``//evil.example`` or ``https://...``."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/cases"
    return target


def _login_page(
    request: Request, next_page: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    context = app_context(request)
    cookie = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "next": safe_next(next_page),
            "error": error,
            "csrf": auth.csrf_token(context.secret, cookie),
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=context.settings.web.secure_cookies,
    )
    return response


@router.get("/login")
def login_form(
    request: Request,
    principal: OptionalPrincipal,
    next_page: Annotated[str, Query(alias="next", max_length=2000)] = "/cases",
) -> Response:
    if principal is not None and principal.via == "session":
        return RedirectResponse(safe_next(next_page), status_code=303)
    return _login_page(request, next_page)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form()] = "",
    next_page: Annotated[str, Form(alias="next")] = "/cases",
) -> Response:
    context = app_context(request)
    source = client_address(request)
    if not auth.csrf_ok(context.secret, request.cookies.get(LOGIN_COOKIE, ""), csrf_token):
        raise CsrfFailed("the login form is out of date; reload the page")
    try:
        context.limiter.hit(source)
    except TooManyAttempts:
        return _login_page(request, next_page, "login.too_many", status_code=429)
    now = context.now()
    failure = ""
    with context.db.transaction() as session:
        # The failure is committed too: the lockout counter and the audit event must stay.
        try:
            user = auth.authenticate(
                session, username, password, now=now, source=source, settings=context.settings.web
            )
        except AccountLocked:
            failure = "login.locked"
        except NotAuthenticated:
            failure = "login.wrong"
        else:
            raw = auth.open_web_session(
                session, user, now=now, source=source, settings=context.settings.web
            )
    if failure:
        return _login_page(request, next_page, failure, status_code=401)
    target = safe_next(next_page)
    if user.role is UserRole.editor and target == "/cases":
        target = "/"  # the inbox is not for editors
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=int(context.settings.web.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=context.settings.web.secure_cookies,
    )
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(
    request: Request, principal: Annotated[auth.Principal, Depends(web_principal)]
) -> Response:
    context = app_context(request)
    now = context.now()
    with context.db.transaction() as session:
        auth.revoke_web_session(session, principal.session_token, now=now)
        audit.record(
            session,
            principal,
            "auth.logout",
            now=now,
            source=client_address(request),
            object_type="user",
            object_id=principal.user_id,
        )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
