"""Shared fixtures: settings, and a migrated database on SQLite and on PostgreSQL.

``db`` is parametrised over both backends. PostgreSQL is the server at
``DESBUMI_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test session creates its own database there and drops it at the end. When that
server is unreachable, the PostgreSQL variants are deselected and the run says so in
its summary; with ``CI`` set they fail instead, because CI must test both backends.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core import migrate
from core.db import Database
from core.models import Base
from core.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105
PG_ADMIN_URL = os.environ.get(
    "DESBUMI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]
_pg_state: dict[str, object] = {}


def _pg_reachable() -> bool:
    if "reachable" not in _pg_state:
        engine = create_engine(
            PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
            connect_args={"connect_timeout": 3},
        )
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _pg_state["reachable"] = True
        except Exception as exc:  # any failure means: not reachable
            _pg_state["reachable"] = False
            _pg_state["reason"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        finally:
            engine.dispose()
    return bool(_pg_state["reachable"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _pg_reachable() or os.environ.get("CI"):
        return
    keep, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        _pg_state["deselected"] = len(dropped)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _pg_state.get("deselected"):
        terminalreporter.write_line(
            f"PostgreSQL NOT TESTED: {_pg_state['deselected']} tests deselected because "
            f"{PG_ADMIN_URL} is unreachable ({_pg_state.get('reason')})",
            red=True,
            bold=True,
        )


class FixedClock:
    """A clock that shows ``moment`` until a test moves it."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``seconds``. For what
    another process commits: its log line may come before its commit."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def make_settings(tmp_path: Path, database_url: str = "", **env: str) -> Settings:
    environ = {
        "DESBUMI_DATA_DIR": str(tmp_path / "var"),
        "DESBUMI_SECRET_KEY": TEST_SECRET,
        "DESBUMI_DATABASE__URL": database_url,
        **env,
    }
    return load_settings(environ)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test is slow)."""
    root = tmp_path_factory.mktemp("sqlite-template")
    settings = make_settings(root)
    settings.data_dir.mkdir(parents=True)
    db = Database.from_settings(settings)
    migrate.upgrade(db)
    db.dispose()
    return settings.data_dir / "desbumi.db"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A new, migrated PostgreSQL database for this test session."""
    if not _pg_reachable():
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {_pg_state.get('reason')}")
    name = f"desbumi_test_{uuid.uuid4().hex[:12]}"
    admin_url = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(create_engine(url))
    migrate.upgrade(db)
    db.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of ``backend`` for one test."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "var" / "desbumi.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, target)
        yield f"sqlite:///{target}"
        return
    url: str = request.getfixturevalue("pg_url")
    yield url
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.from_settings(settings)
    yield database
    database.dispose()
