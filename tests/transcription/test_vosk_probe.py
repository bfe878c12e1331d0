"""The Vosk model probe, with the real libvosk and the synthetic test model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from transcription.errors import ModelUnavailable
from transcription.vosk_engine import probe_model

MODEL = Path(__file__).resolve().parent.parent / "data" / "vosk-test-model"


def test_real_model_loads_and_decodes() -> None:
    assert probe_model(MODEL) == "loaded, decodes 16000 Hz"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no model directory"):
        probe_model(tmp_path / "absent")


def test_directory_without_model_files(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("not a model")
    with pytest.raises(ModelUnavailable, match="not a Vosk model"):
        probe_model(tmp_path)


def test_corrupt_model_is_rejected_by_libvosk(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(MODEL, broken)
    (broken / "am" / "final.mdl").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelUnavailable, match="libvosk cannot use"):
        probe_model(broken)
