"""``desbumi serve`` and the separate parts, as real processes stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import httpx
import pytest

from tests.conftest import wait_until
from tests.desbumi.conftest import Run, Running, Start, process_tree

pytestmark = pytest.mark.slow
CALLER = "08129999777"
CALL_ID = "123.4"
AGI_ENVIRONMENT = (
    f"agi_request: agi://127.0.0.1/ivr\nagi_uniqueid: {CALL_ID}\nagi_callerid: {CALLER}\n\n"
)


@pytest.fixture
def installed(desbumi: Run) -> None:
    result = desbumi("init", "--demo")
    assert result.code == 0, result.err


@contextmanager
def _agi_call(port: int) -> Iterator[TextIO]:
    """A connection to the FastAGI server that has sent the AGI environment, as Asterisk
    does; the test then plays Asterisk's side line by line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with sock.makefile("rw", encoding="utf-8", newline="\n") as stream:
            stream.write(AGI_ENVIRONMENT)
            stream.flush()
            yield stream


def _say(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


def _play(call: TextIO, *steps: tuple[str, str]) -> None:
    """Asterisk's side of a call: each step is the command the server must send next (how
    it starts) and Asterisk's reply to it."""
    for command, reply in steps:
        line = call.readline()
        assert line.startswith(command), (command, line)
        _say(call, reply)


def _url(base_env: dict[str, str], path: str) -> str:
    return f"http://127.0.0.1:{base_env['DESBUMI_API__PORT']}{path}"


def _assert_clean_log(process: Running) -> str:
    log = process.output()
    assert "Traceback" not in log, log
    assert CALLER[1:] not in log, "a caller's number reached the log"
    return log


@pytest.mark.usefixtures("installed")
def test_serve_runs_everything_and_stops_cleanly(start: Start, base_env: dict[str, str]) -> None:
    serve = start("serve")
    health = serve.wait_for_http(_url(base_env, "/health"))
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    assert health.json()["migrated"] is True

    docs = httpx.get(_url(base_env, "/docs"), timeout=5)
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "swagger" in docs.text.lower()
    schema = httpx.get(_url(base_env, "/api/v1/openapi.json"), timeout=5)
    assert schema.status_code == 200 and "openapi" in schema.json()

    serve.wait_for_log("FastAGI listening")
    with _agi_call(int(base_env["DESBUMI_AGI__PORT"])) as call:
        _play(
            call,
            ("ANSWER", "200 result=0"),
            # The language question; the caller presses 9 (ASCII 57): the quick exit.
            ("STREAM FILE ", "200 result=57 endpos=1000"),
            ("STREAM FILE ", "200 result=0 endpos=8000"),
            ("HANGUP", "200 result=1"),
        )
    serve.wait_for_log(f"call_id={CALL_ID} ended: quick_exit")
    serve.wait_for_log("job kinds")
    serve.wait_for_log("scheduler: periodic tasks")

    assert serve.stop() == 0
    log = _assert_clean_log(serve)
    assert f"call_id={CALL_ID} started" in log
    assert "stopped" in log


def _stop_during_a_call(start: Start, base_env: dict[str, str]) -> Running:
    serve = start("serve")
    serve.wait_for_log("FastAGI listening")
    with _agi_call(int(base_env["DESBUMI_AGI__PORT"])) as call:
        assert call.readline() == "ANSWER\n"
        serve.wait_for_log(f"call_id={CALL_ID} started")
        assert serve.stop() == 0
        assert call.readline() == "", "the server closes the call's connection"
    assert serve.output().rstrip().endswith("stopped")
    return serve


@pytest.mark.usefixtures("installed")
def test_serve_stops_during_a_call(start: Start, base_env: dict[str, str]) -> None:
    _stop_during_a_call(start, base_env)


@pytest.mark.usefixtures("installed")
def test_stopping_during_a_call_logs_no_traceback(start: Start, base_env: dict[str, str]) -> None:
    _assert_clean_log(_stop_during_a_call(start, base_env))


@pytest.mark.usefixtures("installed")
def test_api_alone(start: Start, base_env: dict[str, str]) -> None:
    api = start("api")
    health = api.wait_for_http(_url(base_env, "/health"))
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert api.stop() == 0
    log = _assert_clean_log(api)
    assert "FastAGI" not in log and "job kinds" not in log
    with socket.socket() as probe:
        # The API part never opened the FastAGI port.
        probe.bind(("127.0.0.1", int(base_env["DESBUMI_AGI__PORT"])))


@pytest.mark.usefixtures("installed")
def test_agi_alone(start: Start, base_env: dict[str, str]) -> None:
    agi = start("agi")
    agi.wait_for_log("FastAGI listening")
    with _agi_call(int(base_env["DESBUMI_AGI__PORT"])) as call:
        _play(
            call,
            ("ANSWER", "200 result=0"),
            ("STREAM FILE ", "200 result=0 endpos=1000"),
            # The menu waits for a key; the caller hangs up instead.
            ("WAIT FOR DIGIT ", "HANGUP"),
        )
        assert call.readline() == "", "the server closes the connection after a hangup"
    agi.wait_for_log(f"call_id={CALL_ID} ended: hung_up")
    assert agi.stop() == 0
    _assert_clean_log(agi)


@pytest.mark.usefixtures("installed")
def test_what_the_hotline_counted_is_logged_every_interval_and_at_stop(
    start: Start, base_env: dict[str, str]
) -> None:
    agi = start("agi", DESBUMI_AGI__COUNTS_INTERVAL_S="0.5", DESBUMI_AGI__GC_INTERVAL_S="0.2")
    agi.wait_for_log("FastAGI listening")
    with _agi_call(int(base_env["DESBUMI_AGI__PORT"])) as call:
        _play(
            call,
            ("ANSWER", "200 result=0"),
            ("STREAM FILE ", "200 result=0 endpos=1000"),
            ("WAIT FOR DIGIT ", "200 result=0"),  # no key: a timeout
            ("STREAM FILE ", "200 result=120 endpos=10"),  # x, which no keypad has: invalid
            ("STREAM FILE ", "HANGUP"),  # "invalid choice"
        )
        assert call.readline() == ""
    agi.wait_for_log(f"call_id={CALL_ID} ended: hung_up")
    # The call may fall across two intervals: their lines add up to it.
    wanted = {"calls": 1, "invalid keys": 1, "timeouts": 1}
    wait_until(lambda: _counted(agi, wanted) == wanted, 10, "the call's counts in the log")
    lines = _interval_lines(agi)
    time.sleep(2)
    assert _interval_lines(agi) == lines, "a quiet interval logs nothing"
    assert agi.stop() == 0
    log = _assert_clean_log(agi)
    since = next(line for line in log.splitlines() if "hotline, since the start:" in line)
    assert ": 1 calls," in since and "1 invalid keys, 1 timeouts" in since, since
    # The process collected its own garbage every 0.2 s, instead of Python's collector.
    collected = re.search(r"hotline garbage collection: (\d+) runs \(\d+ full\)", log)
    assert collected and int(collected[1]) >= 5, log[-2000:]


def _interval_lines(process: Running) -> list[str]:
    return [line for line in process.output().splitlines() if "hotline, the last" in line]


def _counted(process: Running, wanted: dict[str, int]) -> dict[str, int]:
    """The interval lines' counts of what ``wanted`` names, added up."""
    return {
        what: sum(
            int(m[1])
            for line in _interval_lines(process)
            for m in [re.search(rf"(\d+) {what}\b", line)]
            if m
        )
        for what in wanted
    }


def _answers_a_call(port: int) -> None:
    with _agi_call(port) as call:
        _play(call, ("ANSWER", "200 result=0"), ("STREAM FILE ", "HANGUP"))
        assert call.readline() == ""


def _tasks(pid: int) -> dict[int, int]:
    """Every thread of ``pid`` and of its descendants -> its scheduling policy."""
    return {
        int(task.name): os.sched_getscheduler(int(task.name))
        for process in process_tree(pid)
        for task in Path(f"/proc/{process}/task").glob("[0-9]*")
    }


@pytest.mark.usefixtures("installed")
def test_the_thread_serving_calls_runs_above_asterisk_and_nothing_else(
    start: Start, base_env: dict[str, str]
) -> None:
    # Debian's Asterisk runs at SCHED_RR 10 (asterisk -p); the hotline's loop goes above it.
    agi = start("agi", DESBUMI_AGI__REALTIME_PRIORITY="11")
    agi.wait_for_log("FastAGI listening")
    pid = agi.proc.pid
    assert os.sched_getscheduler(pid) == os.SCHED_RR | os.SCHED_RESET_ON_FORK
    assert os.sched_getparam(pid).sched_priority == 11
    _answers_a_call(int(base_env["DESBUMI_AGI__PORT"]))
    # Its database helper process and every thread started after (prompt warm-up, the
    # helper's pipes) stay at normal scheduling: a runaway query cannot starve Asterisk.
    others = {tid: policy for tid, policy in _tasks(pid).items() if tid != pid}
    assert len(others) >= 2, others
    assert set(others.values()) == {os.SCHED_OTHER}, others
    assert agi.stop() == 0
    assert "calls served at real-time priority 11" in _assert_clean_log(agi)


@pytest.mark.usefixtures("installed")
def test_a_refused_realtime_priority_is_one_warning_and_calls_are_served(
    start: Start, base_env: dict[str, str]
) -> None:
    # Without CAP_SYS_NICE (and LimitRTPRIO 0) the kernel refuses SCHED_RR for real.
    unprivileged = ["setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice", "--"]
    agi = start("agi", wrapper=unprivileged, DESBUMI_AGI__REALTIME_PRIORITY="11")
    agi.wait_for_log("FastAGI listening")
    assert os.sched_getscheduler(agi.proc.pid) == os.SCHED_OTHER
    _answers_a_call(int(base_env["DESBUMI_AGI__PORT"]))
    assert agi.stop() == 0
    log = _assert_clean_log(agi)
    assert (
        "DESBUMI_AGI__REALTIME_PRIORITY=11 refused (Operation not permitted): calls are served "
        "at normal priority; allow it with LimitRTPRIO=11 (systemd) or CAP_SYS_NICE"
    ) in log, log
    assert log.count("REALTIME_PRIORITY") == 1


@pytest.mark.parametrize(
    ("command", "ready"),
    [("worker", "job kinds: transcribe"), ("scheduler", "scheduler: periodic tasks")],
)
@pytest.mark.usefixtures("installed")
def test_worker_and_scheduler_alone(start: Start, command: str, ready: str) -> None:
    part = start(command)
    part.wait_for_log(ready)
    assert part.stop() == 0
    log = _assert_clean_log(part)
    assert "Uvicorn" not in log and "FastAGI" not in log
    assert log.rstrip().endswith("stopped"), log
