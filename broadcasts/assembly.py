"""Segment assembly: jingle, intro, the planned items, outro, jingle; normalised and encoded.

pydub joins the parts (gaps or crossfades) and streams them into one raw PCM file, holding
at most two clips in memory; :mod:`audio.mastering` measures that file and runs ONE ffmpeg
process for gain, limiter, resampling and every output (MP3 CBR, Ogg/Opus, the hotline's
8 kHz ``sln``/``ulaw``/``gsm``). In gap mode the gaps are stretched or shrunk a little so
the segment lands on the programme's target duration. A cue sheet lists every part with
its offset and content id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import wave
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pydub import AudioSegment

from audio.errors import AudioError
from audio.ffmpeg import MASTER_RATE
from audio.jingle import JINGLE_S, synthesize_jingle
from audio.mastering import RawPcm, master, measure_loudness, plan_gain
from audio.tts import synthesize_master
from broadcasts.errors import AssemblyError
from core.settings import RadioSettings

logger = logging.getLogger(__name__)

MIN_GAP_S = 0.3
MAX_GAP_S = 3.0
# Parts are levelled this far under the target while joined in 16-bit, so that speech
# peaks (espeak's are 17 dB over its loudness) never clip before the float limiter.
WORKING_HEADROOM_DB = 6.0
# No part is raised or lowered more than this (a near-silent part stays near silent).
MAX_PART_GAIN_DB = 24.0
Progress = Callable[[float], None]


@dataclass(frozen=True)
class Part:
    """One piece of a segment: a WAV at the master rate, and what it is."""

    kind: str  # "jingle", "intro", "item", "outro"
    path: Path
    content_id: int | None = None
    slug: str = ""
    version: int = 0
    title: str = ""
    # Measured once when the item was uploaded or synthesised; None: measured here.
    loudness_lufs: float | None = None
    true_peak_db: float | None = None


@dataclass(frozen=True)
class Cue:
    kind: str
    offset_s: float
    duration_s: float
    content_id: int | None
    slug: str
    version: int
    title: str


@dataclass(frozen=True)
class BuiltSegment:
    """What assembly wrote: paths relative to the data directory, sizes and checksums."""

    files: dict[str, str]
    file_info: dict[str, dict[str, object]]
    cues: list[Cue]
    duration_s: float
    sha256: str
    integrated_lufs: float
    true_peak_db: float


def wav_duration(path: Path) -> float:
    """Length of a PCM WAV from its header (no decoding)."""
    try:
        with wave.open(str(path), "rb") as handle:
            return handle.getnframes() / float(handle.getframerate())
    except (wave.Error, EOFError, OSError) as exc:
        raise AssemblyError(f"{path.name} is not a readable WAV: {exc}") from None


def fit_gaps(durations: Sequence[float], target_s: float, gap_s: float) -> list[float]:
    """Gaps between the parts so their total is as near ``target_s`` as the gap limits
    (0.3 to 3 s, or ``gap_s`` if larger) allow; the planner got within +-10 s already."""
    joins = len(durations) - 1
    if joins <= 0:
        return []
    slack = target_s - sum(durations) - joins * gap_s
    each = gap_s + slack / joins
    upper = max(MAX_GAP_S, gap_s)
    return [min(upper, max(min(MIN_GAP_S, gap_s), each))] * joins


def part_gain(part: Part, working_lufs: float) -> float:
    """The gain (dB) that brings ``part`` to ``working_lufs`` without clipping 16 bits."""
    if part.loudness_lufs is None:
        return 0.0
    gain = working_lufs - part.loudness_lufs
    if part.true_peak_db is not None:
        gain = min(gain, -0.3 - part.true_peak_db)
    return max(-MAX_PART_GAIN_DB, min(MAX_PART_GAIN_DB, gain))


def join_parts(
    parts: Sequence[Part],
    gaps: Sequence[float],
    crossfade_ms: int,
    out_raw: Path,
    progress: Progress | None = None,
    working_lufs: float | None = None,
) -> list[Cue]:
    """Stream ``parts`` into ``out_raw`` (mono s16le at the master rate) with ``gaps``
    between them, or overlapping by ``crossfade_ms``; each part is levelled to
    ``working_lufs`` first (when its loudness is known). Returns the cue sheet."""
    cues: list[Cue] = []
    written_ms = 0.0
    carry: AudioSegment | None = None
    with out_raw.open("wb") as out:
        for index, part in enumerate(parts):
            clip = _load(part.path)
            if working_lufs is not None:
                gain = part_gain(part, working_lufs)
                if abs(gain) >= 0.05:
                    clip = clip.apply_gain(gain)
            if carry is None:
                start_ms, current = 0.0, clip
            elif crossfade_ms > 0:
                fade = min(crossfade_ms, len(carry), len(clip))
                start_ms = written_ms + len(carry) - fade
                current = carry.append(clip, crossfade=fade)
            else:
                pause = AudioSegment.silent(
                    duration=round(gaps[index - 1] * 1000), frame_rate=MASTER_RATE
                )
                start_ms = written_ms + len(carry) + len(pause)
                current = carry + pause + clip
            cues.append(
                Cue(
                    part.kind,
                    round(start_ms / 1000, 3),
                    round(len(clip) / 1000, 3),
                    part.content_id,
                    part.slug,
                    part.version,
                    part.title,
                )
            )
            # Keep back only what the next crossfade overlaps: two clips in memory at most.
            keep = crossfade_ms if crossfade_ms > 0 and index < len(parts) - 1 else 0
            keep = min(keep, len(current))
            head = current[: len(current) - keep] if keep else current
            out.write(head.raw_data)
            written_ms += len(head)
            carry = current[len(current) - keep :] if keep else AudioSegment.empty()
            if progress is not None:
                progress(0.6 * (index + 1) / len(parts))
    return cues


def _load(path: Path) -> AudioSegment:
    try:
        # pydub leaves a file it opened by name open: hand it an open file instead.
        with path.open("rb") as handle:
            clip = AudioSegment.from_wav(handle)
    except (OSError, ValueError, EOFError) as exc:
        raise AssemblyError(f"cannot read {path.name}: {exc}") from None
    if clip.frame_rate != MASTER_RATE or clip.sample_width != 2:
        raise AssemblyError(f"{path.name} is not a {MASTER_RATE} Hz 16-bit master")
    return clip.set_channels(1)


class FrameSounds:
    """Jingles and the spoken intro/outro, made once and kept in ``segments/_cache``."""

    def __init__(self, data_dir: Path, sox: str, ffmpeg: str) -> None:
        self.cache = data_dir / "segments" / "_cache"
        self.sox = sox
        self.ffmpeg = ffmpeg

    def jingle(self) -> Path:
        path = self.cache / f"jingle-{JINGLE_S:.0f}s.wav"
        if not path.is_file():
            synthesize_jingle(self.sox, path)
        return path

    def speech(self, text: str, language: str) -> Path:
        digest = hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()[:24]
        path = self.cache / f"speech-{digest}.wav"
        if not path.is_file():
            synthesize_master(text, language, path, self.ffmpeg)
        return path


def build(
    parts: Sequence[Part],
    *,
    target_s: float,
    radio: RadioSettings,
    ffmpeg: str,
    data_dir: Path,
    out_dir: Path,
    name: str,
    progress: Progress | None = None,
) -> BuiltSegment:
    """Assemble ``parts`` into ``out_dir/<name>.mp3`` / ``.opus`` and ``phone.*``, with
    ``<name>.cue.json`` beside them. Raises AssemblyError; leaves no half-written output."""
    if not any(part.kind == "item" for part in parts):
        raise AssemblyError("nothing to play: no approved item is left in this segment")
    parts = [_measured(part, ffmpeg) for part in parts]
    durations = [wav_duration(part.path) for part in parts]
    gaps = [] if radio.crossfade_ms else fit_gaps(durations, target_s, radio.gap_s)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp:
        raw = RawPcm(Path(tmp) / "segment.s16", MASTER_RATE)
        working = radio.loudness_lufs - WORKING_HEADROOM_DB
        cues = join_parts(parts, gaps, radio.crossfade_ms, raw.path, progress, working)
        duration = raw.path.stat().st_size / (2 * MASTER_RATE)
        try:
            gains = plan_gain(
                ffmpeg,
                raw,
                target_lufs=radio.loudness_lufs,
                ceiling_db=radio.true_peak_db,
                mp3_kbps=radio.mp3_bitrate_kbps,
                opus_kbps=radio.opus_bitrate_kbps,
            )
        except AudioError as exc:
            raise AssemblyError(str(exc)) from None
        if progress is not None:
            progress(0.75)
        outputs = {
            "mp3": out_dir / f"{name}.mp3",
            "opus": out_dir / f"{name}.opus",
            "telephone": out_dir / "phone",
        }
        try:
            master(
                ffmpeg,
                raw,
                gains=gains,
                outputs=outputs,
                mp3_kbps=radio.mp3_bitrate_kbps,
                opus_kbps=radio.opus_bitrate_kbps,
            )
        except AudioError as exc:
            raise AssemblyError(str(exc)) from None
    relative = out_dir.relative_to(data_dir)
    files = {
        "mp3": str(relative / f"{name}.mp3"),
        "opus": str(relative / f"{name}.opus"),
        "telephone": str(relative / "phone"),
        "cue": str(relative / f"{name}.cue.json"),
    }
    cue_path = out_dir / f"{name}.cue.json"
    cue_path.write_text(
        json.dumps(
            {"name": name, "duration_s": round(duration, 3), "cues": [asdict(c) for c in cues]},
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    info: dict[str, dict[str, object]] = {}
    for fmt in ("mp3", "opus", "cue"):
        path = data_dir / files[fmt]
        info[fmt] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    for fmt in ("sln", "ulaw", "gsm"):
        path = out_dir / f"phone.{fmt}"
        info[fmt] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    if progress is not None:
        progress(1.0)
    return BuiltSegment(
        files=files,
        file_info=info,
        cues=cues,
        duration_s=round(duration, 3),
        sha256=str(info["mp3"]["sha256"]),
        integrated_lufs=round(radio.loudness_lufs, 2),
        true_peak_db=radio.true_peak_db,
    )


def _measured(part: Part, ffmpeg: str) -> Part:
    if part.loudness_lufs is not None:
        return part
    try:
        loudness = measure_loudness(ffmpeg, ["-i", str(part.path)])
    except AudioError as exc:
        raise AssemblyError(f"{part.path.name}: {exc}") from None
    if loudness.integrated_lufs == float("-inf"):
        return part
    return replace(part, loudness_lufs=loudness.integrated_lufs, true_peak_db=loudness.true_peak_db)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
