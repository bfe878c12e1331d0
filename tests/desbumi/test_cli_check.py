"""``desbumi check`` tells the truth about each dependency, and fails when one is broken."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import pytest

from tests.desbumi.conftest import VOSK_TEST_MODEL, Result, Run


def _status(result: Result, name: str) -> str:
    match = re.search(rf"^(ok|warn|FAIL)\s+{re.escape(name)}\s", result.out, re.MULTILINE)
    assert match, f"no line for {name!r} in:\n{result.out}\n{result.err}"
    return match[1]


def _line(result: Result, name: str) -> str:
    match = re.search(rf"^(?:ok|warn|FAIL)\s+{re.escape(name)}\s.*$", result.out, re.MULTILINE)
    assert match, result.out
    return match[0]


@pytest.fixture
def initialised(desbumi: Run) -> Run:
    result = desbumi("init")
    assert result.code == 0, result.err
    return desbumi


def test_installation_without_asterisk_or_model(initialised: Run, tmp_path: Path) -> None:
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
        "report spool",
    ):
        assert _status(result, name) == "ok", name
    assert "Indonesian" in _line(result, "espeak-ng")
    assert _status(result, "vosk model [id]") == "warn"
    assert f"no model directory at {tmp_path / 'var' / 'models' / 'id'}" in result.out
    assert "awaiting model" in result.out
    # No Asterisk here and the AMI port is a closed one: a failure, and the exit status says so.
    assert _status(result, "asterisk ami") == "FAIL"
    assert "cannot reach AMI" in _line(result, "asterisk ami")
    assert result.code == 1
    summary = re.search(r"^(\d+) of (\d+) checks passed; 1 failed$", result.out, re.MULTILINE)
    assert summary and int(summary[2]) - int(summary[1]) == 1, result.out
    assert "Traceback" not in result.out + result.err


def test_model_present_and_loadable(initialised: Run) -> None:
    assert (VOSK_TEST_MODEL / "am" / "final.mdl").is_file(), "test data missing"
    result = initialised("check", DESBUMI_VOSK__MODELS=json.dumps({"id": str(VOSK_TEST_MODEL)}))
    assert _status(result, "vosk model [id]") == "ok"
    assert "decodes 16000 Hz" in _line(result, "vosk model [id]")


@pytest.mark.parametrize(
    ("files", "says"),
    [
        # Not even the layout of a model.
        ({"README": "hello", "model.bin": "\x00\x01garbage"}, "not a Vosk model"),
        # The layout, but files libvosk cannot read.
        ({"am/final.mdl": "not a model", "conf/model.conf": "--nonsense\n"}, "libvosk cannot use"),
    ],
)
def test_garbage_model_directory(
    initialised: Run, tmp_path: Path, files: dict[str, str], says: str
) -> None:
    garbage = tmp_path / "garbage-model"
    for name, content in files.items():
        (garbage / name).parent.mkdir(parents=True, exist_ok=True)
        (garbage / name).write_text(content, encoding="utf-8")
    result = initialised("check", DESBUMI_VOSK__MODELS=json.dumps({"id": str(garbage)}))
    assert _status(result, "vosk model [id]") == "warn"
    assert says in result.out
    assert "Traceback" not in result.out + result.err


def test_every_configured_language_is_checked(initialised: Run) -> None:
    result = initialised(
        "check",
        DESBUMI_VOSK__LANGUAGES='["id", "jv"]',
        DESBUMI_VOSK__MODELS=json.dumps({"id": str(VOSK_TEST_MODEL)}),
    )
    assert _status(result, "vosk model [id]") == "ok"
    assert _status(result, "vosk model [jv]") == "warn"


def test_ffmpeg_missing(initialised: Run) -> None:
    result = initialised("check", DESBUMI_FFMPEG="/nonexistent/ffmpeg")
    assert _status(result, "ffmpeg") == "FAIL"
    assert "/nonexistent/ffmpeg" in _line(result, "ffmpeg")
    assert "apt-get install" in result.out
    assert _status(result, "ffprobe") == "ok"
    assert result.code == 1
    assert "2 failed" in result.out  # ffmpeg and the AMI


def test_ami_unreachable(initialised: Run) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = initialised("check", DESBUMI_AMI__PORT=str(closed_port))
    line = _line(result, "asterisk ami")
    assert line.startswith("FAIL")
    assert f"cannot reach AMI at 127.0.0.1:{closed_port}" in line
    assert "manager.conf" in result.out
    assert result.code == 1


@pytest.mark.parametrize(("setting", "name"), [("AGI", "fastagi port"), ("API", "api port")])
def test_port_in_use(initialised: Run, setting: str, name: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = initialised("check", **{f"DESBUMI_{setting}__PORT": str(port)})
    assert _status(result, name) == "warn"
    assert f"127.0.0.1:{port} is in use" in _line(result, name)


def test_database_not_migrated(desbumi: Run, secret: str, tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "desbumi.db").touch()
    result = desbumi("check", DESBUMI_SECRET_KEY=secret)
    assert _status(result, "secret key") == "ok"
    assert _status(result, "database") == "ok"
    assert _status(result, "migrations") == "FAIL"
    assert "at nothing" in _line(result, "migrations")
    assert "run `desbumi init`" in result.out
    assert result.code == 1


def test_before_init_nothing_is_created(desbumi: Run, secret: str, tmp_path: Path) -> None:
    result = desbumi("check", DESBUMI_SECRET_KEY=secret)
    assert _status(result, "database") == "FAIL"
    assert "run `desbumi init`" in result.out
    assert result.code == 1
    assert not (tmp_path / "var").exists()


def test_no_secret_and_no_database(desbumi: Run) -> None:
    result = desbumi("check", DESBUMI_DATABASE__URL="postgresql://nobody@127.0.0.1:1/none")
    assert _status(result, "secret key") == "FAIL"
    assert _status(result, "database") == "FAIL"
    assert "DESBUMI_DATABASE__URL" in result.out
    assert result.code == 1
    assert "Traceback" not in result.out + result.err


def test_reports_waiting_in_the_spool(initialised: Run, tmp_path: Path) -> None:
    spool = tmp_path / "var" / "spool" / "reports"
    spool.mkdir(parents=True)
    fresh = spool / "20261202T100000-1.1-1-a.json"
    fresh.write_text("{}")
    assert _status(initialised("check"), "report spool") == "ok"
    stale = spool / "20261202T090000-1.2-2-b.json"
    stale.write_text("{}")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    result = initialised("check")
    assert _status(result, "report spool") == "warn"
    assert "2 report(s) wait to be stored, the oldest for 60 min" in result.out
    assert "desbumi scheduler" in result.out
