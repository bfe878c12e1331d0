"""``desbumi init``: data directory, secret key, migrations, first admin. Destroys nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import migrate
from core.db import Database
from core.errors import ConfigurationError
from core.models import User
from core.settings import Settings, SettingsError, generate_secret
from core.states import UserRole
from core.users import create_user

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StationKey:
    """A radio station's key made by a seed step: shown once, never stored in clear."""

    station: str
    key: str
    programmes: tuple[str, ...]


@dataclass
class Seeded:
    """What a seed step added: how many of each kind, and the keys of the new stations."""

    added: dict[str, int]
    station_keys: list[StationKey] = field(default_factory=list)


@dataclass
class InitReport:
    created_secret: bool = False
    migrated_from: str | None = None
    migrated_to: str = ""
    # Shown once, never stored in clear: (username, password).
    new_credentials: list[tuple[str, str]] = field(default_factory=list)
    demo: dict[str, int] = field(default_factory=dict)
    # Shown once too: only stations made by this run have one here.
    new_station_keys: list[StationKey] = field(default_factory=list)


def prepare_data_dir(settings: Settings) -> Path:
    """Create the data directory (and its parts) and prove it is writable."""
    root = settings.data_dir
    try:
        for sub in ("", "recordings", "prompts", "segments", "models", "uploads"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise SettingsError(
            f"DESBUMI_DATA_DIR: cannot write to {root}: {exc.strerror or exc}; choose a "
            "writable directory or give this user ownership of it"
        ) from None
    return root


def ensure_secret(settings: Settings) -> bool:
    """Write a new secret key into the data directory unless one exists. True if created."""
    if settings.secret_key.get_secret_value() or settings.secret_file.exists():
        settings.require_secret()
        return False
    path = settings.secret_file
    # O_EXCL: two inits racing never overwrite each other's key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(generate_secret() + "\n")
    return True


def ensure_admin(session: Session, now: datetime) -> tuple[str, str] | None:
    """Create user ``admin`` with a generated password if there is no admin yet."""
    exists = session.scalar(select(User.id).where(User.role == UserRole.admin).limit(1))
    if exists is not None:
        return None
    _user, password = create_user(
        session,
        username="admin",
        role=UserRole.admin,
        now=now,
        full_name="Administrator",
        actor="init",
    )
    return ("admin", password)


def initialise(
    settings: Settings,
    db: Database,
    now: datetime,
    progress: Progress,
    seed_demo: Callable[[Session, datetime], Seeded] | None = None,
) -> InitReport:
    """Run every init step; each is idempotent, so running init again changes nothing."""
    report = InitReport()
    progress(f"[1/5] data directory {settings.data_dir.resolve()}")
    prepare_data_dir(settings)
    progress("[2/5] secret key")
    report.created_secret = ensure_secret(settings)
    progress(f"[3/5] database {db.url}")
    db.ping()
    report.migrated_from = migrate.current_revision(db)
    progress("[4/5] migrations")
    migrate.upgrade(db)
    report.migrated_to = migrate.head_revision()
    progress("[5/5] seed data" + (" with demo content" if seed_demo else ""))
    with db.transaction() as session:
        if seed_demo is not None:
            seeded = seed_demo(session, now)
            report.demo = seeded.added
            report.new_station_keys = seeded.station_keys
        credentials = ensure_admin(session, now)
        if credentials:
            report.new_credentials.append(credentials)
    if not migrate.is_up_to_date(db):
        raise ConfigurationError("database did not reach the newest migration")
    return report
