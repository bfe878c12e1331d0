"""/health and the API docs, in process, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from admin_api.app import create_app
from core import migrate
from core.db import Database
from core.settings import Settings


def test_health_ok_and_docs(settings: Settings, db: Database) -> None:
    with TestClient(create_app(settings, db, "9.9.9")) as client:
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "version": "9.9.9",
            "database": db.dialect,
            "migrated": True,
        }
        assert "swagger" in client.get("/docs").text.lower()
        assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "desbumi"


def test_health_reports_missing_migrations(settings: Settings, db: Database) -> None:
    migrate.downgrade(db, "base")
    with TestClient(create_app(settings, db, "1")) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "needs_migration"
    migrate.upgrade(db)


def test_health_reports_unreachable_database(settings: Settings) -> None:
    gone = Database(create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    with TestClient(create_app(settings, gone, "1")) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    gone.dispose()
