"""Benchmark: assemble a 30-minute radio segment from 40 clips.

Compares, in the same run and on the same clips:

* the pipeline (``broadcasts.assembly.build``): pydub joins the clips with gaps fitted to
  the target, each clip levelled from its stored loudness, streaming into one raw file;
  ebur128 and a 40-second codec excerpt choose the gains; ONE ffmpeg process limits,
  resamples and writes MP3 CBR, Ogg/Opus and the telephone sln/ulaw/gsm;
* the baseline: one hand-written ffmpeg filtergraph doing the same work (concat of the
  clips with the same gaps, loudnorm to the same target, the same five encodings).

Each run is a fresh child process, so its peak memory is its own: the figure is the
larger of the Python process's peak RSS and that of its largest ffmpeg child.

    .venv/bin/python bench/radio_assembly.py [--clips 40] [--minutes 30]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from audio.ffmpeg import TELEPHONE_OUTPUT  # noqa: E402
from audio.mastering import MP3_QUALITY, OPUS_COMPLEXITY, measure_loudness  # noqa: E402

SENTENCES = [
    "Ibu, Bapak, Saudara, bekerja ke luar negeri adalah hak Anda.",
    "Berangkatlah secara resmi, supaya Anda terlindungi.",
    "Siapkan KTP, kartu keluarga, dan akta kelahiran dari rumah.",
    "Jangan pernah menyerahkan uang kepada calo atau sponsor.",
    "Pekerja rumah tangga tidak boleh dibebani biaya penempatan.",
    "Jika paspor Anda ditahan majikan, hubungi perwakilan Indonesia.",
    "Catat nama lengkap perusahaan, lalu tanyakan ke Dinas Tenaga Kerja.",
    "Jika bingung, jangan berangkat dulu. Hubungi pos DESBUMI di desa Anda.",
]
GAP_S = 0.8


def make_clips(folder: Path, clips: int, seconds: float) -> list[Path]:
    """``clips`` spoken clips of about ``seconds`` each (espeak-ng, then 44.1 kHz WAV as the
    library keeps them), every fourth one quieter and every seventh louder, as uploads are."""
    paths = []
    # More words than needed; the clip is then cut to length (a benchmark, not a broadcast).
    words_needed = int(seconds * 3.5)
    for index in range(clips):
        words: list[str] = []
        n = index
        while len(words) < words_needed:
            words += SENTENCES[n % len(SENTENCES)].split()
            n += 3
        raw = folder / f"raw-{index}.wav"
        speed = 150 + (index % 5) * 10
        subprocess.run(
            ["espeak-ng", "-v", "id", "-s", str(speed), "-w", str(raw), " ".join(words)],
            check=True,
        )
        gain = -9 if index % 4 == 0 else (4 if index % 7 == 0 else 0)
        clip = folder / f"clip-{index:02d}.wav"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-i",
                str(raw),
                "-t",
                f"{seconds:.2f}",
                "-af",
                f"volume={gain}dB",
                "-ac",
                "1",
                "-ar",
                "44100",
                "-c:a",
                "pcm_s16le",
                str(clip),
            ],
            check=True,
        )
        raw.unlink()
        paths.append(clip)
    return paths


def run_pipeline(folder: Path, target_s: float) -> dict[str, float]:
    from audio.jingle import synthesize_jingle
    from broadcasts.assembly import Part, build
    from core.settings import load_settings

    manifest = json.loads((folder / "clips.json").read_text())
    settings = load_settings({"DESBUMI_DATA_DIR": str(folder)})
    jingle = folder / "jingle.wav"
    synthesize_jingle("sox", jingle)
    parts = [Part("jingle", jingle)]
    for number, clip in enumerate(manifest["clips"]):
        parts.append(
            Part(
                "item",
                Path(clip["path"]),
                number + 1,
                f"clip-{number}",
                1,
                f"Clip {number}",
                clip["lufs"],
                clip["peak"],
            )
        )
    parts.append(Part("jingle", jingle))
    started = time.perf_counter()
    built = build(
        parts,
        target_s=target_s,
        radio=settings.radio,
        ffmpeg="ffmpeg",
        data_dir=folder,
        out_dir=folder / "pipeline",
        name="segment",
    )
    elapsed = time.perf_counter() - started
    heard = measure_loudness("ffmpeg", ["-i", str(folder / "pipeline" / "segment.mp3")])
    return {
        "seconds": elapsed,
        "duration_s": built.duration_s,
        "lufs": heard.integrated_lufs,
        "true_peak": heard.true_peak_db,
        **_peaks(),
    }


def run_baseline(folder: Path) -> dict[str, float]:
    manifest = json.loads((folder / "clips.json").read_text())
    jingle = folder / "jingle.wav"
    if not jingle.is_file():
        from audio.jingle import synthesize_jingle

        synthesize_jingle("sox", jingle)
    inputs = [str(jingle), *(c["path"] for c in manifest["clips"]), str(jingle)]
    out = folder / "baseline"
    out.mkdir(exist_ok=True)
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    for path in inputs:
        command += ["-i", path]
    command += ["-f", "lavfi", "-i", f"anullsrc=r=44100:cl=mono:d={GAP_S}"]
    gap = len(inputs)
    pieces = []
    for index in range(len(inputs)):
        pieces.append(f"[{index}:a]")
        if index < len(inputs) - 1:
            pieces.append(f"[g{index}]")
    splits = "".join(f"[g{i}]" for i in range(len(inputs) - 1))
    graph = (
        f"[{gap}:a]asplit={len(inputs) - 1}{splits};"
        f"{''.join(pieces)}concat=n={len(pieces)}:v=0:a=1,aformat=channel_layouts=mono,"
        "loudnorm=I=-16:TP=-1:LRA=11,aresample=44100,asplit=3[m][o][t];"
        "[t]aresample=8000,asplit=3[t0][t1][t2]"
    )
    command += ["-filter_complex", graph]
    command += [
        "-map",
        "[m]",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        "-compression_level",
        MP3_QUALITY,
        str(out / "segment.mp3"),
    ]
    command += [
        "-map",
        "[o]",
        "-c:a",
        "libopus",
        "-b:a",
        "48k",
        "-compression_level",
        OPUS_COMPLEXITY,
        "-ac",
        "1",
        "-ar",
        "48000",
        "-f",
        "ogg",
        str(out / "segment.opus"),
    ]
    for index, fmt in enumerate(TELEPHONE_OUTPUT):
        command += ["-map", f"[t{index}]", "-ac", "1", *TELEPHONE_OUTPUT[fmt]]
        command += [str(out / f"phone.{fmt}")]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    elapsed = time.perf_counter() - started
    heard = measure_loudness("ffmpeg", ["-i", str(out / "segment.mp3")])
    duration = (out / "phone.sln").stat().st_size / 16000
    return {
        "seconds": elapsed,
        "duration_s": duration,
        "lufs": heard.integrated_lufs,
        "true_peak": heard.true_peak_db,
        **_peaks(),
    }


def _peaks() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"python_mb": own, "ffmpeg_mb": child, "peak_mb": max(own, child)}


def _child(kind: str, folder: Path, target_s: float) -> dict[str, float]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--run",
            kind,
            "--folder",
            str(folder),
            "--target",
            str(target_s),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"{kind} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--run", choices=["pipeline", "baseline"])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--target", type=float)
    args = parser.parse_args()
    if args.run:
        result = (
            run_pipeline(args.folder, args.target)
            if args.run == "pipeline"
            else run_baseline(args.folder)
        )
        print(json.dumps(result))
        return
    target = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="radio-bench-") as tmp:
        folder = Path(tmp)
        per_clip = (target - 8 - (args.clips + 1) * GAP_S) / args.clips
        print(f"making {args.clips} clips of about {per_clip:.0f} s ...", flush=True)
        clips = make_clips(folder, args.clips, per_clip)
        described = []
        for clip in clips:
            loud = measure_loudness("ffmpeg", ["-i", str(clip)])
            described.append(
                {"path": str(clip), "lufs": loud.integrated_lufs, "peak": loud.true_peak_db}
            )
        (folder / "clips.json").write_text(json.dumps({"clips": described}))
        total = sum(c.stat().st_size for c in clips) / (2 * 44100)
        print(f"clips: {total / 60:.1f} min of audio; target {target / 60:.0f} min", flush=True)
        baseline = _child("baseline", folder, target)
        pipeline = _child("pipeline", folder, target)
    print()
    print(f"{'':<10} {'seconds':>8} {'peak MB':>8} {'length':>8} {'LUFS':>6} {'dBTP':>6}")
    for name, r in (("baseline", baseline), ("pipeline", pipeline)):
        print(
            f"{name:<10} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} "
            f"{r['duration_s'] / 60:>7.2f}m {r['lufs']:>6.1f} {r['true_peak']:>6.1f}"
        )
    ratio = pipeline["seconds"] / baseline["seconds"]
    print(
        f"\npipeline / baseline time: {ratio:.2f}x (target <= 1.5x); pipeline peak memory "
        f"{pipeline['peak_mb']:.0f} MB (python {pipeline['python_mb']:.0f}, largest ffmpeg "
        f"{pipeline['ffmpeg_mb']:.0f}; target <= 400 MB)"
    )


if __name__ == "__main__":
    main()
