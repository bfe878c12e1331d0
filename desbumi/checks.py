"""``desbumi check``: diagnose every dependency truthfully and say how to fix it."""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from audio.errors import ToolMissing
from audio.tools import probe_espeak_voice, probe_tool
from core import migrate
from core.db import Database
from core.errors import ConfigurationError
from core.settings import Settings
from ivr.ami import probe_ami
from ivr.app import ENGINE_PROMPTS, menu_languages, menu_path
from ivr.errors import AmiUnavailable
from ivr.menu import MenuError, load_menu, prompt_keys
from ivr.pending import SPOOL_DIR
from ivr.prompts import PromptLibrary
from transcription.errors import ModelUnavailable
from transcription.vosk_engine import probe_model


class Status(StrEnum):
    ok = "ok"
    # Works, but a feature is degraded (e.g. no speech model: reports are not transcribed).
    warn = "warn"
    fail = "FAIL"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    fix: str = ""


def _database(settings: Settings) -> Iterator[CheckResult]:
    try:
        db = Database.from_settings(settings)
    except ConfigurationError as exc:
        yield CheckResult("database", Status.fail, str(exc), "set DESBUMI_DATABASE__URL")
        return
    missing = db.missing_sqlite_file()
    if missing:
        yield CheckResult(
            "database", Status.fail, f"no database at {missing}", "run `desbumi init`"
        )
        return
    try:
        db.ping()
        current = migrate.current_revision(db)
    except ConfigurationError as exc:
        yield CheckResult(
            "database",
            Status.fail,
            str(exc),
            "start the database server or correct DESBUMI_DATABASE__URL",
        )
        return
    finally:
        db.dispose()
    yield CheckResult("database", Status.ok, f"{db.url} reachable")
    head = migrate.head_revision()
    if current == head:
        yield CheckResult("migrations", Status.ok, f"at {head}")
    else:
        yield CheckResult(
            "migrations",
            Status.fail,
            f"at {current or 'nothing'}, newest is {head}",
            "run `desbumi init` (it only adds; nothing is dropped)",
        )


def _tools(settings: Settings) -> Iterator[CheckResult]:
    yield _tool("ffmpeg", lambda: probe_tool(settings.ffmpeg))
    yield _tool("ffprobe", lambda: probe_tool(settings.ffprobe))
    yield _tool("sox", lambda: probe_tool(settings.sox, ("--version",)))
    yield _tool("espeak-ng", lambda: probe_espeak_voice(settings.espeak, "id"))


def _tool(name: str, probe: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, Status.ok, probe())
    except ToolMissing as exc:
        return CheckResult(name, Status.fail, str(exc), "apt-get install -y ffmpeg sox espeak-ng")


def _models(settings: Settings) -> Iterator[CheckResult]:
    for language in settings.vosk.languages:
        path = settings.vosk_model_dir(language)
        try:
            detail = probe_model(path)
        except ModelUnavailable as exc:
            # Not fatal: reports are still recorded and wait for a model or a typed transcript.
            yield CheckResult(
                f"vosk model [{language}]",
                Status.warn,
                str(exc),
                f"put a Vosk model in {path} or set DESBUMI_VOSK__MODELS; until then reports "
                "wait in 'awaiting model' and case workers listen or type the transcript",
            )
            continue
        yield CheckResult(f"vosk model [{language}]", Status.ok, f"{path}: {detail}")


def _ami(settings: Settings) -> CheckResult:
    ami = settings.ami
    try:
        banner = probe_ami(
            ami.host, ami.port, ami.username, ami.secret.get_secret_value(), timeout_s=ami.timeout_s
        )
    except AmiUnavailable as exc:
        return CheckResult(
            "asterisk ami",
            Status.fail,
            str(exc),
            "start Asterisk, and check DESBUMI_AMI__HOST/PORT/USERNAME/SECRET against "
            "manager.conf (`desbumi asterisk-config` writes both)",
        )
    return CheckResult("asterisk ami", Status.ok, f"{ami.host}:{ami.port} {banner}")


def _menu(settings: Settings) -> CheckResult:
    source = menu_path(settings)
    where = str(source) if source else "the default menu"
    try:
        menu = load_menu(source)
    except MenuError as exc:
        return CheckResult(
            "hotline menu", Status.fail, str(exc), f"fix {where}; the hotline does not start"
        )
    library = PromptLibrary(settings.data_dir, settings.asterisk_data_dir)
    keys = prompt_keys(menu) | set(ENGINE_PROMPTS)
    languages = menu_languages(menu)
    playable = library.languages_with(keys, languages)
    if not playable:
        return CheckResult(
            "hotline menu",
            Status.fail,
            f"{where}: no language has every prompt",
            "record the prompts into <data_dir>/prompts/recorded/<language>/",
        )
    if len(playable) < len(languages):
        missing = [lang for lang in languages if lang not in playable]
        return CheckResult(
            "hotline menu",
            Status.warn,
            f"{where}: languages {', '.join(playable)}; not offered: {', '.join(missing)}",
            "record the missing prompts into <data_dir>/prompts/recorded/<language>/",
        )
    return CheckResult(
        "hotline menu", Status.ok, f"{where}: {len(menu.nodes)} nodes, {', '.join(playable)}"
    )


# A spooled report older than this means the scheduler is not storing them.
SPOOL_STALE_S = 300


def _spool(settings: Settings) -> CheckResult:
    """Reports the database refused during a call, waiting for the scheduler."""
    files = sorted((settings.data_dir / SPOOL_DIR).glob("*.json"))
    if not files:
        return CheckResult("report spool", Status.ok, "no report waiting")
    oldest_s = time.time() - min(p.stat().st_mtime for p in files)
    detail = f"{len(files)} report(s) wait to be stored, the oldest for {oldest_s / 60:.0f} min"
    if oldest_s < SPOOL_STALE_S:
        return CheckResult("report spool", Status.ok, detail)
    return CheckResult(
        "report spool",
        Status.warn,
        detail,
        "the scheduler stores them once the database answers: check the database, and that "
        "`desbumi scheduler` (or `desbumi serve`) runs; its log says why a file is not stored",
    )


def _port_free(name: str, host: str, port: int, command: str) -> CheckResult:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return CheckResult(
                    name,
                    Status.warn,
                    f"{host}:{port} is in use",
                    f"if `desbumi {command}` or `desbumi serve` runs already, this is fine; "
                    f"otherwise stop what holds the port or change the setting",
                )
            return CheckResult(
                name,
                Status.fail,
                f"cannot bind {host}:{port}: {exc.strerror}",
                "choose another host/port in the settings",
            )
    return CheckResult(name, Status.ok, f"{host}:{port} free")


def run_checks(settings: Settings) -> list[CheckResult]:
    """Every check, in the order a person fixes things."""
    results: list[CheckResult] = []
    try:
        settings.require_secret()
        results.append(CheckResult("secret key", Status.ok, "present"))
    except ConfigurationError as exc:
        results.append(CheckResult("secret key", Status.fail, str(exc), "run `desbumi init`"))
    results.extend(_database(settings))
    results.extend(_tools(settings))
    results.extend(_models(settings))
    results.append(_menu(settings))
    results.append(_spool(settings))
    results.append(_ami(settings))
    results.append(_port_free("fastagi port", settings.agi.host, settings.agi.port, "agi"))
    results.append(_port_free("api port", settings.api.host, settings.api.port, "api"))
    return results
