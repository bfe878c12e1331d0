"""ffprobe as the judge of uploaded media: what a file is and how long it plays."""

from __future__ import annotations

import json
import subprocess  # noqa: S404 - fixed argument lists, never a shell
from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioUnreadable, ToolMissing


@dataclass(frozen=True)
class MediaInfo:
    """The first audio stream of a file, as ffprobe reads it."""

    format_name: str
    codec: str
    duration_s: float
    sample_rate: int
    channels: int


def probe_media(ffprobe: str, path: Path) -> MediaInfo:
    """Describe ``path``; raise :class:`AudioUnreadable` if it is not audio ffmpeg can play.

    The message names the file (its base name only) and the reason, fit to show an editor.
    """
    if not path.is_file():
        raise AudioUnreadable(f"no file at {path.name}")
    if path.stat().st_size == 0:
        raise AudioUnreadable(f"{path.name} is empty (0 bytes)")
    command = [
        ffprobe,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "-select_streams",
        "a:0",
        str(path),
    ]
    try:
        done = subprocess.run(  # noqa: S603 - constant argument list
            command, capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as exc:
        raise ToolMissing(f"{ffprobe} does not run: {exc}") from None
    except subprocess.TimeoutExpired:
        raise AudioUnreadable(f"{path.name}: ffprobe took too long to read it") from None
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "unreadable"
        raise AudioUnreadable(
            f"{path.name} is not a recording ffmpeg can read: "
            f"{reason.replace(str(path), path.name)}"
        )
    data = json.loads(done.stdout or "{}")
    streams = data.get("streams") or []
    if not streams:
        raise AudioUnreadable(f"{path.name} has no audio in it")
    stream = streams[0]
    fmt = data.get("format") or {}
    duration = _number(stream.get("duration")) or _number(fmt.get("duration"))
    if duration is None or duration <= 0:
        raise AudioUnreadable(f"{path.name}: the length of the recording cannot be read")
    return MediaInfo(
        format_name=str(fmt.get("format_name", "")),
        codec=str(stream.get("codec_name", "")),
        duration_s=duration,
        sample_rate=int(_number(stream.get("sample_rate")) or 0),
        channels=int(stream.get("channels") or 0),
    )


def _number(value: object) -> float | None:
    try:
        return float(value) if value not in (None, "N/A") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
