"""User management for admins: the page and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from admin_api import accounts
from admin_api.access import api_principal, requires, web_principal
from admin_api.auth import Principal
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.params import PathId
from admin_api.web import render
from core.models import User
from core.states import UserRole

web = APIRouter(include_in_schema=False)
api = APIRouter(tags=["users"])
WebAdmin = Annotated[Principal, Depends(requires(web_principal, UserRole.admin))]
ApiAdmin = Annotated[Principal, Depends(requires(api_principal, UserRole.admin))]
WriteSession = Annotated[Session, Depends(write_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]


class UserOut(BaseModel):
    id: int
    username: str
    full_name: str
    role: UserRole
    districts: list[str]
    is_active: bool
    locked_until: datetime | None
    last_login_at: datetime | None


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: UserRole
    districts: list[str] = Field(default_factory=list, max_length=200)
    full_name: str = Field(default="", max_length=120)


class NewPassword(BaseModel):
    user: UserOut
    password: str = Field(description="shown once; only its argon2 hash is stored")


class ActiveIn(BaseModel):
    active: bool


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        districts=[d.code for d in user.districts],
        is_active=user.is_active,
        locked_until=user.locked_until,
        last_login_at=user.last_login_at,
    )


@api.get("/users")
def list_users(principal: ApiAdmin, session: ReadSession) -> list[UserOut]:
    return [user_out(u) for u in accounts.list_users(session)]


@api.post("/users", status_code=201, responses={409: {}})
def add_user(
    request: Request, body: UserIn, principal: ApiAdmin, session: WriteSession
) -> NewPassword:
    """Add a user; her generated password is in the answer, once."""
    user, password = accounts.add_user(
        session,
        principal,
        username=body.username,
        role=body.role,
        district_codes=body.districts,
        full_name=body.full_name,
        now=app_context(request).now(),
        source=client_address(request),
    )
    return NewPassword(user=user_out(user), password=password)


@api.post("/users/{user_id}/password", responses={404: {}})
def new_password(
    request: Request, user_id: PathId, principal: ApiAdmin, session: WriteSession
) -> NewPassword:
    """A new generated password; unlocks the account and ends her sessions and tokens."""
    user, password = accounts.new_password(
        session,
        principal,
        user_id,
        now=app_context(request).now(),
        source=client_address(request),
    )
    return NewPassword(user=user_out(user), password=password)


@api.put("/users/{user_id}/active", responses={404: {}, 409: {}})
def set_active(
    request: Request, user_id: PathId, body: ActiveIn, principal: ApiAdmin, session: WriteSession
) -> UserOut:
    """Deactivate (her sessions and tokens end) or reactivate a user."""
    user = accounts.set_active(
        session,
        principal,
        user_id,
        body.active,
        now=app_context(request).now(),
        source=client_address(request),
    )
    return user_out(user)


def _page(request: Request, session: Session, shown: tuple[str, str] | None = None) -> HTMLResponse:
    return render(
        request,
        "users.html",
        {
            "users": accounts.list_users(session),
            "districts": accounts.district_choices(session),
            "roles": list(UserRole),
            "shown": shown,
        },
    )


@web.get("/users")
def users_page(request: Request, principal: WebAdmin, session: ReadSession) -> HTMLResponse:
    return _page(request, session)


@web.post("/users")
def add_user_form(
    request: Request,
    principal: WebAdmin,
    session: WriteSession,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[UserRole, Form()],
    full_name: Annotated[str, Form(max_length=120)] = "",
    district: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse:
    """Shows the new password in this response only."""
    user, password = accounts.add_user(
        session,
        principal,
        username=username,
        role=role,
        district_codes=district or [],
        full_name=full_name,
        now=app_context(request).now(),
        source=client_address(request),
    )
    session.flush()
    return _page(request, session, (user.username, password))


@web.post("/users/{user_id}/password")
def new_password_form(
    request: Request, user_id: PathId, principal: WebAdmin, session: WriteSession
) -> HTMLResponse:
    user, password = accounts.new_password(
        session,
        principal,
        user_id,
        now=app_context(request).now(),
        source=client_address(request),
    )
    return _page(request, session, (user.username, password))


@web.post("/users/{user_id}/active")
def set_active_form(
    request: Request,
    user_id: PathId,
    principal: WebAdmin,
    session: WriteSession,
    active: Annotated[bool, Form()],
) -> RedirectResponse:
    accounts.set_active(
        session,
        principal,
        user_id,
        active,
        now=app_context(request).now(),
        source=client_address(request),
    )
    return RedirectResponse("/users", status_code=303)
