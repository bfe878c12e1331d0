"""Settings: defaults, nesting, and one-line errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import PLACEHOLDER_SECRET, Mode, SettingsError, load_settings

GOOD_SECRET = "x" * 40


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.mode is Mode.production
    assert settings.data_dir == Path("./var")
    assert settings.database_url == f"sqlite:///{Path('./var/desbumi.db').resolve()}"
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8000)
    assert settings.agi.port == 4573
    assert settings.timezone == "Asia/Jakarta"
    assert settings.vosk.languages == ["id"]


def test_nested_values_from_the_environment() -> None:
    settings = load_settings(
        {
            "DESBUMI_AMI__HOST": "10.0.0.5",
            "DESBUMI_AMI__SECRET": "s3cret",
            "DESBUMI_WORKER__CONCURRENCY": "4",
            "DESBUMI_VOSK__MODELS": '{"id": "/models/id", "jv": "/models/jv"}',
            "DESBUMI_VOSK__LANGUAGES": '["id", "jv"]',
            "desbumi_timezone": "wita",
            "PATH": "/usr/bin",
        }
    )
    assert settings.ami.host == "10.0.0.5"
    assert settings.ami.secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.worker.concurrency == 4
    assert settings.vosk_model_dir("jv") == Path("/models/jv")
    assert settings.vosk_model_dir("su") == Path("./var/models/su")
    assert settings.timezone == "Asia/Makassar"


def test_postgres_urls_use_psycopg3() -> None:
    url = load_settings({"DESBUMI_DATABASE__URL": "postgres://u@db/desbumi"}).database_url
    assert url == "postgresql+psycopg://u@db/desbumi"


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"DESBUMI_TIMEZONE": "Mars/Olympus"}, "DESBUMI_TIMEZONE"),
        ({"DESBUMI_API__PORT": "99999"}, "DESBUMI_API__PORT"),
        ({"DESBUMI_WORKER__CONCURRENCY": "many"}, "DESBUMI_WORKER__CONCURRENCY"),
        ({"DESBUMI_MODE": "staging"}, "DESBUMI_MODE"),
        ({"DESBUMI_LOG_LEVEL": "LOUD"}, "DESBUMI_LOG_LEVEL"),
        ({"DESBUMI_DATABSE__URL": "sqlite://"}, "DESBUMI_DATABSE__URL"),
        ({"DESBUMI_AMI__HOTS": "x"}, "DESBUMI_AMI__HOTS"),
        ({"DESBUMI_CALLBACK__QUIET_HOURS": "21:00-7"}, "DESBUMI_CALLBACK__QUIET_HOURS"),
        ({"DESBUMI_CALLBACK__QUIET_HOURS": "24:00-07:00"}, "DESBUMI_CALLBACK__QUIET_HOURS"),
        ({"DESBUMI_CALLBACK__DIAL": "PJSIP/gateway"}, "DESBUMI_CALLBACK__DIAL"),
        ({"DESBUMI_HOTLINE__RECORD_FORMAT": "mp3"}, "DESBUMI_HOTLINE__RECORD_FORMAT"),
    ],
)
def test_bad_values_name_the_variable(environ: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    message = str(raised.value)
    assert message.startswith(names + ":")
    assert "\n" not in message


def test_secret_from_file_and_environment(tmp_path: Path) -> None:
    settings = load_settings({"DESBUMI_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="desbumi init"):
        settings.require_secret()
    (tmp_path / "secret_key").write_text(GOOD_SECRET + "\n")
    assert settings.require_secret() == GOOD_SECRET
    env_secret = "y" * 40
    overridden = load_settings(
        {"DESBUMI_DATA_DIR": str(tmp_path), "DESBUMI_SECRET_KEY": env_secret}
    )
    assert overridden.require_secret() == env_secret


def test_placeholder_and_short_secrets_are_refused_outside_dev() -> None:
    with pytest.raises(SettingsError, match="placeholder is refused"):
        load_settings({"DESBUMI_SECRET_KEY": PLACEHOLDER_SECRET}).require_secret()
    with pytest.raises(SettingsError, match="too short"):
        load_settings({"DESBUMI_SECRET_KEY": "short"}).require_secret()
    dev = load_settings({"DESBUMI_MODE": "dev", "DESBUMI_DATA_DIR": "/nonexistent"})
    assert dev.require_secret() == PLACEHOLDER_SECRET
