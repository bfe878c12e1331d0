"""Speech synthesis for prompts: pyttsx3 with espeak-ng, then ffmpeg to telephone formats.

pyttsx3 quirks measured in ../shared/ENVIRONMENT.md, handled here:
* ``init()`` returns one engine per process and it is not thread-safe: one dedicated
  thread owns it and serves every request through a queue;
* the first ``runAndWait()`` after ``init()`` returns early: a warm-up utterance first;
* several ``save_to_file`` calls before one ``runAndWait()`` write only the last file:
  one file per ``runAndWait()``;
* empty text raises inside the driver: refused before it gets there.

Prompts are cached by a hash of (voice, normalised text): each is synthesised once.
Asterisk plays ``name.sln`` / ``name.ulaw`` / ``name.gsm`` without transcoding, so all
three are written, by ONE ffmpeg process.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import subprocess  # noqa: S404 - fixed argument lists, never a shell
import tempfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio.errors import AudioError, ToolMissing
from audio.normalise import normalise_id

# espeak-ng has Indonesian and Malay only; other languages need recorded prompts.
VOICES = {"id": "poz/id", "ms": "poz/ms"}
TELEPHONE_FORMATS = ("sln", "ulaw", "gsm")
_FFMPEG_OUTPUT = {
    "sln": ["-f", "s16le", "-c:a", "pcm_s16le"],
    "ulaw": ["-f", "mulaw", "-c:a", "pcm_mulaw"],
    "gsm": ["-f", "gsm", "-c:a", "libgsm"],
}


class SynthesisError(AudioError):
    """The text could not be turned into speech."""


@dataclass(frozen=True)
class Prompt:
    """A synthesised prompt: ``base`` is what Asterisk's STREAM FILE takes (no extension)."""

    base: Path
    text: str

    def path(self, fmt: str) -> Path:
        return self.base.with_suffix(f".{fmt}")


class _Pyttsx3Thread:
    """The one thread that owns the pyttsx3 engine."""

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[str, str, Path, Future[None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="tts", daemon=True)
        self._thread.start()

    def synthesize(self, text: str, voice: str, out_wav: Path) -> None:
        done: Future[None] = Future()
        self._requests.put((text, voice, out_wav, done))
        done.result(timeout=120)

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        engine: Any = None
        while (request := self._requests.get()) is not None:
            text, voice, out_wav, done = request
            try:
                if engine is None:
                    engine = self._init()
                engine.setProperty("voice", voice)
                with contextlib.redirect_stdout(io.StringIO()):  # the driver prints per file
                    engine.save_to_file(text, str(out_wav))
                    engine.runAndWait()
                if not out_wav.is_file() or out_wav.stat().st_size <= 44:
                    raise SynthesisError("the TTS engine wrote no audio")
                done.set_result(None)
            except Exception as exc:  # the thread edge: report to the caller, keep serving
                done.set_exception(
                    exc
                    if isinstance(exc, SynthesisError)
                    else SynthesisError(f"{type(exc).__name__}: {exc}")
                )

    @staticmethod
    def _init() -> Any:
        import pyttsx3

        engine = pyttsx3.init("espeak")
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            engine.save_to_file("siap", os.path.join(tmp, "warm-up.wav"))
            engine.runAndWait()
        return engine


class PromptSynthesizer:
    """Text in, cached telephone-format prompt files out."""

    def __init__(self, cache_dir: Path, ffmpeg: str = "ffmpeg") -> None:
        self.cache_dir = cache_dir
        self.ffmpeg = ffmpeg
        self._engine: _Pyttsx3Thread | None = None
        self._lock = threading.Lock()
        self.synthesised = 0

    def prompt(self, text: str, language: str = "id") -> Prompt:
        """The prompt for ``text``, synthesised on first use and cached by content hash."""
        voice = VOICES.get(language)
        if voice is None:
            raise SynthesisError(f"no synthetic voice for {language!r}; record this prompt")
        spoken = normalise_id(text) if language == "id" else " ".join(text.split())
        if not spoken:
            raise SynthesisError("empty prompt text")
        digest = hashlib.sha256(f"{voice}\n{spoken}".encode()).hexdigest()[:32]
        base = self.cache_dir / language / digest
        result = Prompt(base=base, text=spoken)
        if all(result.path(fmt).is_file() for fmt in TELEPHONE_FORMATS):
            return result
        base.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, tempfile.TemporaryDirectory(dir=base.parent) as tmp:
            if self._engine is None:
                self._engine = _Pyttsx3Thread()
            wav = Path(tmp) / "speech.wav"
            self._engine.synthesize(spoken, voice, wav)
            self._encode(wav, Path(tmp) / "out")
            for fmt in TELEPHONE_FORMATS:
                # Rename into place: Asterisk never plays a half-written file.
                (Path(tmp) / f"out.{fmt}").replace(result.path(fmt))
            self.synthesised += 1
        return result

    def _encode(self, wav: Path, base: Path) -> None:
        command = [self.ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(wav)]
        for fmt in TELEPHONE_FORMATS:
            # ffmpeg resamples with a proper low-pass filter; 8 kHz mono for telephony.
            command += ["-ar", "8000", "-ac", "1", *_FFMPEG_OUTPUT[fmt], f"{base}.{fmt}"]
        try:
            done = subprocess.run(  # noqa: S603 - constant argument list
                command, capture_output=True, text=True, timeout=120, check=False
            )
        except OSError as exc:
            raise ToolMissing(f"{self.ffmpeg} does not run: {exc}") from None
        if done.returncode != 0:
            raise SynthesisError(f"ffmpeg could not encode the prompt: {done.stderr.strip()}")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
