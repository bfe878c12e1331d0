"""Health, the front page and the language switch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from admin_api import content_view, i18n
from admin_api.access import LOGIN_COOKIE, OptionalPrincipal
from admin_api.auth import csrf_ok
from admin_api.context import app_context
from admin_api.errors import CsrfFailed
from admin_api.routes.web_auth import safe_next
from admin_api.web import render
from core import migrate
from core.errors import DatabaseUnavailable
from core.models import User
from core.states import UserRole

router = APIRouter()


@router.get("/health", tags=["system"])
def health(request: Request) -> JSONResponse:
    """Liveness and readiness: 200 when the database answers and is migrated."""
    context = app_context(request)
    db = context.db
    body: dict[str, Any] = {"status": "ok", "version": context.version, "database": db.dialect}
    try:
        db.ping()
        body["migrated"] = migrate.is_up_to_date(db)
    except DatabaseUnavailable:
        body.update(status="unavailable", migrated=False)
        return JSONResponse(status_code=503, content=body)
    if not body["migrated"]:
        body["status"] = "needs_migration"
        return JSONResponse(status_code=503, content=body)
    return JSONResponse(content=body)


@router.get("/", include_in_schema=False)
def front_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Case workers and admins start at the inbox; editors at their own front page."""
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if principal.role is UserRole.editor:
        context = app_context(request)
        with context.db.read_session() as session, session.begin():
            rows = content_view.content_list(session, principal, context.now())
            todo = {
                "to_review": sum(1 for r in rows if r.needs_my_review),
                "sent_back": sum(1 for r in rows if r.sent_back_to_me),
            }
        return render(request, "home.html", todo)
    return RedirectResponse("/cases", status_code=303)


@router.post("/language", include_in_schema=False)
def choose_language(
    request: Request,
    principal: OptionalPrincipal,
    language: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next_page: Annotated[str, Form(alias="next")] = "/",
) -> RedirectResponse:
    """Switch the interface language; remembered for the user, or in a cookie."""
    context = app_context(request)
    cookie = principal.session_token if principal else request.cookies.get(LOGIN_COOKIE, "")
    if not csrf_ok(context.secret, cookie, csrf_token):
        raise CsrfFailed("the form is out of date; reload the page")
    chosen = language if language in i18n.LANGUAGES else context.settings.web.language
    if principal is not None:
        with context.db.transaction() as session:
            user = session.get(User, principal.user_id)
            if user is not None:
                user.language = chosen
    response = RedirectResponse(safe_next(next_page), status_code=303)
    response.set_cookie(
        i18n.LANGUAGE_COOKIE,
        chosen,
        max_age=365 * 86400,
        httponly=True,
        samesite="lax",
        secure=context.settings.web.secure_cookies,
    )
    return response
