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
import itertools
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
# Radio texts wait behind hotline prompts on the one TTS thread.
RADIO_PRIORITY = 1
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

    @property
    def made(self) -> bool:
        """Every telephone format is on disk (they are renamed into place whole)."""
        return all(self.path(fmt).is_file() for fmt in TELEPHONE_FORMATS)


class _Pyttsx3Thread:
    """The one thread that owns the pyttsx3 engine (one per process: see _engine_thread)."""

    def __init__(self) -> None:
        # (priority, order, text, voice, out, done): hotline prompts (0) before radio (1),
        # so a caller never waits behind a long radio text.
        self._requests: queue.PriorityQueue[tuple[int, int, str, str, Path, Future[None]]] = (
            queue.PriorityQueue()
        )
        self._order = itertools.count()
        # The warm-up file may still be written after runAndWait() returns: keep its folder.
        self._scratch = Path(tempfile.mkdtemp(prefix="desbumi-tts-"))
        self._thread = threading.Thread(target=self._run, name="tts", daemon=True)
        self._thread.start()

    def synthesize(self, text: str, voice: str, out_wav: Path, priority: int = 0) -> None:
        done: Future[None] = Future()
        self._requests.put((priority, next(self._order), text, voice, out_wav, done))
        done.result(timeout=300 if priority else 120)

    def _run(self) -> None:
        engine: Any = None
        while True:
            _priority, _order, text, voice, out_wav, done = self._requests.get()
            try:
                if engine is None:
                    engine = self._init()
                engine.setProperty("voice", voice)
                # runAndWait() sometimes returns before the file exists: ask once more.
                for _attempt in range(2):
                    with contextlib.redirect_stdout(io.StringIO()):  # the driver prints
                        engine.save_to_file(text, str(out_wav))
                        engine.runAndWait()
                    if out_wav.is_file() and out_wav.stat().st_size > 44:
                        break
                else:
                    raise SynthesisError("the TTS engine wrote no audio")
                done.set_result(None)
            except Exception as exc:  # the thread edge: report to the caller, keep serving
                done.set_exception(
                    exc
                    if isinstance(exc, SynthesisError)
                    else SynthesisError(f"{type(exc).__name__}: {exc}")
                )

    def _init(self) -> Any:
        import pyttsx3

        engine = pyttsx3.init("espeak")
        with contextlib.redirect_stdout(io.StringIO()):
            engine.save_to_file("siap", str(self._scratch / "warm-up.wav"))
            engine.runAndWait()
        return engine


_engine_lock = threading.Lock()
_engine: list[_Pyttsx3Thread] = []


def _engine_thread() -> _Pyttsx3Thread:
    """The process's TTS thread, started on first use (pyttsx3 allows one engine)."""
    with _engine_lock:
        if not _engine:
            _engine.append(_Pyttsx3Thread())
        return _engine[0]


def spoken_text(text: str, language: str) -> tuple[str, str]:
    """``(voice, normalised text)`` for ``language``; raise SynthesisError when there is no
    synthetic voice for it or nothing to say. The hotline and the radio both go through it."""
    voice = VOICES.get(language)
    if voice is None:
        raise SynthesisError(f"no synthetic voice for {language!r}; record this prompt")
    spoken = normalise_id(text) if language == "id" else " ".join(text.split())
    if not spoken:
        raise SynthesisError("empty prompt text")
    return voice, spoken


def synthesize_master(text: str, language: str, out_wav: Path, ffmpeg: str = "ffmpeg") -> None:
    """Speak ``text`` into ``out_wav``: the radio master (44.1 kHz mono 16-bit WAV).

    The same engine thread and text normalisation as the hotline's prompts, so the radio
    and the phone say an item the same way. The file appears complete or not at all.
    """
    voice, spoken = spoken_text(text, language)
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_wav.parent) as tmp:
        raw = Path(tmp) / "speech.wav"
        _engine_thread().synthesize(spoken, voice, raw, priority=RADIO_PRIORITY)
        partial = Path(tmp) / "master.wav"
        command = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(raw)]
        command += ["-ac", "1", "-ar", "44100", "-c:a", "pcm_s16le", str(partial)]
        try:
            done = subprocess.run(  # noqa: S603 - constant argument list
                command, capture_output=True, text=True, timeout=300, check=False
            )
        except OSError as exc:
            raise ToolMissing(f"{ffmpeg} does not run: {exc}") from None
        if done.returncode != 0:
            raise SynthesisError(f"ffmpeg could not resample the speech: {done.stderr.strip()}")
        partial.replace(out_wav)


class PromptSynthesizer:
    """Text in, cached telephone-format prompt files out."""

    def __init__(self, cache_dir: Path, ffmpeg: str = "ffmpeg") -> None:
        self.cache_dir = cache_dir
        self.ffmpeg = ffmpeg
        self._lock = threading.Lock()
        self.synthesised = 0

    def prompt(self, text: str, language: str = "id") -> Prompt:
        """The prompt for ``text``, synthesised on first use and cached by content hash."""
        voice, spoken = spoken_text(text, language)
        digest = hashlib.sha256(f"{voice}\n{spoken}".encode()).hexdigest()[:32]
        base = self.cache_dir / language / digest
        result = Prompt(base=base, text=spoken)
        if result.made:
            return result
        base.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, tempfile.TemporaryDirectory(dir=base.parent) as tmp:
            if result.made:
                return result  # made by the thread that held the lock (warm-up, a call)
            wav = Path(tmp) / "speech.wav"
            _engine_thread().synthesize(spoken, voice, wav)
            self._install(wav, result, Path(tmp))
            self.synthesised += 1
        return result

    def recording(self, source: Path) -> Prompt:
        """A prompt a centre recorded (any format ffmpeg reads, any rate), in the
        telephone formats; converted once per version of the file (its name, size and
        modification time), cached beside the synthesised prompts."""
        stat = source.stat()
        identity = f"{source.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        base = self.cache_dir / "recorded" / digest
        result = Prompt(base=base, text="")
        if result.made:
            return result
        base.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=base.parent) as tmp:
            self._install(source, result, Path(tmp))
        return result

    def _install(self, source: Path, result: Prompt, tmp: Path) -> None:
        """``source`` encoded in ``tmp``, then renamed into place as ``result``'s files:
        Asterisk never plays a half-written file."""
        self._encode(source, tmp / "out")
        for fmt in TELEPHONE_FORMATS:
            (tmp / f"out.{fmt}").replace(result.path(fmt))

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
        """Nothing to release: the TTS thread is shared by the process and ends with it."""
