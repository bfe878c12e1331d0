"""Prompt synthesis with real pyttsx3, espeak-ng and ffmpeg."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from audio.tts import TELEPHONE_FORMATS, PromptSynthesizer, SynthesisError


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
