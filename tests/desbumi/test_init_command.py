"""``desbumi init``: creates everything once and destroys nothing when run again."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select

from core import migrate
from core.db import Database
from core.models import Case, ContentItem, District, User, Village
from core.security import verify_password
from core.states import ContentStatus, UserRole
from tests.desbumi.conftest import Run


def _db(tmp_path: Path) -> Database:
    return Database(create_engine(f"sqlite:///{tmp_path / 'var' / 'desbumi.db'}"))


def _password(output: str) -> str:
    found = re.findall(r"^password: (\S+)$", output, re.MULTILINE)
    assert len(found) == 1, output
    return found[0]


def test_init_demo_creates_everything(desbumi: Run, tmp_path: Path) -> None:
    result = desbumi("init", "--demo")
    assert result.code == 0, result.err
    for step in range(1, 6):
        assert f"[{step}/5]" in result.out
    secret_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_text().strip()) >= 32
    assert "login: admin" in result.out
    password = _password(result.out)

    db = _db(tmp_path)
    assert migrate.is_up_to_date(db)
    with db.read_session() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert admin is not None and admin.role is UserRole.admin
        assert verify_password(admin.password_hash, password)
        items = s.scalars(select(ContentItem)).all()
        assert len(items) == 14
        assert {i.status for i in items} == {ContentStatus.approved}
        assert sum(i.priority for i in items) == 1
        assert s.scalar(select(func.count()).select_from(District)) == 5
        lotim = s.scalar(select(Village).where(Village.name == "Pringgasela"))
        assert lotim is not None and lotim.timezone == "Asia/Makassar"
    db.dispose()


def test_init_again_destroys_nothing(desbumi: Run, tmp_path: Path) -> None:
    assert desbumi("init", "--demo").code == 0
    secret_before = (tmp_path / "var" / "secret_key").read_text()
    db = _db(tmp_path)
    now = datetime.now(UTC)
    with db.transaction() as s:
        s.add(Case(reference="KEEP1", created_at=now, updated_at=now))
    with db.read_session() as s:
        hash_before = s.scalar(select(User.password_hash).where(User.username == "admin"))

    again = desbumi("init", "--demo")
    assert again.code == 0, again.err
    assert "password:" not in again.out
    assert "demo data already present" in again.out
    assert (tmp_path / "var" / "secret_key").read_text() == secret_before
    with db.read_session() as s:
        assert s.scalar(select(Case.reference)) == "KEEP1"
        assert s.scalar(select(User.password_hash).where(User.username == "admin")) == hash_before
        assert s.scalar(select(func.count()).select_from(ContentItem)) == 14
        assert s.scalar(select(func.count()).select_from(User)) == 1
    db.dispose()


def test_init_on_postgresql(desbumi: Run, pg_url: str) -> None:
    result = desbumi("init", DESBUMI_DATABASE__URL=pg_url)
    assert result.code == 0, result.err
    db = Database(create_engine(pg_url))
    try:
        assert migrate.is_up_to_date(db)
        with db.read_session() as s:
            assert s.scalar(select(func.count()).select_from(User)) >= 1
    finally:
        with db.transaction() as s:
            s.query(User).delete()
        db.dispose()
