"""Which files the database already names as recordings, however many are asked about."""

from __future__ import annotations

from datetime import UTC, datetime

from core.db import Database
from core.models import Recording
from core.recordings import stored_paths

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_stored_paths_answers_for_more_files_than_one_query_may_name(db: Database) -> None:
    stored = ["recordings/2026/12/a-1.wav", "recordings/2026/12/b-4.wav", "voicemail/c.wav"]
    with db.transaction() as s:
        for path in stored:
            s.add(Recording(path=path, format="wav", sha256="0" * 64, created_at=NOW))
    # Years of files: more than the 65,535 bound parameters PostgreSQL takes in one query.
    asked = [f"recordings/2024/01/x{n}-1.wav" for n in range(70_000)] + stored
    with db.read_session() as s:
        assert stored_paths(s, asked) == set(stored)
        assert stored_paths(s, []) == set()
