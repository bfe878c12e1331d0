"""``desbumi serve`` and the separate parts, as real processes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.desbumi.conftest import Run, Running, clean_env

pytestmark = pytest.mark.slow
CALLER = "08129999777"


@pytest.fixture
def start(desbumi: Run, base_env: dict[str, str], tmp_path: Path) -> Iterator[object]:
    assert desbumi("init", "--demo").code == 0
    started: list[Running] = []

    def run(command: str) -> Running:
        env = clean_env(**base_env, DESBUMI_WORKER__POLL_INTERVAL_S="0.2")
        started.append(Running(command, env, tmp_path))
        return started[-1]

    yield run
    for process in started:
        process.stop()


def _get(port: str, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


def _answer_a_call(port: int) -> list[str]:
    """Play Asterisk for one call; returns the AGI commands the server sent."""
    commands = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rw", encoding="utf-8", newline="\n")
        stream.write(
            f"agi_request: agi://127.0.0.1/ivr\nagi_uniqueid: 1700000000.42\n"
            f"agi_callerid: {CALLER}\nagi_channel: PJSIP/gsm-00000001\n\n"
        )
        stream.flush()
        for reply in ("200 result=0", "200 result=0 endpos=16000", "200 result=1"):
            line = stream.readline().strip()
            commands.append(line)
            stream.write(reply + "\n")
            stream.flush()
            if line == "HANGUP":
                break
        stream.close()
    return commands


def test_serve_runs_everything_and_stops_cleanly(start, base_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    serve = start("serve")
    serve.wait_for_log("Uvicorn running")
    serve.wait_for_log("FastAGI listening")
    serve.wait_for_log("job kinds")
    port = base_env["DESBUMI_API__PORT"]

    health = _get(port, "/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["migrated"] is True
    assert "swagger" in _get(port, "/docs").text.lower()
    assert "openapi" in _get(port, "/api/v1/openapi.json").json()

    commands = _answer_a_call(int(base_env["DESBUMI_AGI__PORT"]))
    assert commands[0] == "ANSWER"
    assert commands[1].startswith("STREAM FILE please-try-call-later")
    assert commands[2] == "HANGUP"

    assert serve.stop() == 0
    log = serve.log.read_text()
    assert "call_id=1700000000.42" in log
    assert "Traceback" not in log
    assert CALLER[1:] not in log, "a caller's number reached the log"
    assert "stopped" in log


@pytest.mark.parametrize(
    ("command", "ready"),
    [
        ("api", "Uvicorn running"),
        ("agi", "FastAGI listening"),
        ("worker", "job kinds"),
        ("scheduler", "scheduler: periodic tasks"),
    ],
)
def test_each_part_alone(start, command: str, ready: str, base_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    part = start(command)
    part.wait_for_log(ready)
    if command == "api":
        assert _get(base_env["DESBUMI_API__PORT"], "/health").status_code == 200
    assert part.stop() == 0
    assert "Traceback" not in part.log.read_text()
