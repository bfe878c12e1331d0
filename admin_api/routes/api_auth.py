"""API authentication: bearer tokens for scripts and other systems."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_api import audit, auth
from admin_api.access import api_principal
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.errors import AccountLocked, NotAuthenticated, NotFound
from admin_api.params import PathId
from core.models import ApiToken
from core.states import UserRole

router = APIRouter(prefix="/auth", tags=["auth"])
ApiPrincipal = Annotated[auth.Principal, Depends(api_principal)]


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    name: str = Field(default="api", max_length=64, description="what the token is for")
    days: int | None = Field(default=90, ge=1, le=3650, description="lifetime; null: no expiry")


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenOut):
    token: str = Field(description="the bearer token; shown once, only its hash is stored")


class Me(BaseModel):
    id: int
    username: str
    full_name: str
    role: UserRole
    district_ids: list[int]
    language: str


def _out(row: ApiToken) -> TokenOut:
    return TokenOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.post("/tokens", status_code=201, responses={401: {}, 423: {}, 429: {}})
def create_token(request: Request, body: TokenRequest) -> NewToken:
    """Exchange a username and password for a bearer token (``Authorization: Bearer ...``).

    Counts as a login: rate-limited per address, and wrong passwords lock the account.
    """
    context = app_context(request)
    source = client_address(request)
    context.limiter.hit(source)
    now = context.now()
    failure: NotAuthenticated | AccountLocked | None = None
    with context.db.transaction() as session:
        try:
            user = auth.authenticate(
                session,
                body.username,
                body.password,
                now=now,
                source=source,
                settings=context.settings.web,
            )
        except (NotAuthenticated, AccountLocked) as exc:
            failure = exc
        else:
            row, raw = auth.issue_api_token(session, user, name=body.name, now=now, days=body.days)
            out = NewToken(token=raw, **_out(row).model_dump())
    if failure is not None:
        raise failure
    return out


@router.get("/me")
def me(principal: ApiPrincipal) -> Me:
    """Who the token or session belongs to."""
    return Me(
        id=principal.user_id,
        username=principal.username,
        full_name=principal.full_name,
        role=principal.role,
        district_ids=sorted(principal.district_ids),
        language=principal.language,
    )


@router.get("/tokens")
def list_tokens(
    principal: ApiPrincipal, session: Annotated[Session, Depends(read_tx, scope="function")]
) -> list[TokenOut]:
    """Your own tokens (never the tokens themselves: those were shown once)."""
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.id)
    )
    return [_out(row) for row in rows]


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(
    request: Request,
    token_id: PathId,
    principal: ApiPrincipal,
    session: Annotated[Session, Depends(write_tx, scope="function")],
) -> None:
    """Revoke one of your tokens (an admin may revoke anyone's)."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != principal.user_id and principal.role is not UserRole.admin):
        raise NotFound(f"no token {token_id}")
    context = app_context(request)
    if row.revoked_at is None:
        row.revoked_at = context.now()
    audit.record(
        session,
        principal,
        "auth.token_revoke",
        now=context.now(),
        source=client_address(request),
        object_type="api_token",
        object_id=token_id,
        details={"owner": row.user_id},
    )
