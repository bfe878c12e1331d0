"""One typed Settings object, built once at start and passed down.

Every setting comes from an environment variable with the ``DESBUMI_`` prefix; nested
settings use ``__`` (``DESBUMI_AMI__HOST``). This is the only module that reads the
environment. Errors are turned into :class:`SettingsError` whose message names the
variable and the fix, so the CLI can print one line instead of a traceback.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from core.clock import parse_daily_window
from core.errors import ConfigurationError

ENV_PREFIX = "DESBUMI_"
SECRET_FILE_NAME = "secret_key"  # noqa: S105 - a file name, not a secret
# A value that must never protect real callers' numbers: accepted in dev mode only.
PLACEHOLDER_SECRET = "dev-insecure-placeholder-secret"  # noqa: S105
MIN_SECRET_LENGTH = 32

# Indonesia's three time zones, by the names villagers use.
TIMEZONE_ALIASES = {
    "WIB": "Asia/Jakarta",
    "WITA": "Asia/Makassar",
    "WIT": "Asia/Jayapura",
}


# The environment that one load_settings() call reads; the process environment by default.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("desbumi_environ", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading the mapping given to :func:`load_settings`."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        return parse_env_vars(
            os.environ if environ is None else environ,
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )


class SettingsError(ConfigurationError):
    """A setting is missing or wrong; the message names it and says how to fix it."""


class Mode(StrEnum):
    # Production: secrets required, no placeholder accepted.
    production = "production"
    # Development: the placeholder secret is accepted so a laptop can run without init.
    dev = "dev"


def resolve_timezone(name: str) -> str:
    """Return the IANA name for ``name`` (``WIB``/``WITA``/``WIT`` or an IANA zone)."""
    iana = TIMEZONE_ALIASES.get(name.strip().upper(), name.strip())
    try:
        ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}; use WIB, WITA, WIT or an IANA name such as Asia/Jakarta"
        ) from exc
    return iana


class DatabaseSettings(BaseModel):
    """Where the data lives. Empty ``url`` means a SQLite file in the data directory."""

    url: str = ""
    busy_timeout_ms: int = Field(default=10_000, ge=0)
    pool_size: int = Field(default=5, ge=1)
    echo: bool = False


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class AgiSettings(BaseModel):
    """The FastAGI server that Asterisk's ``AGI(agi://host:port/...)`` connects to."""

    host: str = "127.0.0.1"
    port: int = Field(default=4573, ge=1, le=65535)
    command_timeout_s: float = Field(default=30.0, gt=0)
    # SCHED_RR priority of the thread that serves every call (0: normal scheduling). Debian's
    # Asterisk runs its own threads at real-time priority 10 (asterisk -p): above it, the
    # hotline answers a key at once instead of waiting for a core (bench/hotline_load.py).
    realtime_priority: int = Field(default=0, ge=0, le=99)
    # Seconds between the log lines of what the hotline counted (calls, reports, bad input);
    # 0: only the line at stop.
    counts_interval_s: float = Field(default=3600.0, ge=0)
    # Seconds between the hotline process's own garbage collections, which replace Python's
    # automatic ones (those stop the event loop for 0.3 to 4 ms under a caller's key,
    # several times a second when busy: core/collector.py); 0: Python's automatic collector.
    gc_interval_s: float = Field(default=1.0, ge=0)


class AmiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "desbumi"
    secret: SecretStr = SecretStr("")
    timeout_s: float = Field(default=5.0, gt=0)


