"""A worker killed with SIGKILL while decoding: another one finishes, one transcript."""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from core.db import Database
from core.models import Job, Recording, Transcript
from core.recordings import enqueue_transcription
from core.states import JobState, TranscriptionStatus
from tests.desbumi.conftest import Run, Running, clean_env

pytestmark = pytest.mark.slow
MODEL = Path(__file__).resolve().parent.parent / "data" / "vosk-test-model"


def test_sigkill_mid_transcription(desbumi: Run, base_env: dict[str, str], tmp_path: Path) -> None:
    assert desbumi("init").code == 0
    recordings = tmp_path / "var" / "recordings"
    # 30 minutes of a pulsing tone: a few seconds of decoding, a window to kill the worker.
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(recordings / "long.wav"),
            "synth",
            "1800",
            "sine",
            "440",
            "tremolo",
            "0.5",
            "100",
        ],
        check=True,
    )
    env = clean_env(
        **base_env,
        DESBUMI_VOSK__MODELS=json.dumps({"id": str(MODEL)}),
        DESBUMI_WORKER__LEASE_S="2",
        DESBUMI_WORKER__POLL_INTERVAL_S="0.05",
        DESBUMI_WORKER__CONCURRENCY="1",
    )
    workers = [Running("worker", env, tmp_path, name=f"worker{i}") for i in range(2)]
    try:
        for worker in workers:
            worker.wait_for_log("job kinds: transcribe")
        db = Database(create_engine(f"sqlite:///{tmp_path / 'var' / 'desbumi.db'}"))
        now = datetime.now(UTC)
        with db.transaction() as s:
            recording = Recording(
                path="recordings/long.wav", format="wav", sha256="0" * 64, created_at=now
            )
            s.add(recording)
            s.flush()
            enqueue_transcription(s, recording, now=now)

        deadline = time.monotonic() + 30
        victim = None
        while victim is None and time.monotonic() < deadline:
            victim = next(
                (
                    w
                    for w in workers
                    if re.search(r"kind=transcribe attempt=1 started", w.log.read_text())
                ),
                None,
            )
            time.sleep(0.02)
        assert victim is not None, "no worker started the job"
        victim.kill()
        survivor = next(w for w in workers if w is not victim)

        def status() -> TranscriptionStatus:
            with db.read_session() as s:
                value = s.scalar(select(Recording.transcription))
                assert value is not None
                return value

        deadline = time.monotonic() + 60
        while status() is not TranscriptionStatus.done and time.monotonic() < deadline:
            time.sleep(0.1)
        with db.read_session() as s:
            transcripts = list(s.scalars(select(Transcript)))
            job = s.scalar(select(Job))
        assert job is not None and (job.state, job.attempts) == (JobState.succeeded, 2)
        assert len(transcripts) == 1 and len(transcripts[0].words) > 100
        assert "transcribed" not in victim.log.read_text()
        assert "transcribed" in survivor.log.read_text()
        db.dispose()
    finally:
        for worker in workers:
            worker.stop()
