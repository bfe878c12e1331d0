"""Prompts a centre records itself, in whatever format its phone or laptop wrote, with real
ffmpeg and espeak-ng: converted once to what Asterisk plays."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from core.settings import Settings
from ivr.prompts import PromptLibrary


def _tone(path: Path, seconds: float, rate: int, *codec: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
        + ["-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}", *codec, str(path)],
        check=True,
    )


def _host_path(library: PromptLibrary, asterisk_path: str, fmt: str) -> Path:
    relative = Path(asterisk_path).relative_to(library.asterisk_data_dir)
    return library.data_dir / relative.with_suffix(f".{fmt}")


def test_a_recording_in_any_format_is_converted_once_to_telephone_audio(
    settings: Settings,
) -> None:
    library = PromptLibrary(settings.data_dir, settings.asterisk_data_dir, texts={"id": {}})
    recorded = settings.data_dir / "prompts" / "recorded" / "id"
    _tone(recorded / "main-menu.wav", 2.0, 44_100)  # a laptop's wav
    _tone(recorded / "goodbye.m4a", 1.0, 48_000)  # a phone's voice recorder
    menu = library.system("main-menu", "id")
    goodbye = library.system("goodbye", "id")
    for path, seconds in ((menu, 2.0), (goodbye, 1.0)):
        sln = _host_path(library, path, "sln")
        # 8 kHz, 16-bit mono: 16 000 bytes a second, within a frame or two.
        assert abs(sln.stat().st_size - seconds * 16_000) < 800
        for fmt in ("ulaw", "gsm"):
            assert _host_path(library, path, fmt).stat().st_size > 0
    # Converted once: the cache is used the next time, even by a new library.
    before = _host_path(library, menu, "sln").stat().st_mtime_ns
    again = PromptLibrary(settings.data_dir, settings.asterisk_data_dir, texts={"id": {}})
    assert again.system("main-menu", "id") == menu
    assert _host_path(library, menu, "sln").stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("suffix", "rate", "codec"),
    [
        ("mp3", 44_100, ()),
        ("ogg", 48_000, ()),
        ("opus", 48_000, ()),
        ("flac", 44_100, ()),
        ("aac", 44_100, ()),
        # A phone's 3GP (this ffmpeg has no AMR encoder, so AAC inside the 3GP container).
        ("3gp", 16_000, ("-c:a", "aac", "-ac", "1")),
    ],
)
def test_each_accepted_format_becomes_telephone_audio_of_the_same_length(
    settings: Settings, suffix: str, rate: int, codec: tuple[str, ...]
) -> None:
    library = PromptLibrary(settings.data_dir, settings.asterisk_data_dir, texts={"id": {}})
    _tone(
        settings.data_dir / "prompts" / "recorded" / "id" / f"goodbye.{suffix}", 1.5, rate, *codec
    )
    sln = _host_path(library, library.system("goodbye", "id"), "sln")
    # 8 kHz, 16-bit mono; lossy encoders pad up to a few frames at either end.
    assert abs(sln.stat().st_size - 1.5 * 16_000) < 1_600, sln.stat().st_size


def test_a_replaced_or_unreadable_recording_after_a_restart(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    def restarted() -> PromptLibrary:
        texts = {"id": {"main-menu": "Menu utama."}}
        return PromptLibrary(settings.data_dir, settings.asterisk_data_dir, texts=texts)

    synthesised = restarted().system("main-menu", "id")
    recording = settings.data_dir / "prompts" / "recorded" / "id" / "main-menu.wav"
    _tone(recording, 1.0, 22_050)
    first = restarted().system("main-menu", "id")
    assert first != synthesised
    # Replaced by a longer take: a new conversion.
    _tone(recording, 3.0, 22_050)
    os.utime(recording, ns=(1, 2_000_000_000))
    library = restarted()
    second = library.system("main-menu", "id")
    assert second != first
    assert abs(_host_path(library, second, "sln").stat().st_size - 48_000) < 800
    # Something ffmpeg cannot read: logged, and the text is spoken instead of silence.
    recording.unlink()
    broken = recording.with_suffix(".m4a")
    broken.write_bytes(b"not audio at all" * 64)
    with caplog.at_level(logging.ERROR, logger="ivr.prompts"):
        assert restarted().system("main-menu", "id") == synthesised
    assert "recorded prompt id/main-menu cannot be converted" in caplog.text
    # Removed: the synthesised voice.
    broken.unlink()
    assert restarted().system("main-menu", "id") == synthesised