class CallbackSettings(BaseModel):
    """Calling back: a missed call is rejected unanswered (free), then the centre calls."""

    # The channel to dial; {number} is the caller's number (e.g. PJSIP/{number}@gsm-gateway).
    dial: str = "PJSIP/{number}@gsm-gateway"
    # The caller ID the callee sees (the hotline number), empty for the trunk's default.
    caller_id: str = ""
    # Seconds between the missed call and the callback.
    delay_s: float = Field(default=60.0, ge=0)
    # At most one callback per number in this many minutes; more missed calls are merged.
    window_min: float = Field(default=60.0, ge=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    # Seconds before an unanswered callback is tried again.
    retry_after_s: float = Field(default=600.0, gt=0)
    # Seconds the callee's phone rings before an attempt counts as unanswered.
    ring_s: int = Field(default=45, ge=5, le=300)
    # Local time (the centre's time zone) in which nobody is called; wraps past midnight.
    quiet_hours: str = "21:00-07:00"
    # Callbacks started per scheduler tick, so a burst of missed calls cannot flood a trunk.
    batch: int = Field(default=4, ge=1, le=100)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if not value.strip():
            return ""
        parse_daily_window(value)
        return value.strip()

    @field_validator("dial")
    @classmethod
    def _dial(cls, value: str) -> str:
        if "{number}" not in value:
            raise ValueError("the dial string needs {number}, e.g. PJSIP/{number}@gsm-gateway")
        return value


class HotlineSettings(BaseModel):
    """The voice menu. Empty ``menu_file`` means ``<data_dir>/menu.yaml`` if it exists,
    else the default menu shipped with desbumi."""

    menu_file: Path | None = None
    # The data directory as Asterisk sees it (a container or chroot mounts it elsewhere);
    # prompts are played and recordings written through this path. Empty: data_dir.
    asterisk_data_dir: Path | None = None
    # Sound format that Asterisk records in ("wav" is 8 kHz 16-bit mono).
    record_format: str = "wav"
    # Seconds a caller has to press a key before a menu repeats.
    digit_timeout_s: float = Field(default=6.0, gt=0, le=60)
    # Seconds after which a fallback voicemail file is complete enough to ingest.
    voicemail_settle_s: float = Field(default=5.0, ge=0)

    @field_validator("record_format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in {"wav", "gsm", "sln", "ulaw"}:
            raise ValueError("use wav, gsm, sln or ulaw")
        return value


class RadioSettings(BaseModel):
    """Community radio: the content library's upload limits, segment loudness and encoding."""

    # Integrated loudness of every segment (EBU R128 / ITU-R BS.1770), and its ceiling.
    loudness_lufs: float = Field(default=-16.0, ge=-31.0, le=-8.0)
    true_peak_db: float = Field(default=-1.0, ge=-9.0, le=0.0)
    mp3_bitrate_kbps: int = Field(default=128, ge=32, le=320)
    opus_bitrate_kbps: int = Field(default=48, ge=16, le=256)
    # Silence between items; with crossfade_ms > 0 items overlap by that much instead.
    gap_s: float = Field(default=0.8, ge=0.0, le=10.0)
    crossfade_ms: int = Field(default=0, ge=0, le=5000)
    # How far ahead of air time the scheduler plans and assembles segments.
    lookahead_h: float = Field(default=24.0, gt=0, le=24 * 14)
    # Uploaded recordings: larger, longer or shorter ones are refused with a clear error.
    max_upload_mb: float = Field(default=50.0, gt=0)
    max_recording_s: float = Field(default=900.0, gt=0)
    min_recording_s: float = Field(default=1.0, ge=0)
    # The address stations reach this server at (feeds carry absolute URLs);
    # empty: the address of each request.
    public_url: str = ""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("use an absolute http(s) URL such as https://radio.example.org")
        return value


class VoskSettings(BaseModel):
    """Speech models: ``models`` maps a language code to a model directory.

    A language without an entry uses ``<data_dir>/models/<lang>`` if that exists.
    """

    models: dict[str, Path] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=lambda: ["id"])


class WebSettings(BaseModel):
    """The case workers' web pages and API: sessions, lockout, interface language."""

    # Send cookies only over HTTPS. Turn on whenever the pages are served over HTTPS (a
    # reverse proxy); a village server reached over plain HTTP on its LAN leaves it off.
    secure_cookies: bool = False
    # A web session ends this long after login, or after this long without a request.
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    idle_minutes: float = Field(default=120.0, gt=0)
    # Failed logins in a row that lock an account, and for how long.
    lockout_after: int = Field(default=5, ge=1, le=100)
    lockout_minutes: float = Field(default=15.0, gt=0)
    # Login attempts per minute from one address (per process), whatever the username.
    login_attempts_per_minute: int = Field(default=10, ge=1, le=1000)
    # The interface language for users who chose none: "id" (Bahasa Indonesia) or "en".
    language: str = "id"
    page_size: int = Field(default=50, ge=5, le=500)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in {"id", "en"}:
            raise ValueError("use id or en")
        return value


class RetentionSettings(BaseModel):
    """How long the personal content of a closed case is kept."""

    # Recordings, transcripts, notes and evidence phrases of cases closed this many months
    # ago are purged; counts for statistics stay. 0 keeps everything for ever.
    closed_case_months: int = Field(default=24, ge=0, le=1200)


class WorkerSettings(BaseModel):
    concurrency: int = Field(default=max(1, os.cpu_count() or 1), ge=1, le=64)
    lease_s: float = Field(default=60.0, gt=0)
    poll_interval_s: float = Field(default=1.0, gt=0)
    backoff_base_s: float = Field(default=5.0, ge=0)
    backoff_max_s: float = Field(default=3600.0, ge=0)


class Settings(BaseSettings):
    """All configuration. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    mode: Mode = Mode.production
    data_dir: Path = Path("./var")
    secret_key: SecretStr = SecretStr("")
    timezone: str = "Asia/Jakarta"
    log_level: str = "INFO"
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    sox: str = "sox"
    espeak: str = "espeak-ng"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    agi: AgiSettings = Field(default_factory=AgiSettings)
    ami: AmiSettings = Field(default_factory=AmiSettings)
    vosk: VoskSettings = Field(default_factory=VoskSettings)
    hotline: HotlineSettings = Field(default_factory=HotlineSettings)
    callback: CallbackSettings = Field(default_factory=CallbackSettings)
    radio: RadioSettings = Field(default_factory=RadioSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _MappingEnvSource(settings_cls))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return resolve_timezone(value)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL, with PostgreSQL URLs pinned to the psycopg 3 driver."""
        url = self.database.url.strip()
        if not url:
            return f"sqlite:///{(self.data_dir / 'desbumi.db').resolve()}"
        return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)

    @property
    def secret_file(self) -> Path:
        return self.data_dir / SECRET_FILE_NAME

    @property
    def asterisk_data_dir(self) -> Path:
        """The data directory as Asterisk sees it."""
        return self.hotline.asterisk_data_dir or self.data_dir.resolve()

    def vosk_model_dir(self, language: str) -> Path:
        """The configured model directory for ``language`` (it may not exist)."""
        return self.vosk.models.get(language, self.data_dir / "models" / language)

    def require_secret(self) -> str:
        """The secret key, checked; raise :class:`SettingsError` if unusable.

        Order: ``DESBUMI_SECRET_KEY``, then the file written by ``desbumi init``.
        """
        value = self.secret_key.get_secret_value()
        if not value and self.secret_file.is_file():
            value = self.secret_file.read_text(encoding="utf-8").strip()
        if not value:
            if self.mode is Mode.dev:
                return PLACEHOLDER_SECRET
            raise SettingsError(
                "DESBUMI_SECRET_KEY: no secret key; run `desbumi init` to generate one into "
                f"{self.secret_file}, or set DESBUMI_SECRET_KEY"
            )
        if value == PLACEHOLDER_SECRET and self.mode is not Mode.dev:
            raise SettingsError(
                "DESBUMI_SECRET_KEY: the development placeholder is refused outside dev mode; "
                "remove it and run `desbumi init`, or set a random key of 32+ characters"
            )
        if len(value) < MIN_SECRET_LENGTH and value != PLACEHOLDER_SECRET:
            raise SettingsError(
                f"DESBUMI_SECRET_KEY: too short ({len(value)} characters); use at least "
                f"{MIN_SECRET_LENGTH} random characters, e.g. from `desbumi init`"
            )
        return value


