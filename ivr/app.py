"""Assembling the hotline from the settings (used by the CLI, the tests and the benchmark)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from core.clock import Clock
from core.db import Database
from core.periodic import PeriodicTask
from core.security import PhoneVault
from core.settings import Settings
from ivr.ami import AmiConnection
from ivr.callbacks import CallbackDialer
from ivr.dialogue import Observer
from ivr.engine import MenuEngine
from ivr.menu import LanguageNode, Menu, load_menu, prompt_keys
from ivr.pending import OrphanTakes, PendingReports
from ivr.prompts import DIGIT_KEYS, PromptLibrary
from ivr.service import Hotline
from ivr.store import HotlineStore, StoreProcess, close_stale_calls
from ivr.voicemail import VoicemailSweep

logger = logging.getLogger(__name__)

# Prompts the engine plays besides those the menu names.
ENGINE_PROMPTS = (
    "invalid-choice",
    "no-content",
    "report-reference",
    "report-reference-again",
    "record-empty",
    "record-failed",
    "record-playback",
    "callback-thanks",
    "callback-no-number",
    "transfer-connecting",
    "transfer-unavailable",
    "latest-intro",
    "latest-none",
    "system-error",
    "report-kept",
    *DIGIT_KEYS,
)


def menu_path(settings: Settings) -> Path | None:
    """The menu file in use: the setting, else ``<data_dir>/menu.yaml``, else the default."""
    if settings.hotline.menu_file is not None:
        return settings.hotline.menu_file
    candidate = settings.data_dir / "menu.yaml"
    return candidate if candidate.is_file() else None


def menu_languages(menu: Menu) -> list[str]:
    start = menu.nodes[menu.start]
    return list(start.languages.values()) if isinstance(start, LanguageNode) else ["id"]


def build_hotline(
    settings: Settings,
    db: Database,
    clock: Clock,
    *,
    observer: Observer | None = None,
    library: PromptLibrary | None = None,
) -> Hotline:
    menu = load_menu(menu_path(settings))
    vault = PhoneVault(settings.require_secret())
    store = HotlineStore(db, vault, clock, settings.data_dir, StoreProcess(settings, clock))
    prompts = library or PromptLibrary(settings.data_dir, settings.asterisk_data_dir)
    engine = MenuEngine(menu, prompts, store, settings, clock, observer)
    return Hotline(engine, store, settings)


def warm_prompts(hotline: Hotline, stop: threading.Event | None = None) -> int:
    """Synthesise every prompt before the first call; returns how many are missing."""
    engine = hotline.engine
    keys = sorted(prompt_keys(engine.menu) | set(ENGINE_PROMPTS))
    languages = engine.prompts.languages_with(["main-menu"], menu_languages(engine.menu))
    missing = engine.prompts.warm(keys, languages, stop)
    if stop is not None and stop.is_set():
        logger.info("prompt warm-up stopped: the process is stopping")
    else:
        logger.info("prompts ready in %s (%s missing)", ", ".join(languages), missing)
    return missing


def hotline_tasks(settings: Settings, ami: AmiConnection | None) -> list[PeriodicTask]:
    """The scheduler's hotline tasks: voicemail ingestion, reports spooled while the
    database was failing, takes a killed server left, calls that lost their end and,
    with AMI, the callbacks."""
    vault = PhoneVault(settings.require_secret())
    tasks = [
        VoicemailSweep(settings, vault).task(),
        PendingReports(settings).task(),
        OrphanTakes(settings).task(),
        PeriodicTask("hotline.stale_calls", 600.0, close_stale_calls),
    ]
    if ami is not None:
        tasks.append(CallbackDialer(settings.callback, settings.timezone, vault, ami).task())
    return tasks


def ami_connection(settings: Settings) -> AmiConnection | None:
    """The supervised AMI connection, or None when no AMI secret is configured."""
    secret = settings.ami.secret.get_secret_value()
    if not secret:
        return None
    return AmiConnection(
        settings.ami.host,
        settings.ami.port,
        settings.ami.username,
        secret,
        action_timeout_s=settings.ami.timeout_s,
    )
