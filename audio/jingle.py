"""sox as a jingle maker: a short plucked-guitar chord when a programme has no jingle.

The chord is the classic sox example (six plucked strings of G major, strummed), faded
out and normalised; it marks the start and the end of a segment without any recording.
"""

from __future__ import annotations

import subprocess  # noqa: S404 - fixed argument lists, never a shell
from pathlib import Path

from audio.errors import AudioError, ToolMissing

JINGLE_S = 4.0


def synthesize_jingle(
    sox: str, out_wav: Path, seconds: float = JINGLE_S, rate: int = 44_100
) -> None:
    """Write a ``seconds`` long mono jingle at ``rate`` to ``out_wav`` (complete or not at all)."""
    partial = out_wav.with_name(f".{out_wav.name}.partial.wav")
    strum = ["pl G2", "pl B2", "pl D3", "pl G3", "pl D4", "pl G4"]
    command = [sox, "-q", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(partial)]
    command += ["synth", f"{seconds:.2f}"]
    for note in strum:
        command += note.split()
    command += ["delay", "0", "0.05", "0.1", "0.15", "0.2", "0.25", "remix", "-"]
    command += ["fade", "0", f"{seconds:.2f}", f"{min(1.5, seconds / 2):.2f}", "norm", "-3"]
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(  # noqa: S603 - constant argument list
            command, capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as exc:
        raise ToolMissing(f"{sox} does not run: {exc}") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise AudioError(f"sox could not make the jingle: {done.stderr.strip()}")
    partial.replace(out_wav)
