"""A seeded world for the web app: two districts, users of every role, cases in and out.

``world`` works on the ``db`` fixture, so every test that uses it runs on SQLite and on
PostgreSQL. Passwords are hashed once per session (argon2 is slow on purpose); the API
tests mostly authenticate with bearer tokens issued directly.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from admin_api import auth
from admin_api.app import create_app
from core.callers import register_caller
from core.cases import create_report_case
from core.db import Database
from core.models import District, Recording, Transcript, User, Village
from core.recordings import sha256_of
from core.security import PhoneVault, hash_password
from core.settings import Settings
from core.states import Sex, TranscriptionStatus, Urgency, UserRole
from tests.conftest import TEST_SECRET

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery"  # noqa: S105 - test data
CALLER_NUMBER = "+6281234567890"
_HASH: list[str] = []


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def password_hash() -> str:
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


def write_wav(path: Path, seconds: float = 2.0, rate: int = 8000) -> None:
    """A real 8 kHz mono WAV: a quiet ramp, enough for a player and for Range requests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = bytearray()
    for i in range(int(seconds * rate)):
        value = (i % 200) * 50 - 5000
        frames += value.to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))


@dataclass
class World:
    settings: Settings
    db: Database
    clock: MovableClock
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role in self.tokens else {}


def _user(session, username: str, role: UserRole, districts: list[District]) -> User:  # type: ignore[no-untyped-def]
    user = User(
        username=username,
        full_name=username.replace("_", " ").title(),
        role=role,
        password_hash=password_hash(),
        districts=districts,
        created_at=T0,
    )
    session.add(user)
    session.flush()
    return user


def seed_world(settings: Settings, db: Database, clock: MovableClock) -> World:
    world = World(settings, db, clock)
    vault = PhoneVault(TEST_SECRET)
    recording_file = settings.data_dir / "recordings" / "r1.wav"
    write_wav(recording_file)
    with db.transaction() as s:
        lotim = District(code="5203", name="Lombok Timur", timezone="Asia/Makassar")
        jember = District(code="3509", name="Jember", timezone="Asia/Jakarta")
        s.add_all([lotim, jember])
        s.flush()
        pringgasela = Village(
            code="5203001", name="Pringgasela", district_id=lotim.id, timezone="Asia/Makassar"
        )
        dukuh = Village(
            code="3509001", name="Dukuhdempok", district_id=jember.id, timezone="Asia/Jakarta"
        )
        s.add_all([pringgasela, dukuh])
        s.flush()
        users = {
            "admin": _user(s, "admin", UserRole.admin, []),
            "case_worker": _user(s, "siti", UserRole.case_worker, [lotim]),
            "other_worker": _user(s, "dewi", UserRole.case_worker, [jember]),
            "editor": _user(s, "editor", UserRole.editor, [lotim]),
        }
        caller = register_caller(s, vault, CALLER_NUMBER, now=T0)
        caller.sex = Sex.female
        inside = create_report_case(
            s,
            now=T0,
            caller=caller,
            village_id=pringgasela.id,
            keypad_hints={"problem": "violence", "country": "MY"},
        )
        inside.set_urgency(Urgency.critical, ["physical violence: 'dipukul' at 1.0 s"])
        inside.indicators = [
            {
                "indicator": "physical_violence",
                "phrase": "dipukul",
                "start": 1.0,
                "end": 1.4,
                "weight": 0.9,
                "source": "machine",
            }
        ]
        outside = create_report_case(s, now=T0 + timedelta(hours=1), village_id=dukuh.id)
        nowhere = create_report_case(s, now=T0 + timedelta(hours=2))
        recording = Recording(
            case_id=inside.id,
            path="recordings/r1.wav",
            format="wav",
            duration_s=2.0,
            size_bytes=recording_file.stat().st_size,
            sha256=sha256_of(recording_file),
            language="id",
            transcription=TranscriptionStatus.done,
            created_at=T0,
        )
        s.add(recording)
        s.flush()
        s.add(
            Transcript(
                recording_id=recording.id,
                engine="vosk",
                model="test",
                language="id",
                text="saya dipukul majikan",
                words=[
                    {"word": "saya", "start": 0.2, "end": 0.6, "conf": 0.95},
                    {"word": "dipukul", "start": 1.0, "end": 1.4, "conf": 0.9},
                    {"word": "majikan", "start": 1.5, "end": 1.9, "conf": 0.4},
                ],
                confidence=0.75,
                created_at=T0,
            )
        )
        for key, user in users.items():
            world.ids[key] = user.id
            _row, raw = auth.issue_api_token(s, user, name="test", now=T0, days=None)
            world.tokens[key] = raw
        world.ids.update(
            inside=inside.id,
            outside=outside.id,
            nowhere=nowhere.id,
            recording=recording.id,
            caller=caller.id,
            village_in=pringgasela.id,
            village_out=dukuh.id,
            district_in=lotim.id,
            district_out=jember.id,
        )
    return world


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0 + timedelta(days=1))


@pytest.fixture
def world(settings: Settings, db: Database, clock: MovableClock) -> World:
    return seed_world(settings, db, clock)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(world.settings, world.db, "test", clock=world.clock)
    with TestClient(app) as test_client:
        yield test_client


CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def web_login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the real form; returns the CSRF token for the session's forms."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/cases").text)
