"""What every request handler needs, built once by :func:`admin_api.app.create_app`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from admin_api.auth import LoginRateLimiter
from core.clock import Clock
from core.db import Database
from core.security import PhoneVault
from core.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    clock: Clock
    vault: PhoneVault
    secret: str
    limiter: LoginRateLimiter
    templates: Jinja2Templates
    version: str

    def now(self) -> datetime:
        return self.clock.now()


def app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def write_tx(request: Request) -> Iterator[Session]:
    """One write transaction for the request, committed when the handler returns.

    Used with ``Depends(write_tx, scope="function")`` so the commit happens before the
    response is sent: a client that sees 200 (or follows a redirect) sees the change.
    """
    with app_context(request).db.transaction() as session:
        yield session


def read_tx(request: Request) -> Iterator[Session]:
    """A read-only transaction (on SQLite it never waits for writers)."""
    with app_context(request).db.read_session() as session, session.begin():
        yield session


def client_address(request: Request) -> str:
    """Where a request comes from, for the audit log and the login rate limit."""
    return request.client.host if request.client else ""
