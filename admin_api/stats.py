"""Anonymous statistics: calls, cases and indicators over time and by place, by sex.

The programmes DESBUMI reports to need sex-disaggregated figures. Counts are grouped in
the database (one pass each for calls and cases; the indicators of the period's cases
are counted here, as they live in a JSON list). Months are the installation's local
calendar months.

Exports suppress small counts: a count from 1 to 4 is shown as ``<5``, and further
cells as ``*`` wherever a total would give a hidden one back (:mod:`admin_api.suppression`).
:func:`export_groups` names the totals a reader of an export knows: each row's total,
each column of the tables that count the same calls or cases (by month, by district, by
village, by country), each district's villages, and each indicator's months.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, literal, or_, select, true
from sqlalchemy.orm import QueryableAttribute, Session

from admin_api.auth import Principal
from admin_api.suppression import protect
from core.models import Call, Caller, Case, District, Village
from core.states import CallOutcome, Sex, UserRole

SEXES = (Sex.female, Sex.male, Sex.unknown)
SexCounts = dict[Sex, int]
COLUMNS = (*(s.value for s in SEXES), "total")
# Tables that count the same calls, or the same cases, each split another way: their
# column totals are equal, so one table's totals are known from another's.
SAME_CALLS = ("calls_by_month", "calls_by_district", "calls_by_outcome")
SAME_CASES = ("cases_by_month", "cases_by_district", "cases_by_village", "cases_by_country")
# Tables whose rows are keys (an outcome, an indicator): the page shows the message
# "<prefix><key>" in her language, in the chart and in the table alike.
LABEL_PREFIXES = {"calls_by_outcome": "call.", "cases_by_indicator": "indicator."}
# (table, row, column): one cell of an export.
Cell = tuple[str, str, str]


def _zero() -> SexCounts:
    return {sex: 0 for sex in SEXES}


@dataclass
class Table:
    """One breakdown: a row per value (a month, a district, ...), a count per sex."""

    name: str
    rows: dict[str, SexCounts] = field(default_factory=dict)

    def add(self, key: str, sex: Sex, count: int) -> None:
        self.rows.setdefault(key, _zero())[sex] += count

    def total(self, key: str) -> int:
        return sum(self.rows[key].values())

    def sorted_by_total(self) -> list[tuple[str, SexCounts]]:
        return sorted(self.rows.items(), key=lambda item: (-sum(item[1].values()), item[0]))


@dataclass
class Report:
    start: date
    end: date
    months: list[str]
    tables: dict[str, Table]
    # The districts of each row of cases_by_village (a name may be in two districts).
    village_districts: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Period:
    """Local calendar days, ``start`` to ``end`` inclusive."""

    start: date
    end: date

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        zone = ZoneInfo(timezone)
        return (
            datetime.combine(self.start, time(0), tzinfo=zone),
            datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=zone),
        )

    def months(self) -> list[str]:
        months, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months


def default_period(today: date) -> Period:
    """The last twelve months up to today."""
    start = date(today.year - 1, today.month, 1) + timedelta(days=32)
    return Period(start.replace(day=1), today)


def _month(column: QueryableAttribute[datetime], dialect: str, timezone: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(func.timezone(timezone, column), "YYYY-MM")
    # SQLite stores naive UTC; Indonesia's zones have no daylight saving, so a fixed offset
    # turns UTC into local time.
    offset = datetime.now(ZoneInfo(timezone)).utcoffset() or timedelta(0)
    hours = int(offset.total_seconds() // 3600)
    return func.strftime("%Y-%m", column, f"{hours:+d} hours")


def _village_scope(
    principal: Principal, column: QueryableAttribute[int | None]
) -> ColumnElement[bool]:
    if principal.role is UserRole.admin:
        return true()
    villages = select(Village.id).where(Village.district_id.in_(sorted(principal.district_ids)))
    return or_(column.is_(None), column.in_(villages))


def build_report(
    session: Session, principal: Principal, period: Period, *, timezone: str, dialect: str
) -> Report:
    start, end = period.bounds(timezone)
    places = {
        v.id: (v.name, d.name) for v, d in session.execute(select(Village, District).join(District))
    }
    tables = {
        name: Table(name)
        for name in (
            "calls_by_month",
            "cases_by_month",
            "calls_by_district",
            "calls_by_outcome",
            "cases_by_district",
            "cases_by_village",
            "cases_by_country",
            "cases_by_indicator",
            "indicators_by_month",
        )
    }
    sex = func.coalesce(Caller.sex, literal(Sex.unknown.value))
    call_month = _month(Call.started_at, dialect, timezone)
    calls = session.execute(
        select(call_month, Call.village_id, Call.outcome, sex, func.count())
        .select_from(Call)
        .outerjoin(Caller, Call.caller_id == Caller.id)
        .where(Call.started_at >= start, Call.started_at < end)
        .where(_village_scope(principal, Call.village_id))
        .group_by(call_month, Call.village_id, Call.outcome, sex)
    )
    for month, village_id, outcome, sex_value, count in calls:
        who = Sex(sex_value)
        tables["calls_by_month"].add(month, who, count)
        tables["calls_by_district"].add(_district(places, village_id), who, count)
        tables["calls_by_outcome"].add(CallOutcome(outcome).value, who, count)
    case_month = _month(Case.created_at, dialect, timezone)
    cases = session.execute(
        select(case_month, Case.village_id, Case.destination_country, sex, func.count())
        .select_from(Case)
        .outerjoin(Caller, Case.caller_id == Caller.id)
        .where(Case.created_at >= start, Case.created_at < end)
        .where(_village_scope(principal, Case.village_id))
        .group_by(case_month, Case.village_id, Case.destination_country, sex)
    )
    village_districts: dict[str, set[str]] = {}
    for month, village_id, country, sex_value, count in cases:
        who = Sex(sex_value)
        village_districts.setdefault(_village(places, village_id), set()).add(
            _district(places, village_id)
        )
        tables["cases_by_month"].add(month, who, count)
        tables["cases_by_district"].add(_district(places, village_id), who, count)
        tables["cases_by_village"].add(_village(places, village_id), who, count)
        tables["cases_by_country"].add(country or "?", who, count)
    indicators = session.execute(
        select(Case.indicators, sex, case_month)
        .select_from(Case)
        .outerjoin(Caller, Case.caller_id == Caller.id)
        .where(Case.created_at >= start, Case.created_at < end)
        .where(_village_scope(principal, Case.village_id))
    )
    for items, sex_value, month in indicators:
        for name in {str(item.get("indicator", "")) for item in items or []}:
            tables["cases_by_indicator"].add(name, Sex(sex_value), 1)
            tables["indicators_by_month"].add(f"{month} {name}", Sex(sex_value), 1)
    return Report(period.start, period.end, period.months(), tables, village_districts)


def _district(places: dict[int, tuple[str, str]], village_id: int | None) -> str:
    return places[village_id][1] if village_id in places else "?"


def _village(places: dict[int, tuple[str, str]], village_id: int | None) -> str:
    return places[village_id][0] if village_id in places else "?"


def _keys(report: Report, name: str) -> list[str]:
    table = report.tables[name]
    if name in ("calls_by_month", "cases_by_month"):
        return report.months  # every month, the empty ones too
    if name == "indicators_by_month":
        return sorted(table.rows)
    return [k for k, _ in table.sorted_by_total()]


def _counts(report: Report) -> dict[Cell, int]:
    counts: dict[Cell, int] = {}
    for name, table in report.tables.items():
        for key in _keys(report, name):
            row = table.rows.get(key, _zero())
            for sex in SEXES:
                counts[(name, key, sex.value)] = row[sex]
            counts[(name, key, "total")] = sum(row.values())
    return counts


def _districts_with_their_villages(report: Report) -> list[tuple[set[str], set[str]]]:
    """Districts and villages that add up: a district with its villages, or districts
    joined by a village name they share (its row counts in both)."""
    groups: list[tuple[set[str], set[str]]] = []
    for village, districts in report.village_districts.items():
        joined = [g for g in groups if g[0] & districts]
        merged = (set(districts), {village})
        for group in joined:
            merged[0].update(group[0])
            merged[1].update(group[1])
            groups.remove(group)
        groups.append(merged)
    return groups


def export_groups(report: Report) -> list[list[Cell]]:
    """Every set of cells of the export whose sum a reader knows or can work out."""
    groups: list[list[Cell]] = []
    keys = {name: _keys(report, name) for name in report.tables}
    for name in report.tables:
        for key in keys[name]:
            groups.append([(name, key, column) for column in COLUMNS])
    for column in COLUMNS:
        for family in (SAME_CALLS, SAME_CASES):
            for i, first in enumerate(family):
                for second in family[i + 1 :]:
                    groups.append(
                        [(first, k, column) for k in keys[first]]
                        + [(second, k, column) for k in keys[second]]
                    )
        for districts, villages in _districts_with_their_villages(report):
            groups.append(
                [("cases_by_district", d, column) for d in sorted(districts)]
                + [("cases_by_village", v, column) for v in sorted(villages)]
            )
        for indicator in keys["cases_by_indicator"]:
            groups.append(
                [("cases_by_indicator", indicator, column)]
                + [
                    ("indicators_by_month", k, column)
                    for k in keys["indicators_by_month"]
                    if k[8:] == indicator
                ]
            )
    return groups


def export_rows(report: Report) -> list[list[str]]:
    """The report as rows for CSV: table, value, female, male, unknown, total."""
    shown = protect(_counts(report), export_groups(report))
    rows = [["table", "value", *COLUMNS]]
    for name in report.tables:
        for key in _keys(report, name):
            rows.append([name, key, *(shown[(name, key, column)] for column in COLUMNS)])
    return rows


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        [
            f"# desbumi statistics {report.start} to {report.end}; counts 1-4 shown as <5, "
            "and * where a total would give one away"
        ]
    )
    writer.writerows(export_rows(report))
    return buffer.getvalue()


def months_series(report: Report, table: str) -> list[tuple[str, SexCounts]]:
    rows = report.tables[table].rows
    return [(month, rows.get(month, _zero())) for month in report.months]
