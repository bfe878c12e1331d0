"""Speech synthesis for prompts: pyttsx3 with espeak-ng, then ffmpeg to telephone formats.

The engine runs in a child process of its own (:mod:`audio.speech_engine`, where the pyttsx3
quirks are handled): a crash inside espeak-ng ends that process, not the hotline. One thread
here feeds it, hotline prompts before radio texts, and starts it again when it dies.

Prompts are cached by a hash of (voice, normalised text): each is synthesised once.
Asterisk plays ``name.sln`` / ``name.ulaw`` / ``name.gsm`` without transcoding, so all
three are written, by ONE ffmpeg process.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import queue
import select
import shutil
import signal
import subprocess  # noqa: S404 - fixed argument lists, never a shell
import sys
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioError, ToolMissing
from audio.normalise import normalise_id
from audio.speech_engine import SCRATCH_VARIABLE

# espeak-ng has Indonesian and Malay only; other languages need recorded prompts.
VOICES = {"id": "poz/id", "ms": "poz/ms"}
TELEPHONE_FORMATS = ("sln", "ulaw", "gsm")
# Radio texts wait behind hotline prompts for the one speech engine.
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


ENGINE_COMMAND = (sys.executable, "-m", "audio.speech_engine")
log = logging.getLogger(__name__)


class _EngineDied(Exception):
    """The engine process ended (or never answered) in the middle of a request."""


# Put in the queue by close(): ahead of every request (priority -1), it ends the thread.
_CLOSE = -1


class SpeechProcess:
    """The thread that feeds the one engine process (one per process: see _speech_engine)."""

    def __init__(self, command: Sequence[str] = ENGINE_COMMAND) -> None:
        self.command = tuple(command)
        self.started = 0  # engine processes started: more than one means one died
        self._child: subprocess.Popen[bytes] | None = None
        # The running engine's folder for its warm-up file, removed when it is stopped.
        self._scratch: Path | None = None
        # Read and set under the lock: no request slips in after the thread has gone.
        self._closed = False
        self._closing = threading.Lock()
        # (priority, order, text, voice, out, timeout, done): hotline prompts (0) before
        # radio (1), so a caller never waits behind a long radio text.
        self._requests: queue.PriorityQueue[
            tuple[int, int, str, str, Path, float, Future[None]]
        ] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._run, name="tts", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int | None:
        """The engine process's id while it runs."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def synthesize(self, text: str, voice: str, out_wav: Path, priority: int = 0) -> None:
        done: Future[None] = Future()
        timeout = 300.0 if priority else 120.0
        with self._closing:
            if self._closed:
                raise SynthesisError("the TTS engine is closed")
            self._requests.put((priority, next(self._order), text, voice, out_wav, timeout, done))
        # Waiting behind other requests plus this one's own time, and a restart.
        done.result(timeout=timeout * 2)

    def close(self) -> None:
        """Stop the engine process and the thread (after the request in hand); requests
        still waiting, and any made later, fail with SynthesisError."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._requests.put((_CLOSE, next(self._order), "", "", Path(), 0.0, Future()))
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            priority, _order, text, voice, out_wav, timeout, done = self._requests.get()
            if priority == _CLOSE:
                self._stop()
                self._refuse_waiting()
                return
            try:
                self._speak({"text": text, "voice": voice, "out": str(out_wav)}, timeout)
                done.set_result(None)
            except Exception as exc:  # the thread edge: report to the caller, keep serving
                done.set_exception(
                    exc
                    if isinstance(exc, SynthesisError)
                    else SynthesisError(f"{type(exc).__name__}: {exc}")
                )

    def _speak(self, request: dict[str, str], timeout: float) -> None:
        """One request, asked again of a new engine once if the engine dies under it
        (a text that kills espeak-ng twice is refused, not retried for ever)."""
        for attempt in (1, 2):
            try:
                reply = self._ask(json.dumps(request).encode() + b"\n", timeout)
            except _EngineDied as exc:
                log.warning("the speech engine stopped: %s", exc)
                self._stop()
                if attempt == 2:
                    raise SynthesisError(f"the TTS engine stopped twice: {exc}") from None
                continue
            if "error" in reply:
                raise SynthesisError(str(reply["error"]))
            return

    def _ask(self, line: bytes, timeout: float) -> dict[str, object]:
        child = self._running()
        assert child.stdin is not None and child.stdout is not None  # noqa: S101 - pipes
        try:
            child.stdin.write(line)
            child.stdin.flush()
        except OSError:
            raise _EngineDied(self._ended(child)) from None
        ready, _, _ = select.select([child.stdout], [], [], timeout)
        if not ready:
            raise _EngineDied(f"no answer in {timeout:.0f} s")
        answer = child.stdout.readline()
        if not answer:
            raise _EngineDied(self._ended(child))
        try:
            reply = json.loads(answer)
        except ValueError:
            raise _EngineDied(f"unreadable answer {answer[:80]!r}") from None
        if not isinstance(reply, dict):
            raise _EngineDied(f"unreadable answer {answer[:80]!r}")
        return reply

    def _refuse_waiting(self) -> None:
        while True:
            try:
                *_request, done = self._requests.get_nowait()
            except queue.Empty:
                return
            done.set_exception(SynthesisError("the TTS engine is closed"))

    def _running(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is not None:
            log.warning("the speech engine stopped: %s", self._ended(self._child))
            self._stop()  # died between requests: its pipes are closed before a new one
        if self._child is None:
            scratch = Path(tempfile.mkdtemp(prefix="desbumi-tts-"))
            try:
                self._child = subprocess.Popen(  # noqa: S603 - constant argument list
                    self.command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env={**os.environ, SCRATCH_VARIABLE: str(scratch)},
                )
            except OSError as exc:
                shutil.rmtree(scratch, ignore_errors=True)
                raise ToolMissing(f"the TTS engine does not start: {exc}") from None
            self._scratch = scratch
            self.started += 1
        return self._child

    @staticmethod
    def _ended(child: subprocess.Popen[bytes]) -> str:
        try:
            code = child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it closed its output"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit status {code}"

    def _stop(self) -> None:
        child, self._child = self._child, None
        scratch, self._scratch = self._scratch, None
        if child is not None:
            child.kill()
            child.wait()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


_speech_lock = threading.Lock()
_speech: list[SpeechProcess] = []


def _speech_engine() -> SpeechProcess:
    """The process's speech engine, started on first use (pyttsx3 allows one engine)."""
    with _speech_lock:
        if not _speech:
            _speech.append(SpeechProcess())
        return _speech[0]


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
        _speech_engine().synthesize(spoken, voice, raw, priority=RADIO_PRIORITY)
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
            _speech_engine().synthesize(spoken, voice, wav)
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
        """Nothing to release: the speech engine is shared by the process and ends with it."""
