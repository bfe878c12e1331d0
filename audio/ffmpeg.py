"""ffmpeg: decoding recordings to PCM, and converting uploads into the radio master.

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


# The radio master every content item is kept in: mono, CD rate, 16-bit WAV (pydub reads
# WAV without spawning ffmpeg, which matters for a 40-clip segment).
MASTER_RATE = 44_100
TELEPHONE_OUTPUT = {
    "sln": ["-f", "s16le", "-c:a", "pcm_s16le"],
    "ulaw": ["-f", "mulaw", "-c:a", "pcm_mulaw"],
    "gsm": ["-f", "gsm", "-c:a", "libgsm"],
}


def run_ffmpeg(ffmpeg: str, args: list[str], timeout_s: float = 600) -> None:
    """Run ``ffmpeg args`` (no shell); raise AudioUnreadable with ffmpeg's last error line."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    try:
        done = subprocess.run(  # noqa: S603 - constant argument list
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except OSError as exc:
        raise ToolMissing(f"{ffmpeg} does not run: {exc}") from None
    except subprocess.TimeoutExpired:
        raise AudioUnreadable(f"ffmpeg took longer than {timeout_s:.0f} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise AudioUnreadable(lines[-1] if lines else f"ffmpeg exited with {done.returncode}")


def convert_to_master(ffmpeg: str, source: Path, master_wav: Path, telephone_stem: Path) -> None:
    """Convert any recording into the radio master and the hotline's 8 kHz formats.

    ONE ffmpeg process writes ``master_wav`` (44.1 kHz mono s16) and
    ``telephone_stem.{sln,ulaw,gsm}``; the telephone copies are loudness-levelled for the
    phone (quiet field recordings are otherwise hard to hear on a handset). Resampling is
    ffmpeg's, with its anti-alias filter.
    """
    formats = list(TELEPHONE_OUTPUT)
    # Each filter output feeds one output file: split the telephone branch per format.
    phone_labels = "".join(f"[p{i}]" for i in range(len(formats)))
    graph = (
        "[0:a:0]aformat=channel_layouts=mono,asplit=2[m][t];"
        f"[m]aresample={MASTER_RATE}[master];"
        f"[t]loudnorm=I=-18:TP=-2:LRA=11,aresample=8000,asplit={len(formats)}{phone_labels}"
    )
    args = ["-i", str(source), "-filter_complex", graph]
    args += ["-map", "[master]", "-c:a", "pcm_s16le", "-f", "wav", str(master_wav)]
    for i, fmt in enumerate(formats):
        args += ["-map", f"[p{i}]", "-ac", "1", *TELEPHONE_OUTPUT[fmt], f"{telephone_stem}.{fmt}"]
    try:
        run_ffmpeg(ffmpeg, args)
    except AudioUnreadable as exc:
        raise AudioUnreadable(
            f"{source.name} could not be converted: {str(exc).replace(str(source), source.name)}"
        ) from None
