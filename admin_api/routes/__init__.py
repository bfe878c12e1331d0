"""Routers per area: the API ones go under ``/api/v1`` (JSON), the others are pages."""

from __future__ import annotations

from fastapi import APIRouter

from admin_api.routes import (
    account,
    api_auth,
    api_cases,
    api_content,
    api_queues,
    api_radio,
    audit_log,
    stats,
    system,
    users,
    web_auth,
    web_cases,
    web_content,
    web_queues,
    web_radio,
)


def api_routers() -> list[APIRouter]:
    return [
        api_auth.router,
        api_cases.router,
        api_queues.router,
        stats.api,
        audit_log.api,
        users.api,
        api_content.router,
        api_radio.radio,
        api_radio.station_api,
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
        web_content.router,
        web_radio.router,
    ]
