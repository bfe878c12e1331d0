"""Recordings for the browser's audio player, streamed with HTTP Range.

Browsers play WAV but not Asterisk's raw ``sln``/``ulaw``/``gsm``: those are decoded
once with ffmpeg into a cached 8 kHz WAV beside the data (``cache/playback``), so seeking
works the same for every format.
"""

from __future__ import annotations

import os
import tempfile
import wave
from pathlib import Path

from fastapi.responses import FileResponse

from admin_api.errors import NotFound
from audio.errors import AudioError
from audio.ffmpeg import decode_pcm
from core.models import Recording
from core.settings import Settings

PLAYBACK_RATE = 8000


def playable_path(settings: Settings, recording: Recording) -> Path:
    """A WAV file of the recording that a browser can play; NotFound if it is gone."""
    source = settings.data_dir / recording.path
    if recording.purged_at is not None or not source.is_file():
        raise NotFound("the recording file is not there (purged or missing)")
    if recording.format == "wav":
        return source
    cache = settings.data_dir / "cache" / "playback"
    target = cache / f"{recording.id}-{recording.sha256[:16]}.wav"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=cache, suffix=".part")
    os.close(fd)
    try:
        with wave.open(tmp_name, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(PLAYBACK_RATE)
            for chunk in decode_pcm(settings.ffmpeg, source, PLAYBACK_RATE):
                out.writeframes(chunk)
        # Renamed into place: a concurrent request never serves a half-written file.
        Path(tmp_name).replace(target)
    except AudioError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise NotFound(f"the recording cannot be decoded: {exc}") from None
    return target


def audio_response(path: Path) -> FileResponse:
    """The file with ``Accept-Ranges: bytes``; Range requests get 206 (Starlette)."""
    response = FileResponse(path, media_type="audio/wav")
    response.headers["Cache-Control"] = "private, no-store"
    return response
