"""The database engine and sessions, for SQLite (one village server) and PostgreSQL.

SQLite is opened in WAL mode with foreign keys on and a busy timeout; on PostgreSQL the
same setting is the ``lock_timeout``. Its write
transactions start with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
writes fails at once with SQLITE_BUSY when another process wrote in between, and the
busy timeout does not help there. Read-only sessions (:meth:`Database.read_session`)
keep plain deferred ``BEGIN`` so readers never queue behind writers.

Database errors never carry values (a phone number's ciphertext, a transcript, a note):
the engine hides the SQL parameters from error text and from ``echo`` logging, and
:func:`_hide_values` strips what the server itself quotes (PostgreSQL's ``DETAIL:
Failing row contains (...)``, ``Key (...)=(...)``, a value in a data error) before the
error reaches a log, a job's ``last_error`` or a page.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import DatabaseUnavailable
from core.settings import Settings

logger = logging.getLogger(__name__)

_READONLY = "desbumi_readonly"
_QUOTED = re.compile(r'"[^"]*"')


def describe_url(url: str) -> str:
    """The URL with any password hidden, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def redact_driver_message(message: str, sqlstate: str | None) -> str:
    """A driver's error message without the values it may quote.

    Only the first line stays: PostgreSQL's DETAIL, CONTEXT and HINT lines quote rows and
    keys. Its data errors (SQLSTATE class 22, e.g. ``invalid input syntax for type
    integer: "..."``) quote the value in the first line too; constraint errors (class 23)
    quote only names, which say what failed.
    """
    first = message.strip().splitlines()[0] if message.strip() else ""
    if sqlstate and sqlstate.startswith("22"):
        first = _QUOTED.sub('"..."', first)
    return first


def _hide_values(context: ExceptionContext) -> None:
    original = context.original_exception
    wrapped = context.sqlalchemy_exception
    if not isinstance(wrapped, DBAPIError) or wrapped.orig is not original:
        return
    safe = redact_driver_message(str(original), getattr(original, "sqlstate", None))
    # The driver's exception is chained under SQLAlchemy's (``raise ... from``), so a
    # traceback prints both: both lose the values.
    original.args = (safe,)
    kind = type(original)
    wrapped.args = (f"({kind.__module__}.{kind.__qualname__}) {safe}",)


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control away from the pysqlite driver; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_READONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine for ``settings``; raise DatabaseUnavailable on a malformed URL."""
    url = settings.database_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(
            f"DESBUMI_DATABASE__URL: cannot parse {url!r}; use e.g. "
            "postgresql://user@127.0.0.1:5432/desbumi or leave it empty for SQLite"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise DatabaseUnavailable(
            f"DESBUMI_DATABASE__URL: unsupported database {backend!r}; use sqlite or postgresql"
        )
    options: dict[str, Any] = {
        "echo": settings.database.echo,
        "future": True,
        "hide_parameters": True,
    }
    if backend == "sqlite":
        options["connect_args"] = {"check_same_thread": False}
    else:
        options["pool_size"] = settings.database.pool_size
        options["pool_pre_ping"] = True
        # The busy timeout's twin: a statement that waits longer for another transaction's
        # lock fails (and, for a caller's report, goes to the spool) instead of hanging.
        lock_timeout = settings.database.busy_timeout_ms
        options["connect_args"] = {
            "connect_timeout": 5,
            "options": f"-c lock_timeout={int(lock_timeout)}",
        }
    try:
        engine = create_engine(url, **options)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseUnavailable(
            f"DESBUMI_DATABASE__URL: {describe_url(url)} is not usable: {exc}"
        ) from None
    event.listen(engine, "handle_error", _hide_values)
    if backend == "sqlite":
        _install_sqlite_hooks(engine, settings.database.busy_timeout_ms)
    return engine


class Database:
    """Engine plus session factories. The edge that owns a transaction opens it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            bind=engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(create_db_engine(settings))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        return describe_url(self.engine.url.render_as_string(hide_password=False))

    def session(self) -> Session:
        """A session whose transactions may write (``with db.session() as s, s.begin():``)."""
        return self._sessions()

    def read_session(self) -> Session:
        """A session for reads only; on SQLite it never takes the write lock."""
        return self._read_sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on error."""
        with self.session() as session, session.begin():
            yield session

    def missing_sqlite_file(self) -> str | None:
        """The SQLite file's path if it does not exist yet (before ``desbumi init``).

        Connecting would create an empty file, or fail with "unable to open" when its
        directory is missing; callers say "run desbumi init" instead.
        """
        path = self.engine.url.database
        if self.dialect != "sqlite" or not path or path == ":memory:":
            return None
        return None if Path(path).exists() else path

    def ping(self) -> None:
        """Raise DatabaseUnavailable with a one-line reason if the database is unreachable."""
        try:
            with self.engine.connect().execution_options(**{_READONLY: True}) as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseUnavailable(
                f"DESBUMI_DATABASE__URL: cannot connect to {self.url}: {reason}"
            ) from None
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(
                f"DESBUMI_DATABASE__URL: {self.url} failed: {exc.__class__.__name__}"
            ) from None

    def dispose(self) -> None:
        self.engine.dispose()
