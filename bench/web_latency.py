"""Benchmark: inbox and case page latency with 100,000 cases and 1,000,000 calls.

Bulk-loads the data with core SQL (not the ORM), then times requests through the whole
app in process (routing, authentication, the queries, JSON), for an admin and for a
case worker scoped to two districts, on SQLite and PostgreSQL. The baseline, measured
in the same run on the same database, is the inbox's own SELECT run alone; the ratio
says what the app adds on top of the query.

    .venv/bin/python bench/web_latency.py [--cases 100000] [--calls 1000000]
        [--requests 200] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin_api import auth  # noqa: E402
from admin_api.app import create_app  # noqa: E402
from admin_api.inbox import OPEN_STATUSES  # noqa: E402
from core import migrate  # noqa: E402
from core.db import Database  # noqa: E402
from core.models import (  # noqa: E402
    Caller,
    Case,
    District,
    User,
    Village,
    user_districts,
)
from core.security import hash_password  # noqa: E402
from core.settings import load_settings  # noqa: E402

PG_ADMIN = os.environ.get("DESBUMI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
CHUNK = 20_000
STATUSES = ["new", "in_review", "referred", "follow_up"]
URGENCIES = [("critical", 3), ("high", 2), ("normal", 1), ("untriaged", 0)]
INDICATORS = ["physical_violence", "withholding_of_wages", "retention_of_documents", "isolation"]


def _chunks(rows, size=CHUNK):  # type: ignore[no-untyped-def]
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _bulk_calls(conn, rng, calls, first_caller, callers, villages) -> None:  # type: ignore[no-untyped-def]
    """A million calls is most of the load: straight to the driver, COPY on PostgreSQL."""
    columns = (
        "asterisk_uniqueid, caller_id, village_id, direction, language, started_at, "
        "menu_path, outcome"
    )
    postgres = conn.dialect.name == "postgresql"

    def rows():  # type: ignore[no-untyped-def]
        for i in range(calls):
            started = NOW - timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
            yield (
                f"b{i}",
                first_caller + rng.randrange(callers),
                rng.choice(villages),
                "inbound",
                "id",
                started if postgres else started.replace(tzinfo=None).isoformat(" "),
                "[]",
                "listened",
            )

    raw = conn.connection.driver_connection
    if postgres:
        with raw.cursor() as cursor, cursor.copy(f"COPY calls ({columns}) FROM STDIN") as copy:
            for row in rows():
                copy.write_row(row)
    else:
        batch = []
        for row in rows():
            batch.append(row)
            if len(batch) == CHUNK:
                raw.executemany(f"INSERT INTO calls ({columns}) VALUES (?,?,?,?,?,?,?,?)", batch)
                batch = []
        if batch:
            raw.executemany(f"INSERT INTO calls ({columns}) VALUES (?,?,?,?,?,?,?,?)", batch)


def load(db: Database, cases: int, calls: int, seed: int = 7) -> dict[str, int]:
    """Districts, villages, users, callers, calls and cases, in bulk."""
    rng = random.Random(seed)
    ids: dict[str, int] = {}
    with db.engine.begin() as conn:
        district_ids = []
        for n in range(10):
            district_ids.append(
                conn.execute(
                    insert(District).returning(District.id),
                    {
                        "code": f"9{n:03d}",
                        "name": f"District {n}",
                        "province": "",
                        "timezone": "Asia/Jakarta",
                    },
                ).scalar_one()
            )
        village_rows = [
            {
                "code": f"9{d:03d}{v:03d}",
                "name": f"Village {d}-{v}",
                "district_id": district_ids[d],
                "timezone": "Asia/Jakarta",
            }
            for d in range(10)
            for v in range(20)
        ]
        conn.execute(insert(Village), village_rows)
        villages = list(conn.execute(select(Village.id, Village.district_id)))
        password = hash_password("bench-password-000")
        for name, role in (("admin", "admin"), ("worker", "case_worker")):
            ids[name] = conn.execute(
                insert(User).returning(User.id),
                {
                    "username": name,
                    "full_name": name,
                    "password_hash": password,
                    "role": role,
                    "is_active": True,
                    "failed_logins": 0,
                    "created_at": NOW,
                    "language": "en",
                },
            ).scalar_one()
        conn.execute(
            insert(user_districts),
            [{"user_id": ids["worker"], "district_id": d} for d in district_ids[:2]],
        )
        callers = max(1, cases // 3)
        caller_rows = [
            {
                "phone_encrypted": b"x" * 40,
                "phone_hash": uuid.UUID(int=rng.getrandbits(128)).hex + f"{i:08d}",
                "sex": rng.choice(["female", "female", "female", "male", "unknown"]),
                "home_village_id": rng.choice(villages)[0],
                "preferred_language": "id",
                "first_seen_at": NOW,
                "last_seen_at": NOW,
            }
            for i in range(callers)
        ]
        for chunk in _chunks(caller_rows):
            conn.execute(insert(Caller), chunk)
        first_caller = conn.execute(select(Caller.id).order_by(Caller.id).limit(1)).scalar_one()
        _bulk_calls(conn, rng, calls, first_caller, callers, [v[0] for v in villages])
        case_rows = []
        for i in range(cases):
            # Most cases of a three-year-old service are closed; about 6 % are open.
            status = rng.choice(STATUSES) if rng.random() < 0.06 else "closed"
            urgency, rank = rng.choice(URGENCIES)
            indicator = rng.choice(INDICATORS)
            created = NOW - timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
            case_rows.append(
                {
                    "reference": f"{1_000_000 + i}",
                    "status": status,
                    "urgency": urgency,
                    "urgency_rank": rank,
                    "urgency_reasons": [f"{indicator.replace('_', ' ')}: 'kata' at 3.0 s"],
                    "indicators": [
                        {
                            "indicator": indicator,
                            "phrase": "kata",
                            "start": 3.0,
                            "end": 3.4,
                            "source": "machine",
                        }
                    ],
                    "keypad_hints": {},
                    "language": "id",
                    "incomplete": False,
                    "caller_id": first_caller + rng.randrange(callers),
                    "village_id": None if rng.random() < 0.05 else rng.choice(villages)[0],
                    "created_at": created,
                    "updated_at": created,
                    "closed_at": created + timedelta(days=30) if status == "closed" else None,
                    "close_reason": "done" if status == "closed" else None,
                }
            )
            if len(case_rows) == CHUNK:
                conn.execute(insert(Case), case_rows)
                case_rows = []
        if case_rows:
            conn.execute(insert(Case), case_rows)
    # Statistics for the planner, and on PostgreSQL the visibility map that index-only
    # scans need (autovacuum does both on a live server).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if db.dialect == "postgresql" else "ANALYZE"))
    with db.engine.connect() as conn:
        open_case = conn.execute(
            select(Case.id)
            .where(Case.status != "closed", Case.caller_id.is_not(None))
            .order_by(Case.urgency_rank.desc(), Case.created_at)
            .limit(1)
        ).scalar_one()
    ids["case"] = open_case
    return ids


def _check(response, status: int) -> None:  # type: ignore[no-untyped-def]
    if response.status_code != status:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return p50 * 1000, p95 * 1000


def _time(fn, n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    for _ in range(min(10, n)):
        fn()  # warm caches and the connection pool
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return _percentiles(samples)


def run(label: str, url: str, data_dir: str, cases: int, calls: int, requests: int) -> None:
    settings = load_settings(
        {"DESBUMI_DATABASE__URL": url, "DESBUMI_DATA_DIR": data_dir, "DESBUMI_SECRET_KEY": SECRET}
    )
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    db = Database.from_settings(settings)
    migrate.upgrade(db)
    started = time.perf_counter()
    ids = load(db, cases, calls)
    took = time.perf_counter() - started
    print(f"{label}: loaded {cases:,} cases and {calls:,} calls in {took:.0f} s")
    tokens = {}
    with db.transaction() as s:
        for name in ("admin", "worker"):
            user = s.get(User, ids[name])
            _row, tokens[name] = auth.issue_api_token(s, user, name="bench", now=NOW, days=None)  # type: ignore[arg-type]
    app = create_app(settings, db, "bench")

    def baseline() -> None:
        with db.read_session() as s, s.begin():
            list(
                s.scalars(
                    select(Case.id)
                    .where(Case.status.in_(OPEN_STATUSES))
                    .order_by(Case.urgency_rank.desc(), Case.created_at, Case.id)
                    .limit(51)
                )
            )

    rows = [("baseline: the inbox SELECT alone", _time(baseline, requests))]
    with TestClient(app) as client:
        for who in ("admin", "worker"):
            headers = {"Authorization": f"Bearer {tokens[who]}"}

            def inbox(headers=headers) -> None:  # type: ignore[no-untyped-def]
                response = client.get("/api/v1/cases", headers=headers)
                _check(response, 200)

            def filtered(headers=headers) -> None:  # type: ignore[no-untyped-def]
                response = client.get(
                    "/api/v1/cases?indicator=isolation&status=new", headers=headers
                )
                _check(response, 200)

            def case_page(headers=headers) -> None:  # type: ignore[no-untyped-def]
                response = client.get(f"/api/v1/cases/{ids['case']}", headers=headers)
                _check(response, 200)

            rows.append((f"inbox, {who}", _time(inbox, requests)))
            rows.append((f"inbox filtered (indicator, status), {who}", _time(filtered, requests)))
            if who == "admin":
                rows.append(("case page (JSON, audited read), admin", _time(case_page, requests)))
        # The HTML pages, through a real session cookie.
        with db.transaction() as s:
            user = s.get(User, ids["worker"])
            raw = auth.open_web_session(
                s, user, now=datetime.now(UTC), source="bench", settings=settings.web
            )  # type: ignore[arg-type]
        client.cookies.set("desbumi_session", raw)
        rows.append(("inbox page (HTML), worker", _time(lambda: client.get("/cases"), requests)))
    base = rows[0][1][1]
    print(f"{'what':<48} {'p50 ms':>8} {'p95 ms':>8} {'p95 / baseline':>15}")
    for name, (p50, p95) in rows:
        print(f"{name:<48} {p50:8.2f} {p95:8.2f} {p95 / base:14.1f}x")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", "", tmp + "/sqlite", args.cases, args.calls, args.requests)
        if not args.no_postgres:
            name = f"desbumi_bench_{uuid.uuid4().hex[:8]}"
            admin_url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            try:
                run("PostgreSQL", url, tmp + "/pg", args.cases, args.calls, args.requests)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
