"""Caller numbers are encrypted at rest and found again by their keyed hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from core.callers import find_caller, register_caller
from core.db import Database
from core.security import PhoneVault
from tests.conftest import TEST_SECRET

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NUMBER = "0812-3456-7890"


def test_register_finds_the_same_caller_by_any_spelling(db: Database) -> None:
    vault = PhoneVault(TEST_SECRET)
    with db.transaction() as s:
        first = register_caller(s, vault, NUMBER, now=T0).id
    with db.transaction() as s:
        again = register_caller(s, vault, "+62 812 3456 7890", now=T0 + timedelta(days=1))
        assert again.id == first
        assert again.last_seen_at == T0 + timedelta(days=1)
        assert again.first_seen_at == T0
        assert vault.decrypt(again.phone_encrypted) == "+6281234567890"
    with db.read_session() as s:
        assert find_caller(s, vault, "081234567891") is None


def test_number_never_stored_in_clear(db: Database, backend: str, tmp_path: Path) -> None:
    vault = PhoneVault(TEST_SECRET)
    with db.transaction() as s:
        register_caller(s, vault, NUMBER, now=T0)
    digits = b"81234567890"
    if backend == "sqlite":
        raw = db.engine.raw_connection()  # a checkpoint cannot run inside a transaction
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        files = list((tmp_path / "var").glob("desbumi.db*"))
        assert files
        for path in files:
            assert digits not in path.read_bytes(), f"clear number in {path.name}"
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM callers")).one()
    assert all(digits.decode() not in str(value) for value in row)
