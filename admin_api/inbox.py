"""The case inbox: the cases a principal may see, most urgent first, then oldest first.

The order ``urgency_rank DESC, created_at, id`` with a status filter is what the index
``ix_cases_inbox (status, urgency_rank, created_at, village_id, id)`` serves, district
scope included; pages are fetched one row beyond their size to tell whether there is a next
page, without counting every case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.orm import Session

from admin_api.access import case_visibility
from admin_api.auth import Principal
from core.models import Case, District, User, Village
from core.states import CaseStatus, Urgency, UserRole
from transcription.triage import Indicator

OPEN_STATUSES = (
    CaseStatus.new,
    CaseStatus.in_review,
    CaseStatus.referred,
    CaseStatus.follow_up,
)
UNASSIGNED = 0  # assignee filter value meaning "nobody"


@dataclass(frozen=True)
class InboxFilter:
    """What the inbox shows. Empty fields filter nothing; dates are local calendar days."""

    statuses: tuple[CaseStatus, ...] = OPEN_STATUSES
    indicator: Indicator | None = None
    village_id: int | None = None
    district_id: int | None = None
    language: str | None = None
    # A user id, UNASSIGNED for cases nobody has, None for any.
    assignee_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None
    page: int = 1


@dataclass(frozen=True)
class InboxRow:
    """What an inbox row shows: read with one plain query, no ORM objects."""

    id: int
    reference: str
    status: CaseStatus
    urgency: Urgency
    urgency_reasons: list[Any]
    indicators: list[Any]
    language: str
    destination_country: str | None
    incomplete: bool
    created_at: datetime
    updated_at: datetime
    assignee_id: int | None
    assignee_name: str | None
    village_name: str | None
    village_timezone: str | None
    district_name: str | None


@dataclass(frozen=True)
class InboxPage:
    cases: Sequence[InboxRow]
    page: int
    has_next: bool


_ROW_COLUMNS = (
    Case.id,
    Case.reference,
    Case.status,
    Case.urgency,
    Case.urgency_reasons,
    Case.indicators,
    Case.language,
    Case.destination_country,
    Case.incomplete,
    Case.created_at,
    Case.updated_at,
    Case.assignee_id,
    func.coalesce(func.nullif(User.full_name, ""), User.username),
    Village.name,
    Village.timezone,
    District.name,
)


def _day_start(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))


def inbox(
    session: Session,
    principal: Principal,
    filters: InboxFilter,
    *,
    page_size: int,
    timezone: str,
) -> InboxPage:
    """One page of the inbox for ``principal``."""
    query = select(Case.id)
    if principal.role is UserRole.case_worker:
        villages = select(Village.id).where(Village.district_id.in_(sorted(principal.district_ids)))
        # One term over the index's village_id column ("no village" is 0): the planner
        # then reads ix_cases_inbox alone instead of collecting every case of her villages
        # through ix_cases_village_id and sorting them.
        query = query.where(
            func.coalesce(Case.village_id, 0).in_(villages.union_all(select(literal(0))))
        )
    else:
        query = query.where(case_visibility(principal))
    if filters.statuses:
        query = query.where(Case.status.in_(filters.statuses))
    if filters.indicator is not None:
        # Indicator names are a closed set of identifiers, so a text match on the stored
        # JSON is exact and works the same on SQLite and PostgreSQL.
        query = query.where(
            cast(Case.indicators, String).like(f'%"indicator": "{filters.indicator.value}"%')
        )
    if filters.village_id is not None:
        query = query.where(Case.village_id == filters.village_id)
    if filters.district_id is not None:
        query = query.where(
            Case.village_id.in_(
                select(Village.id).where(Village.district_id == filters.district_id)
            )
        )
    if filters.language:
        query = query.where(Case.language == filters.language)
    if filters.assignee_id == UNASSIGNED:
        query = query.where(Case.assignee_id.is_(None))
    elif filters.assignee_id is not None:
        query = query.where(Case.assignee_id == filters.assignee_id)
    if filters.created_from is not None:
        query = query.where(Case.created_at >= _day_start(filters.created_from, timezone))
    if filters.created_to is not None:
        end = _day_start(filters.created_to + timedelta(days=1), timezone)
        query = query.where(Case.created_at < end)
    page = max(1, filters.page)
    ids = list(
        session.scalars(
            query.order_by(Case.urgency_rank.desc(), Case.created_at, Case.id)
            .offset((page - 1) * page_size)
            .limit(page_size + 1)
        )
    )
    # The page's rows are read by id afterwards: sorting ids read from the index alone is
    # far cheaper than sorting whole rows (a "deferred join").
    loaded = session.execute(
        select(*_ROW_COLUMNS)
        .outerjoin(User, Case.assignee_id == User.id)
        .outerjoin(Village, Case.village_id == Village.id)
        .outerjoin(District, Village.district_id == District.id)
        .where(Case.id.in_(ids[:page_size]))
    )
    by_id = {row[0]: InboxRow(*row) for row in loaded}
    return InboxPage([by_id[i] for i in ids[:page_size]], page, len(ids) > page_size)
