"""Loudness and encoding of an assembled segment, with ffmpeg.

The segment arrives as one raw PCM file (mono s16le). :func:`plan_gain` measures it with
the EBU R128 scanner (and a one-minute excerpt through each codec); :func:`master` then
runs ONE ffmpeg process that applies the gains, real look-ahead limiters (so the true
peak stays under the ceiling), resamples and writes every output: MP3 CBR and Ogg/Opus
for radio, and the hotline's 8 kHz ``sln``, ``ulaw`` and ``gsm``. Measured in
../shared/ENVIRONMENT.md: doing the loudness maths on the whole segment in Python costs
gigabytes; this costs what ffmpeg needs to stream.
"""

from __future__ import annotations

import logging
import re
import subprocess  # noqa: S404 - fixed argument lists, never a shell
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioError, ToolMissing
from audio.ffmpeg import TELEPHONE_OUTPUT

logger = logging.getLogger(__name__)

# The limiter works on sample peaks; encoders and inter-sample peaks add up to about a
# decibel on speech, so it is set this far under the true-peak ceiling.
LIMITER_MARGIN_DB = 1.0
# Oversampling for the limiter, so that it catches most peaks between samples.
LIMITER_OVERSAMPLE = 2
# Opus overshoots more than LAME on limited speech (measured up to 2 dB at 48 kb/s): its
# branch gets a second limiter this much lower.
OPUS_EXTRA_MARGIN_DB = 1.0


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    true_peak_db: float
    range_lu: float


@dataclass(frozen=True)
class RawPcm:
    """A headerless mono s16le file and its rate."""

    path: Path
    rate: int

    def input_args(self) -> list[str]:
        return ["-f", "s16le", "-ar", str(self.rate), "-ac", "1", "-i", str(self.path)]


def measure_loudness(ffmpeg: str, input_args: list[str], pre_filter: str = "") -> Loudness:
    """Integrated loudness, true peak and loudness range (ffmpeg's ebur128) of the input;
    ``pre_filter`` runs before the scanner (to measure a chain before committing to it)."""
    chain = f"{pre_filter}," if pre_filter else ""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", *input_args]
    command += ["-af", f"{chain}ebur128=peak=true", "-f", "null", "-"]
    try:
        done = subprocess.run(  # noqa: S603 - constant argument list
            command, capture_output=True, text=True, timeout=1800, check=False
        )
    except OSError as exc:
        raise ToolMissing(f"{ffmpeg} does not run: {exc}") from None
    if done.returncode != 0:
        raise AudioError(f"ffmpeg could not measure loudness: {_last_line(done.stderr)}")
    return parse_ebur128_summary(done.stderr)


