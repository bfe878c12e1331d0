"""The FastAPI application. Built by :func:`create_app` from settings and a database."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from admin_api import stations
from admin_api.errors import ApiError
from core import migrate
from core.db import Database
from core.errors import DatabaseUnavailable
from core.settings import Settings


def create_app(settings: Settings, db: Database, version: str) -> FastAPI:
    """The whole HTTP surface: ``/health``, ``/api/v1/...`` and the docs at ``/docs``."""
    app = FastAPI(
        title="desbumi",
        version=version,
        summary="Hotline, case triage and community radio for DESBUMI village centres",
        docs_url="/docs",
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.db = db
    stations.install(app)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code, content={"code": exc.code, "message": str(exc)}
        )

    @app.get("/health", tags=["system"])
    def health() -> JSONResponse:
        """Liveness and readiness: 200 when the database answers and is migrated."""
        body: dict[str, Any] = {"status": "ok", "version": version, "database": db.dialect}
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

    return app
