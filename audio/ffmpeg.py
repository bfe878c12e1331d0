"""ffmpeg as a decoder: any recording in, raw mono 16-bit PCM out, streamed in chunks.

Resampling is ffmpeg's job (it filters before decimating); a 16 kHz speech model rejects
8 kHz telephone audio, so recordings are converted on the way in.
"""

from __future__ import annotations

import subprocess  # noqa: S404 - fixed argument lists, never a shell
from collections.abc import Iterator
from pathlib import Path

from audio.errors import AudioUnreadable, ToolMissing

CHUNK_BYTES = 8000  # a quarter of a second at 16 kHz


def decode_pcm(
    ffmpeg: str, path: Path, sample_rate: int, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """Yield ``path`` as mono s16le PCM at ``sample_rate``; raise AudioUnreadable at the end
    if ffmpeg could not decode it (no partial result is silently accepted)."""
    if not path.is_file():
        raise AudioUnreadable(f"no file at {path}")
    if path.stat().st_size == 0:
        raise AudioUnreadable(f"{path.name} is empty (0 bytes)")
    command = [
        ffmpeg,
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-ac",
        "1",
        "-ar",
        str(sample_rate),
        "-f",
        "s16le",
        "-",
    ]
    try:
        proc = subprocess.Popen(  # noqa: S603 - constant argument list
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise ToolMissing(f"{ffmpeg} does not run: {exc}") from None
    assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 - PIPE above
    produced = 0
    try:
        while chunk := proc.stdout.read(chunk_bytes):
            produced += len(chunk)
            yield chunk
        errors = proc.stderr.read().decode("utf-8", "replace").strip()
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if code != 0 or (produced == 0 and errors):
        reason = errors.splitlines()[-1] if errors else f"ffmpeg exited with {code}"
        # ffmpeg repeats the path in its messages; keep only the reason.
        raise AudioUnreadable(f"{path.name}: {reason.replace(str(path), path.name)}")