def parse_ebur128_summary(text: str) -> Loudness:
    """The figures of the summary that ebur128 prints at the end."""
    summary = text[text.rfind("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    lra = re.search(r"LRA:\s+(-?[\d.]+) LU", summary)
    if integrated is None or peak is None:
        raise AudioError("ffmpeg printed no loudness summary")
    return Loudness(
        integrated_lufs=float(integrated.group(1)),
        true_peak_db=float(peak.group(1)),
        range_lu=float(lra.group(1)) if lra else 0.0,
    )


def branch_chain(gain_db: float, limit_db: float, rate: int, oversample: int = 2) -> str:
    """Gain, then a look-ahead limiter at ``oversample`` x the rate, then back to ``rate``."""
    limit = 10 ** (limit_db / 20)
    limiter = f"alimiter=limit={limit:.4f}:attack=5:release=80:level=0:latency=1"
    if oversample <= 1:
        return f"volume={gain_db:.2f}dB,{limiter}"
    return f"volume={gain_db:.2f}dB,aresample={rate * oversample},{limiter},aresample={rate}"


@dataclass(frozen=True)
class Branch:
    """Gain and limiter ceiling (sample peak, dBFS) of one family of outputs."""

    gain_db: float
    limit_db: float

    def chain(self, rate: int, oversample: int = LIMITER_OVERSAMPLE) -> str:
        return branch_chain(self.gain_db, self.limit_db, rate, oversample)


@dataclass(frozen=True)
class GainPlan:
    """Per-branch gains: each codec loses a little loudness its own way, and Opus needs a
    lower limiter; so each output family gets its own gain and limiter in the one process."""

    pcm: Branch
    mp3: Branch
    opus: Branch
    measured: Loudness


def plan_gain(
    ffmpeg: str,
    source: RawPcm,
    *,
    target_lufs: float,
    ceiling_db: float,
    mp3_kbps: int,
    opus_kbps: int,
) -> GainPlan:
    """The gains that bring ``source`` to ``target_lufs`` as each output is heard.

    The whole segment is measured once. What the limiter and each codec then take away
    (the limiter shaves peaks; LAME and Opus at broadcast bit rates discard masked detail,
    up to a LU of limited speech) is measured on a minute from the middle, encoded with
    each branch, and the gains are corrected until they settle (two or three rounds on
    the excerpt, never on the whole segment).
    """
    measured = measure_loudness(ffmpeg, source.input_args())
    if measured.integrated_lufs == float("-inf"):
        raise AudioError("the segment is silent")
    base = target_lufs - measured.integrated_lufs
    limit = ceiling_db - LIMITER_MARGIN_DB
    branches = [
        Branch(base, limit),
        Branch(base, limit),
        Branch(base, limit - OPUS_EXTRA_MARGIN_DB),
    ]
    excerpt = _excerpt_args(source)
    plain = measure_loudness(ffmpeg, excerpt).integrated_lufs
    if plain != float("-inf"):
        for _round in range(4):
            heard = _heard(ffmpeg, source, excerpt, branches, mp3_kbps, opus_kbps)
            if float("-inf") in heard:
                break
            settled = True
            for index, (branch, level) in enumerate(zip(branches, heard, strict=True)):
                # What this branch takes away at its present gain, bounded: more than a
                # few LU is not limiting or coding but an excerpt that is nearly silent.
                loss = max(-0.5, min(4.0, plain + branch.gain_db - level))
                gain = base + loss
                settled = settled and abs(gain - branch.gain_db) < 0.1
                branches[index] = Branch(gain, branch.limit_db)
            if settled:
                break
    logger.info(
        "loudness %.1f LUFS, gains pcm/mp3/opus %.2f/%.2f/%.2f dB",
        measured.integrated_lufs,
        *(b.gain_db for b in branches),
    )
    return GainPlan(pcm=branches[0], mp3=branches[1], opus=branches[2], measured=measured)


def _excerpt_args(source: RawPcm) -> list[str]:
    seconds = source.path.stat().st_size / (2 * source.rate)
    length = min(60.0, seconds)
    start = max(0.0, seconds / 2 - length / 2)
    return ["-ss", f"{start:.2f}", "-t", f"{length:.2f}", *source.input_args()]


def _heard(
    ffmpeg: str,
    source: RawPcm,
    excerpt: list[str],
    branches: list[Branch],
    mp3_kbps: int,
    opus_kbps: int,
) -> list[float]:
    """Integrated loudness of the excerpt through the PCM, MP3 and Opus branches."""
    base = source.path.with_name(f".{source.path.name}.excerpt")
    files = [base.with_suffix(".wav"), base.with_suffix(".mp3"), base.with_suffix(".opus")]
    rate = source.rate
    pcm, mp3, opus = branches
    graph = (
        f"[0:a]asplit=3[a][b][c];[a]{pcm.chain(rate)}[pcm];[b]{mp3.chain(rate)}[mp3];"
        f"[c]{opus.chain(rate)}[opus]"
    )
    command = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", *excerpt]
    command += ["-filter_complex", graph, "-map", "[pcm]", "-c:a", "pcm_s16le", str(files[0])]
    command += ["-map", "[mp3]", "-c:a", "libmp3lame", "-b:a", f"{mp3_kbps}k", str(files[1])]
    command += ["-map", "[opus]", "-c:a", "libopus", "-b:a", f"{opus_kbps}k", "-ar", "48000"]
    command += ["-f", "ogg", str(files[2])]
    try:
        done = subprocess.run(  # noqa: S603 - constant argument list
            command, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:
            raise AudioError(f"ffmpeg could not encode a sample: {_last_line(done.stderr)}")
        return [measure_loudness(ffmpeg, ["-i", str(f)]).integrated_lufs for f in files]
    except OSError as exc:
        raise ToolMissing(f"{ffmpeg} does not run: {exc}") from None
    finally:
        for f in files:
            f.unlink(missing_ok=True)


def master(
    ffmpeg: str,
    source: RawPcm,
    *,
    gains: GainPlan,
    outputs: Mapping[str, Path],
    mp3_kbps: int = 128,
    opus_kbps: int = 48,
) -> None:
    """ONE ffmpeg run: gains, limiters, resampling and every encoding.

    ``outputs`` maps ``mp3``, ``opus`` and ``telephone`` to their paths; ``telephone`` is
    a stem that gets ``.sln``, ``.ulaw`` and ``.gsm``. Files are written beside their
    final names and renamed into place once ffmpeg succeeded.
    """
    wanted = [fmt for fmt in ("mp3", "opus", "telephone") if fmt in outputs]
    if not wanted:
        raise AudioError("nothing to write")
    rate = source.rate
    graph = f"[0:a]asplit={len(wanted)}" + "".join(f"[s{i}]" for i in range(len(wanted)))
    tails: list[str] = []
    finals: list[tuple[Path, Path]] = []
    for i, fmt in enumerate(wanted):
        if fmt == "telephone":
            # 8 kHz: peaks between 44.1 kHz samples do not matter, no oversampling.
            phone = list(TELEPHONE_OUTPUT)
            split = "".join(f"[t{j}]" for j in range(len(phone)))
            chain = gains.pcm.chain(rate, oversample=1)
            graph += f";[s{i}]{chain},aresample=8000,asplit={len(phone)}{split}"
            stem = outputs["telephone"]
            for j, ext in enumerate(phone):
                final = stem.with_name(f"{stem.name}.{ext}")
                partial = stem.with_name(f".{stem.name}.{ext}.partial")
                finals.append((partial, final))
                tails += ["-map", f"[t{j}]", *TELEPHONE_OUTPUT[ext], str(partial)]
            continue
        final = outputs[fmt]
        partial = final.with_name(f".{final.name}.partial")
        finals.append((partial, final))
        if fmt == "mp3":
            graph += f";[s{i}]{gains.mp3.chain(rate)}[mp3]"
            tails += ["-map", "[mp3]", "-c:a", "libmp3lame", "-b:a", f"{mp3_kbps}k"]
            tails += ["-ar", "44100", "-f", "mp3", str(partial)]
        else:
            graph += f";[s{i}]{gains.opus.chain(rate)}[opus]"
            tails += ["-map", "[opus]", "-c:a", "libopus", "-b:a", f"{opus_kbps}k"]
            tails += ["-ar", "48000", "-f", "ogg", str(partial)]
    command = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", *source.input_args()]
    command += ["-filter_complex", graph, *tails]
    try:
        done = subprocess.run(  # noqa: S603 - constant argument list
            command, capture_output=True, text=True, timeout=3600, check=False
        )
    except OSError as exc:
        raise ToolMissing(f"{ffmpeg} does not run: {exc}") from None
    if done.returncode != 0:
        for partial, _final in finals:
            partial.unlink(missing_ok=True)
        raise AudioError(f"ffmpeg could not encode the segment: {_last_line(done.stderr)}")
    for partial, final in finals:
        partial.replace(final)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no message"
