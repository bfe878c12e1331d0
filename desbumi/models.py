"""Installing speech models into the data directory."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from core.errors import ConfigurationError
from core.settings import Settings


def install_model(settings: Settings, language: str, source: Path, *, replace: bool) -> Path:
    """Copy the model at ``source`` to ``<data_dir>/models/<language>``; returns the target.

    The copy is made beside the target and renamed into place, so a worker never loads a
    half-copied model.
    """
    if not language.isalpha() or not 2 <= len(language) <= 8:
        raise ConfigurationError(f"language {language!r}: use a code such as id, jv or en")
    target = settings.data_dir / "models" / language
    if source.resolve() == target.resolve():
        return target
    if target.exists() and not replace:
        raise ConfigurationError(f"a model for {language!r} exists at {target}; use --replace")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{language}-", dir=target.parent))
    try:
        shutil.copytree(source, staging / "model")
        if target.exists():
            shutil.rmtree(target)
        (staging / "model").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
