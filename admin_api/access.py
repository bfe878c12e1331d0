"""Who may do what: the principal of a request, roles, and district scoping.

Roles: an ``admin`` sees and changes everything; a ``case_worker`` works the cases of
villages in her districts; an ``editor`` works on content and sees no case.

Cases with no village (the caller pressed no village code, or the call came from a
line that belongs to no village) are visible to every case worker: on a shared hotline
an urgent report must never wait because nobody's district matches it. A case worker
gives it a village, and from then on only that district's case workers see it.

Out-of-scope cases answer 404, not 403, so that a case's existence is not disclosed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, and_, exists, not_, or_, select, true
from sqlalchemy.orm import Session

from admin_api import auth
from admin_api.context import app_context, write_tx
from admin_api.errors import CsrfFailed, Forbidden, NotAuthenticated, NotFound
from admin_api.params import PathId
from core.models import Call, Case, Village
from core.states import UserRole

SESSION_COOKIE = "desbumi_session"
# Set on the login page, so that the login form has a CSRF token before any session.
LOGIN_COOKIE = "desbumi_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CASE_ROLES = (UserRole.admin, UserRole.case_worker)


class LoginRequired(NotAuthenticated):
    """A web page needs a session: the browser is sent to the login page."""


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def optional_principal(request: Request) -> auth.Principal | None:
    """The principal of a bearer token or a session cookie, or None."""
    context = app_context(request)
    now = context.now()
    token = _bearer(request)
    raw = token or request.cookies.get(SESSION_COOKIE, "")
    if not raw:
        return None
    with context.db.read_session() as session, session.begin():
        if token:
            principal, stale = auth.resolve_api_token(session, raw, now=now)
        else:
            principal, stale = auth.resolve_web_session(
                session, raw, now=now, settings=context.settings.web
            )
    if principal is not None and stale:
        with context.db.transaction() as session:
            auth.touch(session, principal, raw, now=now)
    request.state.principal = principal
    return principal


OptionalPrincipal = Annotated[auth.Principal | None, Depends(optional_principal)]


def _check_csrf(request: Request, principal: auth.Principal, offered: str) -> None:
    if request.method in SAFE_METHODS or principal.via != "session":
        return
    if not auth.csrf_ok(app_context(request).secret, principal.session_token, offered):
        raise CsrfFailed("the form is out of date or came from another site; reload the page")


async def api_principal(request: Request, principal: OptionalPrincipal) -> auth.Principal:
    """API: a bearer token, or a session cookie plus the ``X-CSRF-Token`` header."""
    if principal is None:
        raise NotAuthenticated("log in, or send Authorization: Bearer <token>")
    _check_csrf(request, principal, request.headers.get(CSRF_HEADER, ""))
    return principal


async def web_principal(request: Request, principal: OptionalPrincipal) -> auth.Principal:
    """Web pages: a session cookie; forms carry the CSRF token in a hidden field."""
    if principal is None or principal.via != "session":
        raise LoginRequired("log in first")
    offered = request.headers.get(CSRF_HEADER, "")
    if request.method not in SAFE_METHODS and not offered:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        offered = value if isinstance(value, str) else ""
    _check_csrf(request, principal, offered)
    return principal


PrincipalDep = Callable[..., Coroutine[Any, Any, auth.Principal]]


def requires(base: PrincipalDep, *roles: UserRole) -> PrincipalDep:
    """A dependency: ``base``'s principal, if her role is one of ``roles``."""

    async def check(principal: auth.Principal) -> auth.Principal:
        if principal.role not in roles:
            raise Forbidden("your role does not allow this")
        return principal

    # The annotations of a closure are strings here (PEP 563) that FastAPI would resolve in
    # the module's globals, where ``base`` is not: give it the signature as objects.
    _signature(check, principal=Annotated[auth.Principal, Depends(base)])
    check.__name__ = f"requires_{'_'.join(roles)}"
    return check


def _signature(function: Callable[..., Any], **parameters: Any) -> None:
    function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=kind)
            for name, kind in parameters.items()
        ]
    )


def case_visibility(principal: auth.Principal) -> ColumnElement[bool]:
    """SQL: the cases ``principal`` may see."""
    if principal.role is UserRole.admin:
        return true()
    if principal.role is not UserRole.case_worker:
        return Case.id.is_(None)  # nothing
    villages = select(Village.id).where(Village.district_id.in_(sorted(principal.district_ids)))
    return or_(Case.village_id.is_(None), Case.village_id.in_(villages))


def call_visibility(principal: auth.Principal) -> ColumnElement[bool]:
    """SQL: the calls ``principal`` may see: from a village of hers or from none, and not
    the call of a case she may not see (a call from no village whose case was placed in
    another district is that district's)."""
    if principal.role is UserRole.admin:
        return true()
    if principal.role is not UserRole.case_worker:
        return Call.id.is_(None)  # nothing
    villages = select(Village.id).where(Village.district_id.in_(sorted(principal.district_ids)))
    hidden_case = exists().where(Case.call_id == Call.id, not_(case_visibility(principal)))
    return and_(or_(Call.village_id.is_(None), Call.village_id.in_(villages)), ~hidden_case)


def may_see_village(principal: auth.Principal, district_id: int) -> bool:
    """Whether a place in ``district_id`` is in ``principal``'s districts (admins: all)."""
    if principal.role is UserRole.admin:
        return True
    return principal.role is UserRole.case_worker and district_id in principal.district_ids


def may_see(principal: auth.Principal, case: Case) -> bool:
    if principal.role is UserRole.admin:
        return True
    if principal.role is not UserRole.case_worker:
        return False
    return case.village is None or case.village.district_id in principal.district_ids


def load_case(session: Session, principal: auth.Principal, case_id: int) -> Case:
    """The case, if ``principal`` may see it; NotFound otherwise (also when it is hidden)."""
    case = session.get(Case, case_id)
    if case is None or not may_see(principal, case):
        raise NotFound(f"no case {case_id}")
    return case


def scoped_case(base: PrincipalDep) -> Callable[..., Case]:
    """A dependency: the case of the ``case_id`` path parameter, checked for scope."""

    def dependency(case_id: int, principal: auth.Principal, session: Session) -> Case:
        return load_case(session, principal, case_id)

    _signature(
        dependency,
        case_id=PathId,
        principal=Annotated[auth.Principal, Depends(requires(base, *CASE_ROLES))],
        session=Annotated[Session, Depends(write_tx, scope="function")],
    )
    return dependency
