"""Where each prompt's audio is, as Asterisk's STREAM FILE wants it (a path, no extension).

A system prompt is, in order of preference: a recording a centre made
(``<data_dir>/prompts/recorded/<lang>/<key>.<ext>``: 8 kHz ``sln``/``ulaw``/``gsm`` played as
they are, any other audio file, e.g. a phone's ``m4a`` or a 44.1 kHz ``wav``, converted once
into those formats), else the shipped text synthesised once (audio.tts caches by content
hash). Content items are their uploaded recording, else their text synthesised the same
way. Asterisk may see the data directory under another path (a container, the test
chroot): ``asterisk_data_dir``.

Each prompt is resolved once and then looked up (no disk access while a call waits): a
recording added or replaced is played after a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import yaml

from audio.errors import AudioError
from audio.tts import VOICES, PromptSynthesizer
from ivr.errors import IvrError

logger = logging.getLogger(__name__)

# Played as they are (raw 8 kHz telephone audio).
TELEPHONE_RECORDINGS = ("sln", "ulaw", "gsm")
# Converted by ffmpeg first: what a centre records prompts with.
CONVERTED_RECORDINGS = ("wav", "m4a", "mp3", "ogg", "opus", "amr", "aac", "flac", "3gp")
RECORDED_FORMATS = TELEPHONE_RECORDINGS + CONVERTED_RECORDINGS
DIGIT_KEYS = tuple(f"digit-{d}" for d in "0123456789")


class PromptMissing(IvrError):
    """No recording and no text (or no voice) for a prompt in this language."""


def shipped_prompt_texts(language: str) -> dict[str, str]:
    """The prompt texts shipped with desbumi for ``language``; empty if none."""
    source = resources.files("ivr").joinpath(f"prompts_{language}.yaml")
    if not source.is_file():
        return {}
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise IvrError(f"prompts_{language}.yaml: expected key: text pairs")
    return {str(k): v for k, v in data.items()}


class PromptLibrary:
    def __init__(
        self,
        data_dir: Path,
        asterisk_data_dir: Path,
        synthesizer: PromptSynthesizer | None = None,
        texts: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.asterisk_data_dir = asterisk_data_dir
        self.synthesizer = synthesizer or PromptSynthesizer(self.data_dir / "prompts" / "cache")
        self._texts = texts
        self._resolved: dict[tuple[str, str], str] = {}
        self._available: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

    def texts(self, language: str) -> dict[str, str]:
        if self._texts is None:
            self._texts = {}
        if language not in self._texts:
            self._texts[language] = shipped_prompt_texts(language)
        return self._texts[language]

    def asterisk_path(self, host_path: Path) -> str:
        """``host_path`` (inside the data directory) as Asterisk sees it, no extension."""
        relative = host_path.resolve().relative_to(self.data_dir)
        return str(self.asterisk_data_dir / relative.with_suffix(""))

    def recorded(self, key: str, language: str) -> Path | None:
        folder = self.data_dir / "prompts" / "recorded" / language
        for fmt in RECORDED_FORMATS:
            candidate = folder / f"{key}.{fmt}"
            if candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
        return None

    def available(self, key: str, language: str) -> bool:
        """Whether ``key`` can be played in ``language``; looked up on disk once."""
        known = self._available.get((key, language))
        if known is None:
            known = self.recorded(key, language) is not None or (
                language in VOICES and key in self.texts(language)
            )
            with self._lock:
                self._available[(key, language)] = known
        return known

    def languages_with(self, keys: Iterable[str], candidates: Iterable[str]) -> list[str]:
        """The candidate languages in which every one of ``keys`` can be played."""
        wanted = list(keys)
        return [lang for lang in candidates if all(self.available(k, lang) for k in wanted)]

    def resolved(self, key: str, language: str) -> str | None:
        """System prompt ``key`` if it was resolved before (a lookup, no disk), else None."""
        return self._resolved.get((key, language))

    def system(self, key: str, language: str) -> str:
        """The Asterisk path of system prompt ``key``; synthesises it on first use.

        Raises PromptMissing when there is neither a recording nor a text and voice.
        """
        cached = self._resolved.get((key, language))
        if cached is not None:
            return cached
        path = self._resolve(key, language)
        with self._lock:
            self._resolved[(key, language)] = path
        return path

    def _resolve(self, key: str, language: str) -> str:
        recorded = self.recorded(key, language)
        if recorded is not None and recorded.suffix[1:] in TELEPHONE_RECORDINGS:
            return self.asterisk_path(recorded)
        if recorded is not None:
            try:
                return self.asterisk_path(self.synthesizer.recording(recorded).base)
            except AudioError as exc:
                logger.error("recorded prompt %s/%s cannot be converted: %s", language, key, exc)
        text = self.texts(language).get(key)
        if text is None or language not in VOICES:
            raise PromptMissing(f"prompt {key!r} has no recording or text in {language!r}")
        return self.speech(text, language)

    def speech(self, text: str, language: str) -> str:
        """Synthesised ``text`` (cached by content hash) as an Asterisk path."""
        try:
            prompt = self.synthesizer.prompt(text, language)
        except AudioError as exc:
            raise PromptMissing(f"cannot synthesise speech: {exc}") from None
        return self.asterisk_path(prompt.base)

    def content(self, text: str, audio_base: str | None, language: str) -> str:
        """A content item: its uploaded recording, else its text spoken."""
        if audio_base:
            base = self.data_dir / audio_base
            # Uploads are stored converted (admin_api.media): look for the phone's copy.
            if any(base.with_suffix(f".{fmt}").is_file() for fmt in TELEPHONE_RECORDINGS):
                return self.asterisk_path(base.with_suffix(".sln"))
            logger.warning("content recording %s is missing; speaking its text", audio_base)
        voice_language = language if language in VOICES else "id"
        return self.speech(text, voice_language)

    def warm(
        self,
        keys: Iterable[str],
        languages: Iterable[str],
        stop: threading.Event | None = None,
    ) -> int:
        """Synthesise every prompt ahead of the first call; returns how many failed.

        ``stop`` ends the warm-up early (the process is shutting down)."""
        failed = 0
        for language in languages:
            for key in keys:
                if stop is not None and stop.is_set():
                    return failed
                try:
                    self.system(key, language)
                except PromptMissing as exc:
                    failed += 1
                    logger.warning("prompt not ready: %s", exc)
        return failed
