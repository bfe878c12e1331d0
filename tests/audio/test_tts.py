"""Prompt synthesis with real pyttsx3, espeak-ng and ffmpeg."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from audio.tts import TELEPHONE_FORMATS, PromptSynthesizer, SpeechProcess, SynthesisError


@pytest.fixture
def synthesizer(tmp_path: Path) -> Iterator[PromptSynthesizer]:
    made = PromptSynthesizer(tmp_path / "prompts")
    yield made
    made.close()


def _seconds(path: Path, fmt: str) -> float:
    """Duration of a headerless telephone file, read back by ffprobe."""
    fmt_args = {
        "sln": ["-f", "s16le", "-ar", "8000", "-ac", "1"],
        "ulaw": ["-f", "mulaw", "-ar", "8000", "-ac", "1"],
        "gsm": ["-f", "gsm"],
    }[fmt]
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            *fmt_args,
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip())


def test_prompt_in_every_telephone_format(synthesizer: PromptSynthesizer) -> None:
    prompt = synthesizer.prompt("Tekan 1 untuk informasi. Hubungi KBRI di 0812-3456-7890.")
    assert prompt.text.startswith("Tekan satu untuk informasi. Hubungi ka be er i di nol")
    durations = []
    for fmt in TELEPHONE_FORMATS:
        path = prompt.path(fmt)
        assert path.is_file() and path.stat().st_size > 1000
        durations.append(_seconds(path, fmt))
    assert 4.0 < durations[0] < 20.0
    assert max(durations) - min(durations) < 0.1, durations
    # sln is 8 kHz 16-bit mono: two bytes per sample.
    assert prompt.path("sln").stat().st_size == pytest.approx(durations[0] * 16000, rel=0.01)


def test_each_prompt_is_synthesised_once(synthesizer: PromptSynthesizer) -> None:
    first = synthesizer.prompt("Selamat datang.")
    again = synthesizer.prompt("Selamat   datang.")
    other = synthesizer.prompt("Selamat datang.", language="ms")
    assert first.base == again.base != other.base
    assert synthesizer.synthesised == 2
    restarted = PromptSynthesizer(synthesizer.cache_dir)
    assert restarted.prompt("Selamat datang.").base == first.base
    assert restarted.synthesised == 0, "the cache on disk survives a restart"
    restarted.close()


def test_a_prompt_asked_for_by_two_threads_at_once_is_synthesised_once(
    synthesizer: PromptSynthesizer,
) -> None:
    # The warm-up and a call in the first seconds after a start may want the same prompt.
    text = "Laporan Anda sudah kami terima. " * 20
    with ThreadPoolExecutor(2) as pool:
        bases = {p.base for p in pool.map(lambda _: synthesizer.prompt(text), range(2))}
    assert len(bases) == 1
    assert synthesizer.synthesised == 1


@pytest.mark.parametrize(
    ("text", "language", "message"),
    [
        ("", "id", "empty prompt"),
        ("   ", "id", "empty prompt"),
        ("Sugeng rawuh", "jv", "no synthetic voice for 'jv'"),
    ],
)
def test_refusals(synthesizer: PromptSynthesizer, text: str, language: str, message: str) -> None:
    with pytest.raises(SynthesisError, match=message):
        synthesizer.prompt(text, language)


def test_a_failure_does_not_kill_the_engine(tmp_path: Path) -> None:
    broken = PromptSynthesizer(tmp_path / "prompts", ffmpeg="/nonexistent/ffmpeg")
    with pytest.raises(Exception, match="does not run"):
        broken.prompt("Satu")
    broken.ffmpeg = "ffmpeg"
    assert broken.prompt("Satu").path("gsm").is_file()
    broken.close()


def _speech_wav(engine: SpeechProcess, text: str, out: Path) -> float:
    engine.synthesize(text, "poz/id", out)
    return out.stat().st_size / 2 / 22050


def test_an_engine_that_crashes_is_started_again_and_the_prompt_still_made(
    tmp_path: Path,
) -> None:
    # espeak-ng runs in a process of its own: a crash in the C library ends that process,
    # not the hotline. A crash between requests and one in the middle of a long request.
    engine = SpeechProcess()
    assert _speech_wav(engine, "Selamat datang.", tmp_path / "one.wav") > 0.5
    first = engine.pid
    assert first is not None and first != os.getpid()
    os.kill(first, signal.SIGSEGV)
    assert _speech_wav(engine, "Tekan satu.", tmp_path / "two.wav") > 0.5
    assert engine.started == 2 and engine.pid not in (None, first)

    long_text = "Laporan Anda sudah kami terima dan akan dibaca oleh petugas. " * 40
    killed: list[int] = []

    def kill_while_speaking() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (tmp_path / "long.wav").exists():
            pid = engine.pid
            if pid is not None and pid != (killed[-1] if killed else None):
                time.sleep(0.2)  # it has the request by now: kill it mid-synthesis
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_while_speaking)
    killer.start()
    seconds = _speech_wav(engine, long_text, tmp_path / "long.wav")
    killer.join()
    assert killed, "the engine was not killed during the request"
    assert seconds > 60, seconds
    assert engine.started == 3
    engine.close()


def test_a_text_that_kills_the_engine_twice_is_refused_with_the_reason(tmp_path: Path) -> None:
    # The real espeak-ng cannot be made to crash on demand: a stand-in engine that dies
    # on every request, as it would on a text that crashes the C library.
    dies = "import os, signal, sys; sys.stdin.readline(); os.kill(os.getpid(), signal.SIGSEGV)"
    engine = SpeechProcess([sys.executable, "-c", dies])
    with pytest.raises(SynthesisError, match="stopped twice: killed by SIGSEGV"):
        engine.synthesize("Satu", "poz/id", tmp_path / "x.wav")
    assert engine.started == 2
    # It keeps serving: the next request gets a new engine again.
    with pytest.raises(SynthesisError, match="stopped twice"):
        engine.synthesize("Dua", "poz/id", tmp_path / "y.wav")
    assert engine.started == 4
    engine.close()


def test_an_engine_that_does_not_start_is_a_clear_error(tmp_path: Path) -> None:
    engine = SpeechProcess(["/nonexistent/python"])
    with pytest.raises(Exception, match="the TTS engine does not start"):
        engine.synthesize("Satu", "poz/id", tmp_path / "x.wav")
    engine.close()


# A stand-in engine that answers each request after ``sys.argv[1]`` seconds and writes, in
# place of speech, the folder it was given for its warm-up file.
TELLS_ITS_FOLDER = """
import json, os, sys, time
for line in sys.stdin:
    time.sleep(float(sys.argv[1]))
    with open(json.loads(line)["out"], "w") as out:
        out.write(os.environ["DESBUMI_TTS_SCRATCH"])
    print(json.dumps({"ok": True}), flush=True)
