"""``desbumi check`` tells the truth about each dependency."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.desbumi.conftest import Result, Run

MODEL = Path(__file__).resolve().parent.parent / "data" / "vosk-test-model"


def _status(result: Result, name: str) -> str:
    match = re.search(rf"^(ok|warn|FAIL)\s+{re.escape(name)}\s", result.out, re.MULTILINE)
    assert match, f"no line for {name!r} in:\n{result.out}"
    return match[1]


@pytest.fixture
def initialised(desbumi: Run) -> Run:
    assert desbumi("init").code == 0
    return desbumi


def test_healthy_installation_without_asterisk_or_model(initialised: Run) -> None:
    result = initialised("check")
    for name in (
        "secret key",
        "database",
        "migrations",
        "ffmpeg",
        "ffprobe",
        "sox",
        "espeak-ng",
        "fastagi port",
        "api port",
    ):
        assert _status(result, name) == "ok", name
    assert _status(result, "vosk model [id]") == "warn"
    assert "awaiting model" in result.out
    assert _status(result, "asterisk ami") == "FAIL"
    assert "cannot reach AMI" in result.out
    assert result.code == 1
    assert "1 failed" in result.out


def test_model_present_and_loadable(initialised: Run) -> None:
    result = initialised("check", DESBUMI_VOSK__MODELS=json.dumps({"id": str(MODEL)}))
    assert _status(result, "vosk model [id]") == "ok"
    assert "decodes 16000 Hz" in result.out


def test_garbage_model_directory(initialised: Run, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage-model"
    (garbage / "am").mkdir(parents=True)
    (garbage / "conf").mkdir()
    (garbage / "am" / "final.mdl").write_bytes(b"not a model")
    (garbage / "conf" / "model.conf").write_text("--nonsense\n")
    result = initialised("check", DESBUMI_VOSK__MODELS=json.dumps({"id": str(garbage)}))
    assert _status(result, "vosk model [id]") == "warn"
    assert "libvosk cannot use" in result.out


def test_every_configured_language_is_checked(initialised: Run) -> None:
    result = initialised(
        "check",
        DESBUMI_VOSK__LANGUAGES='["id", "jv"]',
        DESBUMI_VOSK__MODELS=json.dumps({"id": str(MODEL)}),
    )
    assert _status(result, "vosk model [id]") == "ok"
    assert _status(result, "vosk model [jv]") == "warn"


def test_ffmpeg_missing(initialised: Run) -> None:
    result = initialised("check", DESBUMI_FFMPEG="/nonexistent/ffmpeg")
    assert _status(result, "ffmpeg") == "FAIL"
    assert "apt-get install" in result.out
    assert result.code == 1


def test_port_in_use(initialised: Run) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = initialised("check", DESBUMI_AGI__PORT=str(port))
    assert _status(result, "fastagi port") == "warn"
    assert "in use" in result.out


def test_database_not_migrated(desbumi: Run, secret: str, tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "desbumi.db").touch()
    result = desbumi("check", DESBUMI_SECRET_KEY=secret)
    assert _status(result, "database") == "ok"
    assert _status(result, "migrations") == "FAIL"
    assert "run `desbumi init`" in result.out


def test_no_secret_and_no_database(desbumi: Run) -> None:
    result = desbumi("check", DESBUMI_DATABASE__URL="postgresql://nobody@127.0.0.1:1/none")
    assert _status(result, "secret key") == "FAIL"
    assert _status(result, "database") == "FAIL"
    assert "Traceback" not in result.err


def test_before_init_no_database_file_is_created(desbumi: Run, secret: str, tmp_path: Path) -> None:
    result = desbumi("check", DESBUMI_SECRET_KEY=secret)
    assert _status(result, "database") == "FAIL"
    assert "run `desbumi init`" in result.out
    assert not (tmp_path / "var").exists()