def generate_secret() -> str:
    return secrets.token_urlsafe(48)


def _env_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return ENV_PREFIX + "__".join(p.upper() for p in parts)


def _unknown_variables(environ: dict[str, str]) -> list[str]:
    known_top = {name.upper() for name in Settings.model_fields}
    nested: dict[str, set[str]] = {}
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested[name.upper()] = {n.upper() for n in annotation.model_fields}
    unknown = []
    for key in environ:
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        parts = upper[len(ENV_PREFIX) :].split("__")
        if parts[0] not in known_top:
            unknown.append(key)
        elif len(parts) > 1 and parts[0] in nested and parts[1] not in nested[parts[0]]:
            unknown.append(key)
    return sorted(unknown)


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from ``environ`` (default: the process environment).

    Raises :class:`SettingsError` with a one-line message naming the variable.
    """
    env = dict(os.environ if environ is None else environ)
    unknown = _unknown_variables(env)
    if unknown:
        raise SettingsError(
            f"{unknown[0]}: unknown setting; see the configuration table in README.md "
            "(a typo, or a setting from another version?)"
        )
    try:
        return _build(env, overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(
            f"{_env_name(error['loc'])}: {message} (got {error.get('input')!r})"
        ) from None


def _build(env: dict[str, str], overrides: dict[str, Any]) -> Settings:
    token = _ENVIRON.set(env)
    try:
        return Settings(**overrides)
    finally:
        _ENVIRON.reset(token)
