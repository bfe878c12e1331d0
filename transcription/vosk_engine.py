"""The Vosk adapter. Vosk types and exceptions stay inside this module."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transcription.errors import ModelUnavailable

MODEL_SAMPLE_RATE = 16_000
_REQUIRED = ("am/final.mdl", "conf/model.conf")


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True)
class Decoded:
    text: str
    words: list[Word]

    @property
    def confidence(self) -> float | None:
        """Mean word confidence; None for an empty transcript (silence)."""
        if not self.words:
            return None
        return sum(w.conf for w in self.words) / len(self.words)


def _check_layout(path: Path) -> None:
    if not path.is_dir():
        raise ModelUnavailable(f"no model directory at {path}")
    missing = [name for name in _REQUIRED if not (path / name).is_file()]
    if missing:
        raise ModelUnavailable(f"{path} is not a Vosk model (missing {', '.join(missing)})")


def _load(path: Path) -> Any:
    _check_layout(path)
    import vosk  # imported here: loading libvosk costs time the other commands never need

    vosk.SetLogLevel(-1)
    try:
        return vosk.Model(str(path))
    except Exception as exc:  # libvosk raises bare Exception for every failure
        raise ModelUnavailable(f"libvosk cannot use {path}: {exc}") from None


class ModelCache:
    """One loaded Model per language per process, shared by every job (models are large)."""

    def __init__(self) -> None:
        self._models: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> Any:
        key = path.resolve()
        with self._lock:
            if key not in self._models:
                self._models[key] = _load(key)
            return self._models[key]


def decode(model: Any, pcm_chunks: Iterable[bytes]) -> Decoded:
    """Decode 16 kHz mono s16le PCM with a fresh recognizer; words carry timings."""
    import vosk

    try:
        recognizer = vosk.KaldiRecognizer(model, MODEL_SAMPLE_RATE)
        recognizer.SetWords(True)
        words: list[Word] = []
        for chunk in pcm_chunks:
            if recognizer.AcceptWaveform(chunk):
                words.extend(_words(json.loads(recognizer.Result())))
        words.extend(_words(json.loads(recognizer.FinalResult())))
    except ModelUnavailable:
        raise
    except (ValueError, RuntimeError) as exc:
        raise ModelUnavailable(f"decoder failed: {exc}") from None
    return Decoded(text=" ".join(w.word for w in words), words=words)


def _words(result: dict[str, Any]) -> list[Word]:
    return [
        Word(
            word=str(w["word"]),
            start=float(w["start"]),
            end=float(w["end"]),
            conf=float(w.get("conf", 1.0)),
        )
        for w in result.get("result", [])
    ]


def probe_model(path: Path) -> str:
    """Load the model at ``path`` and decode one second of silence.

    Returns a short description; raises ModelUnavailable naming what is wrong.
    """
    model = _load(path)
    try:
        decode(model, [b"\x00\x00" * MODEL_SAMPLE_RATE])
    except Exception as exc:  # libvosk raises bare Exception for every failure
        raise ModelUnavailable(f"libvosk cannot use {path}: {exc}") from None
    return f"loaded, decodes {MODEL_SAMPLE_RATE} Hz"
