"""Routers per area: the API ones go under ``/api/v1`` (JSON), the others are pages."""

from __future__ import annotations

from fastapi import APIRouter

from admin_api.routes import (
    account,
    api_auth,
    api_cases,
    api_queues,
    audit_log,
    stats,
    system,
    users,
    web_auth,
    web_cases,
    web_queues,
)


def api_routers() -> list[APIRouter]:
    return [
        api_auth.router,
        api_cases.router,
        api_queues.router,
        stats.api,
        audit_log.api,
        users.api,
    ]


def web_routers() -> list[APIRouter]:
    return [
        system.router,
        web_auth.router,
        web_cases.router,
        web_queues.router,
        stats.web,
        audit_log.web,
        users.web,
        account.router,
    ]
