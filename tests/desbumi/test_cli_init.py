"""``desbumi init``: creates everything once and destroys nothing when run again."""

from __future__ import annotations

import re
import stat
import wave
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
import yaml
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from core import migrate
from core.db import Database
from core.models import (
    Base,
    CallbackRequest,
    Case,
    ContentItem,
    District,
    Recording,
    Transcript,
    User,
    Village,
)
from core.security import verify_password
from core.states import ContentStatus, TranscriptionStatus, Urgency, UserRole
from desbumi.demo_cases import REPORTS
from tests.conftest import REPO
from tests.desbumi.conftest import Run, Start


def _demo(name: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO / "desbumi" / "demo" / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _password(output: str) -> str:
    """The one password that init printed."""
    found = re.findall(r"^password: (\S+)$", output, re.MULTILINE)
    assert len(found) == 1, output
    return str(found[0])


def _count(session: Session, model: type[Base]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_init_demo_creates_everything(desbumi: Run, database: Database, tmp_path: Path) -> None:
    result = desbumi("init", "--demo")
    assert result.code == 0, result.err
    progress = [line[:5] for line in result.out.splitlines() if re.match(r"\[\d/5\]", line)]
    assert progress == ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"], result.out

    secret_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_text(encoding="utf-8").strip()) >= 32
    assert len(re.findall(r"^login: admin$", result.out, re.MULTILINE)) == 1, result.out
    password = _password(result.out)

    assert Path(database.engine.url.database or "") == tmp_path / "var" / "desbumi.db"
    assert migrate.is_up_to_date(database)
    regions = _demo("regions.yaml")
    texts = _demo("content_id.yaml")["items"]
    with database.read_session() as s, s.begin():
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert admin is not None and admin.role is UserRole.admin
        assert verify_password(admin.password_hash, password)
        assert not verify_password(admin.password_hash, password + "x")
        items = s.scalars(select(ContentItem)).all()
        assert len(items) == len(texts) == 14
        assert {i.slug for i in items} == {t["slug"] for t in texts}
        assert {i.status for i in items} == {ContentStatus.approved}
        codes = set(s.scalars(select(District.code)))
        assert codes == {d["code"] for d in regions["districts"]}
        assert _count(s, Village) == sum(len(d["villages"]) for d in regions["districts"])
        lotim = s.scalar(select(Village).where(Village.name == "Pringgasela"))
        assert lotim is not None and lotim.timezone == "Asia/Makassar"  # WITA, from the district


def test_init_demo_prints_the_demo_station_key_and_its_feeds_once(
    desbumi: Run, start: Start, base_env: dict[str, str]
) -> None:
    first = desbumi("init", "--demo")
    assert first.code == 0, first.err
    assert re.findall(r"^station: (\S+)$", first.out, re.MULTILINE) == ["radio-komunitas-lotim"]
    keys = re.findall(r"^key: (\S+)$", first.out, re.MULTILINE)
    assert len(keys) == 1, first.out
    key = keys[0]
    base = f"http://127.0.0.1:{base_env['DESBUMI_API__PORT']}/radio/{key}"
    feeds = re.findall(r"^  feed for kabar-migran: (\S+)$", first.out, re.MULTILINE)
    assert feeds == [f"{base}/kabar-migran.xml"], first.out
    assert re.findall(r"^  all programmes: (\S+)$", first.out, re.MULTILINE) == [
        f"{base}/programmes.json"
    ]

    # Shown once: a second init neither shows it nor makes another (the first still works).
    again = desbumi("init", "--demo")
    assert again.code == 0, again.err
    assert "key:" not in again.out and key not in again.out and "station:" not in again.out

    api = start("api")
    health = api.wait_for_http(f"http://127.0.0.1:{base_env['DESBUMI_API__PORT']}/health")
    assert health.status_code == 200
    feed = httpx.get(feeds[0], timeout=10)
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("application/rss+xml")
    parsed = feedparser.parse(feed.content)
    assert not parsed.bozo and parsed.feed.title == "Kabar Migran"
    listing = httpx.get(f"{base}/programmes.json", timeout=10).json()
    assert listing["station"] == "radio-komunitas-lotim"
    assert [p["rss"] for p in listing["programmes"]] == feeds
    wrong = key[:-1] + ("a" if key[-1] != "a" else "b")
    assert httpx.get(feeds[0].replace(key, wrong), timeout=10).status_code == 401
    api.stop()
    assert key not in api.output()


def test_init_again_destroys_nothing(desbumi: Run, database: Database, tmp_path: Path) -> None:
    assert desbumi("init", "--demo").code == 0
    secret_file = tmp_path / "var" / "secret_key"
    secret_before = secret_file.read_text(encoding="utf-8")
    now = datetime.now(UTC)
    with database.transaction() as s:
        s.add(Case(reference="KEEP1", created_at=now, updated_at=now))
    with database.read_session() as s, s.begin():
        hash_before = s.scalar(select(User.password_hash).where(User.username == "admin"))
    assert hash_before

    again = desbumi("init", "--demo")
    assert again.code == 0, again.err
    assert "password:" not in again.out
    assert "demo data already present" in again.out
    assert secret_file.read_text(encoding="utf-8") == secret_before
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    with database.read_session() as s, s.begin():
        references = list(s.scalars(select(Case.reference)))
        # The demo's case reports, once, and the case added in between.
        assert sorted(references) == sorted(["KEEP1", *(r.reference for r in REPORTS)])
        assert s.scalar(select(User.password_hash).where(User.username == "admin")) == hash_before
        assert _count(s, User) == 1
        assert _count(s, ContentItem) == 14
        assert _count(s, District) == len(_demo("regions.yaml")["districts"])


def _empty(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def empty_pg_url(pg_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, emptied before and after (other tests share it)."""
    _empty(pg_url)
    yield pg_url
    _empty(pg_url)


def test_init_on_postgresql(desbumi: Run, empty_pg_url: str, tmp_path: Path) -> None:
    result = desbumi("init", "--demo", DESBUMI_DATABASE__URL=empty_pg_url)
    assert result.code == 0, result.err
    password = _password(result.out)
    again = desbumi("init", "--demo", DESBUMI_DATABASE__URL=empty_pg_url)
    assert again.code == 0, again.err
    assert "password:" not in again.out
    assert not (tmp_path / "var" / "desbumi.db").exists(), "PostgreSQL, not a SQLite file"

    db = Database(create_engine(empty_pg_url))
    try:
        assert db.dialect == "postgresql"
        assert migrate.is_up_to_date(db)
        with db.read_session() as s, s.begin():
            stored = s.scalar(select(User.password_hash).where(User.username == "admin"))
            assert stored is not None and verify_password(stored, password)
            assert _count(s, ContentItem) == 14
    finally:
        db.dispose()


def test_init_demo_leaves_cases_to_work(desbumi: Run, database: Database, tmp_path: Path) -> None:
    assert desbumi("init", "--demo").code == 0
    with database.read_session() as s, s.begin():
        cases = {c.reference: c for c in s.scalars(select(Case))}
        assert set(cases) == {r.reference for r in REPORTS}
        urgencies = {c.urgency for c in cases.values()}
        assert {Urgency.critical, Urgency.high, Urgency.normal, Urgency.untriaged} == urgencies
        assert all(c.village_id is not None for c in cases.values())
        recordings = s.scalars(select(Recording)).all()
        assert len(recordings) == len(REPORTS)
        for recording in recordings:
            path = tmp_path / "var" / recording.path
            with wave.open(str(path)) as audio:
                assert audio.getframerate() == 8000 and audio.getnframes() > 8000
        states = sorted(r.transcription for r in recordings)
        assert states.count(TranscriptionStatus.awaiting_model) == 1
        assert s.scalar(select(func.count()).select_from(Transcript)) == len(REPORTS) - 1
        assert s.scalar(select(func.count()).select_from(CallbackRequest)) == 1
