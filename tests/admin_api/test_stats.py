"""Statistics on SQLite and PostgreSQL: months in local time, sex, places, suppression."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from admin_api.charts import bar_chart, column_chart
from admin_api.suppression import protect
from core.models import Call, Caller, Case
from core.states import CallOutcome, Sex
from tests.admin_api.conftest import World, web_login


def _seed(world: World) -> None:
    with world.db.transaction() as s:
        women = Caller(
            phone_encrypted=b"x",
            phone_hash="h-women",
            sex=Sex.female,
            first_seen_at=world.clock.now(),
            last_seen_at=world.clock.now(),
        )
        s.add(women)
        s.flush()
        # 20:00 UTC on 31 October is 03:00 on 1 November in WIB: a November call.
        late = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)
        for i in range(7):
            s.add(
                Call(
                    asterisk_uniqueid=f"c{i}",
                    caller_id=women.id,
                    village_id=world.ids["village_in"],
                    started_at=late,
                    outcome=CallOutcome.reported if i < 5 else CallOutcome.quick_exit,
                )
            )
        s.add(
            Call(
                asterisk_uniqueid="anon",
                village_id=world.ids["village_out"],
                started_at=late,
                outcome=CallOutcome.listened,
            )
        )
        for i in range(6):
            s.add(
                Case(
                    reference=f"9{i:05d}",
                    caller_id=women.id,
                    village_id=world.ids["village_in"],
                    destination_country="MY",
                    indicators=[{"indicator": "withholding_of_wages"}],
                    created_at=late,
                    updated_at=late,
                )
            )


def test_report_counts_by_month_place_and_sex(world: World, client: TestClient) -> None:
    _seed(world)
    rows = client.get(
        "/api/v1/stats?start=2026-10-01&end=2026-11-30", headers=world.headers("admin")
    ).json()
    table = {(r["table"], r["value"]): r for r in rows}
    assert table[("calls_by_month", "2026-10")]["total"] == "0"
    nov = table[("calls_by_month", "2026-11")]
    assert (nov["female"], nov["male"], nov["unknown"], nov["total"]) == ("*", "0", "<5", "8")
    # How the calls ended: five reports, two quick exits, one who listened.
    ended = {v: r["total"] for (t, v), r in table.items() if t == "calls_by_outcome"}
    assert ended == {"reported": "5", "quick_exit": "<5", "listened": "<5"}
    cases = table[("cases_by_month", "2026-11")]
    # Six women's cases and the three seeded ones (one with a woman caller, two anonymous).
    assert (cases["female"], cases["unknown"], cases["total"]) == ("*", "<5", "9")
    assert table[("cases_by_indicator", "withholding_of_wages")]["total"] == "6"
    assert table[("indicators_by_month", "2026-11 withholding_of_wages")]["female"] == "6"
    # A case worker counts her own districts (and cases without a village) only.
    mine = client.get(
        "/api/v1/stats?start=2026-10-01&end=2026-11-30", headers=world.headers("case_worker")
    ).json()
    assert ("cases_by_district", "Jember") not in {(r["table"], r["value"]) for r in mine}
    assert client.get("/api/v1/stats", headers=world.headers("editor")).status_code == 403
    assert (
        client.get(
            "/api/v1/stats?start=2026-11-30&end=2026-10-01", headers=world.headers("admin")
        ).status_code
        == 422
    )


def test_csv_export_and_page(world: World, client: TestClient) -> None:
    _seed(world)
    web_login(client, "siti")
    response = client.get("/stats.csv?start=2026-11-01&end=2026-11-30")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0][0].startswith("# desbumi statistics")
    assert lines[1] == ["table", "value", "female", "male", "unknown", "total"]
    values = [cell for line in lines[2:] for cell in line[2:]]
    assert all(v in ("<5", "*", "0") or int(v) >= 5 for v in values)
    page = client.get("/stats?start=2026-11-01&end=2026-11-30")
    assert page.status_code == 200
    assert page.text.count("<svg") == 8 and "<rect" in page.text
    assert "gaji tidak dibayar" in page.text
    # The outcomes' bars and rows carry words, not keys.
    outcomes = page.text.split('id="calls_by_outcome"')[1].split("</section>")[0]
    assert "keluar cepat" in outcomes and "melapor" in outcomes
    assert "quick_exit" not in outcomes


def _row(values: list[int]) -> list[str]:
    """One row with its total as the only group: female, male, unknown, total."""
    cells = {i: v for i, v in enumerate([*values, sum(values)])}
    shown = protect(cells, [list(cells)])
    return [shown[i] for i in range(4)]


def test_suppression_hides_a_cell_that_the_total_would_reveal() -> None:
    assert _row([0, 0, 0]) == ["0", "0", "0", "0"]
    assert _row([12, 7, 0]) == ["12", "7", "0", "19"]
    assert _row([3, 12, 0]) == ["<5", "*", "0", "15"]
    assert _row([3, 12, 9]) == ["<5", "12", "*", "24"]
    assert _row([2, 1, 40]) == ["<5", "<5", "40", "43"]
    assert _row([4, 0, 0]) == ["<5", "0", "0", "<5"]


def test_a_complementary_cell_is_protected_in_its_other_groups_too() -> None:
    # Two rows and the column they share: hiding b1 for row 1 leaves column b with one
    # hidden cell, so b2 goes too, and then row 2 needs its own second cell.
    counts = {"a1": 2, "b1": 9, "a2": 30, "b2": 20, "c2": 40}
    shown = protect(counts, [["a1", "b1"], ["a2", "b2", "c2"], ["b1", "b2"]])
    assert shown == {"a1": "<5", "b1": "*", "a2": "*", "b2": "*", "c2": "40"}


def _solvable(cells: list[str]) -> bool:
    """One unknown in a sum a reader knows: she can work it out."""
    return sum(1 for cell in cells if not cell.isdigit()) == 1


def test_export_cannot_be_undone_by_differencing(world: World, client: TestClient) -> None:
    """What a reader of the CSV can add up: each row's total, the column totals of the
    tables that count the same calls or cases, a district and its villages, an indicator
    and its months. None of these sums may leave exactly one hidden cell."""
    _seed(world)
    response = client.get(
        "/api/v1/stats?start=2026-10-01&end=2026-11-30", headers=world.headers("admin")
    )
    rows: dict[str, dict[str, dict[str, str]]] = {}
    for r in response.json():
        rows.setdefault(r["table"], {})[r["value"]] = r
    columns = ("female", "male", "unknown", "total")
    assert any("<5" in r.values() for table in rows.values() for r in table.values())
    sums: list[list[str]] = []
    for table in rows.values():
        sums += [[r[c] for c in columns] for r in table.values()]
    for column in columns:
        for same in (
            ("calls_by_month", "calls_by_district"),
            ("calls_by_month", "calls_by_outcome"),
            ("calls_by_district", "calls_by_outcome"),
            ("cases_by_month", "cases_by_district"),
            ("cases_by_month", "cases_by_village"),
            ("cases_by_month", "cases_by_country"),
            ("cases_by_district", "cases_by_country"),
        ):
            sums.append([r[column] for t in same for r in rows[t].values()])
        for district, village in (
            ("Lombok Timur", "Pringgasela"),
            ("Jember", "Dukuhdempok"),
            ("?", "?"),
        ):
            sums.append(
                [rows["cases_by_district"][district][column]]
                + [rows["cases_by_village"][village][column]]
            )
        for indicator, row in rows["cases_by_indicator"].items():
            sums.append(
                [row[column]]
                + [r[column] for k, r in rows["indicators_by_month"].items() if k[8:] == indicator]
            )
    assert [cells for cells in sums if _solvable(cells)] == []
    # The plain case: the month's unknown callers were its total minus the districts' women.
    november = rows["calls_by_month"]["2026-11"]
    assert (november["female"], november["unknown"], november["total"]) == ("*", "<5", "8")
    assert rows["calls_by_district"]["Lombok Timur"]["female"] == "*"


def test_how_calls_ended_cannot_be_worked_out_from_the_months(
    world: World, client: TestClient
) -> None:
    """Two quick exits among twelve calls: the month's total minus the other outcomes
    would give them away, unless one more cell is hidden."""
    with world.db.transaction() as s:
        when = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
        outcomes = [CallOutcome.reported] * 5 + [CallOutcome.listened] * 5
        for i, outcome in enumerate([*outcomes, CallOutcome.quick_exit, CallOutcome.quick_exit]):
            s.add(
                Call(
                    asterisk_uniqueid=f"q{i}",
                    village_id=world.ids["village_in"],
                    started_at=when,
                    outcome=outcome,
                )
            )
    response = client.get(
        "/api/v1/stats?start=2026-11-01&end=2026-11-30", headers=world.headers("admin")
    )
    rows: dict[str, dict[str, dict[str, str]]] = {}
    for r in response.json():
        rows.setdefault(r["table"], {})[r["value"]] = r
    assert rows["calls_by_outcome"]["quick_exit"]["total"] == "<5"
    for column in ("female", "male", "unknown", "total"):
        for other in ("calls_by_month", "calls_by_district"):
            cells = [r[column] for t in (other, "calls_by_outcome") for r in rows[t].values()]
            assert not _solvable(cells), (column, other, cells)


def test_charts_escape_labels() -> None:
    counts = {Sex.female: 3, Sex.male: 1, Sex.unknown: 0}
    svg = bar_chart("t", [("<script>", counts)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<rect") == 2
    assert "<svg" in column_chart("t", [("2026-11", counts), ("2026-12", counts)])
