"""The Vosk adapter. Vosk types and exceptions stay inside this module."""

from __future__ import annotations

import json
from pathlib import Path

from transcription.errors import ModelUnavailable

MODEL_SAMPLE_RATE = 16_000
_REQUIRED = ("am/final.mdl", "conf/model.conf")


def probe_model(path: Path) -> str:
    """Load the model at ``path`` and decode one second of silence.

    Returns a short description; raises ModelUnavailable naming what is wrong.
    """
    if not path.is_dir():
        raise ModelUnavailable(f"no model directory at {path}")
    missing = [name for name in _REQUIRED if not (path / name).is_file()]
    if missing:
        raise ModelUnavailable(f"{path} is not a Vosk model (missing {', '.join(missing)})")
    import vosk  # imported here: loading libvosk costs time the other commands never need

    vosk.SetLogLevel(-1)
    try:
        model = vosk.Model(str(path))
        recognizer = vosk.KaldiRecognizer(model, MODEL_SAMPLE_RATE)
        recognizer.AcceptWaveform(b"\x00\x00" * MODEL_SAMPLE_RATE)
        result = json.loads(recognizer.FinalResult())
    except Exception as exc:  # libvosk raises bare Exception for every failure
        raise ModelUnavailable(f"libvosk cannot use {path}: {exc}") from None
    if not isinstance(result, dict) or "text" not in result:
        raise ModelUnavailable(f"{path}: unexpected decoder output")
    return f"loaded, decodes {MODEL_SAMPLE_RATE} Hz"
