"""Fixtures for the radio tests: editors, and content that is approved the proper way."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broadcasts import library
from core.db import Database
from core.models import ContentItem
from core.states import UserRole
from core.users import create_user

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Editors:
    alice: int
    bob: int
    carol: int
    case_worker: int


@pytest.fixture
def editors(db: Database) -> Editors:
    with db.transaction() as s:
        ids = [
            create_user(s, username=name, role=role, now=T0)[0].id
            for name, role in (
                ("alice", UserRole.editor),
                ("bob", UserRole.editor),
                ("carol", UserRole.admin),
                ("dewi", UserRole.case_worker),
            )
        ]
    return Editors(*ids)


def approved_item(
    db: Database,
    editors: Editors,
    slug: str,
    *,
    text: str = "Hati-hati dengan calo.",
    topic: str = "fees",
    priority: bool = False,
    valid_until: datetime | None = None,
    now: datetime = T0,
) -> int:
    """Create, submit (alice) and approve (bob) one text item; returns its id."""
    with db.transaction() as s:
        item = library.create_draft(
            s,
            actor_id=editors.alice,
            now=now,
            slug=slug,
            title=slug,
            topic=topic,
            language="id",
            body_text=text,
            priority=priority,
            valid_until=valid_until,
        )
        library.submit(s, item.id, actor_id=editors.alice, now=now)
        library.approve(s, item.id, actor_id=editors.bob, now=now + timedelta(minutes=1))
        return item.id


def tone(
    path: Path, seconds: float, freq: int = 440, rate: int = 22050, volume: float = 0.3
) -> Path:
    """A sine tone written by sox (any format sox knows from the suffix)."""
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            str(rate),
            "-c",
            "1",
            str(path),
            "synth",
            str(seconds),
            "sine",
            str(freq),
            "vol",
            str(volume),
        ],
        check=True,
        capture_output=True,
    )
    return path


def get(db: Database, item_id: int) -> ContentItem:
    with db.read_session() as s:
        item = s.get(ContentItem, item_id)
        assert item is not None
        return item
