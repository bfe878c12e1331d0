"""Benchmark: from a report's hangup to a triaged case, with 1, 2 and 4 worker processes.

"Hangup" is the commit of a report's Case + Recording + transcription Job (the one
transaction the hotline writes when the caller hangs up); "triaged" is the commit of its
transcript together with the triage on the case. Both are the database's own timestamps
(``Job.created_at`` and ``Transcript.created_at``). The workers are real ``desbumi
worker`` processes (their default threads per process, polling the queue), with real
ffmpeg and the real libvosk on the synthetic test model (tests/data/vosk-test-model),
which decodes far faster than a real model: the figures are the pipeline's own cost.

Two loads, each with 1, 2 and 4 worker processes started before the reports arrive:

* trickle: one report at a time, a few seconds apart (a normal day): the latency of one;
* burst: every report committed at once (after a radio programme): the queue drains.

Baseline, in the same run: ffmpeg + Vosk + triage of the same files, one after another
in one process, without queue or database ("burst" latency = finishing time of each).

    .venv/bin/python bench/hangup_to_triage.py [--reports 16] [--seconds 90]
        [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from audio.ffmpeg import decode_pcm  # noqa: E402
from core.cases import create_report_case  # noqa: E402
from core.db import Database  # noqa: E402
from core.models import Job, Transcript  # noqa: E402
from core.recordings import add_recording  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
from transcription.triage import triage  # noqa: E402
from transcription.vosk_engine import MODEL_SAMPLE_RATE, ModelCache, decode  # noqa: E402

MODEL = REPO / "tests" / "data" / "vosk-test-model"
DESBUMI = REPO / ".venv" / "bin" / "desbumi"
WORKERS = (1, 2, 4)


def make_recordings(folder: Path, count: int, seconds: float) -> list[Path]:
    """8 kHz telephone WAVs: a pulsing tone the synthetic model hears as words."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"report-{n}.wav"
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth"]
            + [str(seconds), "sine", str(300 + 20 * n), "tremolo", "0.5", "100"],
            check=True,
        )
        paths.append(path)
    return paths


def baseline(settings: Settings, paths: list[Path]) -> list[float]:
    """ffmpeg + Vosk + triage of each file in turn; returns each one's finishing time."""
    model = ModelCache().get(MODEL)
    started = time.perf_counter()
    done = []
    for path in paths:
        decoded = decode(model, decode_pcm(settings.ffmpeg, path, MODEL_SAMPLE_RATE))
        triage(decoded.text, language="id", words=[asdict(w) for w in decoded.words], hints={})
        done.append(time.perf_counter() - started)
    return done


def commit_report(db: Database, settings: Settings, audio: Path) -> int:
    """The hotline's hangup transaction: Case + Recording + Job. Returns the recording id."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        case = create_report_case(session, now=now, language="id")
        recording = add_recording(
            session,
            audio,
            data_dir=settings.data_dir,
            fmt="wav",
            now=now,
            language="id",
            case_id=case.id,
            call_id=None,
            partial=False,
        )
        return recording.id


def latencies(db: Database, recording_ids: list[int], timeout_s: float) -> list[float]:
    """Seconds from each report's commit to its triaged transcript; waits for all."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with db.read_session() as session:
            done = session.scalar(
                select(func.count(Transcript.id)).where(Transcript.recording_id.in_(recording_ids))
            )
        if done == len(recording_ids):
            break
        time.sleep(0.05)
    with db.read_session() as session:
        triaged = dict(
            session.execute(
                select(Transcript.recording_id, Transcript.created_at).where(
                    Transcript.recording_id.in_(recording_ids)
                )
            ).all()
        )
        keys = {f"transcribe:{rid}": rid for rid in recording_ids}
        queued = {
            keys[key]: at
            for key, at in session.execute(
                select(Job.unique_key, Job.created_at).where(Job.unique_key.in_(keys))
            ).all()
        }
    return [(triaged[rid] - queued[rid]).total_seconds() for rid in recording_ids if rid in triaged]


def start_workers(
    count: int, environment: dict[str, str], logs: Path
) -> list[subprocess.Popen[bytes]]:
    workers = []
    for n in range(count):
        log = (logs / f"worker-{count}-{n}.log").open("wb")
        workers.append(
            subprocess.Popen(
                [str(DESBUMI), "worker"],
                env={**os.environ, **environment},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    # Ready when each has logged its start (model loading happens on the first job).
    for n in range(count):
        log_path = logs / f"worker-{count}-{n}.log"
        for _ in range(200):
            if "job kinds" in log_path.read_text(errors="replace"):
                break
            time.sleep(0.05)
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "no results"
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {p50:6.2f} s  p99 {p99:6.2f} s  max {ordered[-1]:6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=90.0, help="length of each report")
    parser.add_argument("--trickle", type=int, default=6, help="reports in the trickle load")
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between trickle reports")
    parser.add_argument("--database-url", default="", help="empty: SQLite in a temporary dir")
    args = parser.parse_args()
    print("loadavg before:", Path("/proc/loadavg").read_text().strip(), flush=True)
    root = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    environment = {
        "DESBUMI_DATA_DIR": str(root / "var"),
        "DESBUMI_SECRET_KEY": secrets.token_urlsafe(32),
        "DESBUMI_DATABASE__URL": args.database_url,
        "DESBUMI_VOSK__MODELS": json.dumps({"id": str(MODEL)}),
    }
    settings = load_settings(environment)
    env = {**os.environ, **environment}
    subprocess.run([str(DESBUMI), "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    paths = make_recordings(settings.data_dir / "recordings", args.reports, args.seconds)
    print(
        f"{args.reports} reports of {args.seconds:g} s; worker threads per process: "
        f"{settings.worker.concurrency}, poll interval {settings.worker.poll_interval_s:g} s",
        flush=True,
    )
    finish = baseline(settings, paths)
    per_report = finish[-1] / len(finish)
    db = Database.from_settings(settings)
    results: list[tuple[int, str, list[float], float]] = []
    try:
        for count in WORKERS:
            workers = start_workers(count, environment, root)
            try:
                trickle = []
                for n in range(args.trickle):
                    rid = commit_report(db, settings, paths[n % len(paths)])
                    trickle += latencies(db, [rid], 120)
                    time.sleep(args.gap)
                started = time.perf_counter()
                ids = [commit_report(db, settings, path) for path in paths]
                burst = latencies(db, ids, 600)
                drained = time.perf_counter() - started
            finally:
                stop_workers(workers)
            results.append((count, "trickle", trickle, 0.0))
            results.append((count, "burst", burst, drained))
    finally:
        db.dispose()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print()
    print(f"hangup -> triaged case; {os.cpu_count()} cores; loadavg after {load}")
    print(
        f"baseline (one process, no queue): {per_report:.2f} s per report; burst {summary(finish)}"
    )
    for count, load_kind, values, drained in results:
        extra = f"  (all {len(values)} in {drained:.1f} s)" if load_kind == "burst" else ""
        print(f"{count} worker process(es), {load_kind:7}: {summary(values)}{extra}")
    print(f"(data in {root})")


if __name__ == "__main__":
    main()