"""


def test_each_engine_s_scratch_folder_is_removed_when_it_stops_or_dies(tmp_path: Path) -> None:
    # Each engine leaves a warm-up file behind (ENVIRONMENT.md: the first runAndWait() may
    # return before it is written): its folder must not pile up in /tmp, one per start.
    engine = SpeechProcess([sys.executable, "-c", TELLS_ITS_FOLDER, "0"])
    engine.synthesize("Satu", "poz/id", tmp_path / "one")
    first = Path((tmp_path / "one").read_text())
    assert first.is_dir() and first.name.startswith("desbumi-tts-")
    pid = engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    engine.synthesize("Dua", "poz/id", tmp_path / "two")
    second = Path((tmp_path / "two").read_text())
    assert engine.started == 2 and second != first
    assert not first.exists(), "the dead engine's folder was left"
    assert second.is_dir()
    engine.close()
    assert not second.exists() and engine.pid is None
    with pytest.raises(SynthesisError, match="closed"):
        engine.synthesize("Tiga", "poz/id", tmp_path / "three")


def test_close_finishes_the_request_in_hand_and_refuses_those_waiting(tmp_path: Path) -> None:
    engine = SpeechProcess([sys.executable, "-c", TELLS_ITS_FOLDER, "1"])
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(engine.synthesize, "Satu", "poz/id", tmp_path / "one")
        deadline = time.monotonic() + 20
        while engine.pid is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the first request is in the engine's hands
        waiting = [
            pool.submit(engine.synthesize, word, "poz/id", tmp_path / word) for word in ("a", "b")
        ]
        time.sleep(0.2)
        engine.close()
        first.result(timeout=30)
        for refused in waiting:
            with pytest.raises(SynthesisError, match="the TTS engine is closed"):
                refused.result(timeout=30)
    assert (tmp_path / "one").is_file() and not (tmp_path / "a").exists()


def test_the_real_engine_removes_its_warm_up_folder_at_the_end_of_its_input(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-m", "audio.speech_engine"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "DESBUMI_TTS_SCRATCH": str(scratch)},
    )
    request = {"text": "Selamat pagi.", "voice": "poz/id", "out": str(tmp_path / "x.wav")}
    reply, _ = child.communicate(json.dumps(request).encode() + b"\n", timeout=120)
    assert json.loads(reply) == {"ok": True}
    assert child.returncode == 0
    assert (tmp_path / "x.wav").stat().st_size > 44
    assert not scratch.exists()
