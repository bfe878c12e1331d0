"""``desbumi agi`` killed with SIGKILL after a caller recorded her report and before it
was sent: the restarted scheduler stores her take, with her keypad hints, as an incomplete
report."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.models import Call, Case, Job, Recording
from core.states import CallOutcome, JobState
from ivr.app import ENGINE_PROMPTS
from ivr.menu import PROBLEM_HINTS, load_menu, prompt_keys
from ivr.reporting import COUNTRY_HINTS
from tests.conftest import wait_until
from tests.desbumi.conftest import Run, Start, process_tree
from tests.ivr.fake_asterisk import ENV, REPORT_KEYS, FakeAsterisk, Reply, wav

pytestmark = pytest.mark.slow


def _state(pid: int) -> str:
    """A process's state letter (Z: a zombie), or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def test_a_take_survives_the_fastagi_server_killed_before_the_report_is_sent(
    desbumi: Run, start: Start, base_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    assert desbumi("init").code == 0
    data_dir = Path(base_env["DESBUMI_DATA_DIR"])
    # Recorded prompts (a few bytes each): no speech to synthesise before the server listens.
    prompts = data_dir / "prompts" / "recorded" / "id"
    prompts.mkdir(parents=True)
    for key in prompt_keys(load_menu()) | set(ENGINE_PROMPTS):
        (prompts / f"{key}.sln").write_bytes(b"\x00\x00" * 80)
    agi = start("agi")
    agi.wait_for_log("FastAGI listening")

    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 3.0)
        return "200 result=35 (dtmf) endpos=24000"

    peer = FakeAsterisk(REPORT_KEYS, on_record)
    with socket.create_connection(("127.0.0.1", int(base_env["DESBUMI_AGI__PORT"])), 10) as sock:
        stream = sock.makefile("rw", encoding="utf-8", newline="\n")
        stream.write(ENV.format(n=1, script="ivr"))
        stream.flush()
        while line := stream.readline().strip():
            if line.startswith("STREAM FILE") and "record-confirm" in line:
                # "1 listen, 2 record again, 3 send": the server dies here.
                helpers = process_tree(agi.proc.pid) - {agi.proc.pid}
                agi.kill()
                break
            reply = peer.reply(line)
            if reply is not None:
                stream.write(reply + "\n")
                stream.flush()
    assert peer.records == 1
    # Its database helper process does not outlive it (nor the helper's forkserver).
    assert len(helpers) >= 2, helpers
    wait_until(
        lambda: all(_state(pid) in ("", "Z") for pid in helpers),
        10,
        f"the killed server's helper processes {helpers} to end",
    )
    (take,) = (data_dir / "recordings").glob("*/*/1700000000.1-*.wav")
    with database.read_session() as s:
        call = s.scalars(select(Call)).one()
        assert call.outcome is CallOutcome.in_progress and call.ended_at is None
        assert s.scalars(select(Case)).all() == []
    # More than an hour later (the call still shows in progress), the scheduler runs.
    written = time.time() - 3700
    os.utime(take, (written, written))
    scheduler = start("scheduler")
    scheduler.wait_for_log("never reported stored as case", seconds=60)

    def stored() -> bool:
        with database.read_session() as s:
            return s.scalars(select(Case)).first() is not None

    # The sweep logs the case inside its transaction: the commit may come a moment later.
    wait_until(stored, 10, "the sweep's case to be committed")
    with database.read_session() as s:
        case = s.scalars(select(Case)).one()
        assert case.incomplete is True and case.call_id == call.id
        # Her keys before the beep (REPORT_KEYS: problem 1, country 2) are not lost.
        assert case.keypad_hints == {"problem": PROBLEM_HINTS[0], "country": COUNTRY_HINTS["2"]}
        assert case.caller_id == call.caller_id
        recording = s.scalars(select(Recording)).one()
        assert recording.case_id == case.id
        assert (data_dir / recording.path).resolve() == take.resolve()
        assert abs(recording.duration_s - 3.0) < 0.01
        job = s.scalars(select(Job)).one()
        assert job.state is JobState.queued and job.payload["recording_id"] == recording.id
    assert scheduler.stop() == 0
    for log in (agi.output(), scheduler.output()):
        assert "812555000" not in log, "a caller's number reached the log"
