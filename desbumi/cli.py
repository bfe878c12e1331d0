"""The ``desbumi`` command. Configuration errors print one line and exit 2, no traceback."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from audio.errors import AudioError
from broadcasts.errors import BroadcastError
from core import migrate, queue
from core.clock import SystemClock
from core.db import Database
from core.errors import ConfigurationError, CoreError
from core.models import User
from core.settings import Settings, load_settings
from core.states import JobState, UserRole
from core.users import create_user, reset_password
from desbumi import __version__
from desbumi.bootstrap import initialise, prepare_data_dir
from desbumi.checks import Status, run_checks
from desbumi.demo_seed import seed_demo
from desbumi.models import install_model
from desbumi.radio_cli import echo_feed_urls
from desbumi.radio_cli import register as register_radio
from desbumi.runtime import Part, Runtime
from ivr.asterisk_config import render as render_asterisk_config
from ivr.errors import IvrError
from transcription.errors import ModelUnavailable
from transcription.service import release_awaiting
from transcription.vosk_engine import probe_model

app = typer.Typer(
    name="desbumi",
    help="Hotline, case triage and community radio for DESBUMI village centres.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Manage the people who log in.", no_args_is_help=True)
jobs_app = typer.Typer(help="Look at and retry background jobs.", invoke_without_command=True)
app.add_typer(user_app, name="user")
models_app = typer.Typer(help="Speech models for transcription.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(models_app, name="models")


_loaded: list[Settings] = []


def _settings() -> Settings:
    """The settings, built on first use, so ``--help`` works even when one is wrong."""
    if not _loaded:
        _loaded.append(load_settings())
        _configure_logging(_loaded[0].log_level)
    return _loaded[0]


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic narrates every migration context at INFO; init prints its own progress.
    logging.getLogger("alembic").setLevel(logging.WARNING)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


def _database() -> Database:
    """The database of an initialised installation; a clear error before ``init``."""
    db = Database.from_settings(_settings())
    missing = db.missing_sqlite_file()
    if missing:
        raise ConfigurationError(
            f"DESBUMI_DATA_DIR: no database at {missing}: run `desbumi init` first"
        )
    db.ping()
    return db


@app.command()
def init(
    demo: Annotated[bool, typer.Option("--demo", help="Add demo villages and content.")] = False,
) -> None:
    """Create the data directory, secret key and database; safe to run again."""
    settings = _settings()
    prepare_data_dir(settings)  # before the engine: SQLite creates its file there
    db = Database.from_settings(settings)
    report = initialise(
        settings,
        db,
        SystemClock().now(),
        typer.echo,
        seed_demo=(lambda session, now: seed_demo(session, now, settings)) if demo else None,
    )
    db.dispose()
    if report.created_secret:
        typer.echo(f"secret key written to {settings.secret_file} (back it up with the data)")
    if report.migrated_from != report.migrated_to:
        typer.echo(f"database migrated {report.migrated_from or 'empty'} -> {report.migrated_to}")
    if any(report.demo.values()):
        typer.echo("demo data added: " + ", ".join(f"{v} {k}" for k, v in report.demo.items()))
    elif demo:
        typer.echo("demo data already present; nothing added")
    for username, password in report.new_credentials:
        typer.echo(
            f"\nlogin: {username}\npassword: {password}\n"
            "(shown once; write it down now. Change it with `desbumi user set-password`)"
        )
    for made in report.new_station_keys:
        typer.echo(
            f"\nstation: {made.station}\nkey: {made.key}\n"
            f"(shown once; a new one: `desbumi station new-key {made.station}`)"
        )
        echo_feed_urls(settings, made.key, made.programmes)
    typer.echo("ready")


@app.command()
def check() -> None:
    """Diagnose every dependency and say how to fix what is missing. Exit 1 on a failure."""
    results = run_checks(_settings())
    width = max(len(r.name) for r in results)
    for result in results:
        typer.echo(f"{result.status:<4}  {result.name:<{width}}  {result.detail}")
        if result.fix and result.status is not Status.ok:
            typer.echo(f"{'':<4}  {'':<{width}}  fix: {result.fix}")
    failed = [r for r in results if r.status is Status.fail]
    typer.echo(
        f"\n{len(results) - len(failed)} of {len(results)} checks passed"
        + (f"; {len(failed)} failed" if failed else "")
    )
    if failed:
        raise typer.Exit(1)


def _run(parts: set[Part]) -> None:
    db = _database()
    if not migrate.is_up_to_date(db):
        raise ConfigurationError("database not migrated: run `desbumi init` first")
    _settings().require_secret()  # refuse a placeholder or short key before serving anyone
    if asyncio.run(Runtime(_settings(), db).run(parts)) != 0:
        typer.echo("desbumi: error: a part stopped on its own; see the log above", err=True)
        raise typer.Exit(1)


@app.command()
def serve() -> None:
    """Run everything in one process: API and web pages, FastAGI, worker, scheduler."""
    _run(set(Part))


@app.command()
def api() -> None:
    """Run only the API and web pages."""
    _run({Part.api})


@app.command()
def agi() -> None:
    """Run only the FastAGI server for Asterisk."""
    _run({Part.agi})


@app.command()
def worker() -> None:
    """Run only the background job worker (start several for more throughput)."""
    _run({Part.worker})


@app.command()
def scheduler() -> None:
    """Run only the scheduler (one per installation)."""
    _run({Part.scheduler})


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[UserRole, typer.Option(help="admin, case_worker or editor")],
    district: Annotated[
        list[str] | None, typer.Option(help="District code the user works in (repeat for several).")
    ] = None,
    full_name: Annotated[str, typer.Option(help="Shown in the audit log.")] = "",
) -> None:
    """Add a user; a password is generated and shown once."""
    db = _database()
    with db.transaction() as session:
        _user, password = create_user(
            session,
            username=username,
            role=role,
            now=SystemClock().now(),
            district_codes=district or [],
            full_name=full_name,
        )
    typer.echo(f"user {username} ({role}) added\npassword: {password}\n(shown once)")


@user_app.command("set-password")
def user_set_password(username: str) -> None:
    """Give a user a new generated password (shown once) and unlock her account."""
    db = _database()
    with db.transaction() as session:
        password = reset_password(session, username, now=SystemClock().now())
    typer.echo(f"new password for {username}: {password}\n(shown once)")


@user_app.command("list")
def user_list() -> None:
    """List users with their role and districts."""
    db = _database()
    with db.read_session() as session, session.begin():
        for user in session.scalars(select(User).order_by(User.username)):
            codes = ",".join(d.code for d in user.districts) or "-"
            state = "active" if user.is_active else "disabled"
            typer.echo(f"{user.username:<20} {user.role:<12} {state:<8} districts={codes}")


@jobs_app.callback()
def jobs(ctx: typer.Context) -> None:
    """Show jobs per kind and state."""
    if ctx.invoked_subcommand is not None:
        return
    db = _database()
    with db.read_session() as session, session.begin():
        counts = queue.counts(session)
        waiting = queue.stuck(session)
    if not counts:
        typer.echo("no jobs")
    for kind, states in sorted(counts.items()):
        typer.echo(f"{kind:<24} " + "  ".join(f"{s}={n}" for s, n in sorted(states.items())))
    if waiting:
        typer.echo(
            "\ndead and held jobs (newest first; retry a dead one with `desbumi jobs retry ID`):"
        )
    for job in waiting:
        why = (job.last_error if job.state is JobState.dead else job.held_reason) or ""
        typer.echo(
            f"  {job.id:>6}  {job.kind:<16} {job.state:<5} attempts={job.attempts}  "
            f"{why.splitlines()[0][:120] if why else ''}"
        )


@jobs_app.command("retry")
def jobs_retry(job_id: int) -> None:
    """Queue a dead job again, with its attempts reset."""
    db = _database()
    with db.transaction() as session:
        try:
            queue.retry_dead(session, job_id, now=SystemClock().now())
        except LookupError as exc:
            raise ConfigurationError(str(exc)) from None
    typer.echo(f"job {job_id} queued again")


@models_app.command("add")
def models_add(
    language: Annotated[str, typer.Argument(help="Language code, e.g. id, jv, en.")],
    path: Annotated[Path, typer.Argument(help="A Vosk model directory.")],
    replace: Annotated[bool, typer.Option(help="Replace a model already installed.")] = False,
) -> None:
    """Check a Vosk model (load it, decode a second of silence), install it, and queue again
    the reports that were waiting for it."""
    settings = _settings()
    db = _database()
    typer.echo(f"checking {path} ...")
    try:
        typer.echo(f"  {probe_model(path)}")
    except ModelUnavailable as exc:
        raise ConfigurationError(f"model not usable: {exc}") from None
    target = install_model(settings, language, path, replace=replace)
    if settings.vosk_model_dir(language).resolve() != target.resolve():
        typer.echo(
            f"note: DESBUMI_VOSK__MODELS points {language} at "
            f"{settings.vosk_model_dir(language)}; remove that entry to use {target}"
        )
    if language not in settings.vosk.languages:
        typer.echo(f"note: add {language!r} to DESBUMI_VOSK__LANGUAGES so `check` watches it")
    with db.transaction() as session:
        released = release_awaiting(session, language, now=SystemClock().now())
    typer.echo(f"installed at {target}; {released} waiting report(s) queued for transcription")


@app.command("asterisk-config")
def asterisk_config(
    out: Annotated[
        Path, typer.Option(help="Where to write the files (e.g. /etc/asterisk).")
    ] = Path("asterisk"),
) -> None:
    """Write Asterisk's include files for this installation (dialplan with the fallback
    voicemail, AMI user, PJSIP trunk example) and synthesise the fallback apology."""
    settings = _settings()
    prepare_data_dir(settings)
    rendered = render_asterisk_config(settings, out)
    for path in rendered.files:
        typer.echo(f"wrote {path}")
    if rendered.fallback_prompt is not None:
        typer.echo(f"fallback apology at {rendered.fallback_prompt}.sln")
    typer.echo(
        "include them from extensions.conf, manager.conf and pjsip.conf "
        "(#include extensions_desbumi.conf ...), then: asterisk -rx 'core reload'"
    )
    if not settings.ami.secret.get_secret_value():
        typer.echo(
            "note: DESBUMI_AMI__SECRET is empty; set it (the AMI user's secret is CHANGE-ME)"
        )


register_radio(app, _settings, _database)


def main() -> None:
    """Entry point: one clear line instead of a traceback for anything the user can fix."""
    try:
        app()
    except (ConfigurationError, CoreError, IvrError, AudioError, BroadcastError) as exc:
        # A menu file with a mistake, a missing tool: the message names it.
        typer.echo(f"desbumi: error: {exc}", err=True)
        sys.exit(2)
    except SQLAlchemyError as exc:
        typer.echo(
            f"desbumi: error: database: {type(exc).__name__}: {str(exc).splitlines()[0]}", err=True
        )
        sys.exit(2)
