"""Prompts a centre records itself, in whatever format its phone or laptop wrote, with real
ffmpeg and espeak-ng: converted once to what Asterisk plays, and picked up while the
hotline runs."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from core.settings import Settings
from ivr.prompts import PromptLibrary


def _tone(path: Path, seconds: float, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
        + ["-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}", str(path)],
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


def test_a_recording_added_replaced_or_removed_while_running_is_picked_up(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    library = PromptLibrary(
        settings.data_dir, settings.asterisk_data_dir, texts={"id": {"main-menu": "Menu utama."}}
    )
    synthesised = library.system("main-menu", "id")
    assert library.rescan() == 0
    recording = settings.data_dir / "prompts" / "recorded" / "id" / "main-menu.wav"
    _tone(recording, 1.0, 22_050)
    assert library.system("main-menu", "id") == synthesised, "looked up, not rescanned"
    assert library.rescan() == 1
    first = library.system("main-menu", "id")
    assert first != synthesised
    # Replaced by a longer take: a new conversion.
    _tone(recording, 3.0, 22_050)
    os.utime(recording, ns=(1, 2_000_000_000))
    assert library.rescan() == 1
    second = library.system("main-menu", "id")
    assert second != first
    assert abs(_host_path(library, second, "sln").stat().st_size - 48_000) < 800
    # Something ffmpeg cannot read: logged, and the text is spoken instead of silence.
    recording.unlink()
    broken = recording.with_suffix(".m4a")
    broken.write_bytes(b"not audio at all" * 64)
    with caplog.at_level(logging.ERROR, logger="ivr.prompts"):
        assert library.rescan() == 1
    assert library.system("main-menu", "id") == synthesised
    assert "recorded prompt id/main-menu cannot be converted" in caplog.text
    # Removed: back to the synthesised voice.
    broken.unlink()
    assert library.rescan() == 0
    assert library.system("main-menu", "id") == synthesised
