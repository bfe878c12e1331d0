"""The FastAPI application. Built by :func:`create_app` from settings and a database.

Two faces on one set of services: the JSON API under ``/api/v1`` (OpenAPI at
``/api/v1/openapi.json``, documentation at ``/docs``) and server-rendered pages for
browsers. Only this package maps errors to HTTP: API errors are JSON with a stable
``code``; on pages they are a short page in the reader's language, and a missing login
is a redirect to the login page.
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin_api import routes, stations
from admin_api.access import LoginRequired
from admin_api.auth import LoginRateLimiter
from admin_api.context import AppContext
from admin_api.errors import ApiError, Invalid, from_broadcast
from admin_api.web import render, templates
from broadcasts.errors import BroadcastError
from core.clock import Clock, SystemClock
from core.db import Database
from core.errors import InvalidTransition
from core.security import PhoneVault
from core.settings import Settings
from transcription.errors import TranscriptRejected

API_PREFIX = "/api/v1"
# Pages and API answers: scripts, styles, audio only from this server; no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


class SecurityHeaders:
    """Pure ASGI middleware (no buffering, so audio streams untouched) adding the headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Swagger UI at /docs loads its own scripts and styles.
        strict = scope["path"] != "/docs"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if strict:
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    settings: Settings, db: Database, version: str, clock: Clock | None = None
) -> FastAPI:
    """The whole HTTP surface: ``/health``, ``/api/v1/...``, the pages, the docs at ``/docs``."""
    app = FastAPI(
        title="desbumi",
        version=version,
        summary="Hotline, case triage and community radio for DESBUMI village centres",
        docs_url="/docs",
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    secret = settings.require_secret()
    app.state.settings = settings
    app.state.db = db
    app.state.context = AppContext(
        settings=settings,
        db=db,
        clock=clock or SystemClock(),
        vault=PhoneVault(secret),
        secret=secret,
        limiter=LoginRateLimiter(settings.web.login_attempts_per_minute),
        templates=templates(),
        version=version,
    )
    # The station routes read the same clock as the pages.
    app.state.clock = app.state.context.clock
    app.add_middleware(SecurityHeaders)
    # Pages and JSON shrink to a fifth over a slow village connection; audio is left alone
    # (already dense, and Range requests must see the bytes as stored).
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
    static = resources.files("admin_api").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    for router in routes.api_routers():
        app.include_router(router, prefix=API_PREFIX)
    for router in routes.web_routers():
        app.include_router(router)
    stations.install(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        if _is_api(request):
            headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
            return JSONResponse(
                status_code=exc.status_code,
                content={"code": exc.code, "message": str(exc)},
                headers=headers,
            )
        if isinstance(exc, LoginRequired) or exc.status_code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "code": exc.code, "message": str(exc)},
            status_code=exc.status_code,
        )

    @app.exception_handler(InvalidTransition)
    async def _invalid_transition(request: Request, exc: InvalidTransition) -> Response:
        return await _api_error(request, _Conflict(str(exc)))

    @app.exception_handler(BroadcastError)
    async def _broadcast_error(request: Request, exc: BroadcastError) -> Response:
        # Stations get their own answers (one 401 for every bad key); people get pages.
        if request.url.path.startswith("/radio/"):
            return await stations.station_error(request, exc)
        return await _api_error(request, from_broadcast(exc))

    @app.exception_handler(TranscriptRejected)
    async def _transcript_rejected(request: Request, exc: TranscriptRejected) -> Response:
        return await _api_error(request, Invalid(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return await request_validation_exception_handler(request, exc)
        fields = ", ".join(str(error["loc"][-1]) for error in exc.errors())
        return await _api_error(request, _Unprocessable(fields))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path.startswith("/static"):
            return JSONResponse(
                status_code=exc.status_code,
                content={"code": "http_error", "message": str(exc.detail)},
            )
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "code": "http_error", "message": str(exc.detail)},
            status_code=exc.status_code,
        )

    return app


class _Conflict(ApiError):
    status_code = 409
    code = "invalid_transition"


class _Unprocessable(ApiError):
    status_code = 422
    code = "invalid_form"
