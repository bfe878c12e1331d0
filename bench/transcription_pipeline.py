"""Benchmark: transcription pipeline cost per hour of telephone audio.

Makes N recordings (8 kHz mono WAV, a pulsing tone the synthetic test model hears as
words), then measures in the same run:

* baseline A: one plain ``ffmpeg -i rec.wav -ar 16000 -f s16le out.raw`` per recording;
* baseline B: Vosk decoding alone, of PCM already in memory;
* the pipeline: each recording enqueued as a transcription job and run by the real
  Worker + TranscriptionHandler (ffmpeg streaming, Vosk, queue, database, transcript).

Overhead = pipeline - baseline B: what ffmpeg, the queue and the database add, in seconds
per hour of audio and as a share of the audio's duration (target: at most 2 %).

    .venv/bin/python bench/transcription_pipeline.py [--recordings 12] [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audio.ffmpeg import decode_pcm  # noqa: E402
from core import migrate  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.db import Database  # noqa: E402
from core.models import Recording  # noqa: E402
from core.recordings import enqueue_transcription  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.worker import Worker  # noqa: E402
from transcription.service import KIND, TranscriptionHandler  # noqa: E402
from transcription.vosk_engine import ModelCache, decode  # noqa: E402

MODEL = Path(__file__).resolve().parent.parent / "tests" / "data" / "vosk-test-model"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    audio_hours = args.recordings * args.minutes / 60
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = load_settings(
            {
                "DESBUMI_DATA_DIR": str(root / "var"),
                "DESBUMI_SECRET_KEY": "bench-secret-0123456789abcdefghijklmnop",  # noqa: S106
                "DESBUMI_VOSK__MODELS": json.dumps({"id": str(MODEL)}),
                "DESBUMI_WORKER__CONCURRENCY": "1",
            }
        )
        recordings = settings.data_dir / "recordings"
        recordings.mkdir(parents=True)
        names = []
        for n in range(args.recordings):
            name = f"r{n}.wav"
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
                    str(recordings / name),
                    "synth",
                    str(args.minutes * 60),
                    "sine",
                    "440",
                    "tremolo",
                    "0.5",
                    "100",
                ],
                check=True,
            )
            names.append(name)
        print(f"{args.recordings} recordings x {args.minutes:g} min = {audio_hours:.2f} h audio")

        started = time.perf_counter()
        for name in names:
            subprocess.run(
                [
                    "ffmpeg",
                    "-nostdin",
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(recordings / name),
                    "-ac",
                    "1",
                    "-ar",
                    "16000",
                    "-f",
                    "s16le",
                    str(root / "out.raw"),
                ],
                check=True,
            )
        ffmpeg_s = time.perf_counter() - started

        model = ModelCache().get(MODEL)
        pcm = [b"".join(decode_pcm("ffmpeg", recordings / name, 16000)) for name in names]
        started = time.perf_counter()
        for data in pcm:
            decode(model, [data[i : i + 8000] for i in range(0, len(data), 8000)])
        vosk_s = time.perf_counter() - started
        del pcm

        db = Database.from_settings(settings)
        migrate.upgrade(db)
        now = datetime.now(UTC)
        with db.transaction() as session:
            for name in names:
                recording = Recording(
                    path=f"recordings/{name}", format="wav", sha256="0" * 64, created_at=now
                )
                session.add(recording)
                session.flush()
                enqueue_transcription(session, recording, now=now)
        clock = SystemClock()
        worker = Worker(
            db,
            {KIND: TranscriptionHandler(settings, db, clock, ModelCache())},
            settings.worker,
            clock,
        )
        started = time.perf_counter()
        while worker.run_once():
            pass
        pipeline_s = time.perf_counter() - started
        if worker.stats.succeeded != args.recordings:
            raise SystemExit(f"only {worker.stats} of {args.recordings} jobs succeeded")
        db.dispose()

    def per_hour(seconds: float) -> str:
        return f"{seconds:6.2f} s ({seconds / audio_hours:6.2f} s per hour of audio)"

    overhead = pipeline_s - vosk_s
    print(f"baseline A, plain ffmpeg to 16 kHz: {per_hour(ffmpeg_s)}")
    print(f"baseline B, Vosk decoding alone:    {per_hour(vosk_s)}")
    print(f"pipeline (queue, ffmpeg, Vosk, DB): {per_hour(pipeline_s)}")
    print(
        f"overhead = pipeline - B:            {per_hour(overhead)}"
        f" = {100 * overhead / (audio_hours * 3600):.3f} % of the audio's duration"
    )


if __name__ == "__main__":
    main()
