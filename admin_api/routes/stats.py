"""Statistics: the page with charts, the CSV export, and the same export as JSON."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from admin_api import audit, charts, i18n, stats
from admin_api.access import CASE_ROLES, api_principal, requires, web_principal
from admin_api.auth import Principal
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.errors import Invalid
from admin_api.web import language_of, render
from core.clock import local_time

web = APIRouter(include_in_schema=False)
api = APIRouter(tags=["statistics"])
WebViewer = Annotated[Principal, Depends(requires(web_principal, *CASE_ROLES))]
ApiViewer = Annotated[Principal, Depends(requires(api_principal, *CASE_ROLES))]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]
WriteSession = Annotated[Session, Depends(write_tx, scope="function")]
MAX_DAYS = 366 * 5


class StatsRow(BaseModel):
    table: str
    value: str
    female: str
    male: str
    unknown: str
    total: str


def _report(
    request: Request,
    session: Session,
    principal: Principal,
    start: date | None,
    end: date | None,
) -> stats.Report:
    context = app_context(request)
    period = stats.default_period(local_time(context.now(), context.settings.timezone).date())
    period = stats.Period(start or period.start, end or period.end)
    if period.end < period.start or (period.end - period.start).days > MAX_DAYS:
        raise Invalid("choose a period from 1 day to 5 years")
    return stats.build_report(
        session,
        principal,
        period,
        timezone=context.settings.timezone,
        dialect=context.db.dialect,
    )


def _audit_export(request: Request, session: Session, principal: Principal, kind: str) -> None:
    audit.record(
        session,
        principal,
        f"stats.export_{kind}",
        now=app_context(request).now(),
        source=client_address(request),
    )


@web.get("/stats")
def stats_page(
    request: Request,
    principal: WebViewer,
    session: ReadSession,
    start: date | None = None,
    end: date | None = None,
) -> HTMLResponse:
    report = _report(request, session, principal, start, end)
    t = report.tables
    translate = i18n.Translator(language_of(request, principal))
    labels = stats.LABEL_PREFIXES
    figures = {
        "calls_by_month": charts.column_chart(
            "calls", stats.months_series(report, "calls_by_month")
        ),
        "cases_by_month": charts.column_chart(
            "cases", stats.months_series(report, "cases_by_month")
        ),
        **{
            name: charts.bar_chart(
                name,
                [
                    (translate(labels[name] + key) if name in labels else key, counts)
                    for key, counts in t[name].sorted_by_total()[:20]
                ],
            )
            for name in (
                "calls_by_district",
                "calls_by_outcome",
                "cases_by_district",
                "cases_by_village",
                "cases_by_country",
                "cases_by_indicator",
            )
        },
    }
    return render(
        request,
        "stats.html",
        {"report": report, "figures": figures, "sexes": stats.SEXES, "labels": labels},
    )


@web.get("/stats.csv")
def stats_csv(
    request: Request,
    principal: WebViewer,
    session: WriteSession,
    start: date | None = None,
    end: date | None = None,
) -> Response:
    report = _report(request, session, principal, start, end)
    _audit_export(request, session, principal, "csv")
    return Response(
        stats.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="desbumi-stats-{report.start}-{report.end}.csv"'
            ),
            "Cache-Control": "no-store",
        },
    )


@api.get("/stats")
def stats_json(
    request: Request,
    principal: ApiViewer,
    session: WriteSession,
    start: date | None = None,
    end: date | None = None,
) -> list[StatsRow]:
    """The export as JSON: counts 1 to 4 are ``<5``, and a cell that would give one away
    through a total is ``*``."""
    report = _report(request, session, principal, start, end)
    _audit_export(request, session, principal, "json")
    rows = stats.export_rows(report)
    header = rows[0]
    return [StatsRow(**dict(zip(header, row, strict=True))) for row in rows[1:]]
